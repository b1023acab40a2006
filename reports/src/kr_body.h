/*
 * kr_body.h: a message body as a person reads it in a trace (the console and
 * JUnit; the JSON report keeps bodies exact). Private to reports/src.
 *
 * The format is found by the media type of the message's Content-Type, else
 * by a look at the body: a row of KR_BODY_FORMATS (kr_body.c). A JSON body
 * (application/json, any +json, or a body that parses as a JSON object or
 * array) is laid out as jansson's JSON_INDENT(2) lays it out, keys in their
 * order and every token as written (numbers, escapes and duplicate keys are
 * kept), except that a "text" member holding line breaks (a mail's or a
 * letter's text) is shown as its lines, each after "| ". A raw mail
 * (message/rfc822) is shown as its lines. A body that does not parse (or is
 * not UTF-8, or was cut) is shown as it is, byte for byte.
 */
#ifndef KR_BODY_H
#define KR_BODY_H

#include "kf/buf.h"
#include "kf/error.h"
#include "kf/run_result.h"

/*
 * Append msg's body, formatted as above, to out. Returns KF_ERR_NOMEM or,
 * when even the body as it is does not fit, KF_ERR_LIMIT (out then holds
 * nothing of the body).
 */
kf_rc kr_body_append(const kf_message *msg, kf_buf *out);

#endif
