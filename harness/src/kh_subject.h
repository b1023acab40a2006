/*
 * kh_subject.h: what queries look at: the last response, the last mail, the
 * last letter, and later more (a passkey ceremony, a PDF), held in one array
 * indexed by kind.
 *
 * A subject is a JSON document plus an optional loader for parts that are
 * costly and often unused: a response body is parsed as JSON only when a
 * `json` query asks for it, a raw mail is fetched only when `mail.raw` reads
 * it. A part, once loaded, is kept in the document; a part that could not be
 * had (a body that is not JSON) is remembered as tried and stays absent.
 *
 * Adding a subject kind is one row of KH_SUBJECTS plus the step that sets it.
 */
#ifndef KH_SUBJECT_H
#define KH_SUBJECT_H

#include <jansson.h>
#include <stdbool.h>

#include "kf/error.h"
#include "kh_http.h"

/* Kind, name, what to do when a query needs it before it exists. */
#define KH_SUBJECTS(X)                                                                             \
  X(RESPONSE, "response", "no response yet: send a request first")                                 \
  X(MAIL, "mail", "no mail yet: use 'wait mail' first")                                            \
  X(LETTER, "letter", "no letter yet: use 'wait letter' first")                                    \
  X(TIMING, "timing", "no timing yet: use a 'timing' step first")

typedef enum kh_subject_kind {
#define KH_SUBJECT_ENUM(kind, name, missing) KH_SUBJECT_##kind,
  KH_SUBJECTS(KH_SUBJECT_ENUM)
#undef KH_SUBJECT_ENUM
      KH_SUBJECT_COUNT,
  /* For queries that read no subject (var). */
  KH_SUBJECT_NONE = KH_SUBJECT_COUNT
} kh_subject_kind;

/* "response", "mail", "letter". */
const char *kh_subject_kind_name(kh_subject_kind kind);

struct kh_subject;

/*
 * Load part of subject into subject->doc (json_object_set_new), or leave it
 * absent when the subject has none. Errors (an unreachable mock) are
 * KF_ERR_* with a message; they are not remembered, so a later query tries again.
 */
typedef kf_rc (*kh_subject_load_fn)(struct kh_subject *subject, const char *part, void *ctx,
                                    kf_err *err);

typedef struct kh_subject {
  json_t *doc;             /* Owned; NULL while the subject does not exist. */
  json_t *tried;           /* Owned object: parts the loader was asked for and could not give. */
  kh_subject_load_fn load; /* NULL: the document is all there is. */
  void *load_ctx;          /* Borrowed, unless drop is set. */
  void (*drop)(void *ctx); /* Releases load_ctx with the subject; NULL: it is borrowed. */
} kh_subject;

typedef struct kh_subjects {
  kh_subject items[KH_SUBJECT_COUNT];
} kh_subjects;

void kh_subjects_init(kh_subjects *subjects);
void kh_subjects_release(kh_subjects *subjects);

/* Replace the subject of kind with doc (stolen; NULL clears it) and its loader (may be NULL). */
void kh_subjects_set(kh_subjects *subjects, kh_subject_kind kind, json_t *doc,
                     kh_subject_load_fn load, void *load_ctx);

/*
 * Make reply (a new reference is taken) the subject of kind: an empty
 * document whose every part is made from the reply when a query first reads
 * it (kh_subject_load_reply). KF_ERR_NOMEM, leaving the subject cleared.
 */
kf_rc kh_subjects_set_reply(kh_subjects *subjects, kh_subject_kind kind, kh_http_reply *reply);

/* The subject of kind; KF_ERR_STATE with the kind's "no ... yet" message while it has no document.
 */
kf_rc kh_subjects_get(kh_subjects *subjects, kh_subject_kind kind, kh_subject **out, kf_err *err);

/*
 * doc[part], asking the loader for it the first time it is absent. *out is
 * borrowed from the document, or NULL when the part is absent.
 */
kf_rc kh_subject_part(kh_subject *subject, const char *part, json_t **out, kf_err *err);

/*
 * A loader for documents with a "body" string (a response). Its parts:
 * "json", the body parsed as JSON (any value; absent when the body is empty
 * or not JSON); "page_text", the visible text of the body read as HTML;
 * "page_links", its links as [{"text", "href"}] (kh_html.h).
 */
kf_rc kh_subject_load_body(kh_subject *subject, const char *part, void *ctx, kf_err *err);

/*
 * The loader of a response kept as its bytes (ctx: the kh_http_reply): the
 * parts "url", "status", "headers" (lower-case names, repeats joined),
 * "body" and "duration_ms", and the body's parts as kh_subject_load_body
 * gives them, parsed from the bytes without a "body" string first. Nothing
 * is made that no query reads.
 */
kf_rc kh_subject_load_reply(kh_subject *subject, const char *part, void *ctx, kf_err *err);

#endif
