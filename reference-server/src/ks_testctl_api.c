/*
 * ks_testctl_api.c: the test-control area's handlers (test clocks; the rows
 * are KS_ROUTE_TEST_ONLY, so without --test-mode these routes are 404).
 */
#include "ks_testctl_api.h"

#include <string.h>

#include "kf/timeutil.h"
#include "kf/utf8.h"
#include "ks_clock.h"
#include "ks_handler.h"

static json_t *testctl_clock_json(const ks_clock *c) {
  char iso[KF_TIME_ISO_MAX];
  if (kf_time_format_iso(c->frozen_time, iso, sizeof iso) != KF_OK)
    iso[0] = '\0';
  return json_pack("{s:s, s:I, s:s, s:o}", "id", c->id, "frozen_time", (json_int_t)c->frozen_time,
                   "frozen_time_iso", iso, "name",
                   c->name != NULL ? json_string(c->name) : json_null());
}

/* Answer a clock operation's result: the clock (then released), 404, or a 500. */
static void testctl_answer(kf_http_req *req, kf_http_resp *resp, unsigned status, kf_rc rc,
                           ks_clock *clock, const kf_err *err) {
  if (rc == KF_ERR_NOT_FOUND) {
    ks_handler_error(req, resp, KS_ERR_CLOCK_NOT_FOUND);
    return;
  }
  if (rc != KF_OK) {
    ks_handler_internal(req, resp, err);
    return;
  }
  ks_handler_json_answer(req, resp, status, testctl_clock_json(clock));
  ks_clock_release(clock);
}

/* A 400 VALIDATION_FAILED with one field entry. */
static void testctl_invalid(kf_http_req *req, kf_http_resp *resp, const char *field, ks_field f) {
  json_t *error = ks_error_new(KS_ERR_VALIDATION_FAILED);
  ks_error_add_field(error, field, f);
  ks_handler_invalid(req, resp, error);
}

/* A whole number in [min, KS_CLOCK_TIME_MAX] from v into *out. */
static bool testctl_time_value(const json_t *v, int64_t min, int64_t *out) {
  if (!json_is_integer(v))
    return false;
  json_int_t t = json_integer_value(v);
  if (t < min || t > KS_CLOCK_TIME_MAX)
    return false;
  *out = (int64_t)t;
  return true;
}

/*
 * The optional name member: usable (or absent/null: *name NULL), or false.
 * Its limit counts characters, as the contract's maxLength does, not bytes.
 */
static bool testctl_clock_name(const json_t *body, const char **name) {
  const json_t *jname = json_object_get(body, "name");
  *name = NULL;
  if (jname == NULL || json_is_null(jname))
    return true;
  if (!json_is_string(jname) ||
      kf_utf8_count(json_string_value(jname), json_string_length(jname)) > KS_CLOCK_NAME_MAX ||
      strlen(json_string_value(jname)) != json_string_length(jname))
    return false;
  *name = json_string_value(jname);
  return true;
}

static void testctl_clock_create(kf_http_req *req, kf_http_resp *resp, void *ctx) {
  ks_server *srv = ctx;
  const json_t *body = ks_handler_json(req);
  json_t *error = ks_error_new(KS_ERR_VALIDATION_FAILED);
  int64_t t = 0;
  if (!testctl_time_value(json_object_get(body, "frozen_time"), 0, &t))
    ks_error_add_field(error, "frozen_time", KS_FIELD_CLOCK_TIME_INVALID);
  const char *name = NULL;
  if (!testctl_clock_name(body, &name))
    ks_error_add_field(error, "name", KS_FIELD_INVALID_FIELD);
  if (ks_handler_refused(req, resp, error))
    return;
  ks_clock clock;
  kf_err err;
  kf_err_init(&err);
  kf_rc rc = ks_clock_create(srv->db, t, name, kf_time_real_now(), &clock, &err);
  testctl_answer(req, resp, 201, rc, &clock, &err);
}

static void testctl_clock_get(kf_http_req *req, kf_http_resp *resp, void *ctx) {
  ks_server *srv = ctx;
  ks_clock clock;
  kf_err err;
  kf_err_init(&err);
  kf_rc rc = ks_clock_get(srv->db, kf_http_req_param(req, "id"), &clock, &err);
  testctl_answer(req, resp, 200, rc, &clock, &err);
}

/*
 * Read exactly one of frozen_time (absolute) and seconds (relative). false
 * when neither or both are there or the one given is out of range; *relative
 * says which member the error names.
 */
static bool testctl_advance_body(const json_t *body, bool *relative, int64_t *value) {
  const json_t *jabs = json_object_get(body, "frozen_time");
  const json_t *jrel = json_object_get(body, "seconds");
  *relative = jrel != NULL;
  if ((jabs == NULL) == (jrel == NULL))
    return false;
  if (*relative)
    return testctl_time_value(jrel, -KS_CLOCK_TIME_MAX, value);
  return testctl_time_value(jabs, 0, value);
}

static void testctl_clock_advance(kf_http_req *req, kf_http_resp *resp, void *ctx) {
  ks_server *srv = ctx;
  bool relative = false;
  int64_t value = 0;
  bool ok = testctl_advance_body(ks_handler_json(req), &relative, &value);
  const char *field = relative ? "seconds" : "frozen_time";
  if (!ok) {
    testctl_invalid(req, resp, field, KS_FIELD_CLOCK_MOVE_INVALID);
    return;
  }
  ks_clock clock;
  kf_err err;
  kf_err_init(&err);
  kf_rc rc = ks_clock_advance(srv->db, kf_http_req_param(req, "id"), relative, value, &clock, &err);
  if (rc == KF_ERR_STATE)
    ks_handler_error(req, resp, KS_ERR_CLOCK_BACKWARDS);
  else if (rc == KF_ERR_LIMIT)
    testctl_invalid(req, resp, field, KS_FIELD_CLOCK_TIME_TOO_LATE);
  else
    testctl_answer(req, resp, 200, rc, &clock, &err);
}

static void testctl_clock_delete(kf_http_req *req, kf_http_resp *resp, void *ctx) {
  ks_server *srv = ctx;
  kf_err err;
  kf_err_init(&err);
  kf_rc rc = ks_clock_delete(srv->db, kf_http_req_param(req, "id"), &err);
  if (rc == KF_ERR_NOT_FOUND)
    ks_handler_error(req, resp, KS_ERR_CLOCK_NOT_FOUND);
  else if (rc != KF_OK)
    ks_handler_internal(req, resp, &err);
  else
    kf_http_resp_empty(resp, 204);
}

/* Every row is test-only and clockless: these routes manage the clocks the header names. */
#define TESTCTL (KS_ROUTE_TEST_ONLY | KS_ROUTE_CLOCKLESS)

static const ks_route testctl_routes[] = {
    {"POST", "/test/v1/clocks", testctl_clock_create, TESTCTL | KS_ROUTE_JSON, KS_STAGE_NONE},
    {"GET", "/test/v1/clocks/{id}", testctl_clock_get, TESTCTL, KS_STAGE_NONE},
    {"DELETE", "/test/v1/clocks/{id}", testctl_clock_delete, TESTCTL, KS_STAGE_NONE},
    {"POST", "/test/v1/clocks/{id}/advance", testctl_clock_advance, TESTCTL | KS_ROUTE_JSON,
     KS_STAGE_NONE},
};

const ks_area ks_testctl_api = {"testctl", testctl_routes,
                                sizeof testctl_routes / sizeof testctl_routes[0]};
