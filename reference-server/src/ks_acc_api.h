/*
 * ks_acc_api.h: the routes of the account area (ACC-01..11, the start of
 * AUTH-04): health, registration, confirmation, resend and the link page. The
 * handlers live in ks_acc_api.c; login and logout are ks_auth_api.c.
 */
#ifndef KS_ACC_API_H
#define KS_ACC_API_H

#include <stddef.h>

#include "ks_address.h"
#include <jansson.h>
#include <stddef.h>

#include "ks_api.h"

extern const ks_area ks_acc_api;

/*
 * Normalise an address (ks_address_normalise) as registration, resend and
 * login all do, so the address faults act here, once for every route; out
 * gets out_size bytes at most.
 */
ks_address_status ks_acc_normalise(const ks_server *srv, const char *raw, size_t len, char *out,
                                   size_t out_size);

/*
 * Judge the member email of body as registration does (ACC-11), adding its
 * problem to error (from ks_error_new); on success email (email_size bytes)
 * holds the normalised address, else "".
 */
void ks_acc_check_email(const ks_server *srv, const json_t *body, json_t *error, char *email,
                        size_t email_size);

#endif
