/*
 * kh_step_http.h: an HTTP request step (`GET /path`, `POST ...` with header,
 * json, body and option sub-lines). Its answer becomes the response subject.
 */
#ifndef KH_STEP_HTTP_H
#define KH_STEP_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kh_ast.h"
#include "kh_step.h"

typedef struct kh_header {
  kh_template name;
  kh_template value;
} kh_header;

typedef struct kh_request {
  char *method; /* "GET", "POST", ... */
  kh_template url;
  kh_header *headers;
  size_t headers_len;
  kh_template body;   /* body.text == NULL: no body. */
  bool body_is_json;  /* From `json`: sets Content-Type unless given. */
  bool no_clock;      /* `option no-clock`. */
  int64_t timeout_ms; /* 0 = default. */
} kh_request;

extern const kh_step_def kh_step_http;

#endif
