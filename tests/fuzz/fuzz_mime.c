/*
 * fuzz_mime.c: MIME decoding of a received mail (mocks/mail/km_mime.c with
 * km_header.c and km_flowed.c), exactly as konform-mail's deliver callback
 * calls it: the input is the message as the SMTP engine hands it over (after
 * dot-unstuffing), with an envelope.
 *
 * Besides crashes the harness checks what docs/design.md promises of the mail
 * document: it is made whatever the input (decoding fails only without
 * memory), mime_valid is a boolean, size is the input's length, header_list
 * entries are {name, value, decoded} strings, every link is a whole http(s)
 * URL without a tab, CR or LF, and the document serialises (every string is
 * valid UTF-8, which jansson checks when the strings are made).
 *
 * Every fourth input (by length) is decoded again with one of konform's or
 * jansson's allocations failing (kf/alloc.h; GMime allocates on its own),
 * chosen by the input's last byte: the decode must then fail with
 * KF_ERR_NOMEM and no document, or succeed, and leak nothing. Only every
 * fourth, because decoding is the slow part and the harness must stay fast.
 */
#include <jansson.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "kf/alloc.h"
#include "kf/str.h"
#include "km_mime.h"
#include "kz_fuzz.h"

static void kz_check_links(const json_t *links) {
  if (!json_is_array(links))
    abort();
  size_t i;
  json_t *v;
  json_array_foreach(links, i, v) {
    const char *url = json_string_value(v);
    if (url == NULL)
      abort();
    if (!kf_str_starts_with_ci(url, "http://") && !kf_str_starts_with_ci(url, "https://"))
      abort();
    if (strpbrk(url, "\t\r\n") != NULL)
      abort();
  }
}

static void kz_check_header_list(const json_t *list) {
  if (!json_is_array(list))
    abort();
  size_t i;
  json_t *entry;
  json_array_foreach(list, i, entry) {
    if (!json_is_string(json_object_get(entry, "name")) ||
        !json_is_string(json_object_get(entry, "value")) ||
        !json_is_string(json_object_get(entry, "decoded")))
      abort();
  }
}

static void kz_short_of_memory(const uint8_t *data, size_t size, const km_smtp_envelope *env,
                               unsigned long n) {
  json_t *doc = NULL;
  kf_alloc_fail_at(n);
  kf_rc rc = km_mime_decode((const char *)data, size, env, &doc, NULL);
  kf_alloc_fail_at(0);
  if (rc == KF_OK ? doc == NULL : (rc != KF_ERR_NOMEM || doc != NULL))
    abort();
  json_decref(doc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static bool ready;
  if (!ready) {
    km_mime_global_init();
    kf_alloc_install_jansson();
    ready = true;
  }
  kf_alloc_fail_at(0);
  static const char *const rcpts[] = {"a@b.test", "c@d.test"};
  km_smtp_envelope env = {.mail_from = "sender@x.test", .rcpt_to = rcpts, .rcpt_to_len = 2};
  json_t *doc = NULL;
  kf_err err;
  kf_err_init(&err);
  if (km_mime_decode((const char *)data, size, &env, &doc, &err) != KF_OK || !json_is_object(doc))
    abort();
  if (!json_is_boolean(json_object_get(doc, "mime_valid")))
    abort();
  if (json_integer_value(json_object_get(doc, "size")) != (json_int_t)size)
    abort();
  kz_check_links(json_object_get(doc, "links"));
  kz_check_header_list(json_object_get(doc, "header_list"));
  char *text = json_dumps(doc, 0);
  if (text == NULL)
    abort();
  /* jansson allocates with the allocator it was given; the mailbox frees its dumps this way. */
  kf_free(text);
  json_decref(doc);
  unsigned long allocs = kf_alloc_count();
  if (size % 4 == 0 && size > 0 && allocs > 0)
    kz_short_of_memory(data, size, &env, 1 + ((unsigned long)data[size - 1] * 131u) % allocs);
  return 0;
}
