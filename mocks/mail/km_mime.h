/*
 * km_mime.h: turn a received RFC 5322 message into the mail document of
 * docs/design.md, with GMime 3 doing the MIME parsing.
 *
 * The document carries every field of the top-level header block in wire
 * order, as sent and RFC 2047 decoded (read from the raw bytes, km_header.h,
 * so the Content-* fields of a single-part mail are there and a NUL cuts
 * nothing short), the text/plain and text/html bodies converted to UTF-8
 * (quoted-printable and base64 undone, format=flowed unflowed: km_flowed.h),
 * the http and https links found in them, and "mime_valid": whether the
 * message is well formed enough for the conformance checks (GMime parsed it,
 * it has From and Date headers, and every header and text part is clean
 * UTF-8 without NUL). A message GMime cannot parse still yields a document,
 * with mime_valid false, so it can be stored with its raw source.
 */
#ifndef KM_MIME_H
#define KM_MIME_H

#include <jansson.h>
#include <stddef.h>

#include "kf/error.h"
#include "km_smtp.h"

/*
 * Initialise GMime and libxml2 once per process, before any thread decodes.
 * km_mime_global_shutdown undoes it after the last decode.
 */
void km_mime_global_init(void);
void km_mime_global_shutdown(void);

/*
 * Decode raw (len bytes) into a new mail document (caller json_decref's *out).
 * env, which may be NULL, fills the "envelope" member. Thread-safe once
 * km_mime_global_init ran. Fails only when memory runs out. The same as
 * km_mime_summary followed by km_mime_expand.
 */
kf_rc km_mime_decode(const char *raw, size_t len, const km_smtp_envelope *env, json_t **out,
                     kf_err *err);

/*
 * What the store must know of a mail as it arrives, without decoding the
 * MIME structure: a new object (caller decrefs) with "envelope" (from env,
 * which may be NULL), "subject" (the first Subject field, unfolded and RFC
 * 2047 decoded, as "headers" has it) and "message_id" (GMime's reading of
 * the last Message-Id field: the msg-id without angle brackets), each null
 * when there is none. These three are read from the header block alone, so
 * a mail GMime cannot parse has them too. A few microseconds for a
 * transactional mail; konform-mail stores this and expands on reading.
 */
kf_rc km_mime_summary(const char *raw, size_t len, const km_smtp_envelope *env, json_t **out,
                      kf_err *err);

/*
 * The whole mail document of raw (len bytes) whose km_mime_summary is
 * summary (borrowed): its envelope, subject and message_id are taken as they
 * are, everything else is decoded. Thread-safe; fails only when memory runs
 * out.
 */
kf_rc km_mime_expand(const json_t *summary, const char *raw, size_t len, json_t **out, kf_err *err);

#endif
