/*
 * km_smtp.c: the SMTP protocol engine (see km_smtp.h).
 *
 * Input is assembled into lines in a fixed buffer, so a hostile peer can never
 * make a single line cost more than KM_SMTP_LINE_STORE bytes; the message body
 * grows in a kf_buf capped at max_message_bytes. Replies carry RFC 3463
 * enhanced status codes, except the greeting and the HELO/EHLO answers, which
 * RFC 2034 section 3 says must not carry them.
 */
#include "km_smtp.h"

#include <assert.h>
#include <stdarg.h>
#include <string.h>

#include "kf/alloc.h"
#include "kf/str.h"
#include "kf/utf8.h"

#define KM_SMTP_DEFAULT_MAX_MESSAGE ((size_t)10 * 1024 * 1024)
#define KM_SMTP_DEFAULT_MAX_RCPT 100
#define KM_SMTP_DEFAULT_MAX_ERRORS 10
/*
 * RFC 5321 4.5.3.2.7's 5 minutes are for waiting on the next command (the
 * listener's idle timeout); this is the total for one line once it began,
 * which a client that sends it at once needs milliseconds for. Five minutes
 * per line let 64 trickling peers hold every session.
 */
#define KM_SMTP_DEFAULT_COMMAND_TIMEOUT_MS 30000u
/* Generous for the whole DATA phase of a mail of at most a few MiB. */
#define KM_SMTP_DEFAULT_DATA_TIMEOUT_MS 120000u
/* Room for the longest line we ever need to look at, plus a NUL. */
#define KM_SMTP_LINE_STORE (KM_SMTP_TEXT_LINE_MAX + 1)
/* RFC 5321 4.5.3.1.3: a path is at most 256 octets including the brackets. */
#define KM_SMTP_PATH_MAX 256
/* A message buffer up to this size is kept for the session's next message. */
#define KM_SMTP_KEEP_BODY ((size_t)64 * 1024)

typedef enum km_smtp_mode { KM_MODE_COMMAND, KM_MODE_DATA } km_smtp_mode;

/*
 * Why a message in DATA is going to be rejected once its end is seen, and
 * the reply that says so (the format takes the message size limit, %zu,
 * where it names it). X.6.0 (other media error, RFC 3463) for both content
 * problems: the content is at fault, not the command. 5.6.11 is not used
 * because its registration could not be confirmed in the IANA registry.
 */
#define KM_STR_(x) #x
#define KM_STR(x) KM_STR_(x)
#define KM_DATA_PROBLEMS(X)                                                                        \
  X(OK, NULL)                                                                                      \
  X(BARE_NEWLINE, "554 5.6.0 Bare LF or CR in message text (SMTP smuggling protection); lines "    \
                  "must end with CRLF")                                                            \
  X(LINE_TOO_LONG, "554 5.6.0 Line too long (more than " KM_STR(KM_SMTP_TEXT_LINE_MAX) " octets)") \
  X(TOO_BIG, "552 5.3.4 Message size exceeds fixed limit of %zu bytes")                            \
  X(NOMEM, "451 4.3.0 Temporary failure, message not stored")

typedef enum km_data_problem {
#define KM_DATA_ENUM(name, reply) KM_DATA_##name,
  KM_DATA_PROBLEMS(KM_DATA_ENUM)
#undef KM_DATA_ENUM
} km_data_problem;

static const char *const km_data_replies[] = {
#define KM_DATA_REPLY(name, reply) [KM_DATA_##name] = reply,
    KM_DATA_PROBLEMS(KM_DATA_REPLY)
#undef KM_DATA_REPLY
};

struct km_smtp {
  char *hostname;
  size_t max_message_bytes;
  size_t max_recipients;
  unsigned max_errors;
  unsigned command_timeout_ms;
  unsigned data_timeout_ms;
  km_smtp_deliver_fn deliver;
  void *ctx;

  km_smtp_mode mode;
  bool greeted;  /* HELO or EHLO was accepted. */
  bool extended; /* It was EHLO, so MAIL/RCPT parameters are allowed. */
  bool closed;
  bool awaiting; /* Without a deliver callback: a complete message waits for its verdict. */
  unsigned errors_in_row;

  /* Time, as given by km_smtp_set_now, and when the slow-peer limits started. */
  int64_t now_ms;
  int64_t line_started_ms; /* First byte of the command line in progress. */
  int64_t data_started_ms; /* The 354 reply. */

  /* The current transaction. */
  bool has_mail;
  char *mail_from;
  bool smtputf8;
  bool body_8bitmime;
  char **rcpts;
  size_t rcpts_len;
  size_t rcpts_cap;

  /* Line assembly: the first bytes of the current line and its full length. */
  char line[KM_SMTP_LINE_STORE];
  size_t line_len;   /* Bytes stored in line (at most KM_SMTP_LINE_STORE - 1). */
  size_t line_total; /* Bytes seen on this line so far, CR included, LF not. */
  bool prev_cr;      /* The last byte seen was a CR. */
  bool line_bare_cr; /* A CR not followed by LF occurred in this line. */

  /* DATA state. */
  kf_buf msg;
  bool data_prev_crlf; /* The previous data line ended with CRLF. */
  km_data_problem problem;
};

void km_smtp_config_init(km_smtp_config *cfg) {
  assert(cfg != NULL);
  memset(cfg, 0, sizeof(*cfg));
  cfg->hostname = "localhost";
  cfg->max_message_bytes = KM_SMTP_DEFAULT_MAX_MESSAGE;
  cfg->max_recipients = KM_SMTP_DEFAULT_MAX_RCPT;
  cfg->max_errors = KM_SMTP_DEFAULT_MAX_ERRORS;
  cfg->command_timeout_ms = KM_SMTP_DEFAULT_COMMAND_TIMEOUT_MS;
  cfg->data_timeout_ms = KM_SMTP_DEFAULT_DATA_TIMEOUT_MS;
}

kf_rc km_smtp_new(const km_smtp_config *cfg, km_smtp_deliver_fn deliver, void *ctx, km_smtp **out) {
  assert(cfg != NULL && out != NULL);
  *out = NULL;
  km_smtp *s = kf_calloc(1, sizeof(*s));
  if (s == NULL)
    return KF_ERR_NOMEM;
  s->hostname = kf_strdup(cfg->hostname != NULL ? cfg->hostname : "localhost");
  if (s->hostname == NULL) {
    kf_free(s);
    return KF_ERR_NOMEM;
  }
  s->max_message_bytes =
      cfg->max_message_bytes ? cfg->max_message_bytes : KM_SMTP_DEFAULT_MAX_MESSAGE;
  s->max_recipients = cfg->max_recipients ? cfg->max_recipients : KM_SMTP_DEFAULT_MAX_RCPT;
  s->max_errors = cfg->max_errors ? cfg->max_errors : KM_SMTP_DEFAULT_MAX_ERRORS;
  s->command_timeout_ms =
      cfg->command_timeout_ms ? cfg->command_timeout_ms : KM_SMTP_DEFAULT_COMMAND_TIMEOUT_MS;
  s->data_timeout_ms =
      cfg->data_timeout_ms ? cfg->data_timeout_ms : KM_SMTP_DEFAULT_DATA_TIMEOUT_MS;
  s->deliver = deliver;
  s->ctx = ctx;
  s->mode = KM_MODE_COMMAND;
  kf_buf_init(&s->msg, s->max_message_bytes);
  *out = s;
  return KF_OK;
}

/* Forget the current transaction (RSET semantics) and give back its memory. */
static void smtp_transaction_reset(km_smtp *s) {
  kf_free(s->mail_from);
  s->mail_from = NULL;
  s->has_mail = false;
  s->smtputf8 = false;
  s->body_8bitmime = false;
  for (size_t i = 0; i < s->rcpts_len; i++)
    kf_free(s->rcpts[i]);
  kf_free(s->rcpts);
  s->rcpts = NULL;
  s->rcpts_len = 0;
  s->rcpts_cap = 0;
  /*
   * An idle session should not hold a 10 MiB body, but one of a few KiB is
   * kept for the next message rather than grown again from nothing.
   */
  if (s->msg.cap > KM_SMTP_KEEP_BODY) {
    kf_buf_release(&s->msg);
    kf_buf_init(&s->msg, s->max_message_bytes);
  } else {
    kf_buf_reset(&s->msg);
  }
  s->problem = KM_DATA_OK;
}

void km_smtp_free(km_smtp *s) {
  if (s == NULL)
    return;
  smtp_transaction_reset(s);
  kf_buf_release(&s->msg);
  kf_free(s->hostname);
  kf_free(s);
}

bool km_smtp_closed(const km_smtp *s) {
  assert(s != NULL);
  return s->closed;
}

/*
 * Whether a reply code is a protocol error (500 unknown or malformed, 501
 * bad arguments, 502 not implemented, 503 bad sequence, 555 bad parameters):
 * the replies a confused or abusive peer provokes. Refusals of what a correct
 * client may well ask for (452 too many recipients, 553 a bad address, 552 a
 * message too big, 554 a rejected message, 451 a local failure) are not
 * counted: RFC 5321 4.5.3.1.10 lets the client go on after 452 with the
 * recipients already accepted, so pipelining many recipients is no abuse.
 */
static bool smtp_is_protocol_error(const char *code) {
  static const char *const counted[] = {"500", "501", "502", "503", "555"};
  for (size_t i = 0; i < sizeof(counted) / sizeof(counted[0]); i++) {
    if (strncmp(code, counted[i], 3) == 0)
      return true;
  }
  return false;
}

/*
 * Append one reply line (CRLF added) and keep the count of protocol errors
 * in a row, which km_smtp_feed uses to drop abusive peers. A positive reply
 * ends the row; other refusals leave it as it is.
 */
static kf_rc smtp_reply(km_smtp *s, kf_buf *out, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static kf_rc smtp_reply(km_smtp *s, kf_buf *out, const char *fmt, ...) {
  assert(fmt[0] >= '2' && fmt[0] <= '5');
  if (fmt[0] == '2' || fmt[0] == '3') {
    s->errors_in_row = 0;
  } else if (smtp_is_protocol_error(fmt)) {
    s->errors_in_row++;
  }
  kf_rc rc;
  /* Most replies are fixed text: no formatting for those (every mail has four). */
  if (strchr(fmt, '%') == NULL) {
    rc = kf_buf_append_str(out, fmt);
  } else {
    va_list ap;
    va_start(ap, fmt);
    rc = kf_buf_vappendf(out, fmt, ap);
    va_end(ap);
  }
  if (rc != KF_OK)
    return rc;
  return kf_buf_append(out, "\r\n", 2);
}

kf_rc km_smtp_greeting(km_smtp *s, kf_buf *out) {
  assert(s != NULL && out != NULL);
  return kf_buf_appendf(out, "220 %s ESMTP konform-mail ready\r\n", s->hostname);
}

kf_rc km_smtp_timeout(km_smtp *s, kf_buf *out) {
  assert(s != NULL && out != NULL);
  if (s->closed)
    return KF_OK;
  s->closed = true;
  return kf_buf_appendf(out, "421 4.4.2 %s Idle timeout, closing connection\r\n", s->hostname);
}

void km_smtp_set_now(km_smtp *s, int64_t now_ms) {
  assert(s != NULL);
  s->now_ms = now_ms;
}

int64_t km_smtp_deadline(const km_smtp *s) {
  assert(s != NULL);
  if (s->closed)
    return INT64_MAX;
  /* Inside DATA only the limit on the whole phase applies; it is the longer one. */
  if (s->mode == KM_MODE_DATA)
    return s->data_started_ms + (int64_t)s->data_timeout_ms;
  if (s->line_total > 0)
    return s->line_started_ms + (int64_t)s->command_timeout_ms;
  return INT64_MAX;
}

kf_rc km_smtp_deadline_passed(km_smtp *s, kf_buf *out) {
  assert(s != NULL && out != NULL);
  if (s->closed)
    return KF_OK;
  s->closed = true;
  if (s->mode == KM_MODE_DATA) {
    return kf_buf_appendf(out, "421 4.4.2 %s DATA took too long, closing connection\r\n",
                          s->hostname);
  }
  return kf_buf_appendf(out, "421 4.4.2 %s Command line took too long, closing connection\r\n",
                        s->hostname);
}

kf_rc km_smtp_shutdown(km_smtp *s, kf_buf *out) {
  assert(s != NULL && out != NULL);
  if (s->closed)
    return KF_OK;
  s->closed = true;
  return kf_buf_appendf(out, "421 4.3.2 %s Service shutting down\r\n", s->hostname);
}

kf_rc km_smtp_busy_reply(const char *hostname, kf_buf *out) {
  assert(out != NULL);
  return kf_buf_appendf(out, "421 4.3.2 %s Too many sessions, try again later\r\n",
                        hostname != NULL ? hostname : "localhost");
}

/* ---- Address and parameter parsing. ---- */

static bool smtp_is_atext(unsigned char c, bool utf8) {
  if (c >= 0x80)
    return utf8;
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
    return true;
  return strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL && c != '\0';
}

/* A dot-atom: atext runs separated by single dots, no leading or trailing dot. */
static bool smtp_dot_atom_valid(const char *p, size_t len, bool utf8) {
  if (len == 0 || p[0] == '.' || p[len - 1] == '.')
    return false;
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)p[i];
    if (c == '.') {
      if (p[i + 1] == '.')
        return false;
    } else if (!smtp_is_atext(c, utf8)) {
      return false;
    }
  }
  return true;
}

static bool smtp_local_part_valid(const char *p, size_t len, bool utf8) {
  if (len == 0 || len > 64)
    return false;
  if (p[0] != '"')
    return smtp_dot_atom_valid(p, len, utf8);
  /* A quoted string: printable ASCII (or UTF-8), with backslash quoting. */
  if (len < 2 || p[len - 1] != '"')
    return false;
  for (size_t i = 1; i + 1 < len; i++) {
    unsigned char c = (unsigned char)p[i];
    if (c == '\\') {
      i++;
      if (i + 1 >= len)
        return false;
      continue;
    }
    if (c == '"' || c < 0x20 || c == 0x7f)
      return false;
    if (c >= 0x80 && !utf8)
      return false;
  }
  return true;
}

static bool smtp_domain_valid(const char *p, size_t len, bool utf8) {
  if (len == 0 || len > 255)
    return false;
  if (p[0] == '[') {
    /* An address literal; its inside is printable ASCII without brackets. */
    if (len < 3 || p[len - 1] != ']')
      return false;
    for (size_t i = 1; i + 1 < len; i++) {
      unsigned char c = (unsigned char)p[i];
      if (c < 0x21 || c > 0x7e || c == '[' || c == ']' || c == '\\')
        return false;
    }
    return true;
  }
  size_t label = 0;
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)p[i];
    if (c == '.') {
      if (label == 0)
        return false;
      label = 0;
      continue;
    }
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || (c >= 0x80 && utf8);
    if (!ok || ++label > 63)
      return false;
  }
  return label > 0;
}

/* Result of parsing "<path> params" after "FROM:" or "TO:". */
typedef enum km_path_rc {
  KM_PATH_OK,
  KM_PATH_SYNTAX,    /* No proper <...>: 501 5.5.4. */
  KM_PATH_BAD_ADDR,  /* Brackets fine, address not: 553 5.1.3 / 5.1.7. */
  KM_PATH_NEEDS_UTF8 /* Non-ASCII without SMTPUTF8: 553 5.6.7. */
} km_path_rc;

/*
 * Parse a path at p. On success *addr and *addr_len give the address without the
 * brackets and a source route (RFC 5321 says to ignore the route), and *rest
 * points past '>'. The address is not yet checked against utf8 rules.
 */
static km_path_rc smtp_path_parse(const char *p, const char **addr, size_t *addr_len,
                                  const char **rest) {
  p = kf_str_skip_blanks(p);
  if (*p != '<')
    return KM_PATH_SYNTAX;
  const char *start = p + 1;
  const char *q = start;
  bool quoted = false;
  for (; *q != '\0'; q++) {
    if (quoted && *q == '\\' && q[1] != '\0') {
      q++;
      continue;
    }
    if (*q == '"')
      quoted = !quoted;
    if (!quoted && *q == '>')
      break;
  }
  if (*q != '>')
    return KM_PATH_SYNTAX;
  if ((size_t)(q - start) + 2 > KM_SMTP_PATH_MAX)
    return KM_PATH_BAD_ADDR;
  *rest = q + 1;
  if (**rest != '\0' && **rest != ' ')
    return KM_PATH_SYNTAX;
  if (*start == '@') {
    /* "<@relay1,@relay2:user@host>": drop the obsolete source route. */
    const char *colon = start;
    while (colon < q && *colon != ':')
      colon++;
    if (colon == q)
      return KM_PATH_BAD_ADDR;
    start = colon + 1;
  }
  *addr = start;
  *addr_len = (size_t)(q - start);
  return KM_PATH_OK;
}

/* Check a mailbox "local@domain"; with allow_postmaster also bare "postmaster". */
static km_path_rc smtp_mailbox_check(const char *addr, size_t len, bool utf8,
                                     bool allow_postmaster) {
  bool non_ascii = false;
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)addr[i];
    if (c < 0x20 || c == 0x7f)
      return KM_PATH_BAD_ADDR;
    if (c >= 0x80)
      non_ascii = true;
  }
  if (non_ascii) {
    if (!utf8)
      return KM_PATH_NEEDS_UTF8;
    if (!kf_utf8_valid(addr, len))
      return KM_PATH_BAD_ADDR;
  }
  if (allow_postmaster && len == 10 && kf_str_starts_with_ci(addr, "postmaster"))
    return KM_PATH_OK;
  /* The domain starts after the last '@' (a quoted local part may hold '@'). */
  size_t at = len;
  while (at > 0 && addr[at - 1] != '@')
    at--;
  if (at == 0)
    return KM_PATH_BAD_ADDR;
  size_t local_len = at - 1;
  if (!smtp_local_part_valid(addr, local_len, utf8))
    return KM_PATH_BAD_ADDR;
  if (!smtp_domain_valid(addr + at, len - at, utf8))
    return KM_PATH_BAD_ADDR;
  return KM_PATH_OK;
}

/* ---- Commands. ---- */

static kf_rc smtp_cmd_ehlo(km_smtp *s, const char *arg, bool extended, kf_buf *out) {
  arg = kf_str_skip_blanks(arg);
  if (*arg == '\0') {
    return smtp_reply(s, out, "501 5.5.4 Syntax: %s hostname", extended ? "EHLO" : "HELO");
  }
  /* A new greeting starts over, as RFC 5321 4.1.4 requires. */
  smtp_transaction_reset(s);
  s->greeted = true;
  s->extended = extended;
  if (!extended)
    return smtp_reply(s, out, "250 %s", s->hostname);
  kf_rc rc = smtp_reply(s, out, "250-%s greets %s", s->hostname, arg);
  if (rc == KF_OK)
    rc = smtp_reply(s, out, "250-SIZE %zu", s->max_message_bytes);
  if (rc == KF_OK)
    rc = smtp_reply(s, out, "250-8BITMIME");
  if (rc == KF_OK)
    rc = smtp_reply(s, out, "250-SMTPUTF8");
  if (rc == KF_OK)
    rc = smtp_reply(s, out, "250-PIPELINING");
  if (rc == KF_OK)
    rc = smtp_reply(s, out, "250 ENHANCEDSTATUSCODES");
  return rc;
}

/* The parameters of MAIL FROM, parsed before anything is changed. */
typedef struct km_mail_params {
  bool smtputf8;
  bool body_8bitmime;
} km_mail_params;

/*
 * Parse "KEY[=VALUE] ..." after the reverse-path. Returns KF_OK, or appends the
 * error reply itself and returns KF_ERR_INVALID (or the append's failure).
 */
static kf_rc smtp_mail_params_parse(km_smtp *s, const char *p, km_mail_params *params, kf_buf *out,
                                    bool *rejected) {
  *rejected = false;
  memset(params, 0, sizeof(*params));
  while (*p != '\0') {
    p = kf_str_skip_blanks(p);
    if (*p == '\0')
      break;
    const char *end = p;
    while (*end != '\0' && *end != ' ')
      end++;
    char item[KM_SMTP_COMMAND_LINE_MAX];
    size_t n = (size_t)(end - p);
    assert(n < sizeof(item));
    memcpy(item, p, n);
    item[n] = '\0';
    p = end;
    const char *value = kf_str_after(item, '=');
    if (value != NULL)
      item[value - 1 - item] = '\0';
    *rejected = true;
    if (!s->extended) {
      return smtp_reply(s, out, "555 5.5.4 Parameters need EHLO");
    }
    if (kf_str_eq_ci(item, "SIZE")) {
      size_t digits = value != NULL ? strspn(value, "0123456789") : 0;
      if (digits == 0 || value[digits] != '\0') {
        return smtp_reply(s, out, "501 5.5.4 Bad SIZE parameter");
      }
      /* Digits that overflow a long long are certainly over the limit too. */
      long long size = 0;
      if (kf_str_to_llong(value, 0, 9223372036854775807LL, &size) != KF_OK ||
          (unsigned long long)size > (unsigned long long)s->max_message_bytes) {
        return smtp_reply(s, out, "552 5.3.4 Message size exceeds fixed limit of %zu bytes",
                          s->max_message_bytes);
      }
    } else if (kf_str_eq_ci(item, "BODY")) {
      if (value != NULL && kf_str_eq_ci(value, "8BITMIME")) {
        params->body_8bitmime = true;
      } else if (value == NULL || !kf_str_eq_ci(value, "7BIT")) {
        return smtp_reply(s, out, "501 5.5.4 Bad BODY parameter");
      }
    } else if (kf_str_eq_ci(item, "SMTPUTF8")) {
      if (value != NULL)
        return smtp_reply(s, out, "501 5.5.4 SMTPUTF8 takes no value");
      params->smtputf8 = true;
    } else {
      return smtp_reply(s, out, "555 5.5.4 Unsupported parameter");
    }
    *rejected = false;
  }
  return KF_OK;
}

static kf_rc smtp_cmd_mail(km_smtp *s, const char *arg, kf_buf *out) {
  if (!s->greeted)
    return smtp_reply(s, out, "503 5.5.1 Send EHLO or HELO first");
  if (s->has_mail)
    return smtp_reply(s, out, "503 5.5.1 Sender already specified");
  if (!kf_str_starts_with_ci(arg, " FROM:")) {
    return smtp_reply(s, out, "501 5.5.4 Syntax: MAIL FROM:<address>");
  }
  const char *addr = NULL, *rest = NULL;
  size_t addr_len = 0;
  km_path_rc prc = smtp_path_parse(arg + 6, &addr, &addr_len, &rest);
  if (prc == KM_PATH_SYNTAX)
    return smtp_reply(s, out, "501 5.5.4 Syntax: MAIL FROM:<address>");
  if (prc == KM_PATH_BAD_ADDR)
    return smtp_reply(s, out, "553 5.1.7 Bad sender address syntax");
  km_mail_params params;
  bool rejected = false;
  kf_rc rc = smtp_mail_params_parse(s, rest, &params, out, &rejected);
  if (rc != KF_OK || rejected)
    return rc;
  if (addr_len > 0) {
    prc = smtp_mailbox_check(addr, addr_len, params.smtputf8, false);
    if (prc == KM_PATH_NEEDS_UTF8) {
      return smtp_reply(s, out, "553 5.6.7 Non-ASCII address needs SMTPUTF8");
    }
    if (prc != KM_PATH_OK)
      return smtp_reply(s, out, "553 5.1.7 Bad sender address syntax");
  }
  char *copy = kf_memdup0(addr, addr_len);
  if (copy == NULL)
    return smtp_reply(s, out, "451 4.3.0 Temporary failure, try again");
  s->mail_from = copy;
  s->has_mail = true;
  s->smtputf8 = params.smtputf8;
  s->body_8bitmime = params.body_8bitmime;
  return smtp_reply(s, out, "250 2.1.0 Sender OK");
}

static kf_rc smtp_cmd_rcpt(km_smtp *s, const char *arg, kf_buf *out) {
  if (!s->has_mail)
    return smtp_reply(s, out, "503 5.5.1 Need MAIL before RCPT");
  if (!kf_str_starts_with_ci(arg, " TO:")) {
    return smtp_reply(s, out, "501 5.5.4 Syntax: RCPT TO:<address>");
  }
  const char *addr = NULL, *rest = NULL;
  size_t addr_len = 0;
  km_path_rc prc = smtp_path_parse(arg + 4, &addr, &addr_len, &rest);
  if (prc == KM_PATH_SYNTAX)
    return smtp_reply(s, out, "501 5.5.4 Syntax: RCPT TO:<address>");
  if (prc == KM_PATH_OK)
    prc = smtp_mailbox_check(addr, addr_len, s->smtputf8, true);
  if (prc == KM_PATH_NEEDS_UTF8) {
    return smtp_reply(s, out, "553 5.6.7 Non-ASCII address needs SMTPUTF8");
  }
  if (prc != KM_PATH_OK || addr_len == 0) {
    return smtp_reply(s, out, "553 5.1.3 Bad recipient address syntax");
  }
  if (*kf_str_skip_blanks(rest) != '\0') {
    return smtp_reply(s, out, "555 5.5.4 Unsupported parameter");
  }
  if (s->rcpts_len >= s->max_recipients) {
    return smtp_reply(s, out, "452 4.5.3 Too many recipients");
  }
  if (s->rcpts_len == s->rcpts_cap) {
    size_t cap = s->rcpts_cap ? s->rcpts_cap * 2 : 4;
    char **grown = kf_realloc(s->rcpts, cap * sizeof(*grown));
    if (grown == NULL)
      return smtp_reply(s, out, "451 4.3.0 Temporary failure, try again");
    s->rcpts = grown;
    s->rcpts_cap = cap;
  }
  char *copy = kf_memdup0(addr, addr_len);
  if (copy == NULL)
    return smtp_reply(s, out, "451 4.3.0 Temporary failure, try again");
  s->rcpts[s->rcpts_len++] = copy;
  return smtp_reply(s, out, "250 2.1.5 Recipient OK");
}

static kf_rc smtp_cmd_data(km_smtp *s, const char *arg, kf_buf *out) {
  if (*kf_str_skip_blanks(arg) != '\0')
    return smtp_reply(s, out, "501 5.5.4 Syntax: DATA");
  if (!s->has_mail)
    return smtp_reply(s, out, "503 5.5.1 Need MAIL before DATA");
  if (s->rcpts_len == 0)
    return smtp_reply(s, out, "503 5.5.1 Need RCPT before DATA");
  s->mode = KM_MODE_DATA;
  s->data_started_ms = s->now_ms;
  s->data_prev_crlf = true;
  s->problem = KM_DATA_OK;
  kf_buf_reset(&s->msg);
  /* 354 is an intermediate reply; RFC 2034 codes are only for 2xx/4xx/5xx. */
  return smtp_reply(s, out, "354 End data with <CR><LF>.<CR><LF>");
}

static kf_rc smtp_cmd_ehlo_ext(km_smtp *s, const char *arg, kf_buf *out) {
  return smtp_cmd_ehlo(s, arg, true, out);
}

static kf_rc smtp_cmd_helo(km_smtp *s, const char *arg, kf_buf *out) {
  return smtp_cmd_ehlo(s, arg, false, out);
}

static kf_rc smtp_cmd_rset(km_smtp *s, const char *arg, kf_buf *out) {
  if (*kf_str_skip_blanks(arg) != '\0')
    return smtp_reply(s, out, "501 5.5.4 Syntax: RSET");
  smtp_transaction_reset(s);
  return smtp_reply(s, out, "250 2.0.0 Reset OK");
}

static kf_rc smtp_cmd_noop(km_smtp *s, const char *arg, kf_buf *out) {
  (void)arg;
  return smtp_reply(s, out, "250 2.0.0 OK");
}

static kf_rc smtp_cmd_quit(km_smtp *s, const char *arg, kf_buf *out) {
  (void)arg;
  s->closed = true;
  return smtp_reply(s, out, "221 2.0.0 %s closing connection", s->hostname);
}

static kf_rc smtp_cmd_vrfy(km_smtp *s, const char *arg, kf_buf *out) {
  if (*kf_str_skip_blanks(arg) == '\0')
    return smtp_reply(s, out, "501 5.5.4 Syntax: VRFY address");
  /* RFC 5321 3.5.3: never confirm or deny a mailbox; just promise to try. */
  return smtp_reply(s, out,
                    "252 2.0.0 Cannot VRFY user, but will accept message and attempt delivery");
}

static kf_rc smtp_cmd_unimplemented(km_smtp *s, const char *arg, kf_buf *out) {
  (void)arg;
  return smtp_reply(s, out, "502 5.5.1 Command not implemented");
}

/* The verbs: known ones with their command, the rest we name but do not offer. */
typedef struct km_verb {
  const char *verb;
  kf_rc (*run)(km_smtp *s, const char *arg, kf_buf *out);
} km_verb;

static const km_verb km_verbs[] = {
    {"EHLO", smtp_cmd_ehlo_ext},
    {"HELO", smtp_cmd_helo},
    {"MAIL", smtp_cmd_mail},
    {"RCPT", smtp_cmd_rcpt},
    {"DATA", smtp_cmd_data},
    {"RSET", smtp_cmd_rset},
    {"NOOP", smtp_cmd_noop},
    {"QUIT", smtp_cmd_quit},
    {"VRFY", smtp_cmd_vrfy},
    {"EXPN", smtp_cmd_unimplemented},
    {"HELP", smtp_cmd_unimplemented},
    {"TURN", smtp_cmd_unimplemented},
    {"ETRN", smtp_cmd_unimplemented},
    {"BDAT", smtp_cmd_unimplemented},
    {"STARTTLS", smtp_cmd_unimplemented},
    {"AUTH", smtp_cmd_unimplemented},
};

/* The verb is the text up to the first space, compared case-insensitively. */
static bool smtp_verb_is(const char *line, const char *verb, const char **arg) {
  size_t n = strlen(verb);
  if (!kf_str_starts_with_ci(line, verb))
    return false;
  if (line[n] != '\0' && line[n] != ' ')
    return false;
  *arg = line + n;
  return true;
}

static kf_rc smtp_command(km_smtp *s, const char *line, size_t len, kf_buf *out) {
  const char *arg = NULL;
  if (memchr(line, '\0', len) != NULL) {
    return smtp_reply(s, out, "500 5.5.2 Syntax error, command unrecognized");
  }
  for (size_t i = 0; i < sizeof(km_verbs) / sizeof(km_verbs[0]); i++) {
    if (smtp_verb_is(line, km_verbs[i].verb, &arg))
      return km_verbs[i].run(s, arg, out);
  }
  return smtp_reply(s, out, "500 5.5.2 Syntax error, command unrecognized");
}

/* ---- DATA. ---- */

static void smtp_data_problem(km_smtp *s, km_data_problem p) {
  /* The first problem seen decides the reply. */
  if (s->problem == KM_DATA_OK)
    s->problem = p;
}

void km_smtp_message(const km_smtp *s, km_smtp_envelope *env, const char **data, size_t *len) {
  assert(s != NULL && env != NULL && data != NULL && len != NULL);
  *env = (km_smtp_envelope){
      .mail_from = s->mail_from,
      .rcpt_to = (const char *const *)s->rcpts,
      .rcpt_to_len = s->rcpts_len,
      .smtputf8 = s->smtputf8,
      .body_8bitmime = s->body_8bitmime,
  };
  *data = s->msg.data != NULL ? s->msg.data : "";
  *len = s->msg.len;
}

/* The reply to a delivery's verdict (as km_smtp_deliver_fn returns it). */
static kf_rc smtp_verdict(km_smtp *s, kf_rc delivered, int64_t id, kf_buf *out) {
  if (delivered == KF_OK && id > 0)
    return smtp_reply(s, out, "250 2.0.0 OK: queued as %lld", (long long)id);
  if (delivered == KF_OK)
    return smtp_reply(s, out, "250 2.0.0 OK: queued");
  /* RFC 3463 X.3.1: mail system full; 4xx because deleting mails frees room. */
  if (delivered == KF_ERR_LIMIT)
    return smtp_reply(s, out, "452 4.3.1 Mail system full");
  return smtp_reply(s, out, km_data_replies[KM_DATA_NOMEM], s->max_message_bytes);
}

/*
 * Hand a complete, valid message to the deliver callback and reply with its
 * verdict; without a callback, keep it until km_smtp_delivered.
 */
static kf_rc smtp_deliver(km_smtp *s, kf_buf *out) {
  if (s->deliver == NULL) {
    s->awaiting = true;
    return KF_OK;
  }
  km_smtp_envelope env;
  const char *data = NULL;
  size_t len = 0;
  km_smtp_message(s, &env, &data, &len);
  int64_t id = 0;
  kf_rc delivered = s->deliver(s->ctx, &env, data, len, &id);
  return smtp_verdict(s, delivered, id, out);
}

bool km_smtp_awaiting(const km_smtp *s) {
  assert(s != NULL);
  return s->awaiting;
}

kf_rc km_smtp_delivered(km_smtp *s, kf_rc delivered, int64_t id, kf_buf *out) {
  assert(s != NULL && s->awaiting && out != NULL);
  s->awaiting = false;
  kf_rc rc = smtp_verdict(s, delivered, id, out);
  smtp_transaction_reset(s);
  if (rc != KF_OK)
    s->closed = true;
  return rc;
}

/* The terminating "." line arrived: judge and deliver the message. */
static kf_rc smtp_data_end(km_smtp *s, kf_buf *out) {
  s->mode = KM_MODE_COMMAND;
  kf_rc rc;
  if (s->problem == KM_DATA_OK) {
    rc = smtp_deliver(s, out);
    if (s->awaiting)
      return rc; /* The transaction ends with the verdict. */
  } else {
    /* The one reply format that names a number takes the size limit. */
    rc = smtp_reply(s, out, km_data_replies[s->problem], s->max_message_bytes);
  }
  /* Whatever happened, the transaction is over (RFC 5321 4.1.1.4). */
  smtp_transaction_reset(s);
  return rc;
}

/*
 * One complete data line. line holds its first bytes (without the CR of a
 * CRLF), total its full transmitted length including CR and LF.
 */
static kf_rc smtp_data_line(km_smtp *s, bool crlf, bool bare_cr, size_t total, kf_buf *out) {
  const char *line = s->line;
  size_t len = s->line_len;
  /*
   * SMTP smuggling protection: only <CRLF>.<CRLF> ends the data, and a bare
   * LF or bare CR anywhere rejects the whole message. A server that accepted
   * "<LF>.<LF>" or "<LF>.<CRLF>" as the end could be tricked into reading the
   * rest of one message as new commands (and a forged second message) that an
   * upstream relay treated as plain body text.
   */
  if (crlf && !bare_cr && s->data_prev_crlf && len == 1 && line[0] == '.') {
    return smtp_data_end(s, out);
  }
  s->data_prev_crlf = crlf;
  if (!crlf || bare_cr) {
    smtp_data_problem(s, KM_DATA_BARE_NEWLINE);
    return KF_OK;
  }
  /*
   * Dot-unstuffing (RFC 5321 4.5.2) comes before the length check: the limit
   * of 4.5.3.1.6 is on the text, and the dot added in transit is not text, so
   * a 998-octet line that starts with "." travels as 999 octets and is fine.
   */
  if (len > 0 && line[0] == '.') {
    line++;
    len--;
    total--;
  }
  if (total > KM_SMTP_TEXT_LINE_MAX) {
    smtp_data_problem(s, KM_DATA_LINE_TOO_LONG);
    return KF_OK;
  }
  if (s->problem != KM_DATA_OK)
    return KF_OK; /* Rejected anyway; keep nothing. */
  kf_rc rc = kf_buf_append(&s->msg, line, len);
  if (rc == KF_OK)
    rc = kf_buf_append(&s->msg, "\r\n", 2);
  if (rc == KF_ERR_LIMIT) {
    smtp_data_problem(s, KM_DATA_TOO_BIG);
    kf_buf_release(&s->msg);
    kf_buf_init(&s->msg, s->max_message_bytes);
  } else if (rc != KF_OK) {
    smtp_data_problem(s, KM_DATA_NOMEM);
    kf_buf_release(&s->msg);
    kf_buf_init(&s->msg, s->max_message_bytes);
  }
  return KF_OK;
}

/* A complete line (LF seen) in either mode. */
static kf_rc smtp_line(km_smtp *s, kf_buf *out) {
  bool crlf = s->prev_cr;
  bool bare_cr = s->line_bare_cr;
  size_t total = s->line_total + 1; /* The LF. */
  /* Drop the CR of the CRLF from the stored text (it is stored if it fit). */
  if (crlf && s->line_len == s->line_total && s->line_len > 0)
    s->line_len--;
  s->line[s->line_len] = '\0';
  kf_rc rc;
  if (s->mode == KM_MODE_DATA) {
    rc = smtp_data_line(s, crlf, bare_cr, total, out);
  } else if (total > KM_SMTP_COMMAND_LINE_MAX) {
    /* X.5.6 is RFC 4954's "authentication line too long"; this is plain syntax. */
    rc = smtp_reply(s, out, "500 5.5.2 Line too long (more than %d octets)",
                    KM_SMTP_COMMAND_LINE_MAX);
  } else if (bare_cr) {
    rc = smtp_reply(s, out, "500 5.5.2 Bare CR in command line");
  } else {
    /* Commands tolerate a bare LF ending; only DATA is strict about it. */
    rc = smtp_command(s, s->line, s->line_len, out);
  }
  s->line_len = 0;
  s->line_total = 0;
  s->prev_cr = false;
  s->line_bare_cr = false;
  return rc;
}

kf_rc km_smtp_feed(km_smtp *s, const char *data, size_t len, kf_buf *out) {
  size_t used = 0;
  kf_rc rc = km_smtp_feed_some(s, data, len, out, &used);
  assert(rc != KF_OK || used == len || s->closed || s->awaiting);
  return rc;
}

/*
 * Take in the whole line data[0..lf) (lf bytes before its LF) at once, as
 * the byte-by-byte path of km_smtp_feed_some would, at the start of a line:
 * the first bytes into line, CRs judged, the total counted.
 */
static void smtp_take_line(km_smtp *s, const char *data, size_t lf) {
  assert(s->line_total == 0 && !s->prev_cr && !s->line_bare_cr);
  if (s->mode == KM_MODE_COMMAND)
    s->line_started_ms = s->now_ms;
  size_t keep = lf < sizeof(s->line) - 1 ? lf : sizeof(s->line) - 1;
  memcpy(s->line, data, keep);
  s->line_len = keep;
  s->line_total = lf;
  /* A CR followed by anything but the LF is bare. */
  s->line_bare_cr = lf > 1 && memchr(data, '\r', lf - 1) != NULL;
  s->prev_cr = lf > 0 && data[lf - 1] == '\r';
}

/* The LF of a line arrived: handle the line, and drop a peer that keeps erring. */
static kf_rc smtp_line_end(km_smtp *s, kf_buf *out) {
  kf_rc rc = smtp_line(s, out);
  if (rc == KF_OK && !s->closed && s->errors_in_row >= s->max_errors) {
    s->closed = true;
    rc = kf_buf_appendf(out, "421 4.7.0 %s Too many errors, closing connection\r\n", s->hostname);
  }
  if (rc != KF_OK)
    s->closed = true;
  return rc;
}

kf_rc km_smtp_feed_some(km_smtp *s, const char *data, size_t len, kf_buf *out, size_t *used) {
  assert(s != NULL && out != NULL && used != NULL && (data != NULL || len == 0));
  size_t i = 0;
  kf_rc rc = KF_OK;
  while (rc == KF_OK && i < len && !s->closed && !s->awaiting) {
    /* A whole line in the input: taken in one go (a mail is mostly such lines). */
    const char *lf = s->line_total == 0 ? memchr(data + i, '\n', len - i) : NULL;
    if (lf != NULL) {
      smtp_take_line(s, data + i, (size_t)(lf - (data + i)));
      i = (size_t)(lf - data) + 1;
      rc = smtp_line_end(s, out);
      continue;
    }
    char c = data[i++];
    if (c == '\n') {
      rc = smtp_line_end(s, out);
      continue;
    }
    /* A command line's time limit runs from its first byte. */
    if (s->line_total == 0 && s->mode == KM_MODE_COMMAND)
      s->line_started_ms = s->now_ms;
    if (s->prev_cr)
      s->line_bare_cr = true;
    s->prev_cr = (c == '\r');
    if (s->line_len + 1 < sizeof(s->line))
      s->line[s->line_len++] = c;
    s->line_total++;
  }
  /* Bytes after the session closed are ignored. */
  *used = s->closed ? len : i;
  return rc;
}
