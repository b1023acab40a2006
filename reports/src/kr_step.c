/*
 * kr_step.c: what a step of the run result recorded, as the pieces of text a
 * person reads (see kr_priv.h), and where a scenario failed. Every writer
 * shows a step through kr_step_pieces, so the three reports cannot drift
 * apart in what they show; each only decides how a piece looks in its medium.
 */
#include <assert.h>
#include <inttypes.h>
#include <string.h>

#include "kr/report.h"
#include "kr_body.h"
#include "kr_priv.h"

const char *kr_piece_name(kr_piece_kind kind) {
  static const char *const names[] = {
#define KR_PIECE_NAME(name, text) [KR_PIECE_##name] = text,
      KR_PIECES(KR_PIECE_NAME)
#undef KR_PIECE_NAME
  };
  return (size_t)kind < sizeof names / sizeof names[0] ? names[kind] : "?";
}

static const char *kr_or(const char *s, const char *fallback) {
  return s != NULL ? s : fallback;
}

static kf_rc kr_exchange_message(const kf_message *msg, kf_buf *out) {
  for (size_t i = 0; i < msg->headers_len; i++)
    KR_TRY(kf_buf_appendf(out, "%s: %s\n", msg->headers[i].name, msg->headers[i].value));
  if (msg->body == NULL || msg->body_len == 0)
    return KF_OK;
  KR_TRY(kf_buf_append_byte(out, '\n'));
  KR_TRY(kr_body_append(msg, out));
  if (msg->body_cut)
    KR_TRY(kf_buf_appendf(out, "\n[... cut after %u bytes]", KF_MESSAGE_BODY_MAX));
  return KF_OK;
}

kf_rc kr_exchange_text(const kf_exchange *ex, bool request, kf_buf *out) {
  if (request) {
    KR_TRY(kf_buf_appendf(out, "%s %s\n", kr_or(ex->method, "?"), kr_or(ex->url, "?")));
    return kr_exchange_message(&ex->request, out);
  }
  if (ex->status == 0)
    return kf_buf_appendf(out, "no response: %s\n", kr_or(ex->error, "unknown"));
  if (ex->status_line != NULL)
    KR_TRY(kf_buf_appendf(out, "%s\n", ex->status_line));
  else
    KR_TRY(kf_buf_appendf(out, "HTTP %ld\n", ex->status));
  return kr_exchange_message(&ex->response, out);
}

/*
 * "expect ...  (file:line)" and the lines that explain its outcome. A failed
 * expect always says what was expected and what came, even when nothing was
 * recorded for one of them; the others say what they have.
 */
static kf_rc kr_assert_text(const kf_step_result *st, const kf_assert_result *a, kf_buf *out) {
  KR_TRY(
      kf_buf_appendf(out, "%s  (%s:%u)", kr_or(a->source, "expect"), kr_or(a->file, "?"), a->line));
  bool failed = a->status == KF_STATUS_FAIL;
  if (a->expected != NULL || failed)
    KR_TRY(kf_buf_appendf(out, "\n  expected: %s",
                          kr_or(a->expected, "(no value: what the expect line says)")));
  if (a->actual != NULL || failed)
    KR_TRY(kf_buf_appendf(out, "\n  actual:   %s", kr_or(a->actual, "(not recorded)")));
  /* The step's message is shown next to its details already; say it once. */
  if (a->message != NULL && (st->message == NULL || strcmp(a->message, st->message) != 0))
    KR_TRY(kf_buf_appendf(out, "\n  message:  %s", a->message));
  return KF_OK;
}

static kf_rc kr_exchange_title(const kf_step_result *st, size_t i, kf_buf *out) {
  const kf_exchange *ex = &st->exchanges[i];
  return kf_buf_appendf(out, "exchange %zu of %zu: %s, %" PRId64 " ms", i + 1, st->exchanges_len,
                        kr_or(ex->purpose, "request"), ex->duration_ms);
}

static kf_rc kr_artifact_title(const kf_artifact *a, kf_buf *out) {
  return kf_buf_appendf(out, "artifact: %s, %s, %zu bytes", kr_or(a->name, "?"),
                        kr_or(a->media_type, "application/octet-stream"), a->len);
}

/* Everything kr_step_pieces needs while it walks one step. */
typedef struct kr_walk {
  const kf_step_result *st;
  kr_piece_fn fn;
  void *ctx;
  kf_buf text;
} kr_walk;

/*
 * Hand the text built so far to fn as a piece of kind. build_rc is how the
 * building went: out of memory stops the walk, a text over the cap is shown
 * as far as it got.
 */
static kf_rc kr_walk_emit(kr_walk *w, kf_rc build_rc, kr_piece_kind kind, kf_status status) {
  if (build_rc == KF_ERR_NOMEM)
    return build_rc;
  kr_piece piece = {.kind = kind, .status = status, .text = "", .len = 0};
  if (w->text.data != NULL) {
    piece.text = w->text.data;
    piece.len = w->text.len;
    /* The writers decide how lines end; a trace's last line breaks (LF or CRLF) are not text. */
    while (piece.len > 0 && piece.text[piece.len - 1] == '\n') {
      piece.len--;
      if (piece.len > 0 && piece.text[piece.len - 1] == '\r')
        piece.len--;
    }
  }
  kf_rc rc = w->fn(w->ctx, &piece);
  kf_buf_reset(&w->text);
  return rc;
}

static kf_rc kr_walk_exchanges(kr_walk *w) {
  const kf_step_result *st = w->st;
  for (size_t i = 0; i < st->exchanges_len; i++) {
    const kf_exchange *ex = &st->exchanges[i];
    KR_TRY(kr_walk_emit(w, kr_exchange_title(st, i, &w->text), KR_PIECE_EXCHANGE, st->status));
    KR_TRY(kr_walk_emit(w, kr_exchange_text(ex, true, &w->text), KR_PIECE_REQUEST, st->status));
    KR_TRY(kr_walk_emit(w, kr_exchange_text(ex, false, &w->text), KR_PIECE_RESPONSE, st->status));
  }
  return KF_OK;
}

static kf_rc kr_walk_step(kr_walk *w, bool all_asserts) {
  const kf_step_result *st = w->st;
  for (size_t i = 0; i < st->asserts_len; i++) {
    const kf_assert_result *a = &st->asserts[i];
    if (all_asserts || a->status != KF_STATUS_PASS)
      KR_TRY(kr_walk_emit(w, kr_assert_text(st, a, &w->text), KR_PIECE_ASSERT, a->status));
  }
  KR_TRY(kr_walk_exchanges(w));
  for (size_t i = 0; i < st->artifacts_len; i++)
    KR_TRY(kr_walk_emit(w, kr_artifact_title(&st->artifacts[i], &w->text), KR_PIECE_ARTIFACT,
                        st->status));
  return KF_OK;
}

kf_rc kr_step_pieces(const kf_step_result *st, bool all_asserts, kr_piece_fn fn, void *ctx) {
  assert(st != NULL);
  assert(fn != NULL);
  kr_walk w = {.st = st, .fn = fn, .ctx = ctx};
  kf_buf_init(&w.text, KR_TEXT_IN_MAX);
  kf_rc rc = kr_walk_step(&w, all_asserts);
  kf_buf_release(&w.text);
  return rc;
}

void kr_failure_locate(const kf_scenario_result *sc, kr_failure *out) {
  out->step = NULL;
  for (size_t i = 0; i < sc->steps_len && out->step == NULL; i++) {
    if (sc->steps[i].status == sc->status)
      out->step = &sc->steps[i];
  }
  for (size_t i = 0; i < sc->steps_len && out->step == NULL; i++) {
    if (sc->steps[i].status == KF_STATUS_FAIL || sc->steps[i].status == KF_STATUS_ERROR)
      out->step = &sc->steps[i];
  }
  const kf_step_result *st = out->step;
  out->file = sc->fail_file;
  out->line = sc->fail_line;
  if (out->file == NULL && st != NULL) {
    out->file = st->file;
    out->line = st->fail_line != 0 ? st->fail_line : st->line;
  }
  if (out->file == NULL) {
    out->file = sc->file != NULL ? sc->file : "?";
    out->line = sc->line;
  }
  out->message = sc->message != NULL ? sc->message : (st != NULL ? st->message : NULL);
}

/* The writers that show every step of every scenario (see report.h). */
static const kr_write_fn kr_shows_passing[] = {kr_json_write, kr_junit_write, kr_html_write};

bool kr_format_shows_passing(kr_write_fn write) {
  for (size_t i = 0; i < sizeof kr_shows_passing / sizeof kr_shows_passing[0]; i++)
    if (kr_shows_passing[i] == write)
      return true;
  return false;
}
