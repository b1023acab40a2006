/*
 * kr_exchange.c: an exchange of the run result as the text a person reads
 * ("POST url", headers, a blank line, the body), shared by the writers.
 */
#include <string.h>

#include "kr_priv.h"

static kf_rc kr_exchange_message(const kf_message *msg, kf_buf *out) {
  for (size_t i = 0; i < msg->headers_len; i++)
    KR_TRY(kf_buf_appendf(out, "%s: %s\n", msg->headers[i].name, msg->headers[i].value));
  if (msg->body == NULL || msg->body_len == 0)
    return KF_OK;
  KR_TRY(kf_buf_append_byte(out, '\n'));
  KR_TRY(kf_buf_append(out, msg->body, msg->body_len));
  if (msg->body_cut)
    KR_TRY(kf_buf_appendf(out, "\n[... cut after %u bytes]", KF_MESSAGE_BODY_MAX));
  return KF_OK;
}

kf_rc kr_exchange_text(const kf_exchange *ex, bool request, kf_buf *out) {
  if (request) {
    KR_TRY(kf_buf_appendf(out, "%s %s\n", ex->method != NULL ? ex->method : "?",
                          ex->url != NULL ? ex->url : "?"));
    return kr_exchange_message(&ex->request, out);
  }
  if (ex->status == 0)
    return kf_buf_appendf(out, "no response: %s\n", ex->error != NULL ? ex->error : "unknown");
  if (ex->status_line != NULL)
    KR_TRY(kf_buf_appendf(out, "%s\n", ex->status_line));
  else
    KR_TRY(kf_buf_appendf(out, "HTTP %ld\n", ex->status));
  return kr_exchange_message(&ex->response, out);
}
