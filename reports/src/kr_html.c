/*
 * kr_html.c: the run as one self-contained HTML page for people (QA leads),
 * opened from disk in any browser: inline style and script, no request to
 * anywhere, and a Content-Security-Policy that allows nothing but the page's
 * own script and style (by their SHA-256) and data: images.
 *
 * The run goes into the page as JSON in <script type="application/json">,
 * written by hand into one capped kf_buf (kr_quote escapes every string, '<'
 * '>' and '&' as \u escapes, so no scenario data can end the element or
 * start markup), and the inline script draws it with textContent only. This
 * keeps a 1,000-scenario report small (the bytes of the traces plus a few
 * per piece, no markup per line) and quick to open: a scenario's steps are
 * drawn when its entry is first opened, and only the first failures are open
 * at the start. What a step shows comes from kr_step_pieces like every other
 * writer; the page adds each artifact's content (text as it is, images
 * inline, other bytes as a download) and marks the expect at the failure's
 * line. Sorting (failures first), the requirement matrix and the filters are
 * the script's work.
 */
#include <assert.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <sodium.h>

#include "kf/buf.h"
#include "kf/error.h"
#include "kf/run_result.h"
#include "kf/str.h"
#include "kf/timeutil.h"
#include "kf/utf8.h"
#include "kf/version.h"
#include "kr/report.h"
#include "kr_priv.h"

static const char kr_html_style[] =
    ":root { --pass: #1a7f37; --fail: #cf222e; --error: #bc4c00; --skip: #6e7781; --nc: #9a6700; "
    "}\n"
    "body { font: 14px/1.45 system-ui, sans-serif; margin: 0 1.5rem 3rem; color: #1f2328; }\n"
    "h1 { font-size: 1.4rem; margin: 1rem 0 .2rem; }\n"
    "h2 { font-size: 1.15rem; margin: 1.4rem 0 .4rem; }\n"
    "h3 { font-size: 1rem; margin: .8rem 0 .2rem; }\n"
    ".badge { display: inline-block; min-width: 5.5em; text-align: center; border-radius: 3px;\n"
    "  color: #fff; font-weight: 600; font-size: 12px; margin-right: .4em; white-space: nowrap; }\n"
    ".badge.mini { min-width: 0; padding: 0 .3em; font-size: 10px; }\n"
    ".s-pass { background: var(--pass); } .s-fail { background: var(--fail); }\n"
    ".s-error { background: var(--error); } .s-skip { background: var(--skip); }\n"
    ".s-not-checked { background: var(--nc); }\n"
    "table { border-collapse: collapse; width: 100%; }\n"
    "th, td { border-bottom: 1px solid #d0d7de; padding: 2px 6px; text-align: left; "
    "vertical-align: top; }\n"
    "tr.chosen { background: #fff8c5; }\n"
    "button.req-id { font: 12px ui-monospace, monospace; cursor: pointer; }\n"
    "button.more { margin-left: .5em; font-size: 11px; cursor: pointer; }\n"
    "div.waited { font-weight: 600; margin: .15rem 0; }\n"
    "#filters { position: sticky; top: 0; z-index: 1; background: #f6f8fa; border: 1px solid "
    "#d0d7de;\n"
    "  padding: .4rem .6rem; display: flex; flex-wrap: wrap; gap: 1rem; align-items: center; }\n"
    "#filters fieldset { border: 0; margin: 0; padding: 0; }\n"
    "#filters legend { float: left; margin-right: .4rem; }\n"
    ".scenario { border: 1px solid #d0d7de; border-radius: 4px; margin: .35rem 0; }\n"
    ".scenario > summary { padding: .25rem .5rem; cursor: pointer; }\n"
    ".scenario[data-status=fail] > summary, .scenario[data-status=error] > summary { background: "
    "#ffebe9; }\n"
    ".name { font-weight: 600; }\n"
    ".meta { color: #57606a; font-size: 12px; }\n"
    ".message { color: #57606a; margin: .15rem 0; white-space: pre-wrap; }\n"
    ".sc-body { padding: 0 .5rem .4rem; }\n"
    ".step { border-top: 1px solid #eaeef2; padding: .3rem 0; }\n"
    ".step-head .n { color: #57606a; margin-right: .3rem; }\n"
    "pre { background: #f6f8fa; padding: .35rem .5rem; margin: .15rem 0; overflow: auto;\n"
    "  white-space: pre-wrap; word-break: break-word; font: 12px/1.35 ui-monospace, monospace; }\n"
    ".expect { white-space: pre-wrap; font: 12px/1.35 ui-monospace, monospace; margin: .15rem 0;\n"
    "  padding: 1px 6px; border-left: 3px solid var(--pass); }\n"
    ".expect.st-fail { border-color: var(--fail); background: #ffebe9; }\n"
    ".expect.st-error { border-color: var(--error); background: #fff1e5; }\n"
    ".expect.failing { outline: 2px solid var(--fail); }\n"
    ".expect.failing::before { content: \"\\25B6  failing line  \"; color: var(--fail); "
    "font-weight: 700; }\n"
    ".exchange { margin: .3rem 0 .3rem 1rem; }\n"
    ".exchange-title { color: #57606a; font-size: 12px; }\n"
    ".artifact { margin: .3rem 0 .3rem 1rem; }\n"
    ".artifact img { max-width: 240px; image-rendering: pixelated; border: 1px solid #d0d7de; }\n";

static const char kr_html_script[] =
    "(function () {\n"
    "  'use strict';\n"
    "  var t0 = performance.now();\n"
    "  var D = JSON.parse(document.getElementById('konform-data').textContent);\n"
    "  var RANK = {fail: 0, error: 1, skip: 2, pass: 3};\n"
    "  var OPEN_MAX = 20, COVER_MAX = 8;\n"
    "  function $(id) { return document.getElementById(id); }\n"
    "  function el(tag, cls, text) {\n"
    "    var e = document.createElement(tag);\n"
    "    if (cls) e.className = cls;\n"
    "    if (text !== undefined && text !== null) e.textContent = text;\n"
    "    return e;\n"
    "  }\n"
    "  function add(parent, child) { parent.appendChild(child); return child; }\n"
    "  function badge(s) { return el('span', 'badge s-' + s, s === 'not-checked' ? 'not checked' : "
    "s); }\n"
    "  var list = D.scenarios.map(function (s, i) { s.i = i; return s; });\n"
    "  list.sort(function (a, b) { return (RANK[a.status] - RANK[b.status]) || (a.i - b.i); });\n"
    "  var byReq = {};\n"
    "  D.scenarios.forEach(function (s) {\n"
    "    s.covers.forEach(function (id) { (byReq[id] = byReq[id] || []).push(s); });\n"
    "  });\n"
    "  var r = D.run;\n"
    "  $('run').textContent = 'target ' + r.target + ' (' + r.base_url + '), seed ' + r.seed +\n"
    "      ', run id ' + r.run_id + ', started ' + r.started_at + ', ' + (r.ms / 1000).toFixed(3) "
    "+ ' s';\n"
    "  function scLink(s) {\n"
    "    var a = el('a', 'sc-link', s.name);\n"
    "    a.href = '#sc-' + s.i;\n"
    "    a.addEventListener('click', function () { var d = $('sc-' + s.i); if (d) d.open = true; "
    "});\n"
    "    return a;\n"
    "  }\n"
    "  function matrix() {\n"
    "    var m = $('matrix');\n"
    "    D.areas.forEach(function (area) {\n"
    "      var reqs = D.requirements.filter(function (q) { return q.area === area; });\n"
    "      if (!reqs.length) return;\n"
    "      var box = add(m, el('section', 'area'));\n"
    "      box.dataset.area = area;\n"
    "      var counts = {pass: 0, fail: 0, 'not-checked': 0};\n"
    "      reqs.forEach(function (q) { counts[q.status]++; });\n"
    "      add(box, el('h3', null, area + ': ' + counts.pass + ' pass, ' + counts.fail + ' fail, ' "
    "+\n"
    "          counts['not-checked'] + ' not checked'));\n"
    "      var t = add(box, el('table', 'reqs'));\n"
    "      var h = add(t, el('tr'));\n"
    "      ['requirement', 'status', 'text', 'source', 'scenarios'].forEach(function (x) {\n"
    "        add(h, el('th', null, x));\n"
    "      });\n"
    "      reqs.forEach(function (q) {\n"
    "        var tr = add(t, el('tr', 'req-row'));\n"
    "        tr.dataset.req = q.id;\n"
    "        tr.dataset.status = q.status;\n"
    "        var b = add(add(tr, el('td')), el('button', 'req-id', q.id));\n"
    "        b.type = 'button';\n"
    "        b.title = 'show only the scenarios covering ' + q.id;\n"
    "        b.addEventListener('click', function () { $('f-req').value = q.id; apply(); });\n"
    "        add(add(tr, el('td')), badge(q.status));\n"
    "        add(tr, el('td', null, q.title));\n"
    "        add(tr, el('td', null, q.source));\n"
    "        var td = add(tr, el('td', 'covering'));\n"
    "        var cov = (byReq[q.id] || []).slice().sort(function (a, b) {\n"
    "          return (RANK[a.status] - RANK[b.status]) || (a.i - b.i);\n"
    "        });\n"
    "        cov.slice(0, COVER_MAX).forEach(function (s, k) {\n"
    "          if (k) td.appendChild(document.createTextNode(', '));\n"
    "          add(td, badge(s.status)).className += ' mini';\n"
    "          add(td, scLink(s));\n"
    "        });\n"
    "        if (cov.length > COVER_MAX) {\n"
    "          var more = add(td, el('button', 'more', 'all ' + cov.length));\n"
    "          more.type = 'button';\n"
    "          more.addEventListener('click', function () { $('f-req').value = q.id; apply(); });\n"
    "        }\n"
    "        if (!cov.length) td.textContent = q.not_selected ? 'not selected' : 'no scenario';\n"
    "      });\n"
    "    });\n"
    "  }\n"
    "  function options(id, values) {\n"
    "    var sel = $(id);\n"
    "    values.forEach(function (v) { var o = add(sel, el('option', null, v)); o.value = v; });\n"
    "    sel.addEventListener('change', apply);\n"
    "  }\n"
    "  function message(text) {\n"
    "    var i = text.indexOf('\\n\\n');\n"
    "    return i < 0 ? [text, ''] : [text.slice(0, i), text.slice(i + 2)];\n"
    "  }\n"
    "  var STR = '(\"(?:[^\"\\\\\\\\]|\\\\\\\\.)*\")';\n"
    "  function member(body, indent, key) {\n"
    "    var m = new RegExp('^' + indent + '\"' + key + '\": ' + STR, 'm').exec(body);\n"
    "    if (!m) return null;\n"
    "    try { return JSON.parse(m[1]); } catch (e) { return null; }\n"
    "  }\n"
    "  function waited(title, text) {\n"
    "    var what = /^exchange \\d+ of \\d+: wait (mail|letter),/.exec(title || '');\n"
    "    var parts = message(text);\n"
    "    if (!what || !/^HTTP\\/\\S+ 200\\b/.test(parts[0])) return null;\n"
    "    var b = parts[1], line;\n"
    "    if (what[1] === 'mail') {\n"
    "      var to = /^  \"to\": \\[([^\\]]*)\\]/m.exec(b), tos = [];\n"
    "      (to ? to[1].match(new RegExp(STR, 'g')) || [] : []).forEach(function (x) {\n"
    "        try { tos.push(JSON.parse(x)); } catch (e) { tos.push(x); }\n"
    "      });\n"
    "      var from = member(b, '  ', 'from'), subject = member(b, '  ', 'subject');\n"
    "      if (from === null && subject === null) return null;\n"
    "      line = 'mail' + (from !== null ? ' from ' + from : '') +\n"
    "          (tos.length ? ' to ' + tos.join(', ') : '') + (subject !== null ? ': ' + subject : "
    "'');\n"
    "    } else {\n"
    "      var kind = member(b, '  ', 'kind'), name = member(b, '    ', 'name');\n"
    "      if (kind === null && name === null) return null;\n"
    "      line = 'letter' + (kind !== null ? ' ' + kind : '') + (name !== null ? ' to ' + name : "
    "'');\n"
    "    }\n"
    "    return line;\n"
    "  }\n"
    "  function side(parent, label, text, open) {\n"
    "    var box = add(parent, el('div', label));\n"
    "    var parts = message(text);\n"
    "    add(box, el('pre', 'head', label + ': ' + parts[0]));\n"
    "    if (parts[1]) {\n"
    "      var d = add(box, el('details', 'body'));\n"
    "      d.open = open;\n"
    "      add(d, el('summary', null, label + ' body, ' + parts[1].split('\\n').length + ' "
    "lines'));\n"
    "      add(d, el('pre', null, parts[1]));\n"
    "    }\n"
    "  }\n"
    "  function artifact(parent, p, bodies) {\n"
    "    var a = p[3] || {};\n"
    "    var box = add(parent, el('div', 'artifact'));\n"
    "    var text = a.of !== undefined ? bodies[a.of] : a.text;\n"
    "    if (text !== undefined) {\n"
    "      var d = add(box, el('details'));\n"
    "      add(d, el('summary', null, p[2] + (a.of !== undefined ? ' (as the response of exchange "
    "' +\n"
    "          (a.of + 1) + ')' : '')));\n"
    "      add(d, el('pre', null, text));\n"
    "    } else if (a.b64 !== undefined && /^image\\/(png|jpeg|gif|webp)$/.test(a.type)) {\n"
    "      add(box, el('div', null, p[2]));\n"
    "      var img = add(box, el('img'));\n"
    "      img.alt = p[2];\n"
    "      img.src = 'data:' + a.type + ';base64,' + a.b64;\n"
    "    } else if (a.b64 !== undefined) {\n"
    "      var link = add(box, el('a', null, p[2] + ' (download)'));\n"
    "      link.download = 'artifact';\n"
    "      link.href = 'data:application/octet-stream;base64,' + a.b64;\n"
    "    } else {\n"
    "      add(box, el('div', null, p[2]));\n"
    "    }\n"
    "  }\n"
    "  function step(parent, s, st, n) {\n"
    "    var box = add(parent, el('div', 'step st-' + st.status));\n"
    "    var head = add(box, el('div', 'step-head'));\n"
    "    add(head, el('span', 'n', n + '.'));\n"
    "    add(head, badge(st.status));\n"
    "    add(head, el('code', 'label', st.label));\n"
    "    add(head, el('span', 'meta', ' ' + st.at + ', ' + st.ms + ' ms'));\n"
    "    if (st.message) add(box, el('div', 'message', st.message));\n"
    "    var bad = st.status === 'fail' || st.status === 'error';\n"
    "    var ex = null, bodies = [], title = '';\n"
    "    st.pieces.forEach(function (p) {\n"
    "      if (p[0] === 'expect') {\n"
    "        var e = add(box, el('div', 'expect st-' + p[1], p[2]));\n"
    "        if (p[3]) { e.className += ' failing'; e.id = 'failing-' + s.i; }\n"
    "      } else if (p[0] === 'exchange') {\n"
    "        ex = add(box, el('div', 'exchange'));\n"
    "        title = p[2];\n"
    "        add(ex, el('div', 'exchange-title', p[2]));\n"
    "      } else if (p[0] === 'request' || p[0] === 'response') {\n"
    "        var got = p[0] === 'response' ? waited(title, p[2]) : null;\n"
    "        if (got) add(ex || box, el('div', 'waited', got));\n"
    "        side(ex || box, p[0], p[2], bad);\n"
    "        if (p[0] === 'response') bodies.push(message(p[2])[1]);\n"
    "      } else {\n"
    "        artifact(box, p, bodies);\n"
    "      }\n"
    "    });\n"
    "  }\n"
    "  function fill(d, s) {\n"
    "    if (d.dataset.drawn) return;\n"
    "    d.dataset.drawn = '1';\n"
    "    var body = add(d, el('div', 'sc-body'));\n"
    "    if (s.fail_at) add(body, el('div', 'meta', s.status + 'ed at ' + s.fail_at));\n"
    "    if (s.status === 'skip') add(body, el('div', 'meta', 'not checked (' + s.skip + ')'));\n"
    "    if (s.message && s.status === 'pass') add(body, el('div', 'message', s.message));\n"
    "    if (!s.steps.length) add(body, el('div', 'meta', 'no step ran'));\n"
    "    s.steps.forEach(function (st, k) { step(body, s, st, k + 1); });\n"
    "  }\n"
    "  function scenarios() {\n"
    "    var box = $('scenarios');\n"
    "    var opened = 0;\n"
    "    list.forEach(function (s) {\n"
    "      var d = add(box, el('details', 'scenario'));\n"
    "      d.id = 'sc-' + s.i;\n"
    "      d.dataset.status = s.status;\n"
    "      d.dataset.area = s.area;\n"
    "      var sum = add(d, el('summary'));\n"
    "      add(sum, badge(s.status));\n"
    "      add(sum, el('span', 'name', s.name));\n"
    "      add(sum, el('span', 'meta', ' ' + s.at + ' \\u00b7 ' + s.area +\n"
    "          (s.covers.length ? ' \\u00b7 covers ' + s.covers.join(' ') : '') +\n"
    "          (s.tags.length ? ' \\u00b7 tags ' + s.tags.join(' ') : '') + ' \\u00b7 ' + s.ms + ' "
    "ms'));\n"
    "      if (s.message && s.status !== 'pass') add(sum, el('div', 'message', s.message));\n"
    "      d.addEventListener('toggle', function () { if (d.open) fill(d, s); });\n"
    "      s.el = d;\n"
    "      if ((s.status === 'fail' || s.status === 'error') && opened < OPEN_MAX) {\n"
    "        opened++;\n"
    "        fill(d, s);\n"
    "        d.open = true;\n"
    "      }\n"
    "    });\n"
    "  }\n"
    "  function apply() {\n"
    "    var want = {};\n"
    "    Array.prototype.forEach.call(document.querySelectorAll('#f-status input'), function (c) "
    "{\n"
    "      want[c.value] = c.checked;\n"
    "    });\n"
    "    var area = $('f-area').value, req = $('f-req').value, tag = $('f-tag').value, shown = 0;\n"
    "    list.forEach(function (s) {\n"
    "      var ok = want[s.status] && (!area || s.area === area) &&\n"
    "          (!req || s.covers.indexOf(req) >= 0) && (!tag || s.tags.indexOf(tag) >= 0);\n"
    "      s.el.hidden = !ok;\n"
    "      if (ok) shown++;\n"
    "    });\n"
    "    Array.prototype.forEach.call(document.querySelectorAll('#matrix .area'), function (a) {\n"
    "      a.hidden = !!area && a.dataset.area !== area;\n"
    "    });\n"
    "    Array.prototype.forEach.call(document.querySelectorAll('#matrix .req-row'), function (t) "
    "{\n"
    "      t.classList.toggle('chosen', t.dataset.req === req);\n"
    "    });\n"
    "    $('shown').textContent = 'showing ' + shown + ' of ' + list.length + ' scenarios';\n"
    "  }\n"
    "  matrix();\n"
    "  scenarios();\n"
    "  var tags = {};\n"
    "  D.scenarios.forEach(function (s) { s.tags.forEach(function (t) { tags[t] = 1; }); });\n"
    "  options('f-area', D.areas.filter(function (a) {\n"
    "    return D.scenarios.some(function (s) { return s.area === a; });\n"
    "  }));\n"
    "  options('f-req', D.requirements.map(function (q) { return q.id; }));\n"
    "  options('f-tag', Object.keys(tags).sort());\n"
    "  Array.prototype.forEach.call(document.querySelectorAll('#f-status input'), function (c) {\n"
    "    c.addEventListener('change', apply);\n"
    "  });\n"
    "  apply();\n"
    "  document.body.dataset.drawMs = String(Math.round(performance.now() - t0));\n"
    "  document.body.dataset.ready = '1';\n"
    "})();\n";

/* Everything one HTML write needs; lives on kr_html_write's stack. */
typedef struct kr_html {
  kf_buf out; /* The page, capped at KR_REPORT_MAX. */
  const kf_run_result *run;
  bool first; /* Nothing written yet in the array being filled. */
  /* The step kr_html_piece walks. */
  const kf_step_result *st;
  kr_failure where;  /* Its scenario's failure (meaningful when the scenario failed). */
  bool failed;       /* Whether its scenario failed or errored. */
  size_t assert_i;   /* Index of the next ASSERT piece in st->asserts. */
  size_t artifact_i; /* Index of the next ARTIFACT piece in st->artifacts. */
} kr_html;

static kf_rc kr_html_raw(kr_html *h, const char *s) {
  return kf_buf_append_str(&h->out, s);
}

/* A JSON string (kr_quote: cleaned, and safe inside the data element). */
static kf_rc kr_html_str(kr_html *h, const char *s) {
  return kr_quote(&h->out, s, KR_QUOTE_JSON_HTML);
}

/* `"key":"value"` after a comma unless first. */
static kf_rc kr_html_member(kr_html *h, bool first, const char *key, const char *value) {
  KR_TRY(kf_buf_appendf(&h->out, "%s\"%s\":", first ? "" : ",", key));
  return kr_html_str(h, value);
}

/* `,"key":N`. */
static kf_rc kr_html_int(kr_html *h, const char *key, int64_t value) {
  return kf_buf_appendf(&h->out, ",\"%s\":%" PRId64, key, value);
}

/* `,"key":"file:line"`. */
static kf_rc kr_html_at(kr_html *h, const char *key, const char *file, unsigned line) {
  kf_buf at;
  kf_buf_init(&at, KR_TEXT_IN_MAX);
  kf_rc rc = kf_buf_appendf(&at, "%s:%u", file != NULL ? file : "?", line);
  if (rc == KF_OK)
    rc = kf_buf_appendf(&h->out, ",\"%s\":", key);
  if (rc == KF_OK)
    rc = kr_quote_n(&h->out, at.data, at.len, KR_QUOTE_JSON_HTML);
  kf_buf_release(&at);
  return rc;
}

/* `,"key":["a","b"]`. */
static kf_rc kr_html_names(kr_html *h, const char *key, char *const *names, size_t n) {
  KR_TRY(kf_buf_appendf(&h->out, ",\"%s\":[", key));
  for (size_t i = 0; i < n; i++) {
    if (i > 0)
      KR_TRY(kf_buf_append_byte(&h->out, ','));
    KR_TRY(kr_html_str(h, names[i]));
  }
  return kf_buf_append_byte(&h->out, ']');
}

/* Append the standard base64 of the len bytes at data, encoded piece by piece on the stack. */
static kf_rc kr_html_base64(kf_buf *out, const unsigned char *data, size_t len) {
  enum { CHUNK = 3 * 512 };
  char enc[sodium_base64_ENCODED_LEN(CHUNK, sodium_base64_VARIANT_ORIGINAL)];
  for (size_t at = 0; at < len; at += CHUNK) {
    size_t n = len - at < CHUNK ? len - at : CHUNK;
    sodium_bin2base64(enc, sizeof enc, data + at, n, sodium_base64_VARIANT_ORIGINAL);
    KR_TRY(kf_buf_append_str(out, enc));
  }
  return KF_OK;
}

/* Whether an artifact of this media type is shown as text (when its bytes are UTF-8). */
static bool kr_html_textual(const char *type) {
  static const char *const prefixes[] = {"text/", "message/", "application/json",
                                         "application/xml"};
  for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++)
    if (kf_str_starts_with_ci(type, prefixes[i]))
      return true;
  return kf_str_ends_with(type, "+json") || kf_str_ends_with(type, "+xml");
}

/* `{"type":..,"text":..}` for text, `{"type":..,"b64":..}` for any other bytes. */
static kf_rc kr_html_artifact(kr_html *h, const kf_artifact *a) {
  const char *type = a->media_type != NULL ? a->media_type : "application/octet-stream";
  const char *data = a->data != NULL ? a->data : "";
  size_t len = a->data != NULL ? a->len : 0;
  KR_TRY(kr_html_raw(h, "{"));
  KR_TRY(kr_html_member(h, true, "type", type));
  /* A raw mail is also the answer of the step's fetch of it: say which, do not repeat it. */
  for (size_t i = 0; i < h->st->exchanges_len; i++) {
    const kf_message *r = &h->st->exchanges[i].response;
    if (len > 0 && !r->body_cut && r->body_len == len && memcmp(r->body, data, len) == 0)
      return kf_buf_appendf(&h->out, ",\"of\":%zu}", i);
  }
  if (kr_html_textual(type) && kf_utf8_valid(data, len)) {
    KR_TRY(kr_html_raw(h, ",\"text\":"));
    KR_TRY(kr_quote_n(&h->out, data, len, KR_QUOTE_JSON_HTML));
  } else if (len <= KR_TEXT_IN_MAX) {
    KR_TRY(kr_html_raw(h, ",\"b64\":\""));
    KR_TRY(kr_html_base64(&h->out, (const unsigned char *)data, len));
    KR_TRY(kr_html_raw(h, "\""));
  }
  /* Larger binaries are named only; the JSON report keeps every byte. */
  return kr_html_raw(h, "}");
}

/*
 * kr_piece_fn: one piece as `[kind, status, text, extra]`: extra is 1 for the
 * expect at the failure's line, an artifact's content for an artifact.
 */
static kf_rc kr_html_piece(void *ctx, const kr_piece *piece) {
  kr_html *h = ctx;
  KR_TRY(kf_buf_appendf(&h->out, "%s[\"%s\",\"%s\",", h->first ? "" : ",",
                        kr_piece_name(piece->kind), kf_status_name(piece->status)));
  h->first = false;
  KR_TRY(kr_quote_n(&h->out, piece->text, piece->len, KR_QUOTE_JSON_HTML));
  if (piece->kind == KR_PIECE_ASSERT && h->assert_i < h->st->asserts_len) {
    const kf_assert_result *a = &h->st->asserts[h->assert_i++];
    bool at_failure = h->failed && a->status != KF_STATUS_PASS && a->line == h->where.line &&
                      a->file != NULL && strcmp(a->file, h->where.file) == 0;
    if (at_failure)
      KR_TRY(kr_html_raw(h, ",1"));
  } else if (piece->kind == KR_PIECE_ARTIFACT && h->artifact_i < h->st->artifacts_len) {
    KR_TRY(kr_html_raw(h, ","));
    KR_TRY(kr_html_artifact(h, &h->st->artifacts[h->artifact_i++]));
  }
  return kr_html_raw(h, "]");
}

static kf_rc kr_html_step(kr_html *h, const kf_step_result *st) {
  KR_TRY(kr_html_raw(h, "{"));
  KR_TRY(kr_html_member(h, true, "label", st->label != NULL ? st->label : ""));
  KR_TRY(kr_html_at(h, "at", st->file, st->line));
  KR_TRY(kr_html_member(h, false, "status", kf_status_name(st->status)));
  if (st->message != NULL)
    KR_TRY(kr_html_member(h, false, "message", st->message));
  KR_TRY(kr_html_int(h, "ms", st->duration_ms));
  KR_TRY(kr_html_raw(h, ",\"pieces\":["));
  h->st = st;
  h->assert_i = 0;
  h->artifact_i = 0;
  h->first = true;
  /* Every expect, passed or not: the page shows each with its outcome. */
  KR_TRY(kr_step_pieces(st, true, kr_html_piece, h));
  return kr_html_raw(h, "]}");
}

static kf_rc kr_html_scenario(kr_html *h, const kf_scenario_result *sc) {
  char area[KR_AREA_MAX];
  KR_TRY(kr_html_member(h, true, "name", sc->name != NULL ? sc->name : ""));
  KR_TRY(kr_html_at(h, "at", sc->file, sc->line));
  KR_TRY(kr_html_member(h, false, "area", kr_scenario_area(sc, area, sizeof area)));
  KR_TRY(kr_html_member(h, false, "status", kf_status_name(sc->status)));
  h->failed = sc->status == KF_STATUS_FAIL || sc->status == KF_STATUS_ERROR;
  kr_failure_locate(sc, &h->where);
  if (h->failed) {
    if (h->where.message != NULL)
      KR_TRY(kr_html_member(h, false, "message", h->where.message));
    KR_TRY(kr_html_at(h, "fail_at", h->where.file, h->where.line));
  } else if (sc->message != NULL) {
    KR_TRY(kr_html_member(h, false, "message", sc->message));
  }
  if (sc->status == KF_STATUS_SKIP)
    KR_TRY(kr_html_member(h, false, "skip", kf_skip_kind_name(sc->skip_kind)));
  KR_TRY(kr_html_names(h, "covers", sc->covers, sc->covers_len));
  KR_TRY(kr_html_names(h, "tags", sc->tags, sc->tags_len));
  KR_TRY(kr_html_int(h, "ms", sc->duration_ms));
  KR_TRY(kr_html_raw(h, ",\"steps\":["));
  for (size_t i = 0; i < sc->steps_len; i++) {
    if (i > 0)
      KR_TRY(kr_html_raw(h, ","));
    KR_TRY(kr_html_step(h, &sc->steps[i]));
  }
  return kr_html_raw(h, "]");
}

static kf_rc kr_html_requirements(kr_html *h) {
  const kf_run_result *run = h->run;
  KR_TRY(kr_html_raw(h, ",\"requirements\":["));
  for (size_t i = 0; i < run->requirements_len; i++) {
    const kf_requirement *rq = &run->requirements[i];
    size_t n = 0;
    kf_req_status s = kf_run_result_requirement_status(run, rq->id != NULL ? rq->id : "", &n);
    KR_TRY(kr_html_raw(h, i > 0 ? ",{" : "{"));
    KR_TRY(kr_html_member(h, true, "id", rq->id));
    KR_TRY(kr_html_member(h, false, "area", rq->area != NULL ? rq->area : ""));
    KR_TRY(kr_html_member(h, false, "title", rq->title != NULL ? rq->title : ""));
    KR_TRY(kr_html_member(h, false, "source", rq->source != NULL ? rq->source : ""));
    KR_TRY(kr_html_member(h, false, "status", kf_req_status_name(s)));
    KR_TRY(kr_html_int(h, "not_selected", (int64_t)rq->not_selected));
    KR_TRY(kr_html_raw(h, "}"));
  }
  return kr_html_raw(h, "]");
}

/* kr_area_fn: one name of the "areas" array. */
static kf_rc kr_html_area(void *ctx, const char *area) {
  kr_html *h = ctx;
  KR_TRY(kr_html_raw(h, h->first ? "" : ","));
  h->first = false;
  return kr_html_str(h, area);
}

/* The run's data: one JSON object, every string escaped by kr_quote. */
static kf_rc kr_html_data(kr_html *h) {
  const kf_run_result *run = h->run;
  char iso[KF_TIME_ISO_MAX], num[32];
  KR_TRY(kf_time_format_iso(run->started_at, iso, sizeof iso));
  KR_TRY(kr_html_raw(h, "{\"run\":{"));
  KR_TRY(kr_html_member(h, true, "target", run->target != NULL ? run->target : ""));
  KR_TRY(kr_html_member(h, false, "base_url", run->base_url != NULL ? run->base_url : ""));
  /* As strings: a 64-bit seed is beyond a JavaScript number. */
  KR_TRY(kf_str_format(num, sizeof num, "%" PRIu64, run->seed));
  KR_TRY(kr_html_member(h, false, "seed", num));
  KR_TRY(kf_str_format(num, sizeof num, "%016" PRIx64, run->run_id));
  KR_TRY(kr_html_member(h, false, "run_id", num));
  KR_TRY(kr_html_member(h, false, "started_at", iso));
  KR_TRY(kr_html_member(h, false, "version", KONFORM_VERSION));
  KR_TRY(kr_html_int(h, "ms", run->duration_ms));
  KR_TRY(kr_html_raw(h, "},\"areas\":["));
  h->first = true;
  KR_TRY(kr_areas_each(run, kr_html_area, h));
  KR_TRY(kr_html_raw(h, "]"));
  KR_TRY(kr_html_requirements(h));
  /* The scenarios follow from the stream, then kr_html_tail. */
  return kr_html_raw(h, ",\"scenarios\":[");
}

/* "'sha256-BASE64'" of text, the CSP source that allows exactly that inline element. */
static kf_rc kr_html_hash(const char *text, char *out, size_t out_size) {
  unsigned char digest[crypto_hash_sha256_BYTES];
  char b64[sodium_base64_ENCODED_LEN(crypto_hash_sha256_BYTES, sodium_base64_VARIANT_ORIGINAL)];
  crypto_hash_sha256(digest, (const unsigned char *)text, strlen(text));
  sodium_bin2base64(b64, sizeof b64, digest, sizeof digest, sodium_base64_VARIANT_ORIGINAL);
  return kf_str_format(out, out_size, "'sha256-%s'", b64);
}

/* "2 passed, 1 failed, 1 error, 1 skipped": numbers and words only, no escaping needed. */
static kf_rc kr_html_counts(kr_html *h) {
  kf_run_counts c;
  kf_run_result_counts(h->run, &c);
  return kf_buf_appendf(&h->out, "%zu %s: %zu passed, %zu failed, %zu %s, %zu skipped", c.total,
                        kr_plural(c.total, "scenario", "scenarios"), c.passed, c.failed, c.errors,
                        kr_plural(c.errors, "error", "errors"), c.skipped);
}

static kf_rc kr_html_head(kr_html *h) {
  char script_hash[80], style_hash[80];
  KR_TRY(kr_html_hash(kr_html_script, script_hash, sizeof script_hash));
  KR_TRY(kr_html_hash(kr_html_style, style_hash, sizeof style_hash));
  KR_TRY(kr_html_raw(h,
                     "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                     "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"));
  KR_TRY(kf_buf_appendf(&h->out,
                        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src "
                        "'none'; script-src %s; style-src %s; img-src data:; base-uri 'none'; "
                        "form-action 'none'\">\n",
                        script_hash, style_hash));
  KR_TRY(kr_html_raw(h, "<meta name=\"generator\" content=\"konform " KONFORM_VERSION "\">\n<title>"
                        "konform report: "));
  KR_TRY(kr_html_counts(h));
  KR_TRY(kr_html_raw(h, "</title>\n<style>"));
  KR_TRY(kr_html_raw(h, kr_html_style));
  return kr_html_raw(h, "</style>\n</head>\n");
}

/* The static frame the script fills in; the counts are here too, for a reader without script. */
static kf_rc kr_html_body(kr_html *h) {
  KR_TRY(kr_html_raw(h, "<body>\n<h1>konform report</h1>\n<p id=\"run\" class=\"meta\"></p>\n"
                        "<p id=\"summary\">"));
  KR_TRY(kr_html_counts(h));
  KR_TRY(kr_html_raw(
      h, "</p>\n<noscript><p>This report draws its entries with its own inline script; allow "
         "JavaScript for this file to see them.</p></noscript>\n"
         "<h2>Requirements</h2>\n<div id=\"matrix\"></div>\n<h2>Scenarios</h2>\n"
         "<div id=\"filters\">\n<fieldset id=\"f-status\"><legend>status</legend>\n"));
  static const char *const statuses[] = {"fail", "error", "skip", "pass"};
  for (size_t i = 0; i < sizeof statuses / sizeof statuses[0]; i++)
    KR_TRY(kf_buf_appendf(&h->out,
                          "<label><input type=\"checkbox\" id=\"f-status-%s\" value=\"%s\" "
                          "checked> %s</label>\n",
                          statuses[i], statuses[i], statuses[i]));
  KR_TRY(kr_html_raw(h, "</fieldset>\n"
                        "<label>area <select id=\"f-area\"><option value=\"\">all</option>"
                        "</select></label>\n"
                        "<label>requirement <select id=\"f-req\"><option value=\"\">all</option>"
                        "</select></label>\n"
                        "<label>tag <select id=\"f-tag\"><option value=\"\">all</option>"
                        "</select></label>\n"
                        "<span id=\"shown\"></span>\n</div>\n<div id=\"scenarios\"></div>\n"
                        "<script type=\"application/json\" id=\"konform-data\">"));
  return kr_html_data(h);
}

/* What follows the scenarios: the end of the data, the script, the end of the page. */
static kf_rc kr_html_tail(kr_html *h) {
  KR_TRY(kr_html_raw(h, "]}</script>\n<script>"));
  KR_TRY(kr_html_raw(h, kr_html_script));
  return kr_html_raw(h, "</script>\n</body>\n</html>\n");
}

/* One scenario of the "scenarios" array, after a comma unless it is the first. */
static kf_rc kr_html_stream_scenario(kf_buf *out, const kf_scenario_result *sc, size_t index) {
  kr_html h;
  memset(&h, 0, sizeof h);
  kf_buf_init(&h.out, KR_REPORT_MAX);
  kf_rc rc = kr_html_raw(&h, index > 0 ? ",{" : "{");
  if (rc == KF_OK)
    rc = kr_html_scenario(&h, sc);
  if (rc == KF_OK)
    rc = kr_html_raw(&h, "}");
  if (rc == KF_OK)
    rc = kf_buf_append(out, h.out.data != NULL ? h.out.data : "", h.out.len);
  kf_buf_release(&h.out);
  return rc;
}

/* The page: head and data up to the scenarios, the streamed scenarios, the rest. */
static kf_rc kr_html_finish(kr_stream *s, const kf_run_result *run, kr_atomic *f, kf_err *err) {
  kr_html h;
  memset(&h, 0, sizeof h);
  h.run = run;
  kf_buf_init(&h.out, KR_REPORT_MAX);
  kf_rc rc = kr_html_head(&h);
  if (rc == KF_OK)
    rc = kr_html_body(&h);
  if (rc != KF_OK)
    rc = kf_err_set(err, rc, "cannot write the HTML report %s: %s", f->path, kf_rc_name(rc));
  else
    rc = kr_atomic_write(f, h.out.data, h.out.len, err);
  if (rc == KF_OK)
    rc = kr_stream_copy(s, f, err);
  kf_buf_reset(&h.out);
  if (rc == KF_OK && (rc = kr_html_tail(&h)) != KF_OK)
    rc = kf_err_set(err, rc, "cannot write the HTML report %s: %s", f->path, kf_rc_name(rc));
  else if (rc == KF_OK)
    rc = kr_atomic_write(f, h.out.data, h.out.len, err);
  kf_buf_release(&h.out);
  return rc;
}

const kr_stream_ops kr_html_stream = {
    .format = kr_html_write, .scenario = kr_html_stream_scenario, .finish = kr_html_finish};

kf_rc kr_html_write(const kf_run_result *run, const char *path, kf_err *err) {
  return kr_stream_write_run(kr_html_write, run, path, err);
}
