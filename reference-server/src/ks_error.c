/*
 * ks_error.c: the rows of the error catalogue (see ks_error.h).
 */
#include "ks_error.h"

#include <assert.h>

static const kf_http_error_row error_rows[] = {
#define ERROR_X_ROW(name, code, status, message) {#code, status, message},
    KS_ERRORS(ERROR_X_ROW)
#undef ERROR_X_ROW
};

static const ks_field_row field_rows[] = {
#define ERROR_X_FIELD(name, code, message) {#code, message},
    KS_FIELD_ERRORS(ERROR_X_FIELD)
#undef ERROR_X_FIELD
};

const kf_http_error_row *ks_error_row(ks_error e) {
  assert(e < KS_ERR_COUNT);
  return &error_rows[e];
}

const ks_field_row *ks_field_row_get(ks_field f) {
  assert(f < KS_FIELD_COUNT);
  return &field_rows[f];
}

json_t *ks_error_new(ks_error e) {
  const kf_http_error_row *row = ks_error_row(e);
  return kf_http_error_new(row->code, row->message);
}

void ks_error_add_field(json_t *error, const char *field, ks_field f) {
  if (error == NULL)
    return;
  const ks_field_row *row = ks_field_row_get(f);
  kf_http_error_add_field(error, field, row->code, row->message);
}
