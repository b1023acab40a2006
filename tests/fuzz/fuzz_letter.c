/*
 * fuzz_letter.c: the letter validator of konform-post (mocks/post/kp_letter.c).
 *
 * The input is a request body; it is parsed the way kf_httpd parses JSON
 * bodies (duplicates rejected, NUL allowed, any value at the top) and handed
 * to kp_letter_check. Besides crashes the harness checks the contract of
 * kp_letter.h: the verdict agrees with the issue list, every issue is a
 * {"field","code","message"} object with a known code, and a valid letter
 * normalises into a document that is still valid and normalises to itself.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "kp_letter.h"
#include "kz_fuzz.h"

/* Whether one issue has the documented shape; a broken one is a finding. */
static int kz_issue_ok(const json_t *issue) {
  const char *field = json_string_value(json_object_get(issue, "field"));
  const char *code = json_string_value(json_object_get(issue, "code"));
  const char *message = json_string_value(json_object_get(issue, "message"));
  if (!json_is_object(issue) || !field || !code || !message || message[0] == '\0')
    return 0;
  return strcmp(code, KP_CODE_MISSING) == 0 || strcmp(code, KP_CODE_INVALID) == 0;
}

/* A valid letter's stored form must pass again and be a fixed point of normalising. */
static void kz_check_normalized(const json_t *letter) {
  json_t *doc = NULL;
  if (kp_letter_normalize(letter, &doc) != KF_OK)
    abort();
  json_t *issues = json_array();
  if (!issues || kp_letter_check(doc, issues) != KF_OK || json_array_size(issues) != 0)
    abort();
  json_t *again = NULL;
  if (kp_letter_normalize(doc, &again) != KF_OK || !json_equal(doc, again))
    abort();
  json_decref(again);
  json_decref(issues);
  json_decref(doc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  json_error_t jerr;
  json_t *letter = json_loadb((const char *)data, size,
                              JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL | JSON_DECODE_ANY, &jerr);
  if (!letter)
    return 0;
  json_t *issues = json_array();
  if (!issues)
    abort();
  kf_rc rc = kp_letter_check(letter, issues);
  if (rc == KF_OK) {
    if (json_array_size(issues) != 0)
      abort();
    kz_check_normalized(letter);
  } else if (rc == KF_ERR_INVALID) {
    if (json_array_size(issues) == 0)
      abort();
    size_t i;
    json_t *issue;
    json_array_foreach(issues, i, issue) {
      if (!kz_issue_ok(issue))
        abort();
    }
  } else {
    abort(); /* Nothing here runs out of memory. */
  }
  json_decref(issues);
  json_decref(letter);
  return 0;
}
