/*
 * The portal's pages and their one script (ks_html.h, ks_page_script.h):
 * every page loads the server's script and nothing inline (no script
 * element with content, no event handler attribute, no style), its forms
 * post (no password in a URL), and what its markup asks of the script (a
 * data-action, data-view or data-then) is an entry of the script's tables;
 * the pages the script leads to are rows of KS_PAGES; the script's route
 * answers the script with its type, and the pages the policy that allows it
 * and nothing inline.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdbool.h>
#include <string.h>

#include "kf/alloc.h"
#include "kf/httpd.h"
#include "kf/log.h"
#include "kf/str.h"
#include "ks_html.h"
#include "ks_page_script.h"
#include "kt_server.h"

#define SCRIPT_TAG "<script src=\"" KS_PAGE_SCRIPT_PATH "\" defer></script>"

/* Whether the script's text has table entry name ("name: function" or "'name': function"). */
static bool script_has_entry(const char *name) {
  size_t len = 0;
  const char *script = ks_page_script_text(&len);
  char plain[96], quoted[96];
  assert_int_equal(kf_str_format(plain, sizeof plain, " %s: function", name), KF_OK);
  assert_int_equal(kf_str_format(quoted, sizeof quoted, " '%s': function", name), KF_OK);
  return strstr(script, plain) != NULL || strstr(script, quoted) != NULL;
}

/* Every value of attribute attr ("data-action=\"") on page is an entry of the script. */
static void assert_entries(const char *page, const char *attr) {
  for (const char *p = strstr(page, attr); p != NULL; p = strstr(p + 1, attr)) {
    const char *v = p + strlen(attr);
    size_t n = strcspn(v, "\"");
    char name[64];
    assert_true(n < sizeof name);
    memcpy(name, v, n);
    name[n] = '\0';
    if (!script_has_entry(name))
      fail_msg("%s%s\" names nothing the script has", attr, name);
  }
}

static size_t count(const char *hay, const char *needle) {
  size_t n = 0;
  for (const char *p = strstr(hay, needle); p != NULL; p = strstr(p + 1, needle))
    n++;
  return n;
}

static void test_pages_load_only_the_script(void **state) {
  (void)state;
  for (int p = 0; p < KS_PAGE_COUNT; p++) {
    char *page = NULL;
    size_t len = 0;
    assert_int_equal(ks_html_page((ks_page)p, &page, &len), KF_OK);
    assert_int_equal(count(page, SCRIPT_TAG), 1);
    assert_int_equal(count(page, "<script"), 1);
    assert_null(strstr(page, " style="));
    assert_null(strstr(page, "<style"));
    assert_null(strstr(page, " onclick="));
    assert_null(strstr(page, " onsubmit="));
    assert_null(strstr(page, "javascript:"));
    /* A form the script does not send would go out as a POST to the page: a 405, no URL. */
    assert_int_equal(count(page, "<form "), count(page, " method=\"post\""));
    assert_entries(page, "data-action=\"");
    assert_entries(page, "data-view=\"");
    assert_entries(page, "data-then=\"");
    kf_free(page);
  }
  assert_null(strstr(KS_HTML_CSP, "unsafe"));
  assert_non_null(strstr(KS_HTML_CSP, "script-src 'self'"));
}

/* Whether path is the path of a row of KS_PAGES. */
static bool is_page(const char *path, size_t len) {
  for (int p = 0; p < KS_PAGE_COUNT; p++) {
    const char *q = ks_html_page_path((ks_page)p);
    if (strlen(q) == len && memcmp(q, path, len) == 0)
      return true;
  }
  return false;
}

/* Each page path the script names ('/…' outside /api/) is a page of KS_PAGES. */
static void test_script_leads_to_pages(void **state) {
  (void)state;
  size_t len = 0;
  const char *script = ks_page_script_text(&len);
  assert_int_equal(strlen(script), len);
  size_t pages = 0;
  for (const char *p = strstr(script, "'/"); p != NULL; p = strstr(p + 1, "'/")) {
    size_t n = strcspn(p + 1, "'");
    if (strncmp(p + 1, "/api/", 5) == 0)
      continue;
    if (!is_page(p + 1, n))
      fail_msg("the script leads to %.*s, which is no page", (int)n, p + 1);
    pages++;
  }
  assert_true(pages >= 4);
}

static void test_script_route(void **state) {
  (void)state;
  kt_server s;
  memset(&s, 0, sizeof s);
  assert_int_equal(kt_server_open(&s, "ks_pages", NULL), KF_OK);
  assert_int_equal(kt_server_serve(&s, NULL, 0, 0, NULL), KF_OK);
  kf_http_fake_req in = {.method = "GET", .path = KS_PAGE_SCRIPT_PATH};
  kf_http_answer a;
  assert_int_equal(kf_httpd_serve_fake(s.httpd, &in, &a, NULL), KF_OK);
  assert_int_equal(a.status, 200);
  assert_string_equal(a.content_type, KS_PAGE_SCRIPT_TYPE);
  size_t len = 0;
  const char *script = ks_page_script_text(&len);
  assert_int_equal(a.body_len, len);
  assert_memory_equal(a.body, script, len);
  assert_non_null(strstr(a.headers, "X-Content-Type-Options: nosniff\r\n"));
  kf_http_answer_release(&a);
  kf_http_fake_req page = {.method = "GET", .path = "/anmelden"};
  assert_int_equal(kf_httpd_serve_fake(s.httpd, &page, &a, NULL), KF_OK);
  assert_int_equal(a.status, 200);
  char want[512];
  assert_int_equal(kf_str_format(want, sizeof want, "Content-Security-Policy: %s\r\n", KS_HTML_CSP),
                   KF_OK);
  assert_non_null(strstr(a.headers, want));
  kf_http_answer_release(&a);
  kt_server_close(&s);
}

int main(void) {
  kf_log_setup("test_server_pages", KF_LOG_OFF);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_pages_load_only_the_script),
      cmocka_unit_test(test_script_leads_to_pages),
      cmocka_unit_test(test_script_route),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
