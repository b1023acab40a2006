/*
 * The variant catalogue (reference-server/src/ks_variant.h): each variant
 * changes what the contract leaves free and nothing it fixes. The rows and
 * their options; the Date in Europe/Berlin across both changes of summer time
 * (the same instant, no day name); a folded Subject that decodes to the same
 * text; the text in base64 beside an HTML part with the same links; pages
 * with character references whose visible text, links and ids are the same
 * (libxml2's HTML parser); an X-Request-Id that differs per answer and is
 * on error pages only; JSON laid out otherwise that parses to the same
 * value; link ids in upper case that still confirm; and the extra headers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <gmime/gmime.h>
#include <libxml/HTMLparser.h>
#include <string.h>

#include "kf/alloc.h"
#include "kf/buf.h"
#include "kf/httpd.h"
#include "kf/log.h"
#include "kf/str.h"
#include "kf/timeutil.h"
#include "kf/uuid.h"
#include "kt_yaml.h"
#include "ks_api.h"
#include "ks_config.h"
#include "ks_db.h"
#include "ks_html.h"
#include "ks_mail.h"
#include "ks_markup.h"
#include "ks_server.h"
#include "ks_variant.h"
#include "kt_mail.h"
#include "kt_server.h"

#define PW "Abcdefgh12!x"
#define CONFIRM_LINK                                                                               \
  "http://127.0.0.1:8480/link/e-mail-bestaetigen?id=99060bbc-f5ff-43b8-b4ea-3a91bb8d82df"

/* ---- The catalogue and its options. ---- */

static kf_rc parse_args(const char **args, size_t n, ks_config *cfg, ks_config_action *action) {
  char *argv[16] = {"konform-server"};
  assert_true(n < 15);
  for (size_t i = 0; i < n; i++)
    argv[i + 1] = (char *)args[i];
  ks_config_init(cfg);
  return ks_config_parse((int)n + 1, argv, cfg, action, NULL);
}

/* Every x-konform-decisions key a row names ("x-konform-decisions mail-format") is in the contract.
 */
static void assert_clause_exists(const json_t *decisions, const char *what) {
  const char *p = strstr(what, "x-konform-decisions ");
  if (p == NULL)
    return;
  p += strlen("x-konform-decisions ");
  char key[64];
  size_t n = strcspn(p, ") ,;");
  assert_true(n > 0 && n < sizeof key);
  memcpy(key, p, n);
  key[n] = '\0';
  if (json_object_get(decisions, key) == NULL)
    fail_msg("a variant names x-konform-decisions %s, which docs/openapi.yaml does not have", key);
}

static void test_catalogue(void **state) {
  (void)state;
  json_t *contract = NULL;
  assert_int_equal(kt_yaml_load_file("docs/openapi.yaml", &contract, NULL), KF_OK);
  const json_t *decisions = json_object_get(contract, "x-konform-decisions");
  assert_non_null(decisions);
  kf_buf list;
  kf_buf_init(&list, 64 * 1024);
  assert_int_equal(ks_variant_list(&list), KF_OK);
  for (int v = 0; v < KS_VARIANT_COUNT; v++) {
    const ks_switch_row *row = ks_variant_row_get((ks_variant)v);
    assert_int_equal(strspn(row->name, "abcdefghijklmnopqrstuvwxyz-"), strlen(row->name));
    assert_null(row->ids);
    assert_int_equal(ks_variant_find(row->name), v);
    /* Each row says which clause of the contract allows it. */
    assert_non_null(strstr(row->what, "contract"));
    assert_clause_exists(decisions, row->what);
    char line[512];
    assert_int_equal(kf_str_format(line, sizeof line, "%s\t%s\n", row->name, row->what), KF_OK);
    assert_non_null(strstr(list.data, line));
  }
  assert_int_equal(ks_variant_find("all"), KS_VARIANT_COUNT);
  assert_int_equal(ks_variant_find("no-such-variant"), KS_VARIANT_COUNT);
  kf_buf_release(&list);
  json_decref(contract);
}

static void test_options(void **state) {
  (void)state;
  ks_config cfg;
  ks_config_action action;
  const char *all[] = {"--test-mode", "--variant", "all"};
  assert_int_equal(parse_args(all, 3, &cfg, &action), KF_OK);
  for (int v = 0; v < KS_VARIANT_COUNT; v++)
    assert_true(cfg.variants[v]);
  const char *two[] = {"--variant", "request-id", "--test-mode", "--variant", "json-layout"};
  assert_int_equal(parse_args(two, 5, &cfg, &action), KF_OK);
  for (int v = 0; v < KS_VARIANT_COUNT; v++)
    assert_true(cfg.variants[v] == (v == KS_VARIANT_REQUEST_ID || v == KS_VARIANT_JSON_LAYOUT));
  /* Like a fault, a variant needs --test-mode; the list does not. */
  const char *production[] = {"--variant", "request-id"};
  assert_int_equal(parse_args(production, 2, &cfg, &action), KF_ERR_INVALID);
  const char *unknown[] = {"--test-mode", "--variant", "request-ids"};
  assert_int_equal(parse_args(unknown, 3, &cfg, &action), KF_ERR_INVALID);
  const char *list[] = {"--list-variants"};
  assert_int_equal(parse_args(list, 1, &cfg, &action), KF_OK);
  assert_int_equal(action, KS_CONFIG_LIST_VARIANTS);
}

/* ---- Mails. ---- */

/* A server whose only switched-on variant is v (KS_VARIANT_COUNT: none). */
static void server_with(ks_config *cfg, ks_server *srv, ks_variant v) {
  ks_config_init(cfg);
  cfg->test_mode = true;
  if (v < KS_VARIANT_COUNT)
    cfg->variants[v] = true;
  memset(srv, 0, sizeof *srv);
  srv->cfg = cfg;
  srv->public_url = "http://127.0.0.1:8480";
}

/* The mail of kind at date as the server with variant v renders it. Caller kf_frees. */
static char *render(ks_variant v, ks_mail_kind kind, int64_t date, size_t *len) {
  ks_config cfg;
  ks_server srv;
  server_with(&cfg, &srv, v);
  ks_mail_params p = {.srv = &srv,
                      .kind = kind,
                      .mail_domain = "arbeitsagentur.de",
                      .to = "Max@example.de",
                      .link = CONFIRM_LINK,
                      .public_url = "http://127.0.0.1:8480",
                      .date = date,
                      .message_id = "m1@arbeitsagentur.de"};
  char *raw = NULL;
  assert_int_equal(ks_mail_render(&p, &raw, len, NULL), KF_OK);
  return raw;
}

static void raw_date(const char *raw, char *out, size_t size) {
  const char *d = strncmp(raw, "Date: ", 6) == 0 ? raw : strstr(raw, "\r\nDate: ");
  assert_non_null(d);
  d = strchr(d + 1, ' ') + 1;
  size_t n = strcspn(d, "\r");
  assert_true(n < size);
  memcpy(out, d, n);
  out[n] = '\0';
}

static void test_mail_date_zone(void **state) {
  (void)state;
  /* Around both changes of 2026 (29 March, 25 October, at 01:00 UTC) and of 2027 (28 March). */
  static const struct {
    const char *utc;
    const char *date;
  } cases[] = {
      {"2026-03-01T11:00:00Z", "1 Mar 2026 12:00:00 +0100"},
      {"2026-03-29T00:59:59Z", "29 Mar 2026 01:59:59 +0100"},
      {"2026-03-29T01:00:00Z", "29 Mar 2026 03:00:00 +0200"},
      {"2026-07-01T22:30:00Z", "2 Jul 2026 00:30:00 +0200"},
      {"2026-10-25T00:59:59Z", "25 Oct 2026 02:59:59 +0200"},
      {"2026-10-25T01:00:00Z", "25 Oct 2026 02:00:00 +0100"},
      {"2026-12-31T23:00:00Z", "1 Jan 2027 00:00:00 +0100"},
      {"2027-03-28T00:59:59Z", "28 Mar 2027 01:59:59 +0100"},
      {"2027-03-28T01:00:00Z", "28 Mar 2027 03:00:00 +0200"},
      {"1970-01-01T00:00:00Z", "1 Jan 1970 01:00:00 +0100"},
      /* The clock's last second: a local time in the year 10000 would not be four digits. */
      {"9999-12-31T23:59:59Z", "31 Dec 9999 23:59:59 +0000"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    int64_t t = 0;
    assert_int_equal(kf_time_parse_iso(cases[i].utc, &t), KF_OK);
    size_t len = 0;
    char *raw = render(KS_VARIANT_MAIL_DATE_ZONE, KS_MAIL_CONFIRM, t, &len);
    char date[64];
    raw_date(raw, date, sizeof date);
    assert_string_equal(date, cases[i].date);
    int64_t back = 0;
    assert_int_equal(kf_time_parse_rfc5322(date, &back), KF_OK);
    assert_int_equal(back, t);
    /* GMime reads the same instant, as a mail client would. */
    GMimeMessage *msg = NULL;
    assert_int_equal(kt_mail_parse(raw, len, &msg), KF_OK);
    assert_int_equal(g_date_time_to_unix(g_mime_message_get_date(msg)), t);
    g_object_unref(msg);
    kf_free(raw);
  }
}

/* The Subject field as sent: from "Subject:" to the CRLF before the next field. */
static void raw_subject(const char *raw, kf_buf *out) {
  const char *s = strstr(raw, "\r\nSubject:");
  assert_non_null(s);
  s += 2;
  const char *end = s;
  do
    end = strstr(end, "\r\n") + 2;
  while (*end == ' ' || *end == '\t');
  assert_int_equal(kf_buf_append(out, s, (size_t)(end - s)), KF_OK);
}

static void test_subject_folded(void **state) {
  (void)state;
  for (int kind = KS_MAIL_CONFIRM; kind <= KS_MAIL_DUPLICATE; kind++) {
    size_t len = 0;
    char *raw = render(KS_VARIANT_SUBJECT_FOLDED, (ks_mail_kind)kind, 1774692000, &len);
    kf_buf field;
    kf_buf_init(&field, 4096);
    raw_subject(raw, &field);
    /* Folded right after the colon (RFC 5322 2.2.3), into several encoded words. */
    assert_true(kf_str_starts_with(field.data, "Subject:\r\n =?UTF-8?Q?"));
    size_t words = 0;
    for (const char *w = strstr(field.data, "=?UTF-8?Q?"); w != NULL;
         w = strstr(w + 1, "=?UTF-8?Q?")) {
      const char *end = strstr(w + 10, "?=");
      assert_non_null(end);
      assert_true(end + 2 - w <= 75); /* RFC 2047 2: at most 75 characters a word. */
      words++;
    }
    assert_true(words >= 2);
    for (size_t i = 0; i < field.len; i++)
      assert_true((unsigned char)field.data[i] < 0x80);
    GMimeMessage *msg = NULL;
    assert_int_equal(kt_mail_parse(raw, len, &msg), KF_OK);
    assert_string_equal(g_mime_message_get_subject(msg), ks_mail_subject((ks_mail_kind)kind));
    g_object_unref(msg);
    kf_buf_release(&field);
    kf_free(raw);
  }
}

/* Every href of an HTML document, in document order, each followed by a newline. */
static void html_hrefs(xmlNode *n, kf_buf *out) {
  for (; n != NULL; n = n->next) {
    if (n->type == XML_ELEMENT_NODE) {
      xmlChar *href = xmlGetProp(n, (const xmlChar *)"href");
      if (href != NULL)
        assert_int_equal(kf_buf_appendf(out, "%s\n", (const char *)href), KF_OK);
      xmlFree(href);
    }
    html_hrefs(n->children, out);
  }
}

static htmlDocPtr html_parse(const char *html, size_t len) {
  htmlDocPtr doc = htmlReadMemory(html, (int)len, NULL, "UTF-8",
                                  HTML_PARSE_NOERROR | HTML_PARSE_NOWARNING | HTML_PARSE_NONET);
  assert_non_null(doc);
  return doc;
}

static void test_mail_encoding(void **state) {
  (void)state;
  size_t len = 0;
  char *raw = render(KS_VARIANT_MAIL_ENCODING, KS_MAIL_CONFIRM, 1774692000, &len);
  assert_non_null(strstr(raw, "Content-Type: multipart/alternative;"));
  assert_null(strstr(raw, "quoted-printable"));
  GMimeMessage *msg = NULL;
  assert_int_equal(kt_mail_parse(raw, len, &msg), KF_OK);
  GMimeObject *top = g_mime_message_get_mime_part(msg);
  assert_true(GMIME_IS_MULTIPART(top));
  assert_int_equal(g_mime_multipart_get_count(GMIME_MULTIPART(top)), 2);
  GMimeObject *plain = g_mime_multipart_get_part(GMIME_MULTIPART(top), 0);
  GMimeObject *html = g_mime_multipart_get_part(GMIME_MULTIPART(top), 1);
  assert_true(g_mime_content_type_is_type(g_mime_object_get_content_type(plain), "text", "plain"));
  assert_true(g_mime_content_type_is_type(g_mime_object_get_content_type(html), "text", "html"));
  assert_int_equal(g_mime_part_get_content_encoding(GMIME_PART(plain)),
                   GMIME_CONTENT_ENCODING_BASE64);
  /* The plain text is the reference's text, to the byte. */
  ks_config cfg;
  ks_server srv;
  server_with(&cfg, &srv, KS_VARIANT_COUNT);
  ks_mail_params p = {.kind = KS_MAIL_CONFIRM, .to = "Max@example.de", .link = CONFIRM_LINK};
  char *body = NULL;
  assert_int_equal(ks_mail_body(&p, &body, NULL), KF_OK);
  char *text = NULL;
  assert_int_equal(kt_mail_text(plain, &text), KF_OK);
  assert_string_equal(text, body);
  /* The HTML alternative links what the text links, each URL once. */
  char *h = NULL;
  assert_int_equal(kt_mail_text(html, &h), KF_OK);
  htmlDocPtr doc = html_parse(h, strlen(h));
  kf_buf hrefs;
  kf_buf_init(&hrefs, 4096);
  html_hrefs(xmlDocGetRootElement(doc), &hrefs);
  assert_string_equal(hrefs.data,
                      CONFIRM_LINK "\nhttps://www.arbeitsagentur.de/ueber-uns/ansprechpartner\n");
  assert_non_null(strstr(h, "Servicenummer: 0800 4 5555 01 (geb\xc3\xbchrenfrei)"));
  kf_buf_release(&hrefs);
  xmlFreeDoc(doc);
  g_free(h);
  g_free(text);
  kf_free(body);
  g_object_unref(msg);
  kf_free(raw);
}

/* ---- Pages. ---- */

static bool html_hidden(const xmlNode *n) {
  return n->type == XML_ELEMENT_NODE && (xmlStrcmp(n->name, (const xmlChar *)"head") == 0 ||
                                         xmlStrcmp(n->name, (const xmlChar *)"script") == 0 ||
                                         xmlStrcmp(n->name, (const xmlChar *)"style") == 0);
}

/* The text a person sees, white space runs as one blank (as a browser renders it). */
static void html_text(const xmlNode *n, kf_buf *out) {
  for (; n != NULL; n = n->next) {
    if (n->type == XML_TEXT_NODE) {
      for (const char *c = (const char *)n->content; *c != '\0'; c++) {
        bool ws = *c == ' ' || *c == '\n' || *c == '\t' || *c == '\r';
        if (!ws)
          assert_int_equal(kf_buf_append_byte(out, *c), KF_OK);
        else if (out->len > 0 && out->data[out->len - 1] != ' ')
          assert_int_equal(kf_buf_append_byte(out, ' '), KF_OK);
      }
    } else if (!html_hidden(n)) {
      html_text(n->children, out);
    }
  }
}

/* What a person sees of a page: its visible text, then its links. */
static void page_seen(const char *page, size_t len, kf_buf *out) {
  htmlDocPtr doc = html_parse(page, len);
  xmlNode *root = xmlDocGetRootElement(doc);
  html_text(root, out);
  assert_int_equal(kf_buf_append_str(out, "\nlinks:\n"), KF_OK);
  html_hrefs(root, out);
  xmlFreeDoc(doc);
}

/*
 * page and its rewrite show the same, their scripts are the same bytes and
 * the result paragraph says the same; the rewrite is ASCII, its attributes
 * single-quoted and sorted.
 */
static void assert_same_page(const char *page, size_t len) {
  char *other = NULL;
  size_t other_len = 0;
  assert_int_equal(ks_markup_rewrite(page, len, &other, &other_len), KF_OK);
  for (size_t i = 0; i < other_len; i++)
    assert_true((unsigned char)other[i] < 0x80);
  assert_non_null(strstr(other, "<div class='inhalt'>"));
  assert_null(strstr(other, "=\""));
  if (strstr(page, "\xc3\xa4") != NULL) /* An a umlaut becomes its named reference. */
    assert_non_null(strstr(other, "&auml;"));
  kf_buf a, b;
  kf_buf_init(&a, 1 << 20);
  kf_buf_init(&b, 1 << 20);
  page_seen(page, len, &a);
  page_seen(other, other_len, &b);
  assert_string_equal(a.data, b.data);
  const char *script = strstr(page, "<script>");
  if (script != NULL) {
    const char *s2 = strstr(other, "<script>");
    assert_non_null(s2);
    assert_memory_equal(script, s2, (size_t)(strstr(script, "</script>") - script));
  }
  const char *code = strstr(page, "data-code=\"");
  if (code != NULL) {
    char want[128];
    size_t n = strcspn(code + 11, "\"");
    assert_int_equal(
        kf_str_format(want, sizeof want, "data-code='%.*s' id='result'", (int)n, code + 11), KF_OK);
    assert_non_null(strstr(other, want));
  }
  kf_buf_release(&a);
  kf_buf_release(&b);
  kf_free(other);
}

static void test_page_entities(void **state) {
  (void)state;
  char *page = NULL;
  size_t len = 0;
  for (int p = 0; p < KS_PAGE_COUNT; p++) {
    assert_int_equal(ks_html_page((ks_page)p, &page, &len), KF_OK);
    assert_same_page(page, len);
    kf_free(page);
  }
  for (int v = KS_LINK_VALID; v <= KS_LINK_NOT_FOUND; v++) {
    assert_int_equal(ks_html_confirm_page((ks_link_verdict)v,
                                          "00000000-0000-4000-8000-000000000000", &page, &len),
                     KF_OK);
    assert_same_page(page, len);
    kf_free(page);
  }
  assert_int_equal(
      ks_html_error_page("CLOCK_NOT_FOUND", "Die Testuhr gibt es nicht.", NULL, &page, &len),
      KF_OK);
  assert_same_page(page, len);
  kf_free(page);
  /* What is no page of ours is refused, not half rewritten. */
  char *out = NULL;
  size_t out_len = 0;
  const char *bad[] = {"<p class=unquoted>x</p>", "<p", "<script>x", "caf\xc3"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    assert_int_equal(ks_markup_rewrite(bad[i], strlen(bad[i]), &out, &out_len), KF_ERR_INVALID);
}

/* ---- Answers, in-process (kf_httpd_serve_fake). ---- */

static int fixture_setup(void **state) {
  kt_server *s = test_calloc(1, sizeof *s);
  assert_non_null(s);
  assert_int_equal(kt_server_open(s, "ks_variants", NULL), KF_OK);
  s->cfg.test_mode = true;
  assert_int_equal(kt_server_serve(s, NULL, 0, 0, NULL), KF_OK);
  *state = s;
  return 0;
}

static int fixture_teardown(void **state) {
  kt_server_close(*state);
  test_free(*state);
  return 0;
}

/* Switch on exactly variant v (KS_VARIANT_COUNT: none); the server reads it per request. */
static void only(kt_server *f, ks_variant v) {
  for (int i = 0; i < KS_VARIANT_COUNT; i++)
    f->cfg.variants[i] = i == (int)v;
}

static void call(kt_server *f, const char *method, const char *path, const char *const *query,
                 const char *body, kf_http_answer *out) {
  static const char *const json_type[] = {"Content-Type", "application/json", NULL};
  kf_http_fake_req in = {.method = method,
                         .path = path,
                         .query = query,
                         .headers = body != NULL ? json_type : NULL,
                         .body = body,
                         .body_len = body != NULL ? strlen(body) : 0};
  assert_int_equal(kf_httpd_serve_fake(f->httpd, &in, out, NULL), KF_OK);
}

/* The value of header name in a's header lines into out ("" when a has none). */
static void header(const kf_http_answer *a, const char *name, char *out, size_t size) {
  out[0] = '\0';
  for (const char *l = a->headers; *l != '\0'; l = strstr(l, "\r\n") + 2) {
    size_t n = strlen(name);
    if (strncmp(l, name, n) == 0 && l[n] == ':') {
      size_t v = strcspn(l + n + 2, "\r");
      assert_true(v < size);
      memcpy(out, l + n + 2, v);
      out[v] = '\0';
    }
  }
}

static void test_request_id(void **state) {
  kt_server *f = *state;
  only(f, KS_VARIANT_REQUEST_ID);
  static const char *const bad_id[] = {"id", "kein-link", NULL};
  struct {
    const char *method, *path;
    const char *const *query;
    const char *body;
    unsigned status;
  } asks[] = {
      {"GET", "/api/v1/health", NULL, NULL, 200},
      {"POST", "/api/v1/email-confirmations/resend", NULL, "{\"email\":\"a@b.de\"}", 202},
      {"POST", "/api/v1/email-confirmations/resend", NULL, "{\"email\":\"a@b.de\"}", 202},
      {"GET", "/link/e-mail-bestaetigen", bad_id, NULL, 404},
      {"DELETE", "/anmelden", NULL, NULL, 405},
      {"GET", "/anmelden", NULL, NULL, 200},
  };
  char ids[6][64];
  kf_http_answer a[6];
  for (size_t i = 0; i < 6; i++) {
    call(f, asks[i].method, asks[i].path, asks[i].query, asks[i].body, &a[i]);
    assert_int_equal(a[i].status, asks[i].status);
    header(&a[i], "X-Request-Id", ids[i], sizeof ids[i]);
    assert_true(kf_uuid_is_canonical(ids[i]));
    for (size_t k = 0; k < i; k++)
      assert_string_not_equal(ids[i], ids[k]);
  }
  /* Two answers that must be indistinguishable differ in X-Request-Id only; bodies carry none. */
  assert_string_equal(a[1].body, a[2].body);
  assert_null(strstr(a[1].body, ids[1]));
  /* Error pages show it; other pages do not. */
  char shown[128];
  assert_int_equal(kf_str_format(shown, sizeof shown, "Vorgangsnummer: %s", ids[3]), KF_OK);
  assert_non_null(strstr(a[3].body, shown));
  assert_non_null(strstr(a[4].body, ids[4]));
  assert_null(strstr(a[5].body, "Vorgangsnummer"));
  for (size_t i = 0; i < 6; i++)
    kf_http_answer_release(&a[i]);
  /* Without the variant there is no such header and no such text. */
  only(f, KS_VARIANT_COUNT);
  kf_http_answer plain;
  call(f, "GET", "/link/e-mail-bestaetigen", bad_id, NULL, &plain);
  assert_null(strstr(plain.headers, "X-Request-Id"));
  assert_null(strstr(plain.body, "Vorgangsnummer"));
  kf_http_answer_release(&plain);
}

/* Ask the same once as the reference answers and once with variant v; the two answers. */
static void both_ways(kt_server *f, ks_variant v, const char *method, const char *path,
                      const char *body, kf_http_answer *ref, kf_http_answer *var) {
  only(f, KS_VARIANT_COUNT);
  call(f, method, path, NULL, body, ref);
  only(f, v);
  call(f, method, path, NULL, body, var);
  only(f, KS_VARIANT_COUNT);
  assert_int_equal(ref->status, var->status);
}

static void test_json_layout(void **state) {
  kt_server *f = *state;
  struct {
    const char *method, *path, *body;
  } asks[] = {
      {"GET", "/api/v1/health", NULL},
      {"POST", "/api/v1/registrations", "{\"email\":\"x\",\"password\":\"kurz\"}"},
      {"POST", "/api/v1/email-confirmations", "{\"id\":\"kein-link\"}"},
      {"POST", "/test/v1/clocks",
       "{\"frozen_time\":1774692000,\"name\":\"Gr\xc3\xbc\xc3\x9f"
       "e\"}"},
      {"POST", "/api/v1/sessions", "{\"username\":\"a@b.de\",\"password\":\"" PW "\"}"},
  };
  for (size_t i = 0; i < sizeof asks / sizeof asks[0]; i++) {
    kf_http_answer ref, var;
    both_ways(f, KS_VARIANT_JSON_LAYOUT, asks[i].method, asks[i].path, asks[i].body, &ref, &var);
    assert_string_equal(ref.content_type, "application/json; charset=utf-8");
    assert_string_equal(var.content_type, "application/json");
    assert_string_not_equal(ref.body, var.body);
    assert_int_equal(var.body[var.body_len - 1], '\n');
    json_t *a = json_loadb(ref.body, ref.body_len, 0, NULL);
    json_t *b = json_loadb(var.body, var.body_len, 0, NULL);
    assert_non_null(a);
    assert_non_null(b);
    /* A clock's id differs per clock; everything else is the same value. */
    json_object_del(a, "id");
    json_object_del(b, "id");
    assert_true(json_equal(a, b));
    json_decref(a);
    json_decref(b);
    kf_http_answer_release(&ref);
    kf_http_answer_release(&var);
  }
}

static void test_answer_headers(void **state) {
  kt_server *f = *state;
  kf_http_answer ref, var;
  both_ways(f, KS_VARIANT_ANSWER_HEADERS, "GET", "/registrierung", NULL, &ref, &var);
  char v[64];
  header(&var, "Content-Language", v, sizeof v);
  assert_string_equal(v, "de");
  header(&var, "Referrer-Policy", v, sizeof v);
  assert_string_equal(v, "no-referrer");
  header(&ref, "Content-Language", v, sizeof v);
  assert_string_equal(v, "");
  assert_string_equal(ref.body, var.body);
  kf_http_answer_release(&ref);
  kf_http_answer_release(&var);
}

/* The link of the newest mail in the outbox, as its text shows it, into out. */
static void newest_link(kt_server *f, char *out, size_t size) {
  sqlite3 *conn = NULL;
  assert_int_equal(ks_db_conn(f->srv.db, &conn, NULL), KF_OK);
  sqlite3_stmt *st = NULL;
  assert_int_equal(
      sqlite3_prepare_v2(conn, "SELECT raw FROM outbox ORDER BY id DESC LIMIT 1", -1, &st, NULL),
      SQLITE_OK);
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  GMimeMessage *msg = NULL;
  assert_int_equal(kt_mail_parse((const char *)sqlite3_column_blob(st, 0),
                                 (size_t)sqlite3_column_bytes(st, 0), &msg),
                   KF_OK);
  sqlite3_finalize(st);
  char *text = NULL;
  assert_int_equal(kt_mail_text(g_mime_message_get_mime_part(msg), &text), KF_OK);
  const char *id = strstr(text, "?id=");
  assert_non_null(id);
  size_t n = strcspn(id + 4, "\n");
  assert_true(n < size);
  memcpy(out, id + 4, n);
  out[n] = '\0';
  g_free(text);
  g_object_unref(msg);
}

static void test_link_id_upper(void **state) {
  kt_server *f = *state;
  only(f, KS_VARIANT_LINK_ID_UPPER);
  kf_http_answer a;
  call(f, "POST", "/api/v1/registrations", NULL,
       "{\"email\":\"gross@example.de\",\"password\":\"" PW "\",\"password_repeat\":\"" PW
       "\",\"accept_terms\":true,\"consent_email\":true}",
       &a);
  assert_int_equal(a.status, 202);
  kf_http_answer_release(&a);
  char id[64];
  newest_link(f, id, sizeof id);
  assert_true(kf_uuid_is_canonical(id));
  assert_int_equal(strspn(id, "0123456789ABCDEF-"), strlen(id));
  /* The id as the link shows it confirms, by the link and by the JSON route alike. */
  const char *query[] = {"id", id, NULL};
  call(f, "HEAD", "/link/e-mail-bestaetigen", query, NULL, &a);
  assert_int_equal(a.status, 200);
  kf_http_answer_release(&a);
  char body[128];
  assert_int_equal(kf_str_format(body, sizeof body, "{\"id\":\"%s\"}", id), KF_OK);
  call(f, "POST", "/api/v1/email-confirmations", NULL, body, &a);
  assert_int_equal(a.status, 200);
  kf_http_answer_release(&a);
}

/* POST body to path; the answer must have status. */
static void post_status(kt_server *f, const char *path, const char *body, unsigned status) {
  kf_http_answer a;
  call(f, "POST", path, NULL, body, &a);
  if (a.status != status)
    fail_msg("POST %s %s: %u %s (expected %u)", path, body, a.status, a.body, status);
  kf_http_answer_release(&a);
}

/* The reset link's id as the mail shows it, in upper case, sets the password. */
static void test_reset_link_id_upper(void **state) {
  kt_server *f = *state;
  only(f, KS_VARIANT_RESET_LINK_ID_UPPER);
  char body[256], id[128];
  assert_int_equal(kf_str_format(body, sizeof body,
                                 "{\"email\":\"%s\",\"password\":\"%s\",\"password_repeat\":\"%s\","
                                 "\"accept_terms\":true,\"consent_email\":true}",
                                 "reset@example.de", PW, PW),
                   KF_OK);
  post_status(f, "/api/v1/registrations", body, 202);
  newest_link(f, id, sizeof id);
  assert_int_equal(kf_str_format(body, sizeof body, "{\"id\":\"%s\"}", id), KF_OK);
  post_status(f, "/api/v1/email-confirmations", body, 200);
  post_status(f, "/api/v1/password-resets", "{\"username\":\"reset@example.de\"}", 202);
  newest_link(f, id, sizeof id);
  assert_int_equal(strlen(id), 64);
  assert_int_equal(strspn(id, "0123456789ABCDEF"), 64);
  assert_int_equal(kf_str_format(body, sizeof body,
                                 "{\"id\":\"%s\",\"password\":\"%s\",\"password_repeat\":\"%s\"}",
                                 id, PW, PW),
                   KF_OK);
  post_status(f, "/api/v1/password-resets/confirm", body, 200);
  post_status(f, "/api/v1/password-resets/confirm", body, 410);
}

int main(void) {
  kf_log_setup("test_server_variants", KF_LOG_OFF);
  ks_mail_global_init();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_catalogue),
      cmocka_unit_test(test_options),
      cmocka_unit_test(test_mail_date_zone),
      cmocka_unit_test(test_subject_folded),
      cmocka_unit_test(test_mail_encoding),
      cmocka_unit_test(test_page_entities),
      cmocka_unit_test_setup_teardown(test_request_id, fixture_setup, fixture_teardown),
      cmocka_unit_test_setup_teardown(test_json_layout, fixture_setup, fixture_teardown),
      cmocka_unit_test_setup_teardown(test_answer_headers, fixture_setup, fixture_teardown),
      cmocka_unit_test_setup_teardown(test_link_id_upper, fixture_setup, fixture_teardown),
      cmocka_unit_test_setup_teardown(test_reset_link_id_upper, fixture_setup, fixture_teardown),
  };
  return cmocka_run_group_tests_name("server variants", tests, NULL, NULL);
}
