/*
 * ks_mail.c: render the confirmation and duplicate-registration mails.
 *
 * The confirmation mail says what ACC-05 asks (docs/requirements.md) in the
 * portal's own words, word for word (including its spelling), because
 * scenarios compare the German text exactly; the duplicate-registration mail
 * is ACC-10's pointer to the two self-help functions.
 */
#include "ks_mail.h"

#include <assert.h>
#include <gmime/gmime.h>
#include <pthread.h>
#include <string.h>

#include "kf/alloc.h"
#include "kf/buf.h"
#include "kf/str.h"

static pthread_once_t mail_once = PTHREAD_ONCE_INIT;
/*
 * GMime keeps process-wide caches (charset names, iconv descriptors) guarded
 * by GLib locks that ThreadSanitizer cannot see, and its documentation only
 * promises safety for objects not shared between threads. Rendering a mail
 * takes microseconds, so one render at a time costs nothing and leaves no
 * doubt.
 */
static pthread_mutex_t mail_render_lock = PTHREAD_MUTEX_INITIALIZER;

static void mail_init_once(void) {
  g_mime_init();
}

void ks_mail_global_init(void) {
  pthread_once(&mail_once, mail_init_once);
}

/* The part after the greeting is the same in both mails. */
static const char mail_footer[] =
    "Mit freundlichen Grüßen\n"
    "Ihre Bundesagentur für Arbeit\n"
    "\n"
    "Bitte antworten Sie nicht auf diese E-Mail: Sie wurde automatisch versandt. Ihre Fragen "
    "rund um Ihr Konto beantworten wir gern telefonisch:\n"
    "\n"
    "Servicenummer: 0800 4 5555 01 (gebührenfrei)\n"
    "\n"
    "Hinweis: Informationen zu unserem Servicetelefon für Menschen mit Hörbeeinträchtigungen "
    "finden Sie auf folgender Seite:\n"
    "https://www.arbeitsagentur.de/ueber-uns/ansprechpartner\n"
    "\n"
    "Auf dieser Seite finden Sie auch Kontaktdata für weitere Anliegen.\n";

static kf_rc mail_body_confirm(kf_buf *b, const ks_mail_params *p) {
  assert(p->link != NULL);
  return kf_buf_appendf(b,
                        "Sie haben im Portal der Bundesagentur für Arbeit folgende "
                        "E-Mail-Adresse angegeben:\n"
                        "\n"
                        "%s\n"
                        "\n"
                        "Bitte bestätigen Sie diese E-Mail-Adresse, indem Sie auf folgenden "
                        "Link klicken:\n"
                        "%s\n"
                        "\n"
                        "Wichtig: Bestätigen Sie Ihre E-Mail-Adresse innerhalb von 24 Stunden.\n"
                        "\n",
                        p->to, p->link);
}

static kf_rc mail_body_duplicate(kf_buf *b, const ks_mail_params *p) {
  assert(p->public_url != NULL);
  size_t base_len = strlen(p->public_url);
  if (base_len > 0 && p->public_url[base_len - 1] == '/')
    base_len--;
  return kf_buf_appendf(b,
                        "Sie haben im Portal der Bundesagentur für Arbeit versucht, sich mit "
                        "folgender E-Mail-Adresse zu registrieren:\n"
                        "\n"
                        "%s\n"
                        "\n"
                        "Für diese E-Mail-Adresse besteht bereits ein Konto. Eine "
                        "Neuregistrierung ist nicht erforderlich. Nutzen Sie bitte auf der "
                        "Anmeldeseite die Funktionen „Benutzername / E-Mail-Adresse vergessen“ "
                        "oder „Passwort vergessen“:\n"
                        "%.*s/anmelden\n"
                        "\n"
                        "Wenn Sie sich nicht registrieren wollten, müssen Sie nichts tun. Ihr "
                        "Konto bleibt unverändert.\n"
                        "\n",
                        p->to, (int)base_len, p->public_url);
}

typedef struct mail_template {
  const char *subject;
  kf_rc (*body)(kf_buf *b, const ks_mail_params *p);
} mail_template;

static const mail_template mail_templates[] = {
#define MAIL_X_ROW(name, subject, body) {subject, body},
    KS_MAIL_TEMPLATES(MAIL_X_ROW)
#undef MAIL_X_ROW
};

static const mail_template *mail_template_get(ks_mail_kind kind) {
  assert((size_t)kind < sizeof mail_templates / sizeof mail_templates[0]);
  return &mail_templates[kind];
}

const char *ks_mail_subject(ks_mail_kind kind) {
  return mail_template_get(kind)->subject;
}

kf_rc ks_mail_body(const ks_mail_params *p, char **out, kf_err *err) {
  assert(p != NULL && out != NULL && p->to != NULL);
  *out = NULL;
  kf_buf b;
  kf_buf_init(&b, KS_MAIL_MAX);
  kf_rc rc = mail_template_get(p->kind)->body(&b, p);
  if (rc == KF_OK)
    rc = kf_buf_append_str(&b, mail_footer);
  if (rc != KF_OK) {
    kf_buf_release(&b);
    return kf_err_set(err, rc, "mail body does not fit");
  }
  *out = kf_buf_detach(&b, NULL);
  if (*out == NULL)
    return kf_err_set(err, KF_ERR_NOMEM, "out of memory");
  return KF_OK;
}

kf_rc ks_mail_render(const ks_mail_params *p, char **out, size_t *out_len, kf_err *err) {
  assert(p != NULL && out != NULL && out_len != NULL);
  assert(p->mail_domain != NULL && p->message_id != NULL);
  *out = NULL;
  *out_len = 0;
  ks_mail_global_init();

  char *body = NULL;
  kf_rc rc = ks_mail_body(p, &body, err);
  if (rc != KF_OK)
    return rc;
  char *from = kf_str_printf(KS_MAIL_SENDER_LOCAL "@%s", p->mail_domain);
  if (from == NULL) {
    kf_free(body);
    return kf_err_set(err, KF_ERR_NOMEM, "out of memory");
  }

  pthread_mutex_lock(&mail_render_lock);
  GMimeMessage *msg = g_mime_message_new(TRUE);
  g_mime_message_add_mailbox(msg, GMIME_ADDRESS_TYPE_FROM, NULL, from);
  g_mime_message_add_mailbox(msg, GMIME_ADDRESS_TYPE_TO, NULL, p->to);
  /* GMime encodes a non-ASCII subject as an RFC 2047 encoded-word. */
  g_mime_message_set_subject(msg, ks_mail_subject(p->kind), "utf-8");
  GDateTime *date = g_date_time_new_from_unix_utc(p->date);
  if (date != NULL) {
    g_mime_message_set_date(msg, date);
    g_date_time_unref(date);
  }
  g_mime_message_set_message_id(msg, p->message_id);

  /* g_mime_text_part_set_text would pick the "best" charset (ISO-8859-1 for
   * German); the contract says UTF-8, so the bytes go in unconverted. */
  GMimeTextPart *part = g_mime_text_part_new_with_subtype("plain");
  GMimeStream *stream = g_mime_stream_mem_new_with_buffer(body, strlen(body));
  GMimeDataWrapper *content =
      g_mime_data_wrapper_new_with_stream(stream, GMIME_CONTENT_ENCODING_DEFAULT);
  g_mime_part_set_content(GMIME_PART(part), content);
  g_object_unref(content);
  g_object_unref(stream);
  g_mime_object_set_content_type_parameter(GMIME_OBJECT(part), "charset", "utf-8");
  g_mime_part_set_content_encoding(GMIME_PART(part), GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE);
  g_mime_message_set_mime_part(msg, GMIME_OBJECT(part));
  g_object_unref(part);

  /* SMTP wants CRLF line ends; rendering them here keeps the stored row
   * byte-identical to what goes on the wire. */
  GMimeFormatOptions *fmt = g_mime_format_options_new();
  g_mime_format_options_set_newline_format(fmt, GMIME_NEWLINE_FORMAT_DOS);
  char *text = g_mime_object_to_string(GMIME_OBJECT(msg), fmt);
  g_mime_format_options_free(fmt);
  g_object_unref(msg);
  pthread_mutex_unlock(&mail_render_lock);
  kf_free(from);
  kf_free(body);

  if (text == NULL)
    return kf_err_set(err, KF_ERR_INTERNAL, "GMime could not render the mail");
  size_t len = strlen(text);
  if (len > KS_MAIL_MAX) {
    g_free(text);
    return kf_err_set(err, KF_ERR_LIMIT, "rendered mail is %zu bytes", len);
  }
  *out = kf_memdup0(text, len);
  g_free(text);
  if (*out == NULL)
    return kf_err_set(err, KF_ERR_NOMEM, "out of memory");
  *out_len = len;
  return KF_OK;
}
