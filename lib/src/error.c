/* error.c: result codes and error detail (see kf/error.h). */
#include "kf/error.h"

#include <stdarg.h>
#include <stdio.h>

const char *kf_rc_name(kf_rc rc) {
  switch (rc) {
  case KF_OK:
    return "KF_OK";
  case KF_ERR_NOMEM:
    return "KF_ERR_NOMEM";
  case KF_ERR_INVALID:
    return "KF_ERR_INVALID";
  case KF_ERR_PARSE:
    return "KF_ERR_PARSE";
  case KF_ERR_LIMIT:
    return "KF_ERR_LIMIT";
  case KF_ERR_NOT_FOUND:
    return "KF_ERR_NOT_FOUND";
  case KF_ERR_EXISTS:
    return "KF_ERR_EXISTS";
  case KF_ERR_IO:
    return "KF_ERR_IO";
  case KF_ERR_NETWORK:
    return "KF_ERR_NETWORK";
  case KF_ERR_TIMEOUT:
    return "KF_ERR_TIMEOUT";
  case KF_ERR_DB:
    return "KF_ERR_DB";
  case KF_ERR_STATE:
    return "KF_ERR_STATE";
  case KF_ERR_UNSUPPORTED:
    return "KF_ERR_UNSUPPORTED";
  case KF_ERR_INTERNAL:
    return "KF_ERR_INTERNAL";
  }
  return "KF_ERR_UNKNOWN";
}

void kf_err_init(kf_err *err) {
  if (err == NULL)
    return;
  err->rc = KF_OK;
  err->message[0] = '\0';
}

kf_rc kf_err_set(kf_err *err, kf_rc rc, const char *fmt, ...) {
  if (err == NULL)
    return rc;
  err->rc = rc;
  va_list ap;
  va_start(ap, fmt);
  /* vsnprintf truncates safely; a truncated message is still useful. */
  int n = vsnprintf(err->message, sizeof err->message, fmt, ap);
  va_end(ap);
  if (n < 0)
    err->message[0] = '\0';
  return rc;
}
