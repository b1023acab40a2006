/*
 * fuzz_smtp.c: the SMTP engine (mocks/mail/km_smtp.c), driven without sockets.
 *
 * The input is what a client sends, from the first byte after the greeting.
 * km_smtp_feed promises that any split of the bytes is fine, so the harness
 * runs the same input through three sessions: fed whole, fed one byte at a
 * time (the first KZ_BYTEWISE_MAX bytes, then the rest at once, to keep the
 * harness fast), and fed in chunks whose sizes come from the input's first
 * bytes. Each
 * session's transcript (every reply, then every delivered envelope and
 * message, then what the end of the connection adds) must be the same byte
 * for byte; a difference is abort(). The input stays in one piece, so the
 * corpus is plain SMTP dialogues.
 *
 * The deliver callback refuses some messages (by their first byte: '!' as a
 * full store, '?' as a failure), so the 452 and 451 paths are reached too.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kf/buf.h"
#include "km_smtp.h"
#include "kz_fuzz.h"

/* Far above what a libFuzzer input (a few KiB) can make the engine say. */
#define KZ_TRANSCRIPT_MAX (8u << 20)
/* The first bytes that choose the chunk sizes, and the largest chunk. */
#define KZ_SPLIT_SEEDS 8
#define KZ_CHUNK_MAX 64
/* Feeding single bytes costs a call each; past this many the rest goes at once. */
#define KZ_BYTEWISE_MAX 512

typedef struct kz_session {
  km_smtp *smtp;
  kf_buf replies;
  kf_buf stored; /* Every delivery, in order. */
  int64_t next_id;
} kz_session;

static kf_rc kz_deliver(void *ctx, const km_smtp_envelope *env, const char *data, size_t len,
                        int64_t *id_out) {
  kz_session *s = ctx;
  if (kf_buf_appendf(&s->stored, "from=<%s> utf8=%d 8bit=%d rcpts=%zu\n", env->mail_from,
                     env->smtputf8, env->body_8bitmime, env->rcpt_to_len) != KF_OK)
    abort();
  for (size_t i = 0; i < env->rcpt_to_len; i++) {
    if (kf_buf_appendf(&s->stored, "to=<%s>\n", env->rcpt_to[i]) != KF_OK)
      abort();
  }
  if (data[len] != '\0')
    abort(); /* km_smtp.h promises a NUL after the message. */
  if (kf_buf_appendf(&s->stored, "%zu bytes\n", len) != KF_OK ||
      kf_buf_append(&s->stored, data, len) != KF_OK)
    abort();
  if (len > 0 && data[0] == '!')
    return KF_ERR_LIMIT;
  if (len > 0 && data[0] == '?')
    return KF_ERR_IO;
  *id_out = ++s->next_id;
  return KF_OK;
}

static void kz_open(kz_session *s) {
  memset(s, 0, sizeof *s);
  kf_buf_init(&s->replies, KZ_TRANSCRIPT_MAX);
  kf_buf_init(&s->stored, KZ_TRANSCRIPT_MAX);
  km_smtp_config cfg;
  km_smtp_config_init(&cfg);
  cfg.hostname = "mx.fuzz";
  /* Small limits, so short inputs reach them. */
  cfg.max_message_bytes = 2000;
  cfg.max_recipients = 4;
  if (km_smtp_new(&cfg, kz_deliver, s, &s->smtp) != KF_OK ||
      km_smtp_greeting(s->smtp, &s->replies) != KF_OK)
    abort();
}

static void kz_feed(kz_session *s, const uint8_t *data, size_t len) {
  kf_rc rc = km_smtp_feed(s->smtp, (const char *)data, len, &s->replies);
  if (rc != KF_OK && kf_buf_appendf(&s->replies, "[feed rc %d]\n", (int)rc) != KF_OK)
    abort();
}

/*
 * Every reply line must be well formed (RFC 5321 4.2): three digits from 2xx
 * to 5xx, '-' or ' ', text without CR or LF, CRLF, at most 512 octets; the
 * lines of a multiline reply share one code. The harness's own "[feed rc]"
 * notes are skipped.
 */
static void kz_check_replies(const kf_buf *r) {
  size_t i = 0;
  char code[3] = {0, 0, 0};
  bool more = false;
  while (i < r->len) {
    const char *line = r->data + i;
    const char *lf = memchr(line, '\n', r->len - i);
    if (lf == NULL)
      abort();
    size_t len = (size_t)(lf - line) + 1;
    i += len;
    if (line[0] == '[')
      continue;
    if (len < 6 || len > 512 || line[len - 2] != '\r' || memchr(line, '\r', len - 2) != NULL)
      abort();
    if (line[0] < '2' || line[0] > '5' || line[1] < '0' || line[1] > '9' || line[2] < '0' ||
        line[2] > '9' || (line[3] != ' ' && line[3] != '-'))
      abort();
    if (more && memcmp(code, line, 3) != 0)
      abort();
    memcpy(code, line, 3);
    more = line[3] == '-';
  }
  if (more)
    abort();
}

/* End the session the way the listener would, and put the deliveries after the replies. */
static void kz_close(kz_session *s) {
  if (!km_smtp_closed(s->smtp) && km_smtp_shutdown(s->smtp, &s->replies) != KF_OK)
    abort();
  kz_check_replies(&s->replies);
  if (kf_buf_append_str(&s->replies, "--- stored\n") != KF_OK ||
      kf_buf_append(&s->replies, s->stored.data, s->stored.len) != KF_OK)
    abort();
  km_smtp_free(s->smtp);
  kf_buf_release(&s->stored);
}

static void kz_compare(kz_session *a, kz_session *b, const char *how) {
  if (a->replies.len == b->replies.len &&
      (a->replies.len == 0 || memcmp(a->replies.data, b->replies.data, a->replies.len) == 0))
    return;
  fprintf(stderr, "fuzz_smtp: fed whole and %s differ\n--- whole\n%.*s\n--- %s\n%.*s\n", how,
          (int)a->replies.len, a->replies.data, how, (int)b->replies.len, b->replies.data);
  abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  kz_session whole, bytes, chunks;
  kz_open(&whole);
  kz_feed(&whole, data, size);
  kz_close(&whole);

  kz_open(&bytes);
  size_t bytewise = size < KZ_BYTEWISE_MAX ? size : KZ_BYTEWISE_MAX;
  for (size_t i = 0; i < bytewise; i++)
    kz_feed(&bytes, data + i, 1);
  if (size > bytewise)
    kz_feed(&bytes, data + bytewise, size - bytewise);
  kz_close(&bytes);
  kz_compare(&whole, &bytes, "byte by byte");
  kf_buf_release(&bytes.replies);

  kz_open(&chunks);
  size_t off = 0;
  for (size_t k = 0; off < size; k++) {
    size_t n = size > 0 ? 1 + data[k % KZ_SPLIT_SEEDS % size] % KZ_CHUNK_MAX : 0;
    if (n > size - off)
      n = size - off;
    kz_feed(&chunks, data + off, n);
    off += n;
  }
  kz_close(&chunks);
  kz_compare(&whole, &chunks, "in chunks");
  kf_buf_release(&chunks.replies);
  kf_buf_release(&whole.replies);
  return 0;
}
