/*
 * kr_tap.c: the run as TAP, for harnesses that read the Test Anything
 * Protocol (prove, tappy, node-tap, GitLab's and Jenkins' TAP plugins).
 *
 * One test point per scenario in run order, so a test number names the same
 * scenario as the JSON report's index plus one. A failure or an error carries
 * a YAML diagnostics block with what the console's failure view says first:
 * where, why, the failing step and its expects that did not hold, and the
 * request line and the answer of the step's last exchange; the whole trace is
 * the business of the HTML, JUnit and JSON reports. Every string in YAML is a
 * double-quoted scalar with only the escapes TAP::Parser's YAMLish reader
 * knows (kr_quote), so any name, message or byte sequence reads back as the
 * cleaned text. The document is built in a capped kf_buf and written
 * atomically.
 */
#include <assert.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "kf/buf.h"
#include "kf/error.h"
#include "kf/run_result.h"
#include "kr/report.h"
#include "kr_priv.h"
#include "kr_summary.h"

/* The TAP description of a point: '#' and '\' escaped, line breaks as blanks. */
static kf_rc kr_tap_desc_sink(void *ctx, const char *data, size_t len) {
  kf_buf *out = ctx;
  size_t start = 0;
  for (size_t i = 0; i < len; i++) {
    char c = data[i];
    if (c != '#' && c != '\\' && c != '\n' && c != '\t')
      continue;
    KR_TRY(kf_buf_append(out, data + start, i - start));
    KR_TRY(c == '#'    ? kf_buf_append_str(out, "\\#")
           : c == '\\' ? kf_buf_append_str(out, "\\\\")
                       : kf_buf_append_byte(out, ' '));
    start = i + 1;
  }
  return kf_buf_append(out, data + start, len - start);
}

static kf_rc kr_tap_desc(kf_buf *out, const char *s) {
  s = s != NULL ? s : "";
  return kr_text_clean_to(s, strlen(s), KR_CLEAN_TERMINAL, kr_tap_desc_sink, out);
}

/* "<indent>key: "quoted value"\n". */
static kf_rc kr_tap_yaml(kf_buf *out, const char *indent, const char *key, const char *value) {
  KR_TRY(kf_buf_appendf(out, "%s%s: ", indent, key));
  KR_TRY(kr_quote(out, value, KR_QUOTE_YAML));
  return kf_buf_append_byte(out, '\n');
}

/* "<indent>key: "file:line"\n". */
static kf_rc kr_tap_yaml_at(kf_buf *out, const char *indent, const char *key, const char *file,
                            unsigned line) {
  KR_TRY(kf_buf_appendf(out, "%s%s: ", indent, key));
  kf_buf where;
  kf_buf_init(&where, KR_TEXT_IN_MAX);
  kf_rc rc = kf_buf_appendf(&where, "%s:%u", file != NULL ? file : "?", line);
  if (rc == KF_OK)
    rc = kr_quote_n(out, where.data, where.len, KR_QUOTE_YAML);
  kf_buf_release(&where);
  KR_TRY(rc);
  return kf_buf_append_byte(out, '\n');
}

/* The expects of st that did not hold, as a list of small maps; said is the block's message. */
static kf_rc kr_tap_expects(kf_buf *out, const kf_step_result *st, const char *said) {
  bool any = false;
  for (size_t i = 0; i < st->asserts_len; i++) {
    const kf_assert_result *a = &st->asserts[i];
    if (a->status == KF_STATUS_PASS)
      continue;
    if (!any)
      KR_TRY(kf_buf_append_str(out, "  expects:\n"));
    any = true;
    KR_TRY(kr_tap_yaml(out, "    - ", "expect", a->source != NULL ? a->source : "expect"));
    KR_TRY(kf_buf_appendf(out, "      status: %s\n", kf_status_name(a->status)));
    KR_TRY(kr_tap_yaml_at(out, "      ", "at", a->file, a->line));
    /* A failed expect always says both, as the console does. */
    if (a->expected != NULL || a->status == KF_STATUS_FAIL)
      KR_TRY(
          kr_tap_yaml(out, "      ", "expected",
                      a->expected != NULL ? a->expected : "(no value: what the expect line says)"));
    if (a->actual != NULL || a->status == KF_STATUS_FAIL)
      KR_TRY(
          kr_tap_yaml(out, "      ", "actual", a->actual != NULL ? a->actual : "(not recorded)"));
    /* The block's message is usually this expect's; say it once. */
    if (a->message != NULL && (said == NULL || strcmp(a->message, said) != 0))
      KR_TRY(kr_tap_yaml(out, "      ", "message", a->message));
  }
  return KF_OK;
}

/* The first line of one side of st's last exchange, as "key: ...". */
static kf_rc kr_tap_exchange_line(kf_buf *out, const kf_exchange *ex, bool request) {
  kf_buf text;
  kf_buf_init(&text, KR_TEXT_IN_MAX);
  kf_rc rc = kr_exchange_text(ex, request, &text);
  if (rc == KF_OK || rc == KF_ERR_LIMIT) {
    const char *s = text.data != NULL ? text.data : "";
    const char *nl = memchr(s, '\n', text.len);
    size_t n = nl != NULL ? (size_t)(nl - s) : text.len;
    if (n > 0 && s[n - 1] == '\r')
      n--;
    rc = kf_buf_appendf(out, "  %s: ", request ? "request" : "response");
    if (rc == KF_OK)
      rc = kr_quote_n(out, s, n, KR_QUOTE_YAML);
    if (rc == KF_OK)
      rc = kf_buf_append_byte(out, '\n');
  }
  kf_buf_release(&text);
  return rc;
}

/* The YAML block of a failed or errored scenario. */
static kf_rc kr_tap_diagnostics(kf_buf *out, const kf_scenario_result *sc) {
  kr_failure where;
  kr_failure_locate(sc, &where);
  KR_TRY(kf_buf_append_str(out, "  ---\n"));
  KR_TRY(kr_tap_yaml(out, "  ", "message",
                     where.message != NULL ? where.message : kf_status_name(sc->status)));
  KR_TRY(kf_buf_appendf(out, "  severity: %s\n", kf_status_name(sc->status)));
  KR_TRY(kf_buf_append_str(out, "  at:\n"));
  KR_TRY(kr_tap_yaml(out, "    ", "file", where.file));
  KR_TRY(kf_buf_appendf(out, "    line: %u\n", where.line));
  KR_TRY(kr_tap_yaml_at(out, "  ", "scenario", sc->file, sc->line));
  if (sc->covers_len > 0) {
    KR_TRY(kf_buf_append_str(out, "  covers:\n"));
    for (size_t i = 0; i < sc->covers_len; i++) {
      KR_TRY(kf_buf_append_str(out, "    - "));
      KR_TRY(kr_quote(out, sc->covers[i], KR_QUOTE_YAML));
      KR_TRY(kf_buf_append_byte(out, '\n'));
    }
  }
  const kf_step_result *st = where.step;
  if (st != NULL) {
    KR_TRY(kr_tap_yaml(out, "  ", "step", st->label));
    KR_TRY(kr_tap_yaml_at(out, "  ", "step_at", st->file, st->line));
    KR_TRY(kr_tap_expects(out, st, where.message));
    if (st->exchanges_len > 0) {
      const kf_exchange *ex = &st->exchanges[st->exchanges_len - 1];
      KR_TRY(kr_tap_exchange_line(out, ex, true));
      KR_TRY(kr_tap_exchange_line(out, ex, false));
    }
  }
  return kf_buf_append_str(out, "  ...\n");
}

/* One test point, and its diagnostics when it did not pass. */
static kf_rc kr_tap_point(kf_buf *out, const kf_scenario_result *sc, size_t n) {
  bool bad = sc->status == KF_STATUS_FAIL || sc->status == KF_STATUS_ERROR;
  KR_TRY(kf_buf_appendf(out, "%sok %zu - ", bad ? "not " : "", n));
  KR_TRY(kr_tap_desc(out, sc->name));
  if (sc->status == KF_STATUS_SKIP) {
    KR_TRY(kf_buf_append_str(out, " # SKIP "));
    KR_TRY(
        kr_tap_desc(out, sc->message != NULL ? sc->message : kr_skip_reason_words(sc->skip_kind)));
  }
  KR_TRY(kf_buf_append_byte(out, '\n'));
  return bad ? kr_tap_diagnostics(out, sc) : KF_OK;
}

/* The closing comments: each requirement's verdict, then the counts. */
static kf_rc kr_tap_footer(kf_buf *out, const kf_run_result *run) {
  for (size_t i = 0; i < run->requirements_len; i++) {
    const kf_requirement *rq = &run->requirements[i];
    size_t n = 0;
    kf_req_status s = kf_run_result_requirement_status(run, rq->id != NULL ? rq->id : "", &n);
    KR_TRY(kf_buf_append_str(out, "# requirement "));
    KR_TRY(kr_tap_desc(out, rq->id));
    KR_TRY(kf_buf_appendf(out, " %s: ", kf_req_status_name(s)));
    KR_TRY(kr_tap_desc(out, rq->title));
    KR_TRY(kf_buf_append_byte(out, '\n'));
  }
  kf_run_counts c;
  kf_run_result_counts(run, &c);
  return kf_buf_appendf(out, "# %zu passed, %zu failed, %zu skipped (%zu of the failed: errors)\n",
                        c.passed, c.failed + c.errors, c.skipped, c.errors);
}

/* The version line, the plan and the run's line: what comes before the test points. */
static kf_rc kr_tap_head(kf_buf *out, const kf_run_result *run, int version) {
  KR_TRY(kf_buf_appendf(out, "TAP version %d\n", version));
  if (run->scenarios_len == 0)
    KR_TRY(kf_buf_append_str(out, "1..0 # SKIP no scenario was selected\n"));
  else
    KR_TRY(kf_buf_appendf(out, "1..%zu\n", run->scenarios_len));
  KR_TRY(kf_buf_append_str(out, "# target "));
  KR_TRY(kr_tap_desc(out, run->target));
  KR_TRY(kf_buf_append_str(out, " ("));
  KR_TRY(kr_tap_desc(out, run->base_url));
  return kf_buf_appendf(out, "), seed %" PRIu64 ", run id %016" PRIx64 "\n", run->seed,
                        run->run_id);
}

/* A test point as the stream hands it over: numbered from 1. */
static kf_rc kr_tap_stream_scenario(kf_buf *out, const kf_scenario_result *sc, size_t index) {
  return kr_tap_point(out, sc, index + 1);
}

/* The head, the streamed test points, the footer. */
static kf_rc kr_tap_finish_version(kr_stream *s, const kf_run_result *run, kr_atomic *f,
                                   int version, kf_err *err) {
  kf_buf out;
  kf_buf_init(&out, KR_REPORT_MAX);
  kf_rc rc = kr_tap_head(&out, run, version);
  if (rc == KF_OK)
    rc = kr_atomic_write(f, out.data, out.len, err);
  else
    rc = kf_err_set(err, rc, "cannot write the TAP report %s: %s", f->path, kf_rc_name(rc));
  if (rc == KF_OK)
    rc = kr_stream_copy(s, f, err);
  kf_buf_reset(&out);
  if (rc == KF_OK && (rc = kr_tap_footer(&out, run)) != KF_OK)
    rc = kf_err_set(err, rc, "cannot write the TAP report %s: %s", f->path, kf_rc_name(rc));
  else if (rc == KF_OK)
    rc = kr_atomic_write(f, out.data, out.len, err);
  kf_buf_release(&out);
  return rc;
}

static kf_rc kr_tap14_finish(kr_stream *s, const kf_run_result *run, kr_atomic *f, kf_err *err) {
  return kr_tap_finish_version(s, run, f, 14, err);
}

static kf_rc kr_tap13_finish(kr_stream *s, const kf_run_result *run, kr_atomic *f, kf_err *err) {
  return kr_tap_finish_version(s, run, f, 13, err);
}

const kr_stream_ops kr_tap_stream = {
    .format = kr_tap_write, .scenario = kr_tap_stream_scenario, .finish = kr_tap14_finish};
const kr_stream_ops kr_tap13_stream = {
    .format = kr_tap13_write, .scenario = kr_tap_stream_scenario, .finish = kr_tap13_finish};

kf_rc kr_tap_write(const kf_run_result *run, const char *path, kf_err *err) {
  return kr_stream_write_run(kr_tap_write, run, path, err);
}

kf_rc kr_tap13_write(const kf_run_result *run, const char *path, kf_err *err) {
  return kr_stream_write_run(kr_tap13_write, run, path, err);
}
