/*
 * kh_cmd_mocks.c: `konform mocks` (see kh_cmd_mocks.h).
 */
#include "kh_cmd_mocks.h"

#include <stdio.h>

#include "kf/daemon.h"
#include "kh_stack.h"

/* The profile a target of one's own starts from: the mocks filled in, the rest to edit. */
static void kh_cmd_mocks_profile(FILE *out, const kh_stack *stack, const kh_catalogue *cat) {
  fprintf(out,
          "# A profile for your target (docs/targets.md). Save it, set base_url, and run\n"
          "#   konform run --target my.profile\n"
          "base_url = http://127.0.0.1:8080\n"
          "mail_api = http://127.0.0.1:%u\n"
          "post_api = http://127.0.0.1:%u\n"
          "# \"konform\" if your target implements the test clock API (docs/openapi.yaml,\n"
          "# /test/v1/clocks); with \"none\" the scenarios that need it are not checked.\n"
          "clock = none\n"
          "wait_timeout = 10s\n"
          "\n"
          "# Your target's value for every configurable requirement (these are the documented\n"
          "# defaults; change those your target does differently).\n"
          "[defaults]\n",
          stack->mail_port, stack->post_port);
  for (size_t i = 0; cat != NULL && i < cat->len; i++) {
    const kh_requirement *r = &cat->items[i];
    for (size_t j = 0; j < r->defaults_len; j++)
      fprintf(out, "%s = %s\n", r->default_keys[j], r->default_values[j]);
  }
  fprintf(out, "\n# Keys of your own, for your scenarios (target.custom.<key>).\n[custom]\n");
}

int kh_cmd_mocks(const kh_cli_options *o, const kh_catalogue *cat) {
  kf_err err;
  kf_err_init(&err);
  if (kf_daemon_block_signals() != KF_OK) {
    fprintf(stderr, "konform: cannot set up signal handling\n");
    return KH_EXIT_USAGE;
  }
  kh_stack stack;
  kh_stack_init(&stack);
  kh_stack_options so;
  kh_stack_options_init(&so);
  so.servers = false;
  so.keep_state = o->keep_state;
  so.mail_port = o->mail_port;
  so.smtp_port = o->smtp_port;
  so.post_port = o->post_port;
  if (kh_stack_start(&stack, &so, &err) != KF_OK) {
    fprintf(stderr, "konform: cannot start the mocks: %s\n", err.message);
    kh_stack_release(&stack);
    return KH_EXIT_UNREACHABLE;
  }
  printf("konform-mail  SMTP 127.0.0.1:%u (your target sends its mail here)\n"
         "              HTTP http://127.0.0.1:%u (mail_api)\n"
         "konform-post  HTTP http://127.0.0.1:%u (post_api; your target POSTs letters to "
         "/api/v1/letters)\n"
         "stores and logs in %s%s\n\n",
         stack.smtp_port, stack.mail_port, stack.post_port, kh_stack_dir(&stack),
         o->keep_state ? " (kept)" : " (removed on exit)");
  kh_cmd_mocks_profile(stdout, &stack, cat);
  printf("\n# Running; Ctrl-C stops the mocks.\n");
  fflush(stdout);
  int sig = kf_daemon_wait_for_signal();
  fprintf(stderr, "konform: signal %d: stopping the mocks\n", sig);
  kh_stack_stop(&stack);
  int code = kh_stack_exit_status(&stack, &err) == KF_OK ? KH_EXIT_OK : KH_EXIT_FAILURES;
  if (code != KH_EXIT_OK)
    fprintf(stderr, "konform: the mocks did not shut down cleanly:\n%s", err.message);
  kh_stack_release(&stack);
  return code;
}
