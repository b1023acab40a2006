/*
 * ks_fault.h: the fault catalogue (test mode only). Each row is a realistic
 * bug a real implementation of the portal has, switched on at run time with
 * `--fault NAME` (repeatable; refused without --test-mode), so that
 * `konform selftest` can show the scenarios covering the requirements it
 * breaks catch it. `konform-server --list-faults` prints the rows.
 *
 * A fault acts at exactly one place in the code, behind
 * `if (ks_fault_on(srv, KS_FAULT_X))`. Adding a fault is one row here and
 * that one if.
 *
 * Ownership: rows and strings are static; srv is borrowed.
 */
#ifndef KS_FAULT_H
#define KS_FAULT_H

#include <stdbool.h>

#include "kf/buf.h"
#include "kf/error.h"
#include "ks_switch.h"

/*
 * X(name, kebab-case name, requirement IDs it breaks (space-separated, as in
 * docs/requirements.md), one-line description).
 */
#define KS_FAULTS(X)                                                                               \
  X(PASSWORD_REPEAT_OPTIONAL, "password-repeat-optional", "ACC-01",                                \
    "a missing password repetition is taken to be the password, so it is not reported")            \
  X(USERNAME_CUT_AT_32, "username-cut-at-32", "ACC-02",                                            \
    "the address is stored cut to 32 bytes (a too narrow column), so a longer one is no "          \
    "username")                                                                                    \
  X(CONSENT_STRING_ACCEPTED, "consent-string-accepted", "ACC-03",                                  \
    "a consent sent as the string \"true\" counts as given")                                       \
  X(PASSWORD_LENGTH_IN_BYTES, "password-length-in-bytes", "ACC-04",                                \
    "the password length is counted in bytes, not characters")                                     \
  X(MAIL_DATE_REAL_CLOCK, "mail-date-real-clock", "ACC-05",                                        \
    "the confirmation mail's Date comes from the real clock, not the implementation's clock")      \
  X(LINK_HOST_ELSEWHERE, "link-host-elsewhere", "ACC-05",                                          \
    "the mailed link names the host the server was set up with (localhost), not its public URL")   \
  X(LINK_VALID_ONE_SECOND_LONGER, "link-valid-one-second-longer", "ACC-06",                        \
    "a confirmation link is still accepted one second after its 24 hours (off by one)")            \
  X(RESEND_KEEPS_OLD_LINKS, "resend-keeps-old-links", "ACC-06",                                    \
    "a new confirmation mail leaves the older links valid")                                        \
  X(SECOND_CONFIRMATION_SUCCEEDS, "second-confirmation-succeeds", "ACC-07",                        \
    "opening a link of a confirmed account reports success again")                                 \
  X(HEAD_CONFIRMS, "head-confirms", "ACC-08",                                                      \
    "a HEAD on the link (a mail scanner) confirms the address, so the person's click then says "   \
    "\"already confirmed\"")                                                                       \
  X(UNCONFIRMED_LOGIN_ALLOWED, "unconfirmed-login-allowed", "ACC-09",                              \
    "an account whose address is not confirmed can log in")                                        \
  X(DUPLICATE_ANSWERS_200, "duplicate-answers-200", "ACC-10",                                      \
    "registering a known address answers 200 where a fresh registration answers 202")              \
  X(DUPLICATE_NOT_HASHED, "duplicate-not-hashed", "ACC-10",                                        \
    "registering a known address skips hashing the password, so its answer comes sooner")          \
  X(LOCAL_PART_LOWERCASED, "local-part-lowercased", "ACC-11",                                      \
    "the local part of an address is lower-cased, so Max@ and max@ are one account")               \
  X(DOMAIN_CASE_KEPT, "domain-case-kept", "ACC-11",                                                \
    "the domain is kept as typed, so its letter case makes another account")                       \
  X(NEWLINE_TRIMMED, "newline-trimmed", "ACC-11",                                                  \
    "CR and LF at the ends of an address are trimmed away like blanks instead of rejected")        \
  X(RESEND_STRIPS_CONTROLS, "resend-strips-controls", "ACC-11",                                    \
    "a resend request drops the control characters of its address instead of refusing it, so a "   \
    "mail goes to the cleaned address")                                                            \
  X(NO_DUMMY_HASH, "no-dummy-hash", "AUTH-04",                                                     \
    "a login for an unknown user checks no password hash, so its answer comes sooner")             \
  X(UNCONFIRMED_BEFORE_PASSWORD, "unconfirmed-before-password", "ACC-09 AUTH-04",                  \
    "an unconfirmed account answers EMAIL_NOT_CONFIRMED before the password is checked, so a "     \
    "wrong password tells that the account exists")                                                \
  X(USERNAME_CASE_SENSITIVE, "username-case-sensitive", "AUTH-01",                                 \
    "the login keeps the domain of the username as typed, so MAX@EXAMPLE.TEST is not the "         \
    "account of max@example.test")                                                                 \
  X(STAGE_NOT_ENFORCED, "stage-not-enforced", "AUTH-02",                                           \
    "a session still before its second factor may use every service")                              \
  X(LOGOUT_KEEPS_SESSION, "logout-keeps-session", "AUTH-02 AUTH-06",                               \
    "logout (\"Abbrechen\") answers 204 but the token stays valid")                                \
  X(LOCKOUT_AFTER_SIX, "lockout-after-six", "AUTH-05",                                             \
    "the lockout starts at the sixth consecutive failure instead of the fifth")                    \
  X(LOCKOUT_ENDS_EARLY, "lockout-ends-early", "AUTH-05",                                           \
    "a lockout ends one second early, at 14:59 instead of 15:00")                                  \
  X(LOCKOUT_COUNT_NOT_RESET, "lockout-count-not-reset", "AUTH-05",                                 \
    "a successful login does not reset the count of failures")                                     \
  X(LOCKED_RIGHT_PASSWORD_PASSES, "locked-right-password-passes", "AUTH-05",                       \
    "while locked, the right password still logs in")                                              \
  X(LOCKOUT_KNOWN_ONLY, "lockout-known-only", "AUTH-04 AUTH-05",                                   \
    "failures are counted only for usernames that have an account, so an unknown one never "       \
    "locks and tells that it has none")                                                            \
  X(IDLE_ONE_SECOND_LONGER, "idle-one-second-longer", "AUTH-06",                                   \
    "a session idle for exactly 30 minutes is still alive (off by one)")                           \
  X(RESET_LINK_REUSABLE, "reset-link-reusable", "AUTH-07",                                         \
    "a used password reset link is not marked used, so it sets a password again")                  \
  X(RESET_LINK_VALID_ONE_SECOND_LONGER, "reset-link-valid-one-second-longer", "AUTH-07",           \
    "a password reset link is still accepted at exactly 24 hours (off by one)")                    \
  X(RESET_KEEPS_OLD_LINKS, "reset-keeps-old-links", "AUTH-07",                                     \
    "a newer password reset link leaves the older ones valid")                                     \
  X(RESET_KEEPS_SESSIONS, "reset-keeps-sessions", "AUTH-07 AUTH-06",                               \
    "setting a new password through a reset link leaves the account's sessions alive")             \
  X(RESET_UNKNOWN_SAYS_SO, "reset-unknown-says-so", "AUTH-07",                                     \
    "a password reset for a username without an account answers that there is none")               \
  X(RESET_SKIPS_PASSWORD_RULES, "reset-skips-password-rules", "AUTH-07",                           \
    "the new password of a reset is stored without the ACC-04 checks")                             \
  X(REMINDER_FOR_UNCONFIRMED, "reminder-for-unconfirmed", "AUTH-07",                               \
    "a username reminder also goes to an address that was never confirmed")                        \
  X(TOTP_SECRET_80_BITS, "totp-secret-80-bits", "TOTP-01",                                         \
    "a TOTP secret has 10 random bytes (80 bits, the old HOTP minimum) instead of 20")             \
  X(TOTP_ACTIVATES_WITHOUT_CODE, "totp-activates-without-code", "TOTP-01",                         \
    "TOTP activation takes any six digits, so a secret the app never read becomes active")         \
  X(TOTP_WINDOW_TWO, "totp-window-two", "TOTP-02",                                                 \
    "codes are accepted two steps (60 s) either side of the current one")                          \
  X(TOTP_NO_WINDOW, "totp-no-window", "TOTP-02",                                                   \
    "only the current step's code is accepted, so the previous step's is refused")                 \
  X(TOTP_SHA256, "totp-sha256", "TOTP-02",                                                         \
    "codes are checked with HMAC-SHA256 while the otpauth URI says SHA1")                          \
  X(TOTP_VALIDATE_OK_TRAP, "totp-validate-ok-trap", "TOTP-02",                                     \
    "only liboath's return OATH_OK (0) is taken as a match, so the codes of the neighbouring "     \
    "steps (offset 1) are refused")                                                                \
  X(TOTP_REPLAY_ALLOWED, "totp-replay-allowed", "TOTP-03",                                         \
    "a code of the step accepted last is accepted again (the check is >= instead of >)")           \
  X(TOTP_EARLIER_STEP_ALLOWED, "totp-earlier-step-allowed", "TOTP-03",                             \
    "only the step accepted last is refused, an earlier step's code is accepted")                  \
  X(TOTP_FAILURES_NOT_COUNTED, "totp-failures-not-counted", "TOTP-04",                             \
    "wrong TOTP codes at login do not count toward the lockout")                                   \
  X(TOTP_REPLACE_WITHOUT_LOGIN, "totp-replace-without-login", "TOTP-05",                           \
    "a session that has only the password (stage second_factor) may set up and activate a new "    \
    "TOTP secret, replacing the active one")                                                       \
  X(TOTP_LOGIN_SKIPPED, "totp-login-skipped", "AUTH-03",                                           \
    "a password login of an account with active TOTP gives stage full, without a code")            \
  X(PK_TYPE_NOT_CHECKED, "pk-type-not-checked", "PK-03 PK-04",                                     \
    "the clientData type is not compared, so a webauthn.get answer registers and a "               \
    "webauthn.create one logs in")                                                                 \
  X(PK_CHALLENGE_REUSABLE, "pk-challenge-reusable", "PK-02 PK-03 PK-04",                           \
    "a WebAuthn challenge is not marked used, so a captured answer can be sent again")             \
  X(PK_CHALLENGE_NEVER_EXPIRES, "pk-challenge-never-expires", "PK-02 PK-03 PK-04",                 \
    "a WebAuthn challenge is accepted after its 5 minutes")                                        \
  X(PK_ORIGIN_NOT_CHECKED, "pk-origin-not-checked", "PK-03 PK-04",                                 \
    "the clientData origin is not compared with the portal's origin (phishing)")                   \
  X(PK_CROSS_ORIGIN_ACCEPTED, "pk-cross-origin-accepted", "PK-03 PK-04",                           \
    "clientData crossOrigin true (a ceremony in a foreign iframe) is accepted")                    \
  X(PK_TOP_ORIGIN_ACCEPTED, "pk-top-origin-accepted", "PK-03 PK-04",                               \
    "a clientData topOrigin (the portal framed by another site) is accepted")                      \
  X(PK_RP_ID_HASH_NOT_CHECKED, "pk-rp-id-hash-not-checked", "PK-03 PK-04",                         \
    "the rpIdHash of the authenticatorData is not compared with SHA-256 of the RP id")             \
  X(PK_UP_NOT_CHECKED, "pk-up-not-checked", "PK-03 PK-04",                                         \
    "the UP flag is not checked (and fido_assert_set_up is not called)")                           \
  X(PK_UV_NOT_REQUIRED, "pk-uv-not-required", "PK-01 PK-03 PK-04",                                 \
    "the UV flag is not required, so a passkey without fingerprint, face or PIN is accepted")      \
  X(PK_BACKUP_STATE_NOT_CHECKED, "pk-backup-state-not-checked", "PK-03 PK-04",                     \
    "BS set without BE (or BE changed since registration) is accepted")                            \
  X(PK_ALG_NOT_CHECKED, "pk-alg-not-checked", "PK-03",                                             \
    "the credential key's algorithm is not compared with the offered ES256")                       \
  X(PK_FMT_CASE_INSENSITIVE, "pk-fmt-case-insensitive", "PK-03",                                   \
    "the attestation fmt is matched without regard to case (\"Packed\", \"NONE\")")                \
  X(PK_NONE_ATTSTMT_IGNORED, "pk-none-attstmt-ignored", "PK-03",                                   \
    "attestation fmt none with a non-empty attStmt is accepted")                                   \
  X(PK_PACKED_ALG_NOT_CHECKED, "pk-packed-alg-not-checked", "PK-03",                               \
    "a packed self attestation whose alg differs from the credential key's is accepted")           \
  X(PK_PACKED_SIGNATURE_NOT_CHECKED, "pk-packed-signature-not-checked", "PK-03",                   \
    "the signature of a packed self attestation is not verified")                                  \
  X(PK_AUTH_DATA_TRAILING_IGNORED, "pk-auth-data-trailing-ignored", "PK-03 PK-04",                 \
    "bytes after the end of the authenticatorData are ignored")                                    \
  X(PK_CRED_ID_LENGTH_NOT_CHECKED, "pk-cred-id-length-not-checked", "PK-03",                       \
    "a credential id longer than 1023 bytes is accepted")                                          \
  X(PK_CRED_ID_DUPLICATE_ACCEPTED, "pk-cred-id-duplicate-accepted", "PK-03",                       \
    "a credential id already registered (to any account) is registered again")                     \
  X(PK_SIGNATURE_NOT_CHECKED, "pk-signature-not-checked", "PK-04",                                 \
    "the assertion signature is not verified")                                                     \
  X(PK_USER_HANDLE_NOT_CHECKED, "pk-user-handle-not-checked", "PK-04",                             \
    "the credential is not checked to belong to the account of the userHandle")                    \
  X(PK_COUNTER_NOT_CHECKED, "pk-counter-not-checked", "PK-04",                                     \
    "a signature counter that stands still or goes back is accepted (cloned authenticator)")       \
  X(PK_REMOVE_KEEPS_CREDENTIAL, "pk-remove-keeps-credential", "PK-05",                             \
    "removing a passkey answers 204 but leaves the credential stored and usable")                  \
  X(PK_CHALLENGE_SHORT, "pk-challenge-short", "PK-02",                                             \
    "WebAuthn challenges have only 8 random bytes")                                                \
  X(PK_USER_HANDLE_IS_EMAIL, "pk-user-handle-is-email", "PK-02",                                   \
    "the WebAuthn user handle (user.id) is the e-mail address")                                    \
  X(PK_EXCLUDE_MISSING, "pk-exclude-missing", "PK-02",                                             \
    "registration options leave out excludeCredentials, so one authenticator registers twice")

typedef enum ks_fault {
#define KS_X_FAULT_ENUM(name, kebab, ids, what) KS_FAULT_##name,
  KS_FAULTS(KS_X_FAULT_ENUM)
#undef KS_X_FAULT_ENUM
      KS_FAULT_COUNT
} ks_fault;

/* A fault's row: its name, the requirement IDs it breaks ("ACC-08") and what it does. */
typedef ks_switch_row ks_fault_row;

/*
 * ks_fault_row_get, ks_fault_find, ks_fault_list (--list-faults: one
 * "name<TAB>IDs<TAB>description" line per fault) and ks_fault_on(srv, f),
 * whether fault f is switched on (--fault; only ever in test mode).
 */
KS_SWITCH_DECLARE(ks_fault, ks_fault)

#endif
