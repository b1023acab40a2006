/*
 * ks_markup.h: a page of this server written as another implementation
 * might write it (the page-entities variant, ks_variant.h): every non-ASCII
 * character as a character reference (named where HTML has a name a German
 * page uses, &auml; &szlig; &bdquo; ..., else &#N;), attribute values in
 * single quotes and the attributes of a tag sorted by name, the content of
 * <main> inside an extra <div>, and every line indented. What a person sees
 * stays the same: the text, the links, the forms and their script, whose
 * content is copied as it is.
 *
 * Ownership: page is borrowed; *out is the caller's (kf_free).
 */
#ifndef KS_MARKUP_H
#define KS_MARKUP_H

#include <stddef.h>

#include "kf/error.h"

/*
 * Rewrite page (len bytes, NUL-terminated), a page of ks_html: tags with
 * attribute values in double quotes or none, valid UTF-8, raw text only in
 * <script> and <style>. KF_ERR_INVALID for anything else, KF_ERR_LIMIT
 * when the result would exceed 128 KiB, KF_ERR_NOMEM.
 */
kf_rc ks_markup_rewrite(const char *page, size_t len, char **out, size_t *out_len);

#endif
