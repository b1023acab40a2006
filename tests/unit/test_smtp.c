/*
 * test_smtp.c: the SMTP protocol engine (mocks/mail/km_smtp.c), driven without
 * sockets: whole dialogues, pipelining, dot-unstuffing, every limit with its
 * reply code, bad sequences, the bare-LF smuggling guard and injected
 * allocation failures.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "kf/alloc.h"
#include "kf/buf.h"
#include "km_listener.h"
#include "km_smtp.h"

/* What the deliver callback saw, so tests can check exactly what was kept. */
typedef struct delivery {
  int calls;
  kf_rc result; /* What the callback answers. */
  char mail_from[256];
  char rcpts[8][256];
  size_t rcpts_len;
  bool smtputf8;
  bool body_8bitmime;
  /* Inline, so injected kf_alloc failures never hit the test's own bookkeeping
   * and session threads need no allocator; no test delivers more. */
  char data[4096];
  size_t data_len;
} delivery;

static kf_rc test_deliver(void *ctx, const km_smtp_envelope *env, const char *data, size_t len,
                          int64_t *id_out) {
  delivery *d = ctx;
  d->calls++;
  if (d->result != KF_OK)
    return d->result;
  snprintf(d->mail_from, sizeof(d->mail_from), "%s", env->mail_from);
  d->rcpts_len = env->rcpt_to_len;
  for (size_t i = 0; i < env->rcpt_to_len && i < 8; i++) {
    snprintf(d->rcpts[i], sizeof(d->rcpts[i]), "%s", env->rcpt_to[i]);
  }
  d->smtputf8 = env->smtputf8;
  d->body_8bitmime = env->body_8bitmime;
  assert_true(len < sizeof(d->data));
  memcpy(d->data, data, len);
  d->data[len] = '\0';
  d->data_len = len;
  *id_out = d->calls;
  return KF_OK;
}

typedef struct fixture {
  km_smtp *s;
  delivery d;
  kf_buf out;
} fixture;

static fixture *fixture_new(size_t max_bytes, size_t max_rcpt) {
  fixture *f = test_calloc(1, sizeof(*f));
  assert_non_null(f);
  kf_buf_init(&f->out, 1 << 20);
  km_smtp_config cfg;
  km_smtp_config_init(&cfg);
  cfg.hostname = "mx.test";
  if (max_bytes)
    cfg.max_message_bytes = max_bytes;
  if (max_rcpt)
    cfg.max_recipients = max_rcpt;
  assert_int_equal(km_smtp_new(&cfg, test_deliver, &f->d, &f->s), KF_OK);
  return f;
}

static void fixture_free(fixture *f) {
  km_smtp_free(f->s);
  kf_buf_release(&f->out);
  test_free(f);
}

/* Feed text and return every reply it produced (valid until the next call). */
static const char *feed(fixture *f, const char *text) {
  kf_buf_reset(&f->out);
  assert_int_equal(km_smtp_feed(f->s, text, strlen(text), &f->out), KF_OK);
  return f->out.data != NULL ? f->out.data : "";
}

static void assert_reply(fixture *f, const char *text, const char *expected) {
  const char *got = feed(f, text);
  if (strcmp(got, expected) != 0) {
    print_error("sent %s\nexpected %s\ngot      %s\n", text, expected, got);
    fail();
  }
}

/* Assert that the reply starts with prefix (for replies with free text). */
static void assert_reply_starts(fixture *f, const char *text, const char *prefix) {
  const char *got = feed(f, text);
  if (strncmp(got, prefix, strlen(prefix)) != 0) {
    print_error("sent %s\nexpected %s...\ngot      %s\n", text, prefix, got);
    fail();
  }
}

static void start(fixture *f) {
  kf_buf_reset(&f->out);
  assert_int_equal(km_smtp_greeting(f->s, &f->out), KF_OK);
  assert_string_equal(f->out.data, "220 mx.test ESMTP konform-mail ready\r\n");
  assert_reply_starts(f, "EHLO client.test\r\n", "250-mx.test");
}

static void test_full_dialogue(void **state) {
  (void)state;
  fixture *f = fixture_new(0, 0);
  kf_buf_reset(&f->out);
  assert_int_equal(km_smtp_greeting(f->s, &f->out), KF_OK);
  assert_reply(f, "EHLO client.test\r\n",
               "250-mx.test greets client.test\r\n250-SIZE 10485760\r\n250-8BITMIME\r\n"
               "250-SMTPUTF8\r\n250-PIPELINING\r\n250 ENHANCEDSTATUSCODES\r\n");
  assert_reply(f, "MAIL FROM:<kontoservice@arbeitsagentur.de> BODY=8BITMIME\r\n",
               "250 2.1.0 Sender OK\r\n");
  assert_reply(f, "RCPT TO:<a@b.test>\r\n", "250 2.1.5 Recipient OK\r\n");
  assert_reply(f, "rcpt to:<C@D.test>\r\n", "250 2.1.5 Recipient OK\r\n");
  assert_reply(f, "DATA\r\n", "354 End data with <CR><LF>.<CR><LF>\r\n");
  assert_reply(f, "Subject: hi\r\n\r\nHello\r\n", "");
  assert_reply(f, ".\r\n", "250 2.0.0 OK: queued as 1\r\n");
  assert_int_equal(f->d.calls, 1);
  assert_string_equal(f->d.mail_from, "kontoservice@arbeitsagentur.de");
  assert_int_equal(f->d.rcpts_len, 2);
  assert_string_equal(f->d.rcpts[0], "a@b.test");
  assert_string_equal(f->d.rcpts[1], "C@D.test");
  assert_true(f->d.body_8bitmime);
  assert_false(f->d.smtputf8);
  assert_string_equal(f->d.data, "Subject: hi\r\n\r\nHello\r\n");
  /* A second transaction in the same session starts clean. */
  assert_reply(f, "RCPT TO:<a@b.test>\r\n", "503 5.5.1 Need MAIL before RCPT\r\n");
  assert_reply(f, "QUIT\r\n", "221 2.0.0 mx.test closing connection\r\n");
  assert_true(km_smtp_closed(f->s));
  /* Whatever follows QUIT is ignored. */
  assert_reply(f, "NOOP\r\n", "");
  fixture_free(f);
}

static void test_helo_and_null_sender(void **state) {
  (void)state;
  fixture *f = fixture_new(0, 0);
  assert_reply(f, "HELO client.test\r\n", "250 mx.test\r\n");
  /* Without EHLO no extension parameters may be used. */
  assert_reply(f, "MAIL FROM:<a@b.test> SIZE=10\r\n", "555 5.5.4 Parameters need EHLO\r\n");
  assert_reply(f, "MAIL FROM:<>\r\n", "250 2.1.0 Sender OK\r\n");
  assert_reply(f, "RCPT TO:<Postmaster>\r\n", "250 2.1.5 Recipient OK\r\n");
  assert_reply(f, "DATA\r\n.\r\n",
               "354 End data with <CR><LF>.<CR><LF>\r\n250 2.0.0 OK: queued as 1\r\n");
  assert_string_equal(f->d.mail_from, "");
  assert_string_equal(f->d.rcpts[0], "Postmaster");
  assert_int_equal(f->d.data_len, 0);
  fixture_free(f);
}

static void test_pipelining(void **state) {
  (void)state;
  fixture *f = fixture_new(0, 0);
  assert_reply(f,
               "EHLO c\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<x@y.test>\r\nRCPT TO:<bad>\r\n"
               "DATA\r\nline 1\r\n.\r\nNOOP\r\nQUIT\r\nNOOP\r\n",
               "250-mx.test greets c\r\n250-SIZE 10485760\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n"
               "250-PIPELINING\r\n250 ENHANCEDSTATUSCODES\r\n250 2.1.0 Sender OK\r\n"
               "250 2.1.5 Recipient OK\r\n553 5.1.3 Bad recipient address syntax\r\n"
               "354 End data with <CR><LF>.<CR><LF>\r\n250 2.0.0 OK: queued as 1\r\n"
               "250 2.0.0 OK\r\n221 2.0.0 mx.test closing connection\r\n");
  assert_int_equal(f->d.rcpts_len, 1);
  assert_string_equal(f->d.data, "line 1\r\n");
  fixture_free(f);
}

static void test_byte_by_byte(void **state) {
  (void)state;
  fixture *f = fixture_new(0, 0);
  const char *dialogue = "EHLO c\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<x@y.test>\r\nDATA\r\n"
                         "..dot\r\nx\r\n.\r\n";
  kf_buf all;
  kf_buf_init(&all, 1 << 16);
  for (size_t i = 0; dialogue[i] != '\0'; i++) {
    kf_buf_reset(&f->out);
    assert_int_equal(km_smtp_feed(f->s, dialogue + i, 1, &f->out), KF_OK);
    assert_int_equal(kf_buf_append(&all, f->out.data ? f->out.data : "", f->out.len), KF_OK);
  }
  assert_non_null(strstr(all.data, "250 2.0.0 OK: queued as 1\r\n"));
  assert_string_equal(f->d.data, ".dot\r\nx\r\n");
  kf_buf_release(&all);
  fixture_free(f);
}

/*
 * Whole lines are taken in one go and partial ones byte by byte: every split
 * of a tricky dialogue into two reads gives the replies and the message that
 * one read gives (bare CR, a line over the limit, dot-stuffing, a NUL).
 */
static void test_any_split(void **state) {
  (void)state;
  kf_buf long_line;
  kf_buf_init(&long_line, 1 << 16);
  for (int i = 0; i < 1100; i++)
    assert_int_equal(kf_buf_append(&long_line, "y", 1), KF_OK);
  static const char *const bodies[] = {
      "a\r\n..b\r\n\r\n.c\r\n",
      "bare\rcr\r\n",
      "cr at end\r\r\n",
      "nul \0 inside\r\n",
  };
  static const size_t body_lens[] = {15, 10, 12, 15};
  for (size_t b = 0; b < 5; b++) {
    kf_buf text;
    kf_buf_init(&text, 1 << 16);
    assert_int_equal(kf_buf_append_str(&text, "EHLO c\r\nMAIL FROM:<a@b.test>\r\n"
                                              "RCPT TO:<x@y.test>\r\nDATA\r\n"),
                     KF_OK);
    if (b < 4)
      assert_int_equal(kf_buf_append(&text, bodies[b], body_lens[b]), KF_OK);
    else
      assert_int_equal(kf_buf_append(&text, long_line.data, long_line.len), KF_OK);
    assert_int_equal(kf_buf_append_str(&text, "\r\n.\r\nNOOP\r\n"), KF_OK);
    fixture *whole = fixture_new(0, 0);
    kf_buf_reset(&whole->out);
    assert_int_equal(km_smtp_feed(whole->s, text.data, text.len, &whole->out), KF_OK);
    for (size_t cut = 1; cut < text.len; cut++) {
      fixture *f = fixture_new(0, 0);
      kf_buf_reset(&f->out);
      assert_int_equal(km_smtp_feed(f->s, text.data, cut, &f->out), KF_OK);
      assert_int_equal(km_smtp_feed(f->s, text.data + cut, text.len - cut, &f->out), KF_OK);
      assert_string_equal(f->out.data, whole->out.data);
      assert_int_equal(f->d.calls, whole->d.calls);
      assert_int_equal(f->d.data_len, whole->d.data_len);
      assert_memory_equal(f->d.data, whole->d.data, whole->d.data_len);
      fixture_free(f);
    }
    fixture_free(whole);
    kf_buf_release(&text);
  }
  kf_buf_release(&long_line);
}

/*
 * Without a deliver callback the engine stops at the final dot: the message
 * waits for its verdict, the pipelined commands after it wait too, and the
 * verdict's reply comes before theirs.
 */
static void test_verdict_later(void **state) {
  (void)state;
  km_smtp_config cfg;
  km_smtp_config_init(&cfg);
  cfg.hostname = "mx.test";
  km_smtp *s = NULL;
  assert_int_equal(km_smtp_new(&cfg, NULL, NULL, &s), KF_OK);
  kf_buf out;
  kf_buf_init(&out, 1 << 16);
  static const char text[] = "HELO c\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<x@y.test>\r\n"
                             "RCPT TO:<z@y.test>\r\nDATA\r\nbody\r\n.\r\n"
                             "MAIL FROM:<b@b.test>\r\nRCPT TO:<x@y.test>\r\nDATA\r\nsecond\r\n"
                             ".\r\nQUIT\r\n";
  size_t used = 0;
  assert_int_equal(km_smtp_feed_some(s, text, strlen(text), &out, &used), KF_OK);
  const char *rest = strstr(text, "MAIL FROM:<b@");
  assert_int_equal(used, (size_t)(rest - text));
  assert_true(km_smtp_awaiting(s));
  assert_int_equal(km_smtp_deadline(s), INT64_MAX);
  assert_string_equal(out.data,
                      "250 mx.test\r\n250 2.1.0 Sender OK\r\n250 2.1.5 Recipient OK\r\n"
                      "250 2.1.5 Recipient OK\r\n354 End data with <CR><LF>.<CR><LF>\r\n");
  km_smtp_envelope env;
  const char *data = NULL;
  size_t len = 0;
  km_smtp_message(s, &env, &data, &len);
  assert_string_equal(env.mail_from, "a@b.test");
  assert_int_equal(env.rcpt_to_len, 2);
  assert_string_equal(env.rcpt_to[1], "z@y.test");
  assert_int_equal(len, 6);
  assert_string_equal(data, "body\r\n");
  /* While it waits, nothing more is taken in. */
  assert_int_equal(km_smtp_feed_some(s, rest, strlen(rest), &out, &used), KF_OK);
  assert_int_equal(used, 0);
  kf_buf_reset(&out);
  assert_int_equal(km_smtp_delivered(s, KF_OK, 41, &out), KF_OK);
  assert_false(km_smtp_awaiting(s));
  assert_string_equal(out.data, "250 2.0.0 OK: queued as 41\r\n");
  kf_buf_reset(&out);
  assert_int_equal(km_smtp_feed_some(s, rest, strlen(rest), &out, &used), KF_OK);
  const char *quit = strstr(rest, "QUIT");
  assert_int_equal(used, (size_t)(quit - rest));
  km_smtp_message(s, &env, &data, &len);
  assert_string_equal(env.mail_from, "b@b.test");
  assert_int_equal(env.rcpt_to_len, 1);
  assert_string_equal(data, "second\r\n");
  /* The store full, then any other failure: 452 and 451, as with a callback. */
  assert_int_equal(km_smtp_delivered(s, KF_ERR_LIMIT, 0, &out), KF_OK);
  assert_int_equal(km_smtp_feed_some(s, quit, strlen(quit), &out, &used), KF_OK);
  assert_string_equal(out.data,
                      "250 2.1.0 Sender OK\r\n250 2.1.5 Recipient OK\r\n"
                      "354 End data with <CR><LF>.<CR><LF>\r\n"
                      "452 4.3.1 Mail system full\r\n221 2.0.0 mx.test closing connection\r\n");
  assert_true(km_smtp_closed(s));
  km_smtp_free(s);
  assert_int_equal(km_smtp_new(&cfg, NULL, NULL, &s), KF_OK);
  kf_buf_reset(&out);
  static const char one[] = "HELO c\r\nMAIL FROM:<>\r\nRCPT TO:<x@y.test>\r\nDATA\r\n.\r\n";
  assert_int_equal(km_smtp_feed_some(s, one, strlen(one), &out, &used), KF_OK);
  assert_int_equal(used, strlen(one));
  kf_buf_reset(&out);
  assert_int_equal(km_smtp_delivered(s, KF_ERR_DB, 0, &out), KF_OK);
  assert_string_equal(out.data, "451 4.3.0 Temporary failure, message not stored\r\n");
  km_smtp_free(s);
  kf_buf_release(&out);
}

static void test_dot_unstuffing(void **state) {
  (void)state;
  fixture *f = fixture_new(0, 0);
  start(f);
  feed(f, "MAIL FROM:<a@b.test>\r\nRCPT TO:<x@y.test>\r\nDATA\r\n");
  assert_reply(f, "..\r\n...x\r\n.y\r\n. \r\n\r\n.\r\n", "250 2.0.0 OK: queued as 1\r\n");
  assert_string_equal(f->d.data, ".\r\n..x\r\ny\r\n \r\n\r\n");
  fixture_free(f);
}

static void test_command_line_too_long(void **state) {
  (void)state;
  fixture *f = fixture_new(0, 0);
  start(f);
  char line[700];
  memset(line, 'a', sizeof(line));
  memcpy(line, "NOOP ", 5);
  /* 510 bytes + CRLF = 512 octets: the longest allowed command line. */
  line[510] = '\r';
  line[511] = '\n';
  line[512] = '\0';
  assert_reply(f, line, "250 2.0.0 OK\r\n");
  memset(line, 'a', sizeof(line));
  memcpy(line, "NOOP ", 5);
  line[511] = '\r';
  line[512] = '\n';
  line[513] = '\0';
  /* X.5.6 belongs to RFC 4954's AUTH line; a command line that is too long is a syntax error. */
  assert_reply(f, line, "500 5.5.2 Line too long (more than 512 octets)\r\n");
  /* The session goes on. */
  assert_reply(f, "NOOP\r\n", "250 2.0.0 OK\r\n");
  fixture_free(f);
}

static void send_data_line(fixture *f, size_t octets_with_crlf) {
  char *line = test_malloc(octets_with_crlf + 1);
  assert_non_null(line);
  memset(line, 'x', octets_with_crlf);
  line[octets_with_crlf - 2] = '\r';
  line[octets_with_crlf - 1] = '\n';
  line[octets_with_crlf] = '\0';
  assert_reply(f, line, "");
  test_free(line);
}

static void test_text_line_too_long(void **state) {
  (void)state;
  fixture *f = fixture_new(0, 0);
  start(f);
  feed(f, "MAIL FROM:<a@b.test>\r\nRCPT TO:<x@y.test>\r\nDATA\r\n");
  send_data_line(f, 1000);
  assert_reply(f, ".\r\n", "250 2.0.0 OK: queued as 1\r\n");
  assert_int_equal(f->d.data_len, 1000);
  feed(f, "MAIL FROM:<a@b.test>\r\nRCPT TO:<x@y.test>\r\nDATA\r\n");
  send_data_line(f, 1001);
  assert_reply(f, "more\r\n.\r\n", "554 5.6.0 Line too long (more than 1000 octets)\r\n");
  assert_int_equal(f->d.calls, 1);
  fixture_free(f);
}

/*
 * Send one text line of text_octets octets (CRLF not counted), dot-stuffed
 * when it starts with "." as a client does, and end the message. Returns the
 * final reply.
 */
static const char *send_text_line(fixture *f, size_t text_octets, bool leading_dot) {
  char *line = test_malloc(text_octets + 8);
  assert_non_null(line);
  size_t n = 0;
  if (leading_dot)
    line[n++] = '.'; /* The stuffed dot (RFC 5321 4.5.2). */
  memset(line + n, 'x', text_octets);
  if (leading_dot)
    line[n] = '.';
  n += text_octets;
  memcpy(line + n, "\r\n", 3);
  feed(f, "MAIL FROM:<a@b.test>\r\nRCPT TO:<x@y.test>\r\nDATA\r\n");
  assert_reply(f, line, "");
  test_free(line);
  return feed(f, ".\r\n");
}

/*
 * RFC 5321 4.5.3.1.6 limits the text to 998 octets a line; the dot a client
 * adds in front of a line that starts with "." is not text, so that line may
 * travel as 999 octets plus CRLF.
 */
static void test_text_line_dot_boundary(void **state) {
  (void)state;
  static const char too_long[] = "554 5.6.0 Line too long (more than 1000 octets)\r\n";
  fixture *f = fixture_new(0, 0);
  start(f);
  for (int dot = 0; dot < 2; dot++) {
    int calls = f->d.calls;
    const char *reply = send_text_line(f, 998, dot == 1);
    assert_true(strncmp(reply, "250 2.0.0 OK: queued", 20) == 0);
    assert_int_equal(f->d.calls, calls + 1);
    assert_int_equal(f->d.data_len, 1000);
    assert_int_equal(f->d.data[0], dot == 1 ? '.' : 'x');
    assert_int_equal(f->d.data[1], 'x');
    assert_string_equal(send_text_line(f, 999, dot == 1), too_long);
    assert_int_equal(f->d.calls, calls + 1);
  }
  fixture_free(f);
}

static void test_message_too_big(void **state) {
  (void)state;
  fixture *f = fixture_new(100, 0);
  start(f);
  /* The SIZE parameter is judged at once. */
  assert_reply(f, "MAIL FROM:<a@b.test> SIZE=101\r\n",
               "552 5.3.4 Message size exceeds fixed limit of 100 bytes\r\n");
  assert_reply(f, "MAIL FROM:<a@b.test> SIZE=abc\r\n", "501 5.5.4 Bad SIZE parameter\r\n");
  assert_reply(f, "MAIL FROM:<a@b.test> SIZE=-1\r\n", "501 5.5.4 Bad SIZE parameter\r\n");
  assert_reply(f, "MAIL FROM:<a@b.test> SIZE=99999999999999999999999\r\n",
               "552 5.3.4 Message size exceeds fixed limit of 100 bytes\r\n");
  assert_reply(f, "MAIL FROM:<a@b.test> SIZE=100\r\n", "250 2.1.0 Sender OK\r\n");
  feed(f, "RCPT TO:<x@y.test>\r\nDATA\r\n");
  send_data_line(f, 60);
  send_data_line(f, 60);
  assert_reply(f, ".\r\n", "552 5.3.4 Message size exceeds fixed limit of 100 bytes\r\n");
  assert_int_equal(f->d.calls, 0);
  /* Exactly at the limit is fine. */
  feed(f, "MAIL FROM:<a@b.test>\r\nRCPT TO:<x@y.test>\r\nDATA\r\n");
  send_data_line(f, 50);
  send_data_line(f, 50);
  assert_reply(f, ".\r\n", "250 2.0.0 OK: queued as 1\r\n");
  fixture_free(f);
}

static void test_too_many_recipients(void **state) {
  (void)state;
  fixture *f = fixture_new(0, 2);
  start(f);
  feed(f, "MAIL FROM:<a@b.test>\r\n");
  assert_reply(
      f, "RCPT TO:<1@y.test>\r\nRCPT TO:<2@y.test>\r\nRCPT TO:<3@y.test>\r\n",
      "250 2.1.5 Recipient OK\r\n250 2.1.5 Recipient OK\r\n452 4.5.3 Too many recipients\r\n");
  assert_reply(f, "DATA\r\nx\r\n.\r\n",
               "354 End data with <CR><LF>.<CR><LF>\r\n250 2.0.0 OK: queued as 1\r\n");
  assert_int_equal(f->d.rcpts_len, 2);
  fixture_free(f);
}

static void test_bad_sequences(void **state) {
  (void)state;
  fixture *f = fixture_new(0, 0);
  assert_reply(f, "MAIL FROM:<a@b.test>\r\n", "503 5.5.1 Send EHLO or HELO first\r\n");
  assert_reply(f, "RCPT TO:<a@b.test>\r\n", "503 5.5.1 Need MAIL before RCPT\r\n");
  assert_reply(f, "DATA\r\n", "503 5.5.1 Need MAIL before DATA\r\n");
  start(f);
  assert_reply(f, "DATA\r\n", "503 5.5.1 Need MAIL before DATA\r\n");
  feed(f, "MAIL FROM:<a@b.test>\r\n");
  assert_reply(f, "MAIL FROM:<a@b.test>\r\n", "503 5.5.1 Sender already specified\r\n");
  assert_reply(f, "DATA\r\n", "503 5.5.1 Need RCPT before DATA\r\n");
  fixture_free(f);
}

static void test_syntax_errors(void **state) {
  (void)state;
  fixture *f = fixture_new(0, 0);
  assert_reply(f, "EHLO\r\n", "501 5.5.4 Syntax: EHLO hostname\r\n");
  start(f);
  assert_reply(f, "MAIL TO:<a@b.test>\r\n", "501 5.5.4 Syntax: MAIL FROM:<address>\r\n");
  assert_reply(f, "MAIL FROM:a@b.test\r\n", "501 5.5.4 Syntax: MAIL FROM:<address>\r\n");
  assert_reply(f, "MAIL FROM:<a@b.test\r\n", "501 5.5.4 Syntax: MAIL FROM:<address>\r\n");
  assert_reply(f, "MAIL FROM:<a b@c.test>\r\n", "553 5.1.7 Bad sender address syntax\r\n");
  assert_reply(f, "MAIL FROM:<a@b.test> BODY=BINARYMIME\r\n", "501 5.5.4 Bad BODY parameter\r\n");
  assert_reply(f, "MAIL FROM:<a@b.test> FOO=1\r\n", "555 5.5.4 Unsupported parameter\r\n");
  assert_reply(f, "MAIL FROM:<jürgen@b.test>\r\n",
               "553 5.6.7 Non-ASCII address needs SMTPUTF8\r\n");
  assert_reply(f, "MAIL FROM:<jürgen@b.test> SMTPUTF8\r\n", "250 2.1.0 Sender OK\r\n");
  assert_reply(f, "RCPT TO:<>\r\n", "553 5.1.3 Bad recipient address syntax\r\n");
  assert_reply(f, "RCPT TO:<a..b@c.test>\r\n", "553 5.1.3 Bad recipient address syntax\r\n");
  assert_reply(f, "RCPT TO:<a@b..test>\r\n", "553 5.1.3 Bad recipient address syntax\r\n");
  assert_reply(f, "RCPT TO:<a@>\r\n", "553 5.1.3 Bad recipient address syntax\r\n");
  assert_reply(f, "RCPT TO:<a@b.test> NOTIFY=NEVER\r\n", "555 5.5.4 Unsupported parameter\r\n");
  assert_reply(f, "RCPT TO:<\"a b\"@[127.0.0.1]>\r\n", "250 2.1.5 Recipient OK\r\n");
  assert_reply(f, "RCPT TO:<@relay.test:ö@b.test>\r\n", "250 2.1.5 Recipient OK\r\n");
  assert_reply(f, "DATA x\r\n", "501 5.5.4 Syntax: DATA\r\n");
  assert_reply(f, "DATA\r\n.\r\n",
               "354 End data with <CR><LF>.<CR><LF>\r\n250 2.0.0 OK: queued as 1\r\n");
  assert_true(f->d.smtputf8);
  assert_string_equal(f->d.rcpts[1], "ö@b.test");
  assert_reply(f, "FOO\r\n", "500 5.5.2 Syntax error, command unrecognized\r\n");
  assert_reply(f, "\r\n", "500 5.5.2 Syntax error, command unrecognized\r\n");
  assert_reply(f, "EXPN list\r\n", "502 5.5.1 Command not implemented\r\n");
  assert_reply(f, "NOOP\rX\r\n", "500 5.5.2 Bare CR in command line\r\n");
  fixture_free(f);
}

static void test_rset(void **state) {
  (void)state;
  fixture *f = fixture_new(0, 0);
  start(f);
  feed(f, "MAIL FROM:<a@b.test>\r\nRCPT TO:<x@y.test>\r\n");
  assert_reply(f, "RSET\r\n", "250 2.0.0 Reset OK\r\n");
  assert_reply(f, "DATA\r\n", "503 5.5.1 Need MAIL before DATA\r\n");
  /* RSET keeps the greeting: a new transaction needs no new EHLO. */
  assert_reply(f, "MAIL FROM:<c@d.test>\r\n", "250 2.1.0 Sender OK\r\n");
  assert_reply(f, "RSET x\r\n", "501 5.5.4 Syntax: RSET\r\n");
  fixture_free(f);
}

static void test_vrfy_noop(void **state) {
  (void)state;
  fixture *f = fixture_new(0, 0);
  assert_reply(f, "VRFY someone\r\n",
               "252 2.0.0 Cannot VRFY user, but will accept message and attempt delivery\r\n");
  assert_reply(f, "VRFY\r\n", "501 5.5.4 Syntax: VRFY address\r\n");
  assert_reply(f, "noop anything\r\n", "250 2.0.0 OK\r\n");
  fixture_free(f);
}

/* The reply to a bare LF or CR in DATA: 5.6.0, as 5.6.11 could not be confirmed in the IANA
 * registry. */
#define BARE_REPLY                                                                                 \
  "554 5.6.0 Bare LF or CR in message text (SMTP smuggling protection); lines must end with "      \
  "CRLF\r\n"

static void test_bare_lf_rejected(void **state) {
  (void)state;
  fixture *f = fixture_new(0, 0);
  start(f);
  /*
   * The classic smuggling payload: "\n.\n" (or "\n.\r\n") must not end the
   * data, and the forged second transaction must not be executed.
   */
  feed(f, "MAIL FROM:<a@b.test>\r\nRCPT TO:<x@y.test>\r\nDATA\r\n");
  assert_reply(f,
               "Subject: one\r\n\r\nbody\n.\r\nMAIL FROM:<evil@b.test>\r\nRCPT TO:<x@y.test>\r\n"
               "DATA\r\nforged\r\n.\r\n",
               BARE_REPLY);
  assert_int_equal(f->d.calls, 0);
  /* A bare CR is rejected as well. */
  feed(f, "MAIL FROM:<a@b.test>\r\nRCPT TO:<x@y.test>\r\nDATA\r\n");
  assert_reply(f, "a\rb\r\n.\r\n", BARE_REPLY);
  /* ".\n" after a proper line does not end the data either. */
  feed(f, "MAIL FROM:<a@b.test>\r\nRCPT TO:<x@y.test>\r\nDATA\r\n");
  assert_reply(f, "a\r\n.\nb\r\n", "");
  assert_reply(f, ".\r\n", BARE_REPLY);
  assert_int_equal(f->d.calls, 0);
  /* The session is still usable. */
  assert_reply(f, "NOOP\r\n", "250 2.0.0 OK\r\n");
  fixture_free(f);
}

static void test_deliver_failure(void **state) {
  (void)state;
  fixture *f = fixture_new(0, 0);
  start(f);
  f->d.result = KF_ERR_DB;
  feed(f, "MAIL FROM:<a@b.test>\r\nRCPT TO:<x@y.test>\r\nDATA\r\n");
  assert_reply(f, "x\r\n.\r\n", "451 4.3.0 Temporary failure, message not stored\r\n");
  assert_int_equal(f->d.calls, 1);
  /* The transaction is gone, so a retry starts from MAIL. */
  assert_reply(f, "RCPT TO:<x@y.test>\r\n", "503 5.5.1 Need MAIL before RCPT\r\n");
  fixture_free(f);
}

static void test_error_count_disconnect(void **state) {
  (void)state;
  fixture *f = fixture_new(0, 0);
  start(f);
  for (int i = 0; i < 9; i++)
    assert_reply(f, "BAD\r\n", "500 5.5.2 Syntax error, command unrecognized\r\n");
  /* A success in between resets the count. */
  assert_reply(f, "NOOP\r\n", "250 2.0.0 OK\r\n");
  for (int i = 0; i < 9; i++)
    feed(f, "BAD\r\n");
  assert_false(km_smtp_closed(f->s));
  assert_reply(f, "BAD\r\nNOOP\r\n",
               "500 5.5.2 Syntax error, command unrecognized\r\n"
               "421 4.7.0 mx.test Too many errors, closing connection\r\n");
  assert_true(km_smtp_closed(f->s));
  fixture_free(f);
}

static void test_timeout_and_shutdown(void **state) {
  (void)state;
  fixture *f = fixture_new(0, 0);
  kf_buf_reset(&f->out);
  assert_int_equal(km_smtp_timeout(f->s, &f->out), KF_OK);
  assert_string_equal(f->out.data, "421 4.4.2 mx.test Idle timeout, closing connection\r\n");
  assert_true(km_smtp_closed(f->s));
  fixture_free(f);
  f = fixture_new(0, 0);
  kf_buf_reset(&f->out);
  assert_int_equal(km_smtp_shutdown(f->s, &f->out), KF_OK);
  assert_string_equal(f->out.data, "421 4.3.2 mx.test Service shutting down\r\n");
  kf_buf_reset(&f->out);
  assert_int_equal(km_smtp_busy_reply("mx.test", &f->out), KF_OK);
  assert_string_equal(f->out.data, "421 4.3.2 mx.test Too many sessions, try again later\r\n");
  fixture_free(f);
}

/* RFC 5321 4.5.3.1.10: after 452 the client goes on with the recipients accepted so far. */
static void test_many_recipients_pipelined(void **state) {
  (void)state;
  fixture *f = fixture_new(0, 100);
  start(f);
  kf_buf in;
  kf_buf_init(&in, 1 << 16);
  assert_int_equal(kf_buf_append_str(&in, "MAIL FROM:<a@b.test>\r\n"), KF_OK);
  for (int i = 0; i < 150; i++)
    assert_int_equal(kf_buf_appendf(&in, "RCPT TO:<r%d@y.test>\r\n", i), KF_OK);
  assert_int_equal(kf_buf_append_str(&in, "DATA\r\nSubject: many\r\n\r\nbody\r\n.\r\nQUIT\r\n"),
                   KF_OK);
  const char *got = feed(f, in.data);
  kf_buf_release(&in);
  assert_null(strstr(got, "421 "));
  assert_non_null(strstr(got, "452 4.5.3 Too many recipients\r\n354 "));
  assert_non_null(strstr(got, "250 2.0.0 OK: queued as 1\r\n221 2.0.0"));
  assert_int_equal(f->d.calls, 1);
  assert_int_equal(f->d.rcpts_len, 100);
  assert_string_equal(f->d.data, "Subject: many\r\n\r\nbody\r\n");
  fixture_free(f);
}

/* Bad addresses (553) are not protocol errors and do not end the session either. */
static void test_bad_addresses_do_not_disconnect(void **state) {
  (void)state;
  fixture *f = fixture_new(0, 0);
  start(f);
  feed(f, "MAIL FROM:<a@b.test>\r\n");
  for (int i = 0; i < 20; i++)
    assert_reply(f, "RCPT TO:<bad address>\r\n", "553 5.1.3 Bad recipient address syntax\r\n");
  assert_false(km_smtp_closed(f->s));
  assert_reply(f, "RCPT TO:<x@y.test>\r\n", "250 2.1.5 Recipient OK\r\n");
  fixture_free(f);
}

/* A full store is a 452 4.3.1, not the generic temporary failure. */
static void test_store_full(void **state) {
  (void)state;
  fixture *f = fixture_new(0, 0);
  start(f);
  f->d.result = KF_ERR_LIMIT;
  feed(f, "MAIL FROM:<a@b.test>\r\nRCPT TO:<x@y.test>\r\nDATA\r\n");
  assert_reply(f, "x\r\n.\r\n", "452 4.3.1 Mail system full\r\n");
  assert_int_equal(f->d.calls, 1);
  fixture_free(f);
}

/* The deadlines follow the clock the caller gives: per command line and per DATA phase. */
static void test_deadlines(void **state) {
  (void)state;
  km_smtp_config cfg;
  km_smtp_config_init(&cfg);
  cfg.hostname = "mx.test";
  cfg.command_timeout_ms = 1000;
  cfg.data_timeout_ms = 5000;
  delivery d;
  memset(&d, 0, sizeof(d));
  km_smtp *s = NULL;
  assert_int_equal(km_smtp_new(&cfg, test_deliver, &d, &s), KF_OK);
  kf_buf out;
  kf_buf_init(&out, 1 << 16);
  /* Nothing in progress: only the idle timeout applies. */
  assert_true(km_smtp_deadline(s) == INT64_MAX);
  km_smtp_set_now(s, 100);
  assert_int_equal(km_smtp_feed(s, "EH", 2, &out), KF_OK);
  assert_true(km_smtp_deadline(s) == 1100);
  /* More bytes of the same line do not move the deadline. */
  km_smtp_set_now(s, 900);
  assert_int_equal(km_smtp_feed(s, "LO c\r\nMAIL FROM:<a@b.test>\r\nRC", 30, &out), KF_OK);
  assert_true(km_smtp_deadline(s) == 1900);
  km_smtp_set_now(s, 1000);
  const char *rest = "PT TO:<x@y.test>\r\nDATA\r\nSubject: x\r\n";
  assert_int_equal(km_smtp_feed(s, rest, strlen(rest), &out), KF_OK);
  assert_true(km_smtp_deadline(s) == 6000);
  km_smtp_set_now(s, 5000);
  assert_int_equal(km_smtp_feed(s, "\r\nbody\r\n.\r\n", 11, &out), KF_OK);
  assert_int_equal(d.calls, 1);
  assert_true(km_smtp_deadline(s) == INT64_MAX);
  /* A DATA phase that takes too long is answered with 421 4.4.2. */
  km_smtp_set_now(s, 6000);
  const char *again = "MAIL FROM:<a@b.test>\r\nRCPT TO:<x@y.test>\r\nDATA\r\npartial";
  assert_int_equal(km_smtp_feed(s, again, strlen(again), &out), KF_OK);
  assert_true(km_smtp_deadline(s) == 11000);
  kf_buf_reset(&out);
  assert_int_equal(km_smtp_deadline_passed(s, &out), KF_OK);
  assert_string_equal(out.data, "421 4.4.2 mx.test DATA took too long, closing connection\r\n");
  assert_true(km_smtp_closed(s));
  assert_true(km_smtp_deadline(s) == INT64_MAX);
  assert_int_equal(d.calls, 1);
  km_smtp_free(s);
  kf_buf_release(&out);
}

/*
 * Fail every allocation in turn during a whole dialogue: the engine must never
 * crash or leak (ASan checks the latter), and a message is either delivered
 * whole or answered with an error.
 */
static void test_alloc_failures(void **state) {
  (void)state;
  const char *dialogue = "EHLO c\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<1@y.test>\r\n"
                         "RCPT TO:<2@y.test>\r\nRCPT TO:<3@y.test>\r\nRCPT TO:<4@y.test>\r\n"
                         "RCPT TO:<5@y.test>\r\nDATA\r\nSubject: x\r\n\r\nbody\r\n.\r\nQUIT\r\n";
  bool completed_clean = false;
  for (unsigned long n = 1; n < 200 && !completed_clean; n++) {
    delivery d;
    memset(&d, 0, sizeof(d));
    kf_buf out;
    kf_buf_init(&out, 1 << 16);
    km_smtp_config cfg;
    km_smtp_config_init(&cfg);
    km_smtp *s = NULL;
    kf_alloc_fail_at(n);
    kf_rc rc = km_smtp_new(&cfg, test_deliver, &d, &s);
    if (rc == KF_OK) {
      rc = km_smtp_feed(s, dialogue, strlen(dialogue), &out);
      if (rc != KF_OK)
        assert_true(km_smtp_closed(s));
      if (out.data != NULL && strstr(out.data, "250 2.0.0 OK: queued") != NULL) {
        assert_int_equal(d.calls, 1);
        assert_string_equal(d.data, "Subject: x\r\n\r\nbody\r\n");
      }
      km_smtp_free(s);
    } else {
      assert_int_equal(rc, KF_ERR_NOMEM);
      assert_null(s);
    }
    completed_clean = !kf_alloc_failed();
    kf_alloc_fail_at(0);
    if (completed_clean) {
      assert_int_equal(d.calls, 1);
      assert_int_equal(d.rcpts_len, 5);
    }
    kf_buf_release(&out);
  }
  assert_true(completed_clean);
}

/* ---- The listener, over loopback. ---- */

static int connect_loopback(unsigned port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  assert_true(fd >= 0);
  struct sockaddr_in sin;
  memset(&sin, 0, sizeof(sin));
  sin.sin_family = AF_INET;
  sin.sin_port = htons((uint16_t)port);
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
  return fd;
}

/*
 * Read into buf until it contains want (or, with want NULL, until EOF). poll's
 * timeout is only a safety limit so a broken build fails instead of hanging.
 */
static void read_until(int fd, char *buf, size_t size, const char *want) {
  size_t len = strlen(buf);
  while (want == NULL || strstr(buf, want) == NULL) {
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    assert_int_equal(poll(&pfd, 1, 20000), 1);
    assert_true(len + 1 < size);
    ssize_t n = recv(fd, buf + len, size - len - 1, 0);
    assert_true(n >= 0);
    if (n == 0)
      break;
    len += (size_t)n;
    buf[len] = '\0';
  }
  if (want != NULL && strstr(buf, want) == NULL) {
    print_error("wanted %s, got %s\n", want, buf);
    fail();
  }
}

static void send_text(int fd, const char *text) {
  size_t len = strlen(text);
  assert_int_equal(send(fd, text, len, 0), (ssize_t)len);
}

static void test_listener_dialogue_and_stop(void **state) {
  (void)state;
  delivery d;
  memset(&d, 0, sizeof(d));
  km_listener_config cfg;
  km_listener_config_init(&cfg);
  cfg.smtp.hostname = "mx.test";
  cfg.max_sessions = 2;
  km_listener *l = NULL;
  kf_err err;
  kf_err_init(&err);
  assert_int_equal(km_listener_new(&cfg, test_deliver, NULL, &d, &l, &err), KF_OK);
  assert_int_equal(km_listener_start(l, &err), KF_OK);
  unsigned port = km_listener_port(l);
  assert_true(port > 0);

  /* A pipelined dialogue that ends with QUIT, so the server closes. */
  int fd = connect_loopback(port);
  char buf[8192] = "";
  read_until(fd, buf, sizeof(buf), "220 mx.test");
  send_text(fd, "EHLO c\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<x@y.test>\r\nDATA\r\n"
                "Subject: s\r\n\r\n..body\r\n.\r\nQUIT\r\n");
  read_until(fd, buf, sizeof(buf), NULL);
  assert_non_null(strstr(buf, "250 2.0.0 OK: queued as 1\r\n221 2.0.0"));
  close(fd);
  assert_int_equal(d.calls, 1);
  assert_string_equal(d.data, "Subject: s\r\n\r\n.body\r\n");

  /* Two sessions fill the cap; a third is refused with 421 4.3.2. */
  int a = connect_loopback(port);
  int b = connect_loopback(port);
  char abuf[512] = "", bbuf[512] = "", cbuf[512] = "";
  read_until(a, abuf, sizeof(abuf), "220 ");
  read_until(b, bbuf, sizeof(bbuf), "220 ");
  int c = connect_loopback(port);
  read_until(c, cbuf, sizeof(cbuf), NULL);
  assert_string_equal(cbuf, "421 4.3.2 mx.test Too many sessions, try again later\r\n");
  close(c);

  /* Stopping ends open sessions with 421 4.3.2, even one in the middle of DATA. */
  send_text(a, "EHLO c\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<x@y.test>\r\nDATA\r\npartial\r\n");
  read_until(a, abuf, sizeof(abuf), "354 ");
  km_listener_stop(l);
  read_until(a, abuf, sizeof(abuf), NULL);
  read_until(b, bbuf, sizeof(bbuf), NULL);
  assert_non_null(strstr(abuf, "421 4.3.2 mx.test Service shutting down\r\n"));
  assert_non_null(strstr(bbuf, "421 4.3.2 mx.test Service shutting down\r\n"));
  assert_int_equal(d.calls, 1);
  close(a);
  close(b);
  km_listener_free(l);
}

/*
 * A peer that sends one byte at a time and never ends its line (or its DATA)
 * is cut off by the deadline although it is never idle. Each byte goes out
 * only after poll saw no reply within 20 ms, so the pace comes from waiting
 * for the server's answer, not from sleeping; the idle timeout (60 s) is far
 * away, so only the deadline can produce the 421.
 */
static void trickle_until_421(int fd, const char *expected) {
  char buf[4096] = "";
  size_t len = 0;
  int sent = 0;
  while (strstr(buf, "421 ") == NULL) {
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    int r = poll(&pfd, 1, 20);
    assert_true(r >= 0);
    if (r == 0) {
      assert_true(sent < 2000); /* About 40 s: the deadline never came. */
      assert_int_equal(send(fd, "x", 1, MSG_NOSIGNAL), 1);
      sent++;
      continue;
    }
    assert_true(len + 1 < sizeof(buf));
    ssize_t n = recv(fd, buf + len, sizeof(buf) - len - 1, 0);
    assert_true(n > 0);
    len += (size_t)n;
    buf[len] = '\0';
  }
  if (strstr(buf, expected) == NULL) {
    print_error("wanted %s, got %s\n", expected, buf);
    fail();
  }
  /* Several bytes went out, so the session was never idle for long. */
  assert_true(sent > 1);
  /*
   * Then the server closes. Bytes this client trickled in after the 421 are
   * unread when it does, so the kernel may answer them with a reset: an
   * ECONNRESET is the close too, not a failure.
   */
  for (;;) {
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    assert_int_equal(poll(&pfd, 1, 20000), 1);
    char sink[512];
    ssize_t n = recv(fd, sink, sizeof sink, 0);
    if (n == 0 || (n < 0 && errno == ECONNRESET))
      break;
    assert_true(n > 0);
  }
}

static void test_listener_deadlines(void **state) {
  (void)state;
  delivery d;
  memset(&d, 0, sizeof(d));
  km_listener_config cfg;
  km_listener_config_init(&cfg);
  cfg.smtp.hostname = "mx.test";
  cfg.timeout_s = 60;
  cfg.smtp.command_timeout_ms = 200;
  cfg.smtp.data_timeout_ms = 300;
  km_listener *l = NULL;
  kf_err err;
  kf_err_init(&err);
  assert_int_equal(km_listener_new(&cfg, test_deliver, NULL, &d, &l, &err), KF_OK);
  assert_int_equal(km_listener_start(l, &err), KF_OK);
  unsigned port = km_listener_port(l);

  int fd = connect_loopback(port);
  char buf[1024] = "";
  read_until(fd, buf, sizeof(buf), "220 mx.test");
  send_text(fd, "NOOP ");
  trickle_until_421(fd, "421 4.4.2 mx.test Command line took too long, closing connection\r\n");
  close(fd);

  fd = connect_loopback(port);
  buf[0] = '\0';
  read_until(fd, buf, sizeof(buf), "220 mx.test");
  send_text(fd, "EHLO c\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<x@y.test>\r\nDATA\r\n");
  read_until(fd, buf, sizeof(buf), "354 ");
  trickle_until_421(fd, "421 4.4.2 mx.test DATA took too long, closing connection\r\n");
  close(fd);
  assert_int_equal(d.calls, 0);
  km_listener_free(l);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_full_dialogue),
      cmocka_unit_test(test_helo_and_null_sender),
      cmocka_unit_test(test_pipelining),
      cmocka_unit_test(test_byte_by_byte),
      cmocka_unit_test(test_any_split),
      cmocka_unit_test(test_verdict_later),
      cmocka_unit_test(test_dot_unstuffing),
      cmocka_unit_test(test_command_line_too_long),
      cmocka_unit_test(test_text_line_too_long),
      cmocka_unit_test(test_text_line_dot_boundary),
      cmocka_unit_test(test_message_too_big),
      cmocka_unit_test(test_too_many_recipients),
      cmocka_unit_test(test_bad_sequences),
      cmocka_unit_test(test_syntax_errors),
      cmocka_unit_test(test_rset),
      cmocka_unit_test(test_vrfy_noop),
      cmocka_unit_test(test_bare_lf_rejected),
      cmocka_unit_test(test_deliver_failure),
      cmocka_unit_test(test_error_count_disconnect),
      cmocka_unit_test(test_timeout_and_shutdown),
      cmocka_unit_test(test_many_recipients_pipelined),
      cmocka_unit_test(test_bad_addresses_do_not_disconnect),
      cmocka_unit_test(test_store_full),
      cmocka_unit_test(test_deadlines),
      cmocka_unit_test(test_alloc_failures),
      cmocka_unit_test(test_listener_dialogue_and_stop),
      cmocka_unit_test(test_listener_deadlines),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
