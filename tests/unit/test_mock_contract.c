/*
 * test_mock_contract.c: the documents konform-mail and konform-post send
 * against docs/mocks-openapi.yaml. Both mocks are served in-process on
 * loopback, filled with mails of every shape (the reference server's own,
 * ones without Message-ID or Subject, multipart, flowed, broken, with a NUL in
 * a header) and letters with and without their optional members; every
 * answer is checked against the schema the contract gives for its route and
 * status: the required members, the types, null only where the contract says
 * nullable, enums, and no member the contract does not name.
 *
 * The contract is read with libyaml (tests/unit/kt_yaml), so the check walks
 * the document YAML says it is; $refs are followed within it. Run from the
 * top of the repository (as make unit does).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "kf/alloc.h"
#include "kf/buf.h"
#include "kf/httpd.h"
#include "kf/mailbox.h"
#include "kf/mailbox_api.h"
#include "kf/str.h"
#include "km_mime.h"
#include "kp_service.h"
#include "ks_mail.h"
#include "kt_openapi.h"
#include "kt_yaml.h"

#define CONTRACT "docs/mocks-openapi.yaml"
#define WHY_MAX 512

/* The contract as JSON; caller decrefs. */
static json_t *contract_load(void) {
  kf_err err;
  kf_err_init(&err);
  json_t *root = NULL;
  kf_rc rc = kt_yaml_load_file(CONTRACT, &root, &err);
  if (rc != KF_OK)
    fail_msg("%s%s", err.message, rc == KF_ERR_IO ? " (run from the top of the repository)" : "");
  return root;
}

/* ---- The schema check. ---- */

/* What a "$ref" names (kt_openapi.h); a broken $ref fails the test. */
static json_t *schema_resolve(json_t *root, json_t *schema) {
  kf_err err;
  kf_err_init(&err);
  json_t *target = NULL;
  if (kt_openapi_follow(root, schema, &target, &err) != KF_OK)
    fail_msg("%s: %s", CONTRACT, err.message);
  return target;
}

/* A schema with its allOf branches merged, the way the check reads it. */
#define SCHEMA_PARTS_MAX 8
typedef struct schema_view {
  json_t *properties[SCHEMA_PARTS_MAX];
  json_t *required[SCHEMA_PARTS_MAX];
  size_t parts;
  json_t *additional; /* additionalProperties when it is a schema. */
  json_t *items;
  json_t *enums;
  const char *type;
  bool nullable;
} schema_view;

static void schema_gather(json_t *root, json_t *schema, schema_view *v) {
  schema = schema_resolve(root, schema);
  assert_true(v->parts < SCHEMA_PARTS_MAX);
  v->properties[v->parts] = json_object_get(schema, "properties");
  v->required[v->parts] = json_object_get(schema, "required");
  v->parts++;
  json_t *additional = json_object_get(schema, "additionalProperties");
  if (json_is_object(additional))
    v->additional = additional;
  if (json_object_get(schema, "items") != NULL)
    v->items = json_object_get(schema, "items");
  if (json_object_get(schema, "enum") != NULL)
    v->enums = json_object_get(schema, "enum");
  if (json_is_string(json_object_get(schema, "type")))
    v->type = json_string_value(json_object_get(schema, "type"));
  if (json_is_true(json_object_get(schema, "nullable")))
    v->nullable = true;
  size_t i;
  json_t *branch;
  json_array_foreach(json_object_get(schema, "allOf"), i, branch) schema_gather(root, branch, v);
}

typedef struct checker {
  json_t *root;
  char why[WHY_MAX]; /* The first disagreement. */
} checker;

static bool check_fail(checker *c, const char *path, const char *what) {
  /* A cut message still names the place. */
  (void)kf_str_format(c->why, sizeof(c->why), "%s: %s", path[0] != '\0' ? path : "(the document)",
                      what);
  return false;
}

/* The schema types and the jansson types that are one (a number is an integer or a real). */
static const struct {
  const char *name;
  json_type a, b;
} schema_types[] = {
    {"object", JSON_OBJECT, JSON_OBJECT}, {"array", JSON_ARRAY, JSON_ARRAY},
    {"string", JSON_STRING, JSON_STRING}, {"integer", JSON_INTEGER, JSON_INTEGER},
    {"number", JSON_INTEGER, JSON_REAL},  {"boolean", JSON_TRUE, JSON_FALSE},
};

static bool type_is(const char *type, const json_t *value) {
  for (size_t i = 0; i < sizeof(schema_types) / sizeof(schema_types[0]); i++) {
    if (strcmp(type, schema_types[i].name) == 0)
      return json_typeof(value) == schema_types[i].a || json_typeof(value) == schema_types[i].b;
  }
  fail_msg("a schema type this check does not know: %s", type);
  return false;
}

static bool schema_check(checker *c, json_t *schema, json_t *value, const char *path);

/* The schema of member key in v: its property, additionalProperties, or NULL. */
static json_t *view_member(const schema_view *v, const char *key) {
  for (size_t i = 0; i < v->parts; i++) {
    json_t *s = json_object_get(v->properties[i], key);
    if (s != NULL)
      return s;
  }
  return v->additional;
}

static bool check_object(checker *c, const schema_view *v, json_t *value, const char *path) {
  char sub[WHY_MAX];
  for (size_t i = 0; i < v->parts; i++) {
    size_t k;
    json_t *name;
    json_array_foreach(v->required[i], k, name) {
      if (json_object_get(value, json_string_value(name)) == NULL) {
        (void)kf_str_format(sub, sizeof(sub), "the required member %s is missing",
                            json_string_value(name));
        return check_fail(c, path, sub);
      }
    }
  }
  const char *key;
  json_t *member;
  json_object_foreach(value, key, member) {
    (void)kf_str_format(sub, sizeof(sub), "%s.%s", path, key);
    json_t *s = view_member(v, key);
    /* Stricter than the contract's openness on purpose: every member sent is documented. */
    if (s == NULL)
      return check_fail(c, sub, "a member the contract does not name");
    if (!schema_check(c, s, member, sub))
      return false;
  }
  return true;
}

static bool schema_check(checker *c, json_t *schema, json_t *value, const char *path) {
  schema_view v = {0};
  schema_gather(c->root, schema, &v);
  if (json_is_null(value))
    return v.nullable ? true : check_fail(c, path, "null where the contract does not allow it");
  if (v.type != NULL && !type_is(v.type, value)) {
    char what[WHY_MAX];
    (void)kf_str_format(what, sizeof(what), "not of the contract's type %s", v.type);
    return check_fail(c, path, what);
  }
  if (v.enums != NULL) {
    bool found = false;
    size_t i;
    json_t *e;
    json_array_foreach(v.enums, i, e) found = found || json_equal(e, value);
    if (!found)
      return check_fail(c, path, "a value not in the contract's enum");
  }
  if (json_is_object(value))
    return check_object(c, &v, value, path);
  if (json_is_array(value) && v.items != NULL) {
    size_t i;
    json_t *item;
    json_array_foreach(value, i, item) {
      char sub[WHY_MAX];
      (void)kf_str_format(sub, sizeof(sub), "%s[%zu]", path, i);
      if (!schema_check(c, v.items, item, sub))
        return false;
    }
  }
  return true;
}

/* The contract's JSON schema of the answer to method template with status, or NULL for no body. */
static json_t *contract_answer(json_t *root, const char *method, const char *template,
                               long status) {
  char code[8];
  assert_int_equal(kf_str_format(code, sizeof(code), "%ld", status), KF_OK);
  char verb[8];
  assert_int_equal(kf_str_copy(verb, sizeof(verb), method), KF_OK);
  kf_str_ascii_lower(verb);
  json_t *item = json_object_get(json_object_get(root, "paths"), template);
  json_t *op = json_object_get(item, verb);
  json_t *answer = json_object_get(json_object_get(op, "responses"), code);
  /* A refused method has no operation of its own; the path's operations list its 405. */
  const char *other;
  json_t *candidate;
  json_object_foreach(item, other, candidate) {
    if (op == NULL && status == 405 && answer == NULL)
      answer = json_object_get(json_object_get(candidate, "responses"), code);
  }
  if (op == NULL && answer == NULL)
    fail_msg("the contract has no %s %s", method, template);
  if (answer == NULL)
    fail_msg("the contract lists no status %ld for %s %s", status, method, template);
  answer = schema_resolve(root, answer);
  json_t *content = json_object_get(answer, "content");
  if (content == NULL)
    return NULL;
  json_t *schema = json_object_get(json_object_get(content, "application/json"), "schema");
  if (schema == NULL)
    fail_msg("%s %s %ld: the contract gives no JSON schema", method, template, status);
  return schema;
}

/* ---- The mocks, served in-process on loopback. ---- */

typedef struct service {
  kf_mailbox *mb;
  kf_httpd *httpd;
  unsigned port;
} service;

static void service_start(service *s, const char *collection) {
  kf_err err;
  kf_err_init(&err);
  assert_int_equal(kf_mailbox_open(NULL, collection, 100, &s->mb, &err), KF_OK);
  kf_httpd_config cfg;
  kf_httpd_config_init(&cfg);
  cfg.threads = 0;
  assert_int_equal(kf_httpd_new(&cfg, &s->httpd, &err), KF_OK);
  /* konform-post adds its POST route to the shared ones; konform-mail has the shared ones. */
  kf_rc rc = strcmp(collection, "letters") == 0 ? kp_service_register(s->httpd, s->mb, &err)
                                                : kf_mailbox_api_register(s->httpd, s->mb, &err);
  assert_int_equal(rc, KF_OK);
  assert_int_equal(kf_httpd_start(s->httpd, &err), KF_OK);
  s->port = kf_httpd_port(s->httpd);
}

static void service_stop(service *s) {
  kf_mailbox_shutdown(s->mb);
  kf_httpd_free(s->httpd);
  kf_mailbox_free(s->mb);
}

static size_t collect(char *data, size_t size, size_t n, void *userdata) {
  return kf_buf_append((kf_buf *)userdata, data, size * n) == KF_OK ? size * n : 0;
}

/* One request (body: JSON to POST, or NULL); the answer's JSON body or NULL when empty. */
static json_t *http(const service *s, const char *method, const char *path, const char *body,
                    long *status) {
  char url[512];
  assert_int_equal(kf_str_format(url, sizeof(url), "http://127.0.0.1:%u%s", s->port, path), KF_OK);
  kf_buf out;
  kf_buf_init(&out, 1 << 22);
  CURL *c = curl_easy_init();
  assert_non_null(c);
  struct curl_slist *headers = curl_slist_append(NULL, "Content-Type: application/json");
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &out);
  if (body != NULL) {
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
  }
  assert_int_equal(curl_easy_perform(c), CURLE_OK);
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
  curl_easy_cleanup(c);
  curl_slist_free_all(headers);
  json_t *j = NULL;
  if (out.len > 0) {
    json_error_t jerr;
    j = json_loadb(out.data, out.len, 0, &jerr);
    if (j == NULL)
      fail_msg("%s %s: the answer is not JSON: %s", method, path, jerr.text);
  }
  kf_buf_release(&out);
  return j;
}

/* One request to a mock and the contract's word on its answer. */
typedef struct exchange {
  const char *method;
  const char *path;     /* As requested. */
  const char *template; /* The contract's path for it. */
  const char *body;     /* JSON to POST, or NULL. */
  long status;          /* What the mock answers. */
} exchange;

/* Send x and check the answer against the contract; returns the answer (caller decrefs). */
static json_t *exchange_check(json_t *root, const service *s, const exchange *x) {
  long status = 0;
  json_t *answer = http(s, x->method, x->path, x->body, &status);
  if (status != x->status)
    fail_msg("%s %s: status %ld, wanted %ld", x->method, x->path, status, x->status);
  json_t *schema = contract_answer(root, x->method, x->template, status);
  if (schema == NULL && answer != NULL)
    fail_msg("%s %s: a body where the contract has none", x->method, x->path);
  checker c = {.root = root};
  if (schema != NULL && !schema_check(&c, schema, answer, ""))
    fail_msg("%s %s (%ld): %s", x->method, x->path, status, c.why);
  return answer;
}

/* ---- konform-mail. ---- */

/* Store raw as konform-mail does: decoded with the SMTP envelope, the raw source kept. */
static void mail_store(kf_mailbox *mb, const char *raw, size_t len, const char *mail_from) {
  static const char *const rcpts[] = {"a@b.test", "Bcc@b.test"};
  km_smtp_envelope env = {.mail_from = mail_from, .rcpt_to = rcpts, .rcpt_to_len = 2};
  json_t *doc = NULL;
  assert_int_equal(km_mime_decode(raw, len, &env, &doc, NULL), KF_OK);
  assert_int_equal(kf_mailbox_add(mb, doc, raw, len, NULL, NULL), KF_OK);
  json_decref(doc);
}

/* The reference server's mail of kind, rendered by its own code. */
static void mail_store_reference(kf_mailbox *mb, ks_mail_kind kind) {
  ks_mail_params p = {
      .kind = kind,
      .mail_domain = "arbeitsagentur.de",
      .to = "a@b.test",
      .link =
          "http://127.0.0.1:8480/link/e-mail-bestaetigen?id=0f8fad5b-d9cb-469f-a165-70867728950e",
      .public_url = "http://127.0.0.1:8480",
      .date = 1795273445,
      .message_id = "confirm-1@arbeitsagentur.de",
  };
  char *raw = NULL;
  size_t len = 0;
  assert_int_equal(ks_mail_render(&p, &raw, &len, NULL), KF_OK);
  mail_store(mb, raw, len, "kontoservice@arbeitsagentur.de");
  kf_free(raw);
}

/* Mails of every shape a target may send, each leaving other members null or empty. */
static const char *const odd_mails[] = {
    /* No Message-ID, no Subject, a From with no mailbox, a group in To. */
    "From: undisclosed:;\r\nTo: list: x@y.test;\r\nDate: Sat, 28 Mar 2026 10:00:00 -0500\r\n\r\n"
    "Hallo\r\n",
    /* multipart/alternative with an HTML part, a folded Subject, other zones. */
    "From: a@b.test\r\nTo: a@b.test\r\nSubject: =?utf-8?Q?Gr=C3=BC=C3=9Fe?=\r\n aus\r\n"
    "Date: 28 Mar 2026 10:00 +0530\r\nMessage-ID:\r\nMIME-Version: 1.0\r\n"
    "Content-Type: multipart/alternative; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n"
    "\r\nhttps://ex.test/x\r\n--b\r\nContent-Type: text/html\r\n\r\n<a href=\"https://ex.test/h\">"
    "h</a>\r\n--b--\r\n",
    /* SMTPUTF8 headers, an 8-bit flowed body. */
    "From: J\xc3\xbcrgen <j\xc3\xbcrgen@b\xc3\xbc"
    "cher.test>\r\nSubject: Gr\xc3\xbc\xc3\x9f"
    "e\r\nDate: Sat, 28 Mar 2026 10:00:00 +0200\r\n"
    "Content-Type: text/plain; charset=utf-8; format=flowed\r\n"
    "Content-Transfer-Encoding: 8bit\r\n\r\nfliesst \r\nweiter\r\n",
    /* Not a mail at all: every member at its default. */
    "this is not a mail\r\n",
};

static void mail_fill(kf_mailbox *mb) {
  mail_store_reference(mb, KS_MAIL_CONFIRM);
  mail_store_reference(mb, KS_MAIL_DUPLICATE);
  for (size_t i = 0; i < sizeof(odd_mails) / sizeof(odd_mails[0]); i++)
    mail_store(mb, odd_mails[i], strlen(odd_mails[i]), i == 0 ? "" : "sender@b.test");
  /* A NUL in a header and a byte that is not UTF-8 in the body. */
  static const char broken[] = "From: a@b.test\r\nDate: Sat, 28 Mar 2026 10:00:00 +0000\r\n"
                               "Subject: a\0b\r\n\r\nGr\xfc\xdf\r\n";
  mail_store(mb, broken, sizeof(broken) - 1, "sender@b.test");
}

#define MAIL_COUNT 7

static void test_mail_documents(void **state) {
  json_t *root = *state;
  service s;
  service_start(&s, "messages");
  mail_fill(s.mb);
  assert_int_equal(kf_mailbox_count(s.mb), MAIL_COUNT);
  static const exchange common[] = {
      {"GET", "/api/v1/messages", "/api/v1/messages", NULL, 200},
      {"GET", "/api/v1/messages?limit=0", "/api/v1/messages", NULL, 400},
      {"POST", "/api/v1/messages", "/api/v1/messages", "{}", 405},
      {"GET", "/api/v1/messages/999", "/api/v1/messages/{id}", NULL, 404},
      {"GET", "/api/v1/messages/x", "/api/v1/messages/{id}", NULL, 400},
      {"GET", "/api/v1/wait/messages?to=a@b.test&timeout_ms=0", "/api/v1/wait/messages", NULL, 200},
      {"GET", "/api/v1/wait/messages?to=no@b.test&timeout_ms=0", "/api/v1/wait/messages", NULL,
       408},
      {"GET", "/api/v1/health", "/api/v1/health", NULL, 200},
  };
  for (size_t i = 0; i < sizeof(common) / sizeof(common[0]); i++)
    json_decref(exchange_check(root, &s, &common[i]));
  for (int id = 1; id <= MAIL_COUNT; id++) {
    char path[64];
    assert_int_equal(kf_str_format(path, sizeof(path), "/api/v1/messages/%d", id), KF_OK);
    exchange x = {"GET", path, "/api/v1/messages/{id}", NULL, 200};
    json_decref(exchange_check(root, &s, &x));
  }
  exchange del = {"DELETE", "/api/v1/messages/1", "/api/v1/messages/{id}", NULL, 204};
  json_decref(exchange_check(root, &s, &del));
  service_stop(&s);
}

/*
 * The check is not vacuous: a mail document the contract would not describe
 * (a member missing, a wrong type, a null where none is allowed, a member it
 * does not name) is caught.
 */
static void test_check_catches_drift(void **state) {
  json_t *root = *state;
  json_t *mail = json_object_get(json_object_get(json_object_get(root, "components"), "schemas"),
                                 "MailDocument");
  assert_non_null(mail);
  kf_mailbox *mb = NULL;
  assert_int_equal(kf_mailbox_open(NULL, "messages", 10, &mb, NULL), KF_OK);
  mail_store_reference(mb, KS_MAIL_CONFIRM);
  json_t *good = NULL;
  assert_int_equal(kf_mailbox_get(mb, 1, &good, NULL), KF_OK);
  kf_mailbox_free(mb);
  checker c = {.root = root};
  if (!schema_check(&c, mail, good, ""))
    fail_msg("%s", c.why);
  static const char *const drifts[][2] = {
      {"message_id", NULL},
      {"text", "null"},
      {"size", "\"12\""},
      {"extra", "1"},
      {"html", "[]"},
      {"mime_valid", "\"yes\""},
      {"header_list", "[{\"name\": \"Date\", \"value\": \"x\"}]"},
      {"envelope", "{\"mail_from\": \"\", \"rcpt_to\": [1]}"},
  };
  for (size_t i = 0; i < sizeof(drifts) / sizeof(drifts[0]); i++) {
    json_t *bad = json_deep_copy(good);
    if (drifts[i][1] == NULL)
      assert_int_equal(json_object_del(bad, drifts[i][0]), 0);
    else
      assert_int_equal(
          json_object_set_new(bad, drifts[i][0], json_loads(drifts[i][1], JSON_DECODE_ANY, NULL)),
          0);
    if (schema_check(&c, mail, bad, ""))
      fail_msg("a mail document with %s = %s passed", drifts[i][0],
               drifts[i][1] != NULL ? drifts[i][1] : "(absent)");
    json_decref(bad);
  }
  json_decref(good);
}

/* ---- konform-post. ---- */

static void test_letter_documents(void **state) {
  json_t *root = *state;
  service s;
  service_start(&s, "letters");
  static const exchange steps[] = {
      {"POST", "/api/v1/letters", "/api/v1/letters",
       "{\"kind\": \"freischaltcode\", \"date\": \"2026-03-01\", \"recipient\": {\"name\": \"Max "
       "Mustermann\", \"customer_number\": \"123A123456\", \"address\": {\"street\": \"Hauptstr. "
       "1\", \"postal_code\": \"10115\", \"city\": \"Berlin\", \"country\": \"AT\"}}, \"text\": "
       "\"Guten Tag\", \"fields\": {\"code\": \"HET2-2X8A-UXAS\"}}",
       201},
      /* The optional members left out, then posted as null: both are stored as absent. */
      {"POST", "/api/v1/letters", "/api/v1/letters",
       "{\"kind\": \"k\", \"date\": \"2026-03-01\", \"recipient\": {\"name\": \"M\", \"address\": "
       "{\"street\": \"S\", \"postal_code\": \"1\", \"city\": \"C\"}}, \"text\": \"T\"}",
       201},
      {"POST", "/api/v1/letters", "/api/v1/letters",
       "{\"kind\": \"k\", \"date\": \"2026-03-01\", \"recipient\": {\"name\": \"M\", "
       "\"customer_number\": null, \"address\": {\"street\": \"S\", \"postal_code\": \"1\", "
       "\"city\": \"C\", \"country\": null}}, \"text\": \"T\", \"fields\": null}",
       201},
      {"POST", "/api/v1/letters", "/api/v1/letters", "{\"kind\": 7}", 400},
      {"POST", "/api/v1/letters", "/api/v1/letters", "{\"kind\": ", 400},
      {"GET", "/api/v1/letters", "/api/v1/letters", NULL, 200},
      {"GET", "/api/v1/letters/1", "/api/v1/letters/{id}", NULL, 200},
      {"GET", "/api/v1/letters/2", "/api/v1/letters/{id}", NULL, 200},
      {"GET", "/api/v1/letters/3", "/api/v1/letters/{id}", NULL, 200},
      {"GET", "/api/v1/letters/1/raw", "/api/v1/letters/{id}/raw", NULL, 404},
      {"GET", "/api/v1/wait/letters?kind=k&timeout_ms=0", "/api/v1/wait/letters", NULL, 200},
      {"GET", "/api/v1/health", "/api/v1/health", NULL, 200},
      {"DELETE", "/api/v1/letters", "/api/v1/letters", NULL, 204},
  };
  for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
    json_t *answer = exchange_check(root, &s, &steps[i]);
    if (strcmp(steps[i].path, "/api/v1/letters/3") == 0) {
      json_t *recipient = json_object_get(answer, "recipient");
      assert_null(json_object_get(recipient, "customer_number"));
      assert_null(json_object_get(answer, "fields"));
      assert_string_equal(
          json_string_value(json_object_get(json_object_get(recipient, "address"), "country")),
          "DE");
    }
    json_decref(answer);
  }
  service_stop(&s);
}

static int setup(void **state) {
  km_mime_global_init();
  ks_mail_global_init();
  curl_global_init(CURL_GLOBAL_DEFAULT);
  *state = contract_load();
  return 0;
}

static int teardown(void **state) {
  json_decref(*state);
  curl_global_cleanup();
  km_mime_global_shutdown();
  return 0;
}

int main(void) {
  kf_alloc_install_jansson();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_mail_documents),
      cmocka_unit_test(test_check_catches_drift),
      cmocka_unit_test(test_letter_documents),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
