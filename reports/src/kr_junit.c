/*
 * kr_junit.c: JUnit XML as Jenkins and GitLab read it, written with libxml2's
 * xmlTextWriter so that every escape is libxml2's business, not ours.
 *
 * Layout: one <testsuite> per requirement area (the prefix of a scenario's
 * first covered ID), one <testcase> per scenario. A failed expectation is a
 * <failure>, a scenario that could not be carried out is an <error>, and a
 * scenario the target cannot support is <skipped>. Only what junit-10.xsd
 * (Jenkins' xunit plugin; tests/reports/junit-10.xsd) allows is written:
 * where a scenario is written and what it covers go into text and suite
 * properties, never into attributes the schema lacks. Every string passes
 * through kr_text_clean with KR_CLEAN_XML first, because XML 1.0 cannot carry
 * most control characters at all, not even as character references.
 */
#include <assert.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <libxml/globals.h>
#include <libxml/parser.h>
#include <libxml/xmlIO.h>
#include <libxml/xmlerror.h>
#include <libxml/xmlwriter.h>

#include "kf/buf.h"
#include "kf/error.h"
#include "kf/run_result.h"
#include "kf/str.h"
#include "kf/timeutil.h"
#include "kr/report.h"
#include "kr_priv.h"

/*
 * Everything one JUnit write needs; lives on the stack of the stream's
 * scenario or finish function. Output goes to out (a scenario's bytes) or,
 * when file is set, straight into the report's file (the finish).
 */
typedef struct kr_junit {
  xmlTextWriterPtr w;
  kf_buf out;        /* A scenario's bytes, capped at KR_REPORT_MAX. */
  kr_atomic *file;   /* The report being written, or NULL. */
  kf_err *file_err;  /* Why writing to file failed. */
  bool discard;      /* Drop what the writer gives (the context before a scenario). */
  kr_stream *stream; /* The finish's stream: the testcases' bytes. */
  kf_rc out_rc;      /* Why the output callback refused data, if it did. */
  kf_buf scratch;    /* Cleaned copy of the string being written. */
  char timestamp[KF_TIME_ISO_MAX];
  xmlStructuredErrorFunc saved_handler; /* libxml2's, until kr_junit_close. */
  void *saved_ctx;
} kr_junit;

/* libxml2 output callback: collect the bytes in j->out or write them to j->file. */
static int kr_junit_out_write(void *ctx, const char *data, int len) {
  kr_junit *j = ctx;
  assert(len >= 0);
  if (j->discard)
    return len;
  kf_rc rc = j->file != NULL ? kr_atomic_write(j->file, data, (size_t)len, j->file_err)
                             : kf_buf_append(&j->out, data, (size_t)len);
  if (rc != KF_OK) {
    j->out_rc = rc;
    return -1;
  }
  return len;
}

static int kr_junit_out_close(void *ctx) {
  (void)ctx;
  return 0;
}

/* Map a libxml2 writer result to kf_rc; libxml2 fails on memory or on our callback. */
static kf_rc kr_junit_check(const kr_junit *j, int r) {
  if (r >= 0)
    return KF_OK;
  return j->out_rc != KF_OK ? j->out_rc : KF_ERR_NOMEM;
}

/* Clean the len bytes at s for XML into j->scratch and return the NUL-terminated result. */
static kf_rc kr_junit_clean(kr_junit *j, const char *s, size_t len, const xmlChar **out) {
  kf_buf_reset(&j->scratch);
  KR_TRY(kr_text_clean_n(&j->scratch, s, len, KR_CLEAN_XML));
  *out = BAD_CAST(j->scratch.data != NULL ? j->scratch.data : "");
  return KF_OK;
}

static kf_rc kr_junit_attr(kr_junit *j, const char *name, const char *value) {
  const xmlChar *clean;
  value = value != NULL ? value : "";
  KR_TRY(kr_junit_clean(j, value, strlen(value), &clean));
  return kr_junit_check(j, xmlTextWriterWriteAttribute(j->w, BAD_CAST name, clean));
}

static kf_rc kr_junit_attr_size(kr_junit *j, const char *name, size_t value) {
  char num[32];
  KR_TRY(kf_str_format(num, sizeof num, "%zu", value));
  return kr_junit_check(j, xmlTextWriterWriteAttribute(j->w, BAD_CAST name, BAD_CAST num));
}

static kf_rc kr_junit_attr_time(kr_junit *j, int64_t ms) {
  char secs[32];
  KR_TRY(kr_format_seconds(ms, secs, sizeof secs));
  return kr_junit_check(j, xmlTextWriterWriteAttribute(j->w, BAD_CAST "time", BAD_CAST secs));
}

/* Write the len bytes at s, cleaned, as element text. */
static kf_rc kr_junit_textn(kr_junit *j, const char *s, size_t len) {
  const xmlChar *clean;
  KR_TRY(kr_junit_clean(j, s, len, &clean));
  return kr_junit_check(j, xmlTextWriterWriteString(j->w, clean));
}

/* kr_junit_textn for a NUL-terminated s; NULL writes nothing. */
static kf_rc kr_junit_text(kr_junit *j, const char *s) {
  return s != NULL ? kr_junit_textn(j, s, strlen(s)) : KF_OK;
}

static kf_rc kr_junit_start(kr_junit *j, const char *element) {
  return kr_junit_check(j, xmlTextWriterStartElement(j->w, BAD_CAST element));
}

static kf_rc kr_junit_end(kr_junit *j) {
  return kr_junit_check(j, xmlTextWriterEndElement(j->w));
}

static kf_rc kr_junit_property(kr_junit *j, const char *name, const char *value) {
  KR_TRY(kr_junit_start(j, "property"));
  KR_TRY(kr_junit_attr(j, "name", name));
  KR_TRY(kr_junit_attr(j, "value", value));
  return kr_junit_end(j);
}

/* A line number as text, for "file:line" in element text. */
static kf_rc kr_junit_text_line(kr_junit *j, const char *prefix, unsigned line,
                                const char *suffix) {
  char num[48];
  KR_TRY(kf_str_format(num, sizeof num, "%s%u%s", prefix, line, suffix));
  return kr_junit_text(j, num);
}

/*
 * kr_piece_fn: a failed assert as "[fail] text", a request or response
 * under "--- request", anything else as a line.
 */
static kf_rc kr_junit_piece(void *ctx, const kr_piece *piece) {
  kr_junit *j = ctx;
  if (piece->kind == KR_PIECE_ASSERT) {
    char word[32];
    KR_TRY(kf_str_format(word, sizeof word, "[%s] ", kf_status_name(piece->status)));
    KR_TRY(kr_junit_text(j, word));
  } else if (piece->kind == KR_PIECE_REQUEST || piece->kind == KR_PIECE_RESPONSE) {
    KR_TRY(kr_junit_text(j, "--- "));
    KR_TRY(kr_junit_text(j, kr_piece_name(piece->kind)));
    KR_TRY(kr_junit_text(j, "\n"));
  }
  KR_TRY(kr_junit_textn(j, piece->text, piece->len));
  return kr_junit_text(j, "\n");
}

/* The asserts of st that did not pass, its exchanges and its artifacts. */
static kf_rc kr_junit_details(kr_junit *j, const kf_step_result *st) {
  return kr_step_pieces(st, false, kr_junit_piece, j);
}

/* "step: label (file:line)" and the step's details. */
static kf_rc kr_junit_failed_step(kr_junit *j, const kf_step_result *st) {
  KR_TRY(kr_junit_text(j, "step: "));
  KR_TRY(kr_junit_text(j, st->label != NULL ? st->label : ""));
  KR_TRY(kr_junit_text(j, " ("));
  KR_TRY(kr_junit_text(j, st->file != NULL ? st->file : "?"));
  KR_TRY(kr_junit_text_line(j, ":", st->line, ")\n"));
  return kr_junit_details(j, st);
}

/* How a scenario outcome shows in its <testcase>, indexed by kf_status. */
typedef struct kr_junit_outcome {
  const char *element;  /* NULL: nothing (a pass). */
  const char *type;     /* The type attribute, or NULL for none. */
  const char *fallback; /* The message attribute when none was recorded. */
  bool details;         /* Whether the element text says where and what failed. */
} kr_junit_outcome;

static const kr_junit_outcome kr_junit_outcomes[] = {
    [KF_STATUS_PASS] = {NULL, NULL, NULL, false},
    [KF_STATUS_FAIL] = {"failure", "conformance", "failure", true},
    [KF_STATUS_ERROR] = {"error", "error", "error", true},
    [KF_STATUS_SKIP] = {"skipped", NULL, "skipped", false},
};
_Static_assert(sizeof kr_junit_outcomes / sizeof kr_junit_outcomes[0] == KR_STATUS_COUNT,
               "every kf_status has a JUnit outcome");

/* <failure>, <error> or <skipped>: the message attribute, then file:line, asserts and traces. */
static kf_rc kr_junit_outcome_write(kr_junit *j, const kf_scenario_result *sc) {
  if ((size_t)sc->status >= KR_STATUS_COUNT || kr_junit_outcomes[sc->status].element == NULL)
    return KF_OK;
  const kr_junit_outcome *o = &kr_junit_outcomes[sc->status];
  kr_failure where;
  kr_failure_locate(sc, &where);
  const char *message = where.message != NULL ? where.message : o->fallback;

  KR_TRY(kr_junit_start(j, o->element));
  KR_TRY(kr_junit_attr(j, "message", message));
  if (o->type != NULL)
    KR_TRY(kr_junit_attr(j, "type", o->type));
  if (o->details) {
    KR_TRY(kr_junit_text(j, where.file != NULL ? where.file : "?"));
    KR_TRY(kr_junit_text_line(j, ":", where.line, "\n"));
    KR_TRY(kr_junit_text(j, message));
    KR_TRY(kr_junit_text(j, "\n"));
    if (where.step != NULL)
      KR_TRY(kr_junit_failed_step(j, where.step));
  }
  return kr_junit_end(j);
}

/* "label: A B C\n" for a list of names; nothing for an empty list. */
static kf_rc kr_junit_name_line(kr_junit *j, const char *label, char *const *names, size_t n) {
  if (n == 0)
    return KF_OK;
  KR_TRY(kr_junit_text(j, label));
  for (size_t i = 0; i < n; i++) {
    KR_TRY(kr_junit_text(j, i > 0 ? " " : ": "));
    KR_TRY(kr_junit_text(j, names[i]));
  }
  return kr_junit_text(j, "\n");
}

/*
 * <system-out>: where the scenario is written and what it covers (junit-10.xsd
 * has no testcase attribute or property for them), then every step with its
 * outcome and traces.
 */
static kf_rc kr_junit_system_out(kr_junit *j, const kf_scenario_result *sc) {
  KR_TRY(kr_junit_start(j, "system-out"));
  KR_TRY(kr_junit_text(j, "scenario: "));
  KR_TRY(kr_junit_text(j, sc->file != NULL ? sc->file : "?"));
  KR_TRY(kr_junit_text_line(j, ":", sc->line, "\n"));
  KR_TRY(kr_junit_name_line(j, "covers", sc->covers, sc->covers_len));
  KR_TRY(kr_junit_name_line(j, "tags", sc->tags, sc->tags_len));
  for (size_t i = 0; i < sc->steps_len; i++) {
    const kf_step_result *st = &sc->steps[i];
    char head[64];
    KR_TRY(kf_str_format(head, sizeof head, "%zu. [%s] ", i + 1, kf_status_name(st->status)));
    KR_TRY(kr_junit_text(j, head));
    KR_TRY(kr_junit_text(j, st->label != NULL ? st->label : ""));
    KR_TRY(kr_junit_text(j, " ("));
    KR_TRY(kr_junit_text(j, st->file != NULL ? st->file : "?"));
    char tail[64];
    KR_TRY(kf_str_format(tail, sizeof tail, ":%u, %" PRId64 " ms)\n", st->line, st->duration_ms));
    KR_TRY(kr_junit_text(j, tail));
    if (st->message != NULL) {
      KR_TRY(kr_junit_text(j, st->message));
      KR_TRY(kr_junit_text(j, "\n"));
    }
    KR_TRY(kr_junit_details(j, st));
  }
  return kr_junit_end(j);
}

static kf_rc kr_junit_testcase(kr_junit *j, const kf_scenario_result *sc, const char *area) {
  char classname[KR_AREA_MAX + 16];
  KR_TRY(kf_str_format(classname, sizeof classname, "konform.%s", area));

  KR_TRY(kr_junit_start(j, "testcase"));
  KR_TRY(kr_junit_attr(j, "name", sc->name != NULL ? sc->name : ""));
  KR_TRY(kr_junit_attr(j, "classname", classname));
  KR_TRY(kr_junit_attr_time(j, sc->duration_ms));
  KR_TRY(kr_junit_outcome_write(j, sc));
  KR_TRY(kr_junit_system_out(j, sc));
  return kr_junit_end(j);
}

/* The run as properties of a suite, then each requirement of area with its verdict. */
static kf_rc kr_junit_suite_properties(kr_junit *j, const kf_run_result *run, const char *area) {
  KR_TRY(kr_junit_start(j, "properties"));
  KR_TRY(kr_junit_property(j, "target", run->target != NULL ? run->target : ""));
  KR_TRY(kr_junit_property(j, "base_url", run->base_url != NULL ? run->base_url : ""));
  char seed[32];
  KR_TRY(kf_str_format(seed, sizeof seed, "%" PRIu64, run->seed));
  KR_TRY(kr_junit_property(j, "seed", seed));
  /* The run id in the same 16-hex-digit form as --run-id takes, so a run can be replayed. */
  char run_id[32];
  KR_TRY(kf_str_format(run_id, sizeof run_id, "%016" PRIx64, run->run_id));
  KR_TRY(kr_junit_property(j, "run_id", run_id));
  for (size_t i = 0; i < run->requirements_len; i++) {
    const kf_requirement *rq = &run->requirements[i];
    if (strcmp(rq->area != NULL ? rq->area : "", area) != 0)
      continue;
    const char *id = rq->id != NULL ? rq->id : "";
    char name[KR_AREA_MAX + 96];
    /* An id too long for the name is cut; the JSON report keeps it whole. */
    (void)kf_str_format(name, sizeof name, "requirement %s", id);
    size_t n = 0;
    KR_TRY(kr_junit_property(j, name,
                             kf_req_status_name(kf_run_result_requirement_status(run, id, &n))));
  }
  return kr_junit_end(j);
}

/* One <testsuite> with every scenario of area; nothing if it has none. */
static kf_rc kr_junit_suite(kr_junit *j, const kf_run_result *run, const char *area) {
  kf_run_counts c;
  int64_t ms = 0;
  kr_area_scenarios(run, area, &c, &ms);
  if (c.total == 0)
    return KF_OK;

  KR_TRY(kr_junit_start(j, "testsuite"));
  KR_TRY(kr_junit_attr(j, "name", area));
  KR_TRY(kr_junit_attr_size(j, "tests", c.total));
  KR_TRY(kr_junit_attr_size(j, "failures", c.failed));
  KR_TRY(kr_junit_attr_size(j, "errors", c.errors));
  KR_TRY(kr_junit_attr_size(j, "skipped", c.skipped));
  KR_TRY(kr_junit_attr_time(j, ms));
  KR_TRY(kr_junit_attr(j, "timestamp", j->timestamp));
  KR_TRY(kr_junit_suite_properties(j, run, area));

  /*
   * The testcases are the stream's bytes, written with the writer in the
   * same state (kr_junit_context), so they go straight into the file between
   * what the writer has given so far and the end of the suite.
   */
  KR_TRY(kr_junit_check(j, xmlTextWriterFlush(j->w)));
  for (size_t i = 0; i < run->scenarios_len; i++) {
    if (kr_scenario_in_area(&run->scenarios[i], area))
      KR_TRY(kr_stream_copy_one(j->stream, j->file, i, j->file_err));
  }
  return kr_junit_end(j);
}

/* Everything kr_junit_suite needs, as one kr_area_fn context. */
typedef struct kr_junit_walk {
  kr_junit *j;
  const kf_run_result *run;
} kr_junit_walk;

static kf_rc kr_junit_area_suite(void *ctx, const char *area) {
  kr_junit_walk *w = ctx;
  return kr_junit_suite(w->j, w->run, area);
}

/* The writer's settings and the XML declaration: how every document starts. */
static kf_rc kr_junit_begin(kr_junit *j) {
  KR_TRY(kr_junit_check(j, xmlTextWriterSetIndent(j->w, 1)));
  KR_TRY(kr_junit_check(j, xmlTextWriterSetIndentString(j->w, BAD_CAST "  ")));
  return kr_junit_check(j, xmlTextWriterStartDocument(j->w, NULL, "UTF-8", NULL));
}

/*
 * Bring a fresh writer, its output discarded, into the state in which the
 * document writes a testcase: inside <testsuites> and <testsuite>, after
 * the suite's <properties> ended. libxml2 indents by that state alone (the
 * depth, and that an element just ended), so a testcase written next has
 * the bytes it has in the whole document.
 */
static kf_rc kr_junit_context(kr_junit *j) {
  j->discard = true;
  KR_TRY(kr_junit_begin(j));
  KR_TRY(kr_junit_start(j, "testsuites"));
  KR_TRY(kr_junit_start(j, "testsuite"));
  KR_TRY(kr_junit_start(j, "properties"));
  KR_TRY(kr_junit_end(j));
  KR_TRY(kr_junit_check(j, xmlTextWriterFlush(j->w)));
  j->discard = false;
  return KF_OK;
}

/*
 * The whole document; suites in catalogue area order, other areas after.
 * junit-10.xsd allows <testsuites> no skipped or timestamp; each suite has both.
 */
static kf_rc kr_junit_document(kr_junit *j, const kf_run_result *run) {
  kf_run_counts c;
  kf_run_result_counts(run, &c);

  KR_TRY(kr_junit_begin(j));
  KR_TRY(kr_junit_start(j, "testsuites"));
  KR_TRY(kr_junit_attr(j, "name", "konform"));
  KR_TRY(kr_junit_attr_size(j, "tests", c.total));
  KR_TRY(kr_junit_attr_size(j, "failures", c.failed));
  KR_TRY(kr_junit_attr_size(j, "errors", c.errors));
  KR_TRY(kr_junit_attr_time(j, run->duration_ms));
  kr_junit_walk w = {.j = j, .run = run};
  KR_TRY(kr_areas_each(run, kr_junit_area_suite, &w));
  KR_TRY(kr_junit_end(j));
  KR_TRY(kr_junit_check(j, xmlTextWriterEndDocument(j->w)));
  return kr_junit_check(j, xmlTextWriterFlush(j->w));
}

/* Fill j->timestamp before writing. */
static kf_rc kr_junit_prepare(kr_junit *j, const kf_run_result *run) {
  /* JUnit's schema wants a local date-time without a zone; the value is UTC. */
  KR_TRY(kf_time_format_iso(run->started_at, j->timestamp, sizeof j->timestamp));
  size_t n = strlen(j->timestamp);
  if (n > 0 && j->timestamp[n - 1] == 'Z')
    j->timestamp[n - 1] = '\0';
  return KF_OK;
}

/*
 * Swallow libxml2's own error printing during a write: every failure is
 * already reported through kf_err, and the console belongs to the run.
 */
static void kr_junit_quiet(void *ctx, xmlErrorPtr error) {
  (void)ctx;
  (void)error;
}

/* A writer into j's output (kr_junit_out_write), libxml2's error printing off meanwhile. */
static kf_rc kr_junit_open(kr_junit *j) {
  xmlOutputBufferPtr ob = xmlOutputBufferCreateIO(kr_junit_out_write, kr_junit_out_close, j, NULL);
  if (ob == NULL)
    return KF_ERR_NOMEM;
  /* From here the writer owns ob and closes it in xmlFreeTextWriter. */
  j->w = xmlNewTextWriter(ob);
  if (j->w == NULL) {
    xmlOutputBufferClose(ob);
    return KF_ERR_NOMEM;
  }
  /* libxml2 keeps the handler per thread, so this touches only our thread. */
  j->saved_handler = xmlStructuredError;
  j->saved_ctx = xmlStructuredErrorContext;
  xmlSetStructuredErrorFunc(NULL, kr_junit_quiet);
  return KF_OK;
}

/* Free the writer of kr_junit_open (nothing it still holds is written) and restore the handler. */
static void kr_junit_close(kr_junit *j) {
  if (j->w == NULL)
    return;
  j->discard = true;
  xmlFreeTextWriter(j->w);
  j->w = NULL;
  xmlSetStructuredErrorFunc(j->saved_ctx, j->saved_handler);
}

/* One <testcase> as the document has it, classname from the scenario's own area. */
static kf_rc kr_junit_stream_scenario(kf_buf *out, const kf_scenario_result *sc, size_t index) {
  (void)index;
  kr_junit j;
  memset(&j, 0, sizeof j);
  kf_buf_init(&j.out, KR_REPORT_MAX);
  kf_buf_init(&j.scratch, KR_TEXT_OUT_MAX);
  j.out_rc = KF_OK;
  char area[KR_AREA_MAX];
  kf_rc rc = kr_junit_open(&j);
  if (rc == KF_OK)
    rc = kr_junit_context(&j);
  if (rc == KF_OK)
    rc = kr_junit_testcase(&j, sc, kr_scenario_area(sc, area, sizeof area));
  if (rc == KF_OK)
    rc = kr_junit_check(&j, xmlTextWriterFlush(j.w));
  kr_junit_close(&j);
  if (rc == KF_OK)
    rc = kf_buf_append(out, j.out.data != NULL ? j.out.data : "", j.out.len);
  kf_buf_release(&j.scratch);
  kf_buf_release(&j.out);
  return rc;
}

/* The document, written straight into f, with the streamed testcases in their suites. */
static kf_rc kr_junit_finish(kr_stream *s, const kf_run_result *run, kr_atomic *f, kf_err *err) {
  kr_junit j;
  memset(&j, 0, sizeof j);
  kf_buf_init(&j.out, KR_REPORT_MAX);
  kf_buf_init(&j.scratch, KR_TEXT_OUT_MAX);
  j.out_rc = KF_OK;
  j.file = f;
  j.stream = s;
  kf_err ferr;
  kf_err_init(&ferr);
  j.file_err = &ferr;
  kf_rc rc = kr_junit_prepare(&j, run);
  if (rc == KF_OK)
    rc = kr_junit_open(&j);
  if (rc == KF_OK)
    rc = kr_junit_document(&j, run);
  kr_junit_close(&j);
  if (rc != KF_OK && ferr.rc != KF_OK)
    *err = ferr;
  else if (rc != KF_OK)
    rc = kf_err_set(err, rc, "cannot write the JUnit report: %s", kf_rc_name(rc));
  kf_buf_release(&j.scratch);
  kf_buf_release(&j.out);
  return rc;
}

/*
 * The scenarios are written on the run's worker threads (one at a time), and
 * libxml2 2.9 wants its one-time set-up done before several threads use it.
 */
static void kr_junit_prepare_library(void) {
  xmlInitParser();
}

const kr_stream_ops kr_junit_stream = {.format = kr_junit_write,
                                       .prepare = kr_junit_prepare_library,
                                       .scenario = kr_junit_stream_scenario,
                                       .finish = kr_junit_finish};

kf_rc kr_junit_write(const kf_run_result *run, const char *path, kf_err *err) {
  return kr_stream_write_run(kr_junit_write, run, path, err);
}
