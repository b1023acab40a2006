/*
 * ks_password.h: a new password and its repetition as a form sends them,
 * judged by ACC-04's policy (kf/password_policy.h) into the one
 * VALIDATION_FAILED shape every route that sets a password answers:
 * registration (ACC-04) and "Passwort vergessen" (AUTH-07).
 *
 * Ownership: strings are borrowed from the JSON body; the error object is
 * the caller's, as from ks_error_new.
 */
#ifndef KS_PASSWORD_H
#define KS_PASSWORD_H

#include <jansson.h>
#include <stddef.h>

#include "kf/password_policy.h"

typedef struct ks_server ks_server;

/*
 * Judge the members password and password_repeat of body: each failed
 * criterion becomes its own field entry of error, in checklist order (a
 * missing or mistyped member its REQUIRED or INVALID_FIELD entry). *pw and
 * *pw_len get the password (with any NULs; "" when absent), *report every
 * criterion's verdict.
 */
void ks_password_check(const ks_server *srv, const json_t *body, json_t *error, const char **pw,
                       size_t *pw_len, kf_pw_report *report);

/*
 * When error (may be NULL) has field entries, add "password_checks": all
 * criteria with ok and label, so a form can render the checklist.
 */
void ks_password_attach_checks(json_t *error, const kf_pw_report *report);

#endif
