/*
 * ks_passkey.h: the passkey store (PK-01..05): WebAuthn challenges (issued,
 * then used by the first attempt that names them), the opaque user handle of
 * each account, and the credentials (by id, their sign counter, the list and
 * removal). Tables webauthn_users, passkeys and webauthn_challenges of
 * migration 7 (ks_db.c).
 *
 * Every function runs in the caller's transaction on conn; srv (may be NULL)
 * is only read for the fault catalogue. Ownership: a ks_passkey filled by
 * ks_passkey_find owns its buffers (ks_passkey_release); one handed to
 * ks_passkey_each's callback is borrowed for the call. Byte arguments are
 * borrowed.
 */
#ifndef KS_PASSKEY_H
#define KS_PASSKEY_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kf/error.h"
#include "ks_server.h"
#include "ks_webauthn.h"

/* PK-02: 32 random bytes, valid 5 minutes on the request clock. */
#define KS_PK_CHALLENGE_LEN 32
#define KS_PK_CHALLENGE_SECONDS 300
/* The user handle: 32 random bytes per account (never the address). */
#define KS_PK_USER_HANDLE_LEN 32

/* X(name, stored text): what a challenge was issued for. */
#define KS_PK_CHALLENGE_KINDS(X)                                                                   \
  X(CREATE, "create")                                                                              \
  X(GET, "get")

typedef enum ks_pk_challenge_kind {
#define KS_X_PK_KIND(name, text) KS_PK_CHALLENGE_##name,
  KS_PK_CHALLENGE_KINDS(KS_X_PK_KIND)
#undef KS_X_PK_KIND
      KS_PK_CHALLENGE_KIND_COUNT
} ks_pk_challenge_kind;

/*
 * Issue a challenge of kind at now into out (KS_WA_CHALLENGE_MAX bytes; *len
 * gets its length). A "create" challenge is bound to session_rowid; a "get"
 * one to no session (pass 0).
 */
kf_rc ks_passkey_challenge_issue(const ks_server *srv, sqlite3 *conn, ks_pk_challenge_kind kind,
                                 int64_t session_rowid, int64_t now, unsigned char *out,
                                 size_t *len, kf_err *err);

/*
 * The attempt at now names challenge c: an outstanding one is used up by it,
 * whatever the attempt's verdict. *found says whether it was outstanding and
 * issued for kind (and, for "create", for session_rowid); *expires_at then
 * says until when it is valid (expiry is the verifier's check).
 */
kf_rc ks_passkey_challenge_take(const ks_server *srv, sqlite3 *conn, ks_pk_challenge_kind kind,
                                int64_t session_rowid, const unsigned char *c, size_t len,
                                int64_t now, bool *found, int64_t *expires_at, kf_err *err);

/* The user handle of account_id into out (KS_WA_USER_HANDLE_MAX bytes), made on first use. */
kf_rc ks_passkey_user_handle(const ks_server *srv, sqlite3 *conn, int64_t account_id,
                             unsigned char *out, size_t *len, kf_err *err);
/* The account whose user handle is h: *found, *account_id. */
kf_rc ks_passkey_handle_account(sqlite3 *conn, const unsigned char *h, size_t len, bool *found,
                                int64_t *account_id, kf_err *err);

/* Room for an account's username (its normalised address, at most 254 bytes). */
#define KS_PK_USERNAME_MAX 256

/* A stored credential. */
typedef struct ks_passkey {
  int64_t rowid;
  int64_t account_id;
  unsigned char *cred_id;
  size_t cred_id_len;
  unsigned char *cose_key;
  size_t cose_key_len;
  int64_t alg;
  int64_t sign_count;
  bool backup_eligible;
  char *name;
  int64_t created_at;
  int64_t last_used_at; /* 0: never used to log in. */
} ks_passkey;

void ks_passkey_release(ks_passkey *pk);

/* The credential with id cred_id (of any account): *found, and *out (caller releases). */
kf_rc ks_passkey_find(sqlite3 *conn, const unsigned char *cred_id, size_t len, bool *found,
                      ks_passkey *out, kf_err *err);
/* Whether cred_id is registered to any account. */
kf_rc ks_passkey_id_taken(sqlite3 *conn, const unsigned char *cred_id, size_t len, bool *taken,
                          kf_err *err);
/* Store pk (its account_id, id, key, alg, count, BE and name) created at now. */
kf_rc ks_passkey_insert(sqlite3 *conn, const ks_passkey *pk, int64_t now, kf_err *err);
/* A login with credential rowid at now: its new sign counter. */
kf_rc ks_passkey_used(sqlite3 *conn, int64_t rowid, int64_t sign_count, int64_t now, kf_err *err);
/* Call fn for every credential of account_id, oldest first; an error of fn stops and is returned.
 */
kf_rc ks_passkey_each(sqlite3 *conn, int64_t account_id,
                      kf_rc (*fn)(const ks_passkey *pk, void *ctx, kf_err *err), void *ctx,
                      kf_err *err);
/* How many credentials account_id has. */
kf_rc ks_passkey_count(sqlite3 *conn, int64_t account_id, int64_t *n, kf_err *err);
/* Remove credential cred_id of account_id: *found false when that account has none such. */
kf_rc ks_passkey_remove(const ks_server *srv, sqlite3 *conn, int64_t account_id,
                        const unsigned char *cred_id, size_t len, bool *found, kf_err *err);

#endif
