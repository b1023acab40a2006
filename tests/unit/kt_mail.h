/*
 * kt_mail.h: a rendered mail read back with GMime, as a mail client (and
 * konform-mail) reads it, for tests of what the server sends.
 *
 * Ownership: *msg is the caller's (g_object_unref); *text is the caller's
 * (g_free); raw and part are borrowed.
 */
#ifndef KT_MAIL_H
#define KT_MAIL_H

#include <gmime/gmime.h>
#include <stddef.h>

#include "kf/error.h"

/* Parse the len bytes of raw (RFC 5322) into *msg; KF_ERR_PARSE when GMime finds no message. */
kf_rc kt_mail_parse(const char *raw, size_t len, GMimeMessage **msg);
/*
 * The decoded text of part (a text part, any transfer encoding, converted
 * to UTF-8) with its CRLF line ends as LF, as the server wrote it;
 * KF_ERR_INVALID when part is no text part.
 */
kf_rc kt_mail_text(GMimeObject *part, char **text);

#endif
