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

unsigned ks_link_verdict_status(ks_link_verdict v) {
  switch (v) {
  case KS_LINK_VALID:
    return 200;
  case KS_LINK_ALREADY_CONFIRMED:
    return 409;
  case KS_LINK_SUPERSEDED:
    return 410;
  case KS_LINK_EXPIRED:
    return 410;
  case KS_LINK_NOT_FOUND:
    return 404;
  }
  return 404;
}

const char *ks_link_verdict_code(ks_link_verdict v) {
  switch (v) {
  case KS_LINK_VALID:
    return NULL;
  case KS_LINK_ALREADY_CONFIRMED:
    return "ALREADY_CONFIRMED";
  case KS_LINK_SUPERSEDED:
    return "LINK_SUPERSEDED";
  case KS_LINK_EXPIRED:
    return "LINK_EXPIRED";
  case KS_LINK_NOT_FOUND:
    return "LINK_NOT_FOUND";
  }
  return "LINK_NOT_FOUND";
}

const char *ks_link_verdict_message(ks_link_verdict v) {
  switch (v) {
  case KS_LINK_VALID:
    return "Sie haben Ihre E-Mail-Adresse erfolgreich bestätigt.";
  case KS_LINK_ALREADY_CONFIRMED:
    return "Ihre E-Mail-Adresse ist bereits bestätigt.";
  case KS_LINK_SUPERSEDED:
    return "Dieser Bestätigungslink ist nicht mehr gültig, weil ein neuerer angefordert wurde. "
           "Bitte verwenden Sie den Link aus der neuesten E-Mail.";
  case KS_LINK_EXPIRED:
    return "Der Bestätigungslink ist abgelaufen. Bitte fordern Sie eine neue E-Mail zur "
           "Bestätigung an.";
  case KS_LINK_NOT_FOUND:
    return "Der Bestätigungslink ist ungültig.";
  }
  return "Der Bestätigungslink ist ungültig.";
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
