/*
 * kt_mail.c: a rendered mail read back with GMime (see kt_mail.h).
 */
#include "kt_mail.h"

kf_rc kt_mail_parse(const char *raw, size_t len, GMimeMessage **msg) {
  GMimeStream *stream = g_mime_stream_mem_new_with_buffer(raw, len);
  GMimeParser *parser = g_mime_parser_new_with_stream(stream);
  *msg = g_mime_parser_construct_message(parser, NULL);
  g_object_unref(parser);
  g_object_unref(stream);
  return *msg != NULL ? KF_OK : KF_ERR_PARSE;
}

kf_rc kt_mail_text(GMimeObject *part, char **text) {
  *text = GMIME_IS_TEXT_PART(part) ? g_mime_text_part_get_text(GMIME_TEXT_PART(part)) : NULL;
  if (*text == NULL)
    return KF_ERR_INVALID;
  char *w = *text;
  for (const char *r = *text; *r != '\0'; r++) {
    if (r[0] != '\r' || r[1] != '\n')
      *w++ = *r;
  }
  *w = '\0';
  return KF_OK;
}
