/*
 * ks_mail.h: the mails konform-server sends, rendered with GMime into raw
 * RFC 5322 text (CRLF line ends, ready for SMTP DATA).
 *
 * Rendering happens at enqueue time, so the stored row is exactly what is
 * delivered, with a Date taken from the request's clock and a Message-ID that
 * stays the same on every retry.
 */
#ifndef KS_MAIL_H
#define KS_MAIL_H

#include <stddef.h>
#include <stdint.h>

#include "kf/error.h"

#define KS_MAIL_SUBJECT_CONFIRM "Bestätigung Ihrer E-Mail-Adresse"
#define KS_MAIL_SUBJECT_DUPLICATE "Ihre Registrierung bei der Bundesagentur für Arbeit"
#define KS_MAIL_SUBJECT_RESET "Passwort zurücksetzen"
#define KS_MAIL_SUBJECT_REMINDER "Ihr Benutzername"
#define KS_MAIL_SENDER_LOCAL "kontoservice"
/* Cap on a rendered mail; ours are a few kilobytes. */
#define KS_MAIL_MAX (64 * 1024)

/*
 * X(name, subject, body renderer): one row per mail. The renderer (static in
 * ks_mail.c) appends the text between the greeting and the common footer.
 * CONFIRM (ACC-05) carries the confirmation link; DUPLICATE (ACC-10) says
 * "you already have an account" and has no link to confirm; RESET
 * ("Passwort vergessen", AUTH-07) carries the link that sets a new password;
 * REMINDER ("Benutzername / E-Mail-Adresse vergessen", AUTH-07) names the
 * username.
 */
#define KS_MAIL_TEMPLATES(X)                                                                       \
  X(CONFIRM, KS_MAIL_SUBJECT_CONFIRM, mail_body_confirm)                                           \
  X(DUPLICATE, KS_MAIL_SUBJECT_DUPLICATE, mail_body_duplicate)                                     \
  X(RESET, KS_MAIL_SUBJECT_RESET, mail_body_reset)                                                 \
  X(REMINDER, KS_MAIL_SUBJECT_REMINDER, mail_body_reminder)

typedef enum ks_mail_kind {
#define KS_X_MAIL_ENUM(name, subject, body) KS_MAIL_##name,
  KS_MAIL_TEMPLATES(KS_X_MAIL_ENUM)
#undef KS_X_MAIL_ENUM
} ks_mail_kind;

typedef struct ks_server ks_server;

typedef struct ks_mail_params {
  const ks_server *srv; /* Whose variants shape the mail (borrowed); NULL: none. */
  ks_mail_kind kind;
  const char *mail_domain; /* Sender domain: kontoservice@<mail_domain>. */
  const char *to;          /* The normalised recipient address. */
  const char *link;        /* KS_MAIL_CONFIRM, KS_MAIL_RESET: the full URL of the link. */
  const char *public_url;  /* KS_MAIL_DUPLICATE, KS_MAIL_REMINDER: base for the login page link. */
  const char *username;    /* KS_MAIL_RESET, KS_MAIL_REMINDER: the account's username. */
  int64_t date;            /* Unix seconds from the request's clock. */
  const char *message_id;  /* Without angle brackets, e.g. "<uuid>@arbeitsagentur.de". */
} ks_mail_params;

/* Initialise GMime once per process (safe to call again, from any thread). */
void ks_mail_global_init(void);

/*
 * Render the plain-text body (UTF-8, LF line ends) for params. *out is
 * NUL-terminated; caller frees with kf_free.
 */
kf_rc ks_mail_body(const ks_mail_params *params, char **out, kf_err *err);

/*
 * Render the whole message. *out (NUL-terminated, *out_len bytes) is owned by
 * the caller, who frees it with kf_free.
 */
kf_rc ks_mail_render(const ks_mail_params *params, char **out, size_t *out_len, kf_err *err);

/* The subject line for a kind (UTF-8, not encoded). */
const char *ks_mail_subject(ks_mail_kind kind);

#endif
