/*
 * ks_link.c: confirmation link rules (ACC-06, ACC-07).
 */
#include "ks_link.h"

#include <assert.h>
#include <string.h>

#include "kf/str.h"

int64_t ks_link_valid_until(int64_t issued_at) {
  return issued_at + KS_LINK_VALIDITY_S;
}

ks_link_verdict ks_link_judge(int64_t issued_at, int64_t now, bool superseded,
                              bool account_confirmed) {
  if (account_confirmed)
    return KS_LINK_ALREADY_CONFIRMED;
  if (superseded)
    return KS_LINK_SUPERSEDED;
  /* "At 24 h it is still valid; one second later it fails." */
  if (now > ks_link_valid_until(issued_at))
    return KS_LINK_EXPIRED;
  return KS_LINK_VALID;
}

static const ks_error link_errors[] = {
#define LINK_X_ERROR(name, error) error,
    KS_LINK_VERDICTS(LINK_X_ERROR)
#undef LINK_X_ERROR
};

ks_error ks_link_verdict_error(ks_link_verdict v) {
  assert((size_t)v < sizeof link_errors / sizeof link_errors[0]);
  return link_errors[v];
}

unsigned ks_link_verdict_status(ks_link_verdict v) {
  ks_error e = ks_link_verdict_error(v);
  return e == KS_ERR_COUNT ? 200 : ks_error_row(e)->status;
}

const char *ks_link_verdict_code(ks_link_verdict v) {
  ks_error e = ks_link_verdict_error(v);
  return e == KS_ERR_COUNT ? NULL : ks_error_row(e)->code;
}

const char *ks_link_verdict_message(ks_link_verdict v) {
  ks_error e = ks_link_verdict_error(v);
  return e == KS_ERR_COUNT ? KS_LINK_CONFIRMED_MESSAGE : ks_error_row(e)->message;
}

kf_rc ks_link_url(const char *public_url, const char *id, char *out, size_t out_size) {
  assert(public_url != NULL && id != NULL && out != NULL);
  size_t base_len = strlen(public_url);
  if (base_len > 0 && public_url[base_len - 1] == '/')
    base_len--;
  if (base_len > (size_t)INT32_MAX)
    return KF_ERR_LIMIT;
  return kf_str_format(out, out_size, "%.*s" KS_LINK_PATH "?id=%s", (int)base_len, public_url, id);
}
