/*
 * ks_error.h: the catalogue of konform-server's error answers and field
 * codes, one row each, so a handler names an answer and never spells a code
 * or a message. docs/openapi.yaml documents every row;
 * tests/unit/test_server_errors.c compares the two.
 *
 * kf_httpd answers a few errors itself (NOT_FOUND, MALFORMED_JSON, ...: see
 * KF_HTTP_ERRORS in kf/httpd.h); the password criteria's codes and labels
 * come from kf/password_policy.h.
 *
 * Ownership: every row and string is static.
 */
#ifndef KS_ERROR_H
#define KS_ERROR_H

#include <jansson.h>

#include "kf/httpd.h"

/* How the passkey errors begin: registration (400) and login (401) with a passkey. */
#define KS_PK_REG_PREFIX "Der Passkey konnte nicht eingerichtet werden: "
#define KS_PK_LOGIN_PREFIX "Die Anmeldung mit dem Passkey ist fehlgeschlagen: "

/*
 * X(name, code, HTTP status, German message). A code may have more than one
 * row when routes answer it with another status or text (CLOCK_NOT_FOUND for
 * the header and for the path).
 */
#define KS_ERRORS(X)                                                                               \
  X(VALIDATION_FAILED, VALIDATION_FAILED, 400, "Bitte prüfen Sie Ihre Eingaben.")                  \
  X(INTERNAL_ERROR, INTERNAL_ERROR, 500, KF_HTTP_INTERNAL_MESSAGE)                                 \
  X(LINK_NOT_FOUND, LINK_NOT_FOUND, 404, "Der Bestätigungslink ist ungültig.")                     \
  X(ALREADY_CONFIRMED, ALREADY_CONFIRMED, 409, "Ihre E-Mail-Adresse ist bereits bestätigt.")       \
  X(LINK_SUPERSEDED, LINK_SUPERSEDED, 410,                                                         \
    "Dieser Bestätigungslink ist nicht mehr gültig, weil ein neuerer angefordert wurde. Bitte "  \
    "verwenden Sie den Link aus der neuesten E-Mail.")                                             \
  X(LINK_EXPIRED, LINK_EXPIRED, 410,                                                               \
    "Der Bestätigungslink ist abgelaufen. Bitte fordern Sie eine neue E-Mail zur Bestätigung an.") \
  X(INVALID_CREDENTIALS, INVALID_CREDENTIALS, 401,                                                 \
    "Benutzername oder Passwort ist nicht korrekt.")                                               \
  X(EMAIL_NOT_CONFIRMED, EMAIL_NOT_CONFIRMED, 403,                                                 \
    "Bitte bestätigen Sie zuerst Ihre E-Mail-Adresse.")                                            \
  X(UNAUTHENTICATED, UNAUTHENTICATED, 401, "Bitte melden Sie sich an.")                            \
  X(SECOND_FACTOR_REQUIRED, SECOND_FACTOR_REQUIRED, 403,                                           \
    "Bitte richten Sie zuerst einen zweiten Faktor ein (Passkey oder TOTP).")                      \
  X(CLOCK_HEADER_UNKNOWN, CLOCK_NOT_FOUND, 400,                                                    \
    "Die im Kopf Konform-Clock genannte Testuhr gibt es nicht.")                                   \
  X(CLOCK_NOT_FOUND, CLOCK_NOT_FOUND, 404, "Diese Testuhr gibt es nicht.")                         \
  X(CLOCK_BACKWARDS, CLOCK_BACKWARDS, 400, "Eine Testuhr kann nicht zurückgestellt werden.")       \
  X(ACCOUNT_LOCKED, ACCOUNT_LOCKED, 423,                                                           \
    "Ihr Konto ist vorübergehend gesperrt. Bitte versuchen Sie es später erneut.")                 \
  X(PASSKEY_REQUIRED, PASSKEY_REQUIRED, 403, "Bitte melden Sie sich mit Ihrem Passkey an.")        \
  X(RESET_LINK_NOT_FOUND, RESET_LINK_NOT_FOUND, 404,                                               \
    "Der Link zum Zurücksetzen des Passworts ist ungültig.")                                       \
  X(RESET_LINK_EXPIRED, RESET_LINK_EXPIRED, 410,                                                   \
    "Der Link zum Zurücksetzen des Passworts ist abgelaufen. Bitte fordern Sie einen neuen Link " \
    "an.")                                                                                         \
  X(RESET_LINK_USED, RESET_LINK_USED, 410,                                                         \
    "Dieser Link zum Zurücksetzen des Passworts ist nicht mehr gültig. Bitte verwenden Sie den " \
    "Link aus der neuesten E-Mail oder fordern Sie einen neuen Link an.")                          \
  X(TOTP_CODE_INVALID, TOTP_CODE_INVALID, 400,                                                     \
    "Der Code ist ungültig. Bitte geben Sie den aktuellen Code aus Ihrer App ein.")                \
  X(TOTP_LOGIN_CODE_INVALID, TOTP_CODE_INVALID, 401,                                               \
    "Der Code ist ungültig. Bitte geben Sie den aktuellen Code aus Ihrer App ein.")                \
  X(TOTP_CODE_USED, TOTP_CODE_USED, 401,                                                           \
    "Dieser Code wurde bereits verwendet. Bitte warten Sie auf den nächsten Code.")                \
  X(TOTP_NOT_STARTED, TOTP_NOT_STARTED, 409,                                                       \
    "Bitte richten Sie zuerst die Authenticator-App ein.")                                         \
  X(TOTP_NOT_EXPECTED, TOTP_NOT_EXPECTED, 409, "Für diese Sitzung wird kein Code erwartet.")       \
  X(PK_REG_CREDENTIAL_MALFORMED, PK_CREDENTIAL_MALFORMED, 400,                                     \
    KS_PK_REG_PREFIX "Die Antwort des Authenticators ist unvollständig oder fehlerhaft.")          \
  X(PK_REG_CLIENT_DATA_TYPE, PK_CLIENT_DATA_TYPE, 400,                                             \
    KS_PK_REG_PREFIX "Die Antwort gehört zu einem anderen Vorgang.")                               \
  X(PK_REG_CHALLENGE_UNKNOWN, PK_CHALLENGE_UNKNOWN, 400,                                           \
    KS_PK_REG_PREFIX "Die Anfrage ist unbekannt oder wurde bereits verwendet.")                    \
  X(PK_REG_CHALLENGE_EXPIRED, PK_CHALLENGE_EXPIRED, 400,                                           \
    KS_PK_REG_PREFIX "Die Anfrage ist abgelaufen. Bitte versuchen Sie es erneut.")                 \
  X(PK_REG_ORIGIN, PK_ORIGIN, 400,                                                                 \
    KS_PK_REG_PREFIX "Die Antwort stammt nicht von dieser Website.")                               \
  X(PK_REG_CROSS_ORIGIN, PK_CROSS_ORIGIN, 400,                                                     \
    KS_PK_REG_PREFIX "Die Antwort stammt aus einem eingebetteten Fenster einer anderen Website.")  \
  X(PK_REG_TOP_ORIGIN, PK_TOP_ORIGIN, 400,                                                         \
    KS_PK_REG_PREFIX "Diese Website wurde in eine andere Website eingebettet.")                    \
  X(PK_REG_AUTH_DATA_MALFORMED, PK_AUTH_DATA_MALFORMED, 400,                                       \
    KS_PK_REG_PREFIX "Die Authenticator-Daten sind fehlerhaft.")                                   \
  X(PK_REG_RP_ID_HASH, PK_RP_ID_HASH, 400,                                                         \
    KS_PK_REG_PREFIX "Der Passkey gehört zu einer anderen Website.")                               \
  X(PK_REG_USER_PRESENCE, PK_USER_PRESENCE, 400,                                                   \
    KS_PK_REG_PREFIX "Ihre Anwesenheit wurde nicht bestätigt.")                                    \
  X(PK_REG_USER_VERIFICATION, PK_USER_VERIFICATION, 400,                                           \
    KS_PK_REG_PREFIX "Sie wurden nicht per Fingerabdruck, Gesichtserkennung oder PIN bestätigt.")  \
  X(PK_REG_BACKUP_STATE, PK_BACKUP_STATE, 400,                                                     \
    KS_PK_REG_PREFIX "Die Angaben zur Sicherung des Passkeys sind widersprüchlich.")               \
  X(PK_REG_ATTESTED_DATA_MISSING, PK_ATTESTED_DATA_MISSING, 400,                                   \
    KS_PK_REG_PREFIX "Die Antwort enthält keinen neuen Passkey.")                                  \
  X(PK_REG_ALGORITHM, PK_ALGORITHM, 400,                                                           \
    KS_PK_REG_PREFIX "Das Verfahren des Passkeys wird nicht unterstützt.")                         \
  X(PK_REG_ATTESTATION_FORMAT, PK_ATTESTATION_FORMAT, 400,                                         \
    KS_PK_REG_PREFIX "Das Format der Bestätigung wird nicht unterstützt.")                         \
  X(PK_REG_ATTESTATION_STATEMENT, PK_ATTESTATION_STATEMENT, 400,                                   \
    KS_PK_REG_PREFIX "Die Bestätigung des Authenticators ist ungültig.")                           \
  X(PK_REG_CREDENTIAL_ID_LENGTH, PK_CREDENTIAL_ID_LENGTH, 400,                                     \
    KS_PK_REG_PREFIX "Die Kennung des Passkeys ist zu lang.")                                      \
  X(PK_REG_CREDENTIAL_ID_TAKEN, PK_CREDENTIAL_ID_TAKEN, 400,                                       \
    KS_PK_REG_PREFIX "Dieser Passkey ist bereits registriert.")                                    \
  X(PK_LOGIN_CREDENTIAL_MALFORMED, PK_CREDENTIAL_MALFORMED, 401,                                   \
    KS_PK_LOGIN_PREFIX "Die Antwort des Authenticators ist unvollständig oder fehlerhaft.")        \
  X(PK_LOGIN_CLIENT_DATA_TYPE, PK_CLIENT_DATA_TYPE, 401,                                           \
    KS_PK_LOGIN_PREFIX "Die Antwort gehört zu einem anderen Vorgang.")                             \
  X(PK_LOGIN_CHALLENGE_UNKNOWN, PK_CHALLENGE_UNKNOWN, 401,                                         \
    KS_PK_LOGIN_PREFIX "Die Anfrage ist unbekannt oder wurde bereits verwendet.")                  \
  X(PK_LOGIN_CHALLENGE_EXPIRED, PK_CHALLENGE_EXPIRED, 401,                                         \
    KS_PK_LOGIN_PREFIX "Die Anfrage ist abgelaufen. Bitte versuchen Sie es erneut.")               \
  X(PK_LOGIN_ORIGIN, PK_ORIGIN, 401,                                                               \
    KS_PK_LOGIN_PREFIX "Die Antwort stammt nicht von dieser Website.")                             \
  X(PK_LOGIN_CROSS_ORIGIN, PK_CROSS_ORIGIN, 401,                                                   \
    KS_PK_LOGIN_PREFIX                                                                             \
    "Die Antwort stammt aus einem eingebetteten Fenster einer anderen Website.")                   \
  X(PK_LOGIN_TOP_ORIGIN, PK_TOP_ORIGIN, 401,                                                       \
    KS_PK_LOGIN_PREFIX "Diese Website wurde in eine andere Website eingebettet.")                  \
  X(PK_LOGIN_AUTH_DATA_MALFORMED, PK_AUTH_DATA_MALFORMED, 401,                                     \
    KS_PK_LOGIN_PREFIX "Die Authenticator-Daten sind fehlerhaft.")                                 \
  X(PK_LOGIN_RP_ID_HASH, PK_RP_ID_HASH, 401,                                                       \
    KS_PK_LOGIN_PREFIX "Der Passkey gehört zu einer anderen Website.")                             \
  X(PK_LOGIN_USER_PRESENCE, PK_USER_PRESENCE, 401,                                                 \
    KS_PK_LOGIN_PREFIX "Ihre Anwesenheit wurde nicht bestätigt.")                                  \
  X(PK_LOGIN_USER_VERIFICATION, PK_USER_VERIFICATION, 401,                                         \
    KS_PK_LOGIN_PREFIX                                                                             \
    "Sie wurden nicht per Fingerabdruck, Gesichtserkennung oder PIN bestätigt.")                   \
  X(PK_LOGIN_BACKUP_STATE, PK_BACKUP_STATE, 401,                                                   \
    KS_PK_LOGIN_PREFIX "Die Angaben zur Sicherung des Passkeys sind widersprüchlich.")             \
  X(PK_LOGIN_CREDENTIAL_UNKNOWN, PK_CREDENTIAL_UNKNOWN, 401,                                       \
    KS_PK_LOGIN_PREFIX "Dieser Passkey ist nicht registriert.")                                    \
  X(PK_LOGIN_USER_HANDLE, PK_USER_HANDLE, 401,                                                     \
    KS_PK_LOGIN_PREFIX "Der Passkey gehört nicht zu diesem Konto.")                                \
  X(PK_LOGIN_SIGNATURE, PK_SIGNATURE, 401, KS_PK_LOGIN_PREFIX "Die Signatur ist ungültig.")        \
  X(PK_LOGIN_SIGN_COUNT, PK_SIGN_COUNT, 401,                                                       \
    KS_PK_LOGIN_PREFIX                                                                             \
    "Der Signaturzähler ist nicht gestiegen; der Passkey könnte kopiert worden sein.")             \
  X(PASSKEY_NOT_FOUND, PASSKEY_NOT_FOUND, 404, "Diesen Passkey gibt es nicht.")

typedef enum ks_error {
#define KS_X_ERROR_ENUM(name, code, status, message) KS_ERR_##name,
  KS_ERRORS(KS_X_ERROR_ENUM)
#undef KS_X_ERROR_ENUM
      KS_ERR_COUNT
} ks_error;

/* X(name, code, German message): the entries of an error's "fields". */
#define KS_FIELD_ERRORS(X)                                                                         \
  X(EMAIL_REQUIRED, EMAIL_REQUIRED, "Bitte geben Sie Ihre E-Mail-Adresse ein.")                    \
  X(EMAIL_INVALID, EMAIL_INVALID, "Geben Sie eine gültige E-Mail-Adresse ein.")                    \
  X(EMAIL_CONTROL_CHARACTERS, EMAIL_CONTROL_CHARACTERS,                                            \
    "Die E-Mail-Adresse enthält unerlaubte Steuerzeichen.")                                        \
  X(PASSWORD_REQUIRED, PASSWORD_REQUIRED, "Bitte geben Sie ein Passwort ein.")                     \
  X(PASSWORD_REPEAT_REQUIRED, PASSWORD_REPEAT_REQUIRED, "Bitte wiederholen Sie das Passwort.")     \
  X(TERMS_NOT_ACCEPTED, TERMS_NOT_ACCEPTED, "Bitte akzeptieren Sie die Nutzungsbedingungen.")      \
  X(EMAIL_CONSENT_MISSING, EMAIL_CONSENT_MISSING,                                                  \
    "Bitte willigen Sie in die Nutzung Ihrer E-Mail-Adresse ein.")                                 \
  X(USERNAME_REQUIRED, USERNAME_REQUIRED,                                                          \
    "Bitte geben Sie Ihren Benutzernamen oder Ihre E-Mail-Adresse ein.")                           \
  X(INVALID_FIELD, INVALID_FIELD, "Dieses Feld hat einen ungültigen Wert.")                        \
  X(CLOCK_TIME_INVALID, INVALID_FIELD,                                                             \
    "Bitte geben Sie eine Unix-Zeit in Sekunden an (0 bis 253402300799).")                         \
  X(CLOCK_MOVE_INVALID, INVALID_FIELD,                                                             \
    "Geben Sie genau eines an: frozen_time (Unix-Zeit) oder seconds.")                             \
  X(CLOCK_TIME_TOO_LATE, INVALID_FIELD, "Die Zeit liegt nach dem Jahr 9999.")                      \
  X(TOTP_CODE_FORMAT, TOTP_CODE_FORMAT, "Bitte geben Sie den sechsstelligen Code ein.")

typedef enum ks_field {
#define KS_X_FIELD_ENUM(name, code, message) KS_FIELD_##name,
  KS_FIELD_ERRORS(KS_X_FIELD_ENUM)
#undef KS_X_FIELD_ENUM
      KS_FIELD_COUNT
} ks_field;

typedef struct ks_field_row {
  const char *code;
  const char *message;
} ks_field_row;

/* The row of an error answer; never NULL for e < KS_ERR_COUNT. */
const kf_http_error_row *ks_error_row(ks_error e);
/* The row of a field code; never NULL for f < KS_FIELD_COUNT. */
const ks_field_row *ks_field_row_get(ks_field f);

/* A new error object {"code","message","fields":[]} for e; caller owns it (NULL: no memory). */
json_t *ks_error_new(ks_error e);
/* Append {"field", "code", "message"} of f to error's fields (error may be NULL). */
void ks_error_add_field(json_t *error, const char *field, ks_field f);

#endif
