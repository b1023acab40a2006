/*
 * kt_yaml.c: libyaml's events turned into a jansson tree (see kt_yaml.h).
 *
 * The event API rather than the document API: an alias is an event of its
 * own, so it is refused where it stands instead of silently sharing a node,
 * and every key arrives with its own mark for the duplicate-key message.
 */
#include "kt_yaml.h"

#include <errno.h>
#include <math.h>
#include <regex.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "kf/buf.h"
#include "kf/file.h"

typedef kf_rc (*scalar_make)(const char *s, int base, json_t **out);

static kf_rc make_null(const char *s, int base, json_t **out) {
  (void)s;
  (void)base;
  *out = json_null();
  return KF_OK;
}

static kf_rc make_bool(const char *s, int base, json_t **out) {
  (void)base;
  *out = json_boolean(s[0] == 't' || s[0] == 'T');
  return KF_OK;
}

static kf_rc make_int(const char *s, int base, json_t **out) {
  /* strtoll reads an optional 0x itself, but not YAML's 0o. */
  const char *digits = base == 8 ? s + 2 : s;
  errno = 0;
  long long v = strtoll(digits, NULL, base);
  if (errno == ERANGE)
    return KF_ERR_LIMIT;
  *out = json_integer((json_int_t)v);
  return *out != NULL ? KF_OK : KF_ERR_NOMEM;
}

static kf_rc make_real(const char *s, int base, json_t **out) {
  (void)base;
  /* The C locale's '.', which no unit test changes. An underflow is a fine 0. */
  double v = strtod(s, NULL);
  if (!isfinite(v))
    return KF_ERR_LIMIT;
  *out = json_real(v);
  return *out != NULL ? KF_OK : KF_ERR_NOMEM;
}

static kf_rc make_nonfinite(const char *s, int base, json_t **out) {
  (void)s;
  (void)base;
  (void)out;
  return KF_ERR_LIMIT;
}

/*
 * The YAML 1.2 core schema (YAML 1.2.2, 10.3.2): its own regular expressions
 * for plain scalars, as POSIX EREs, first match wins; a plain scalar none of
 * them matches is a string.
 */
static const struct {
  const char *pattern;
  scalar_make make;
  int base;
} core_schema[] = {
    {"^(null|Null|NULL|~)?$", make_null, 0},
    {"^(true|True|TRUE|false|False|FALSE)$", make_bool, 0},
    {"^[-+]?[0-9]+$", make_int, 10},
    {"^0o[0-7]+$", make_int, 8},
    {"^0x[0-9a-fA-F]+$", make_int, 16},
    {"^[-+]?(\\.[0-9]+|[0-9]+(\\.[0-9]*)?)([eE][-+]?[0-9]+)?$", make_real, 0},
    {"^[-+]?\\.(inf|Inf|INF)$|^\\.(nan|NaN|NAN)$", make_nonfinite, 0},
};
#define CORE_ROWS (sizeof(core_schema) / sizeof(core_schema[0]))

typedef struct loader {
  yaml_parser_t parser;
  bool parser_ready;
  regex_t core[CORE_ROWS];
  size_t core_ready; /* How many rows of core are compiled. */
  const char *name;  /* Starts every message (the path), or NULL. */
  const char *text;  /* The input, for the place of a reader error. */
  size_t len;
  kf_err *err;
} loader;

static kf_rc fail(const loader *l, kf_rc rc, yaml_mark_t mark, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static kf_rc fail(const loader *l, kf_rc rc, yaml_mark_t mark, const char *fmt, ...) {
  char what[KF_ERR_MESSAGE_MAX];
  va_list ap;
  va_start(ap, fmt);
  (void)vsnprintf(what, sizeof(what), fmt, ap);
  va_end(ap);
  return kf_err_set(l->err, rc, "%s%s%zu:%zu: %s", l->name != NULL ? l->name : "",
                    l->name != NULL ? ":" : "", mark.line + 1, mark.column + 1, what);
}

static kf_rc nomem(const loader *l) {
  return kf_err_set(l->err, KF_ERR_NOMEM, "%s%sout of memory while reading YAML",
                    l->name != NULL ? l->name : "", l->name != NULL ? ": " : "");
}

/* libyaml's reader errors carry a byte offset only; the mark of that byte. */
static yaml_mark_t mark_at(const loader *l, size_t offset) {
  yaml_mark_t m = {.index = offset};
  for (size_t i = 0; i < offset && i < l->len; i++) {
    if (l->text[i] == '\n') {
      m.line++;
      m.column = 0;
    } else if (((unsigned char)l->text[i] & 0xC0) != 0x80) {
      m.column++; /* Characters, as libyaml counts them, not bytes. */
    }
  }
  return m;
}

static kf_rc parser_fail(const loader *l) {
  const yaml_parser_t *p = &l->parser;
  if (p->error == YAML_MEMORY_ERROR)
    return nomem(l);
  if (p->error == YAML_READER_ERROR)
    return fail(l, KF_ERR_PARSE, mark_at(l, p->problem_offset), "%s", p->problem);
  if (p->context != NULL)
    return fail(l, KF_ERR_PARSE, p->problem_mark, "%s (%s at %zu:%zu)", p->problem, p->context,
                p->context_mark.line + 1, p->context_mark.column + 1);
  return fail(l, KF_ERR_PARSE, p->problem_mark, "%s", p->problem);
}

static kf_rc next_event(loader *l, yaml_event_t *ev) {
  return yaml_parser_parse(&l->parser, ev) ? KF_OK : parser_fail(l);
}

static bool tag_is_string(const char *tag) {
  return strcmp(tag, "!") == 0 || strcmp(tag, YAML_STR_TAG) == 0;
}

/* Refuse what kt_yaml does not read: aliases, anchors, tags other than !!str on scalars. */
static kf_rc node_props_check(const loader *l, const yaml_event_t *ev) {
  const yaml_char_t *anchor = NULL;
  const yaml_char_t *tag = NULL;
  if (ev->type == YAML_ALIAS_EVENT)
    return fail(l, KF_ERR_UNSUPPORTED, ev->start_mark,
                "the alias *%s: kt_yaml resolves no anchors or aliases", ev->data.alias.anchor);
  if (ev->type == YAML_SCALAR_EVENT) {
    anchor = ev->data.scalar.anchor;
    tag = ev->data.scalar.tag;
  } else if (ev->type == YAML_SEQUENCE_START_EVENT) {
    anchor = ev->data.sequence_start.anchor;
    tag = ev->data.sequence_start.tag;
  } else if (ev->type == YAML_MAPPING_START_EVENT) {
    anchor = ev->data.mapping_start.anchor;
    tag = ev->data.mapping_start.tag;
  }
  if (anchor != NULL)
    return fail(l, KF_ERR_UNSUPPORTED, ev->start_mark,
                "the anchor &%s: kt_yaml resolves no anchors or aliases", anchor);
  if (tag != NULL && !(ev->type == YAML_SCALAR_EVENT && tag_is_string((const char *)tag)))
    return fail(l, KF_ERR_UNSUPPORTED, ev->start_mark,
                "the tag %s: kt_yaml reads untagged nodes and scalars tagged !!str or !", tag);
  return KF_OK;
}

static kf_rc load_scalar(const loader *l, const yaml_event_t *ev, json_t **out) {
  const char *s = (const char *)ev->data.scalar.value;
  size_t len = ev->data.scalar.length;
  /* A plain scalar cannot hold a NUL (only a "\0" escape can), so regexec sees all of it. */
  bool resolve = ev->data.scalar.tag == NULL && ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
                 strlen(s) == len;
  for (size_t i = 0; resolve && i < CORE_ROWS; i++) {
    if (regexec(&l->core[i], s, 0, NULL, 0) != 0)
      continue;
    kf_rc rc = core_schema[i].make(s, core_schema[i].base, out);
    if (rc == KF_ERR_LIMIT)
      return fail(l, rc, ev->start_mark, "%s: a number JSON cannot hold", s);
    return rc == KF_OK ? KF_OK : nomem(l);
  }
  *out = json_stringn(s, len);
  return *out != NULL ? KF_OK : nomem(l);
}

static kf_rc load_children(loader *l, int depth, json_t *into);

/* The node that starts with ev (borrowed); on success *out is a new reference. */
static kf_rc load_node(loader *l, const yaml_event_t *ev, int depth, json_t **out) {
  kf_rc rc = node_props_check(l, ev);
  if (rc != KF_OK)
    return rc;
  if (ev->type == YAML_SCALAR_EVENT)
    return load_scalar(l, ev, out);
  if (ev->type != YAML_SEQUENCE_START_EVENT && ev->type != YAML_MAPPING_START_EVENT)
    return fail(l, KF_ERR_INTERNAL, ev->start_mark, "an event where a node belongs");
  if (depth >= KT_YAML_DEPTH_MAX)
    return fail(l, KF_ERR_LIMIT, ev->start_mark, "nested deeper than %d", KT_YAML_DEPTH_MAX);
  json_t *node = ev->type == YAML_SEQUENCE_START_EVENT ? json_array() : json_object();
  if (node == NULL)
    return nomem(l);
  rc = load_children(l, depth + 1, node);
  if (rc != KF_OK) {
    json_decref(node);
    return rc;
  }
  *out = node;
  return KF_OK;
}

/* The node whose first event comes next. */
static kf_rc load_next(loader *l, int depth, json_t **out) {
  yaml_event_t ev;
  kf_rc rc = next_event(l, &ev);
  if (rc != KF_OK)
    return rc;
  rc = load_node(l, &ev, depth, out);
  yaml_event_delete(&ev);
  return rc;
}

static kf_rc load_item(loader *l, const yaml_event_t *ev, int depth, json_t *seq) {
  json_t *item = NULL;
  kf_rc rc = load_node(l, ev, depth, &item);
  if (rc != KF_OK)
    return rc;
  return json_array_append_new(seq, item) == 0 ? KF_OK : nomem(l);
}

/* The member whose key is ev (borrowed) and whose value comes next. */
static kf_rc load_member(loader *l, const yaml_event_t *key, int depth, json_t *map) {
  kf_rc rc = node_props_check(l, key);
  if (rc != KF_OK)
    return rc;
  if (key->type != YAML_SCALAR_EVENT)
    return fail(l, KF_ERR_UNSUPPORTED, key->start_mark,
                "a key that is a mapping or a sequence: JSON keys are strings");
  const char *k = (const char *)key->data.scalar.value;
  size_t klen = key->data.scalar.length;
  if (json_object_getn(map, k, klen) != NULL)
    return fail(l, KF_ERR_PARSE, key->start_mark, "the key \"%.*s\" twice in one mapping",
                (int)klen, k);
  json_t *value = NULL;
  rc = load_next(l, depth, &value);
  if (rc != KF_OK)
    return rc;
  /* json_object_setn_new takes value even when it fails. */
  return json_object_setn_new(map, k, klen, value) == 0 ? KF_OK : nomem(l);
}

/* The items of a sequence or the members of a mapping, up to its end event. */
static kf_rc load_children(loader *l, int depth, json_t *into) {
  bool seq = json_is_array(into);
  yaml_event_type_t end = seq ? YAML_SEQUENCE_END_EVENT : YAML_MAPPING_END_EVENT;
  for (;;) {
    yaml_event_t ev;
    kf_rc rc = next_event(l, &ev);
    if (rc != KF_OK)
      return rc;
    bool done = ev.type == end;
    if (!done)
      rc = seq ? load_item(l, &ev, depth, into) : load_member(l, &ev, depth, into);
    yaml_event_delete(&ev);
    if (rc != KF_OK || done)
      return rc;
  }
}

/* The one document of the stream. */
static kf_rc load_stream(loader *l, json_t **out) {
  json_t *root = NULL;
  kf_rc rc = KF_OK;
  for (bool end = false; rc == KF_OK && !end;) {
    yaml_event_t ev;
    rc = next_event(l, &ev);
    if (rc != KF_OK)
      break;
    if (ev.type == YAML_DOCUMENT_START_EVENT && root != NULL)
      rc = fail(l, KF_ERR_PARSE, ev.start_mark, "a second document: kt_yaml reads one");
    else if (ev.type == YAML_STREAM_END_EVENT && root == NULL)
      rc = fail(l, KF_ERR_PARSE, ev.start_mark, "no document");
    else if (ev.type != YAML_STREAM_START_EVENT && ev.type != YAML_DOCUMENT_START_EVENT &&
             ev.type != YAML_DOCUMENT_END_EVENT && ev.type != YAML_STREAM_END_EVENT)
      rc = load_node(l, &ev, 0, &root);
    end = ev.type == YAML_STREAM_END_EVENT;
    yaml_event_delete(&ev);
  }
  if (rc != KF_OK) {
    json_decref(root);
    return rc;
  }
  *out = root;
  return KF_OK;
}

static kf_rc loader_init(loader *l) {
  for (; l->core_ready < CORE_ROWS; l->core_ready++) {
    int rc = regcomp(&l->core[l->core_ready], core_schema[l->core_ready].pattern,
                     REG_EXTENDED | REG_NOSUB);
    if (rc == REG_ESPACE)
      return nomem(l);
    if (rc != 0)
      return kf_err_set(l->err, KF_ERR_INTERNAL, "kt_yaml: the core schema row %s does not compile",
                        core_schema[l->core_ready].pattern);
  }
  if (!yaml_parser_initialize(&l->parser))
    return nomem(l);
  l->parser_ready = true;
  yaml_parser_set_input_string(&l->parser, (const unsigned char *)l->text, l->len);
  return KF_OK;
}

static void loader_release(loader *l) {
  if (l->parser_ready)
    yaml_parser_delete(&l->parser);
  for (size_t i = 0; i < l->core_ready; i++)
    regfree(&l->core[i]);
}

static kf_rc load_named(const char *name, const char *text, size_t len, json_t **out, kf_err *err) {
  *out = NULL;
  loader l = {.name = name, .text = text, .len = len, .err = err};
  kf_rc rc = loader_init(&l);
  if (rc == KF_OK)
    rc = load_stream(&l, out);
  loader_release(&l);
  return rc;
}

kf_rc kt_yaml_load(const char *text, size_t len, json_t **out, kf_err *err) {
  return load_named(NULL, text, len, out, err);
}

kf_rc kt_yaml_load_file(const char *path, json_t **out, kf_err *err) {
  *out = NULL;
  kf_buf file;
  kf_buf_init(&file, KT_YAML_FILE_MAX);
  kf_err why;
  kf_err_init(&why);
  kf_rc rc = kf_file_read(path, &file, &why);
  if (rc != KF_OK)
    rc = kf_err_set(err, rc, "%s: %s", path, why.message);
  else
    rc = load_named(path, file.data != NULL ? file.data : "", file.len, out, err);
  kf_buf_release(&file);
  return rc;
}
