/*
 * kh_reqdoc.h: docs/requirements.md, the standard in the project's own words,
 * made from scenarios/catalogue.json (`konform requirements`), so that the
 * document people read and the catalogue the suite checks cannot differ; a
 * unit test compares the committed file with a fresh rendering.
 */
#ifndef KH_REQDOC_H
#define KH_REQDOC_H

#include "kf/buf.h"
#include "kf/error.h"

/* Render the catalogue JSON text (len bytes; name for messages) as Markdown into out. */
kf_rc kh_reqdoc_render(const char *name, const char *json, size_t len, kf_buf *out, kf_err *err);

#endif
