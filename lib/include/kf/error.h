/*
 * error.h: the result code every fallible konform function returns.
 *
 * Modelled on curl's CURLcode: a function returns a kf_rc and the caller checks
 * it at once. A kf_err carries a human-readable message alongside; it is plain
 * caller-owned storage with a fixed-size buffer, so setting it never allocates.
 */
#ifndef KF_ERROR_H
#define KF_ERROR_H

#include <stddef.h>

/*
 * Every kf_rc must be looked at. Marking the type (C2x [[nodiscard]], which
 * GCC takes in C17 too) makes the compiler warn wherever one is dropped
 * (-Wunused-result, an error with -Werror); a discard that is meant is
 * written (void)f(...), and should say why.
 */
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 11
#define KF_NODISCARD [[nodiscard]]
#else
#define KF_NODISCARD __attribute__((warn_unused_result))
#endif

typedef enum KF_NODISCARD kf_rc {
  KF_OK = 0,
  KF_ERR_NOMEM,       /* An allocation failed. */
  KF_ERR_INVALID,     /* An argument or input value is not acceptable. */
  KF_ERR_PARSE,       /* Input text could not be parsed. */
  KF_ERR_LIMIT,       /* A size or count cap was reached. */
  KF_ERR_NOT_FOUND,   /* The named thing does not exist. */
  KF_ERR_EXISTS,      /* The thing already exists. */
  KF_ERR_IO,          /* A file or socket operation failed. */
  KF_ERR_NETWORK,     /* A peer could not be reached or answered badly. */
  KF_ERR_TIMEOUT,     /* A deadline passed. */
  KF_ERR_DB,          /* The database reported an error. */
  KF_ERR_STATE,       /* The operation is not allowed in the current state. */
  KF_ERR_UNSUPPORTED, /* The target or build cannot do this. */
  KF_ERR_INTERNAL     /* A bug: an invariant did not hold. */
} kf_rc;

/* A short stable name such as "KF_ERR_LIMIT"; never NULL, never freed. */
const char *kf_rc_name(kf_rc rc);

#define KF_ERR_MESSAGE_MAX 512

/* Caller-owned error detail. Zero-initialise or call kf_err_init first. */
typedef struct kf_err {
  kf_rc rc;
  char message[KF_ERR_MESSAGE_MAX];
} kf_err;

void kf_err_init(kf_err *err);

/*
 * Record rc and a printf-style message in err (which may be NULL) and return
 * rc, so callers can write `return kf_err_set(err, KF_ERR_INVALID, "...");`.
 * The message is truncated to fit; it never overflows.
 */
kf_rc kf_err_set(kf_err *err, kf_rc rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
