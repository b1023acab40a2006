/*
 * km_flowed.h: text/plain; format=flowed (RFC 3676) turned back into the
 * lines its writer meant.
 *
 * A flowed writer breaks long paragraphs into short lines that end with a
 * space (soft line breaks), stuffs a space in front of lines that start with
 * a space, ">" or "From ", and with DelSp=yes adds a space of its own at each
 * break. The mail document's "text" is what the reader sees, so a check of a
 * sentence or a link must not depend on where the writer broke the lines.
 */
#ifndef KM_FLOWED_H
#define KM_FLOWED_H

#include <stdbool.h>
#include <stddef.h>

#include "kf/buf.h"
#include "kf/error.h"

/*
 * Append the unflowed form of text (len bytes of UTF-8 or any ASCII-compatible
 * charset; NULs allowed) to out: the lines of a paragraph (RFC 3676 4.2: a
 * flowed line and the lines that follow it at the same quote depth) are
 * joined, the space-stuffing (4.4) is removed, and with delsp (DelSp=yes,
 * 4.5) the space before each soft break goes too. A quoted paragraph starts
 * with its quote marks and one space ("> "). The signature separator "-- " is
 * never flowed. Each paragraph ends with the line break (CRLF or LF) of its
 * last line. Fails only when out runs out of room or memory.
 */
kf_rc km_flowed_decode(const char *text, size_t len, bool delsp, kf_buf *out);

#endif
