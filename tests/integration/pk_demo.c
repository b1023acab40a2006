/*
 * pk_demo.c: the harness's virtual passkey authenticator (kh_authn) on its
 * own, for relying parties that are not konform (tests/integration/
 * passkey_fido2.py drives it with python3-fido2's Fido2Server).
 *
 * One JSON command a line on stdin, one JSON answer a line on stdout:
 *
 *   {"op": "create", "key": "k1", "options": {...}, "origin": "https://...",
 *    "rp_id": "example.com", "fmt": "packed", "faults": [["up-clear"], ["rp-id-other", "x"]]}
 *   {"op": "get", "key": "k1", "options": {...}, "origin": ..., "rp_id": ..., "faults": [...]}
 *   -> {"ok": true, "response": {...}} or {"ok": false, "error": "..."}
 *
 * It keeps the credentials by key as the passkey step keeps them in
 * variables; "faults" arguments naming "@k2" mean credential k2's JSON.
 */
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "kf/alloc.h"
#include "kh_authn.h"

#define PK_DEMO_LINE_MAX (256u * 1024u)

/* The knobs of a command into knobs (arguments borrowed from cmd or creds). */
static kf_rc pk_demo_knobs(const json_t *cmd, const json_t *creds, kh_authn_knob *knobs, size_t *n,
                           kf_err *err) {
  size_t i;
  const json_t *f;
  *n = 0;
  json_array_foreach(json_object_get(cmd, "faults"), i, f) {
    const char *name = json_string_value(json_array_get(f, 0));
    const kh_authn_fault_def *def = name != NULL ? kh_authn_fault_find(name, strlen(name)) : NULL;
    if (def == NULL || *n == KH_AUTHN_MAX_FAULTS)
      return kf_err_set(err, KF_ERR_INVALID, "unknown knob %s", name != NULL ? name : "?");
    const char *arg = json_string_value(json_array_get(f, 1));
    if (arg != NULL && arg[0] == '@')
      arg = json_string_value(json_object_get(creds, arg + 1));
    knobs[(*n)++] = (kh_authn_knob){def->fault, arg};
  }
  return KF_OK;
}

/* Carry out one command; the answer's response member on success. */
static kf_rc pk_demo_run(const json_t *cmd, json_t *creds, json_t **response, kf_err *err) {
  const char *op = json_string_value(json_object_get(cmd, "op"));
  const char *key = json_string_value(json_object_get(cmd, "key"));
  const char *fmt = json_string_value(json_object_get(cmd, "fmt"));
  if (op == NULL || key == NULL)
    return kf_err_set(err, KF_ERR_INVALID, "a command needs op and key");
  kh_authn_knob knobs[KH_AUTHN_MAX_FAULTS];
  kh_authn_params p = {.origin = json_string_value(json_object_get(cmd, "origin")),
                       .rp_id = json_string_value(json_object_get(cmd, "rp_id")),
                       .packed = fmt != NULL && strcmp(fmt, "packed") == 0,
                       .knobs = knobs};
  kf_rc rc = pk_demo_knobs(cmd, creds, knobs, &p.knobs_len, err);
  if (rc != KF_OK)
    return rc;
  kh_authn_result res;
  kh_authn_result_init(&res);
  const json_t *options = json_object_get(cmd, "options");
  if (strcmp(op, "create") == 0) {
    rc = kh_authn_create(options, &p, &res, err);
  } else if (strcmp(op, "get") == 0) {
    const char *cred = json_string_value(json_object_get(creds, key));
    rc = cred != NULL ? kh_authn_get(options, cred, &p, &res, err)
                      : kf_err_set(err, KF_ERR_NOT_FOUND, "no credential %s", key);
  } else {
    rc = kf_err_set(err, KF_ERR_INVALID, "unknown op %s", op);
  }
  if (rc == KF_OK) {
    *response = json_loads(res.response, 0, NULL);
    if (*response == NULL || json_object_set_new(creds, key, json_string(res.credential)) != 0)
      rc = kf_err_set(err, KF_ERR_NOMEM, "out of memory");
  }
  kh_authn_result_release(&res);
  return rc;
}

static void pk_demo_answer(json_t *answer) {
  char *text = answer != NULL ? json_dumps(answer, JSON_COMPACT) : NULL;
  puts(text != NULL ? text : "{\"ok\": false, \"error\": \"out of memory\"}");
  fflush(stdout);
  kf_free(text); /* jansson allocates with kf_malloc here (kf_alloc_install_jansson). */
  json_decref(answer);
}

int main(void) {
  if (sodium_init() < 0)
    return 1;
  kf_alloc_install_jansson();
  json_t *creds = json_object();
  char *line = kf_malloc(PK_DEMO_LINE_MAX);
  if (creds == NULL || line == NULL)
    return 1;
  while (fgets(line, (int)PK_DEMO_LINE_MAX, stdin) != NULL) {
    json_error_t jerr;
    json_t *cmd = json_loads(line, 0, &jerr);
    json_t *response = NULL;
    kf_err err;
    kf_err_init(&err);
    kf_rc rc = cmd != NULL ? pk_demo_run(cmd, creds, &response, &err)
                           : kf_err_set(&err, KF_ERR_PARSE, "not JSON: %s", jerr.text);
    pk_demo_answer(rc == KF_OK ? json_pack("{s:b, s:o}", "ok", 1, "response", response)
                               : json_pack("{s:b, s:s}", "ok", 0, "error", err.message));
    json_decref(cmd);
  }
  kf_free(line);
  json_decref(creds);
  return 0;
}
