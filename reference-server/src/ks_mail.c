/*
 * ks_mail.c: render the confirmation, duplicate-registration, password reset
 * and username reminder mails.
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
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "kf/alloc.h"
#include "kf/buf.h"
#include "kf/str.h"
#include "kf/timeutil.h"
#include "kf/utf8.h"
#include "ks_clock.h"
#include "ks_html.h"
#include "ks_variant.h"

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
  /*
   * GLib's slice allocator (before GLib 2.76) recycles memory between threads
   * through caches neither ThreadSanitizer nor valgrind can follow, so a chunk
   * one render used and another thread reuses looks like a race. Plain malloc
   * costs nothing measurable here; a G_SLICE the operator set stays.
   */
  (void)setenv("G_SLICE", "always-malloc", 0);
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

/* The length of the public URL without a trailing slash, for the login page's link. */
static int mail_base_len(const ks_mail_params *p) {
  assert(p->public_url != NULL);
  size_t base_len = strlen(p->public_url);
  if (base_len > 0 && p->public_url[base_len - 1] == '/')
    base_len--;
  return (int)base_len;
}

static kf_rc mail_body_duplicate(kf_buf *b, const ks_mail_params *p) {
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
                        p->to, mail_base_len(p), p->public_url);
}

/*
 * The seed's letters of the Jobcenter ("Zugangsdaten vergessen") say that
 * only the newest one counts; the reset mail says the same of its link.
 */
static kf_rc mail_body_reset(kf_buf *b, const ks_mail_params *p) {
  assert(p->link != NULL && p->username != NULL);
  return kf_buf_appendf(b,
                        "Sie haben im Portal der Bundesagentur für Arbeit ein neues Passwort "
                        "für Ihr Konto mit dem Benutzernamen\n"
                        "\n"
                        "%s\n"
                        "\n"
                        "angefordert („Passwort vergessen“). Wählen Sie Ihr neues Passwort über "
                        "folgenden Link:\n"
                        "%s\n"
                        "\n"
                        "Wichtig: Der Link ist 24 Stunden gültig und kann nur einmal verwendet "
                        "werden. Haben Sie mehrere E-Mails angefordert, gilt nur der Link aus der "
                        "neuesten E-Mail. Mit dem neuen Passwort werden Sie auf allen Geräten "
                        "abgemeldet.\n"
                        "\n"
                        "Wenn Sie kein neues Passwort angefordert haben, müssen Sie nichts tun. "
                        "Ihr Passwort bleibt unverändert.\n"
                        "\n",
                        p->username, p->link);
}

/* The username, then the way back to the login page for the password, if that is gone too. */
static kf_rc mail_body_reminder(kf_buf *b, const ks_mail_params *p) {
  assert(p->username != NULL);
  kf_rc rc = kf_buf_append_str(b, "Sie haben im Portal der Bundesagentur für Arbeit Ihren "
                                  "Benutzernamen angefordert („Benutzername / E-Mail-Adresse "
                                  "vergessen“). Ihr Benutzername lautet:\n\n");
  if (rc == KF_OK)
    rc = kf_buf_appendf(b, "%s\n\nAuf dieser Seite können Sie sich anmelden:\n%.*s/anmelden\n\n",
                        p->username, mail_base_len(p), p->public_url);
  if (rc == KF_OK)
    rc = kf_buf_append_str(b, "Haben Sie auch Ihr Passwort vergessen, nutzen Sie auf der "
                              "Anmeldeseite die Funktion „Passwort vergessen“.\n\n");
  return rc;
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

/* ---- The variants (ks_variant.h): what another implementation's mails look like. ---- */

/* The longest encoded text of one encoded word of a folded Subject (RFC 2047 allows 75 in all). */
#define MAIL_WORD_TEXT_MAX 24

/* Whether byte c stands for itself in a Q-encoded word (RFC 2047 5 (3): the safe subset). */
static bool mail_q_literal(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         strchr("-!*+/", c) != NULL;
}

/* Append the n bytes at s Q-encoded (a blank as "_"). */
static kf_rc mail_q_append(kf_buf *out, const char *s, size_t n) {
  kf_rc rc = KF_OK;
  for (size_t i = 0; rc == KF_OK && i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == ' ' || mail_q_literal(c))
      rc = kf_buf_append_byte(out, c == ' ' ? '_' : (char)c);
    else
      rc = kf_buf_appendf(out, "=%02X", c);
  }
  return rc;
}

/* The Q-encoded length of the n bytes at s. */
static size_t mail_q_len(const char *s, size_t n) {
  size_t len = 0;
  for (size_t i = 0; i < n; i++)
    len += (s[i] == ' ' || mail_q_literal((unsigned char)s[i])) ? 1 : 3;
  return len;
}

/*
 * The Subject's raw value folded right after the colon, one short encoded
 * word a line ("Subject:" CRLF SP "=?UTF-8?Q?...?=" CRLF SP ...; RFC 5322
 * 2.2.3): the white space between encoded words is dropped when they are
 * decoded (RFC 2047 6.2), so a blank of the text goes inside a word, and a
 * character's bytes never split across two (RFC 2047 5).
 */
static kf_rc mail_subject_folded(const char *subject, kf_buf *out) {
  size_t n = strlen(subject);
  kf_rc rc = KF_OK;
  for (size_t i = 0; rc == KF_OK && i < n;) {
    size_t used = 0;
    rc = kf_buf_append_str(out, "\n =?UTF-8?Q?");
    while (rc == KF_OK && i < n) {
      uint32_t cp = 0;
      size_t len = kf_utf8_decode(subject + i, n - i, &cp);
      if (len == 0)
        return KF_ERR_INVALID;
      size_t q = mail_q_len(subject + i, len);
      if (used > 0 && used + q > MAIL_WORD_TEXT_MAX)
        break;
      rc = mail_q_append(out, subject + i, len);
      used += q;
      i += len;
    }
    if (rc == KF_OK)
      rc = kf_buf_append_str(out, "?=");
  }
  return rc == KF_OK ? kf_buf_append_byte(out, '\n') : rc;
}

/*
 * The start or end of EU summer time in year: the last Sunday of month
 * (March or October, both of 31 days) at 01:00 UTC.
 */
static int64_t mail_eu_switch(int year, int month) {
  int64_t last = kf_time_from_utc_civil(year, month, 31, 1, 0, 0);
  int64_t days = (last - 3600) / 86400;          /* Exact: last is a day's 01:00. */
  int weekday = (int)(((days % 7) + 7 + 4) % 7); /* 0 is Sunday; 1970-01-01 was a Thursday. */
  return last - (int64_t)weekday * 86400;
}

/*
 * t as a Date in the zone of Europe/Berlin, without the optional day name:
 * "1 Mar 2026 12:00:00 +0100", +0200 in summer time (the EU rule in force
 * since 1996, as the POSIX zone CET-1CEST,M3.5.0,M10.5.0/3 has it). The same
 * instant as the UTC Date; a local time past the year 9999 stays in UTC.
 */
static kf_rc mail_date_berlin(int64_t t, char *out, size_t size) {
  static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  int year, month, day, hour, min, sec;
  kf_time_utc_civil(t, &year, &month, &day, &hour, &min, &sec);
  bool summer = t >= mail_eu_switch(year, 3) && t < mail_eu_switch(year, 10);
  int offset = summer ? 2 : 1;
  if (t + offset * 3600 > KS_CLOCK_TIME_MAX)
    offset = 0;
  kf_time_utc_civil(t + offset * 3600, &year, &month, &day, &hour, &min, &sec);
  return kf_str_format(out, size, " %d %s %04d %02d:%02d:%02d +%02d00\n", day, months[month - 1],
                       year, hour, min, sec, offset);
}

/* Append the line of text (len bytes) as HTML, each http(s) URL as a link to itself. */
static kf_rc mail_html_line(kf_buf *out, const char *line, size_t len) {
  kf_rc rc = KF_OK;
  size_t i = 0;
  while (rc == KF_OK && i < len) {
    size_t url = i;
    while (url < len && !(kf_str_starts_with(line + url, "https://") ||
                          kf_str_starts_with(line + url, "http://")))
      url++;
    rc = ks_html_escape(out, line + i, url - i);
    size_t end = url;
    while (end < len && line[end] != ' ')
      end++;
    if (rc == KF_OK && end > url)
      rc = kf_buf_appendf(out, "<a href=\"%.*s\">%.*s</a>", (int)(end - url), line + url,
                          (int)(end - url), line + url);
    i = end;
  }
  return rc;
}

/*
 * The text as the HTML alternative of the mail-encoding variant: a
 * paragraph per block of lines, the same words and the same links.
 */
static kf_rc mail_html(const char *subject, const char *text, kf_buf *out) {
  kf_rc rc = kf_buf_append_str(
      out, "<!DOCTYPE html>\n<html lang=\"de\">\n<head>\n<meta charset=\"utf-8\">\n<title>");
  if (rc == KF_OK)
    rc = ks_html_escape(out, subject, strlen(subject));
  if (rc == KF_OK)
    rc = kf_buf_append_str(out, "</title>\n</head>\n<body>\n");
  bool in_para = false;
  for (const char *line = text; rc == KF_OK && *line != '\0';) {
    const char *nl = strchr(line, '\n');
    size_t len = nl != NULL ? (size_t)(nl - line) : strlen(line);
    if (len == 0 && in_para)
      rc = kf_buf_append_str(out, "</p>\n");
    else if (len > 0)
      rc = kf_buf_append_str(out, in_para ? "<br>\n" : "<p>");
    in_para = len > 0;
    if (rc == KF_OK)
      rc = mail_html_line(out, line, len);
    line += nl != NULL ? len + 1 : len;
  }
  if (rc == KF_OK && in_para)
    rc = kf_buf_append_str(out, "</p>\n");
  return rc == KF_OK ? kf_buf_append_str(out, "</body>\n</html>\n") : rc;
}

/* What the variants switched on change in a mail, made before GMime runs. */
typedef struct mail_variant_parts {
  char date[48];  /* mail-date-zone: the Date's raw value, else "". */
  kf_buf subject; /* subject-folded: the Subject's raw value, else empty. */
  kf_buf html;    /* mail-encoding: the HTML alternative, else empty. */
} mail_variant_parts;

/* The parts for p, whose text is body. */
static kf_rc mail_variant_parts_make(const ks_mail_params *p, const char *body,
                                     mail_variant_parts *v) {
  v->date[0] = '\0';
  kf_buf_init(&v->subject, 4096);
  kf_buf_init(&v->html, KS_MAIL_MAX);
  kf_rc rc = KF_OK;
  if (ks_variant_on(p->srv, KS_VARIANT_MAIL_DATE_ZONE))
    rc = mail_date_berlin(p->date, v->date, sizeof v->date);
  if (rc == KF_OK && ks_variant_on(p->srv, KS_VARIANT_SUBJECT_FOLDED))
    rc = mail_subject_folded(ks_mail_subject(p->kind), &v->subject);
  if (rc == KF_OK && ks_variant_on(p->srv, KS_VARIANT_MAIL_ENCODING))
    rc = mail_html(ks_mail_subject(p->kind), body, &v->html);
  return rc;
}

static void mail_variant_parts_release(mail_variant_parts *v) {
  kf_buf_release(&v->subject);
  kf_buf_release(&v->html);
}

/* ---- The message. ---- */

/* Replace the raw value of header name of obj (a variant's own folding or format). */
static void mail_raw_header(GMimeObject *obj, const char *name, const char *raw) {
  GMimeHeader *h = g_mime_header_list_get_header(g_mime_object_get_header_list(obj), name);
  if (h != NULL)
    g_mime_header_set_raw_value(h, raw);
}

/*
 * A text part of subtype with text (UTF-8) in encoding. g_mime_text_part_set_text
 * would pick the "best" charset (ISO-8859-1 for German); the contract says
 * UTF-8, so the bytes go in unconverted. Caller unrefs.
 */
static GMimeObject *mail_text_part(const char *subtype, const char *text, size_t len,
                                   GMimeContentEncoding encoding) {
  GMimeTextPart *part = g_mime_text_part_new_with_subtype(subtype);
  GMimeStream *stream = g_mime_stream_mem_new_with_buffer(text, len);
  GMimeDataWrapper *content =
      g_mime_data_wrapper_new_with_stream(stream, GMIME_CONTENT_ENCODING_DEFAULT);
  g_mime_part_set_content(GMIME_PART(part), content);
  g_object_unref(content);
  g_object_unref(stream);
  g_mime_object_set_content_type_parameter(GMIME_OBJECT(part), "charset", "utf-8");
  g_mime_part_set_content_encoding(GMIME_PART(part), encoding);
  return GMIME_OBJECT(part);
}

/* The body: the text alone in quoted-printable, or (mail-encoding) beside its HTML in base64. */
static GMimeObject *mail_content(const char *body, const mail_variant_parts *v) {
  if (v->html.len == 0)
    return mail_text_part("plain", body, strlen(body), GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE);
  GMimeMultipart *alt = g_mime_multipart_new_with_subtype("alternative");
  /* RFC 2046 5.1.4: the plainest alternative first. */
  GMimeObject *parts[] = {
      mail_text_part("plain", body, strlen(body), GMIME_CONTENT_ENCODING_BASE64),
      mail_text_part("html", v->html.data, v->html.len, GMIME_CONTENT_ENCODING_BASE64)};
  for (size_t i = 0; i < 2; i++) {
    g_mime_multipart_add(alt, parts[i]);
    g_object_unref(parts[i]);
  }
  return GMIME_OBJECT(alt);
}

/* The message for p (GMime's render lock held). Caller unrefs. */
static GMimeMessage *mail_message(const ks_mail_params *p, const char *from, const char *body,
                                  const mail_variant_parts *v) {
  GMimeMessage *msg = g_mime_message_new(TRUE);
  g_mime_message_add_mailbox(msg, GMIME_ADDRESS_TYPE_FROM, NULL, from);
  g_mime_message_add_mailbox(msg, GMIME_ADDRESS_TYPE_TO, NULL, p->to);
  /* GMime encodes a non-ASCII subject as an RFC 2047 encoded-word. */
  g_mime_message_set_subject(msg, ks_mail_subject(p->kind), "utf-8");
  if (v->subject.len > 0)
    mail_raw_header(GMIME_OBJECT(msg), "Subject", v->subject.data);
  GDateTime *date = g_date_time_new_from_unix_utc(p->date);
  if (date != NULL) {
    g_mime_message_set_date(msg, date);
    g_date_time_unref(date);
  }
  if (v->date[0] != '\0')
    mail_raw_header(GMIME_OBJECT(msg), "Date", v->date);
  g_mime_message_set_message_id(msg, p->message_id);
  GMimeObject *content = mail_content(body, v);
  g_mime_message_set_mime_part(msg, content);
  g_object_unref(content);
  return msg;
}

/* Render msg with CRLF line ends into *out (kf_malloc'd); SMTP wants them, so the
 * stored row is byte-identical to what goes on the wire. */
static kf_rc mail_to_text(GMimeMessage *msg, char **out, size_t *out_len, kf_err *err) {
  GMimeFormatOptions *fmt = g_mime_format_options_new();
  g_mime_format_options_set_newline_format(fmt, GMIME_NEWLINE_FORMAT_DOS);
  char *text = g_mime_object_to_string(GMIME_OBJECT(msg), fmt);
  g_mime_format_options_free(fmt);
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
  mail_variant_parts v;
  kf_rc vrc = mail_variant_parts_make(p, body, &v);
  if (from == NULL || vrc != KF_OK)
    rc = kf_err_set(err, from == NULL ? KF_ERR_NOMEM : vrc, "cannot render the mail's parts");
  if (rc == KF_OK) {
    pthread_mutex_lock(&mail_render_lock);
    GMimeMessage *msg = mail_message(p, from, body, &v);
    rc = mail_to_text(msg, out, out_len, err);
    g_object_unref(msg);
    pthread_mutex_unlock(&mail_render_lock);
  }
  mail_variant_parts_release(&v);
  kf_free(from);
  kf_free(body);
  return rc;
}
