/*
 * ks_acc_api.h: the routes of the account area (ACC-01..11, the start of
 * AUTH-02/04): health, registration, confirmation, resend, login, logout and
 * the two HTML pages. The handlers live in ks_acc_api.c.
 */
#ifndef KS_ACC_API_H
#define KS_ACC_API_H

#include <jansson.h>
#include <stddef.h>

#include "ks_api.h"

extern const ks_area ks_acc_api;

/*
 * Judge the member email of body as registration does (ACC-11), adding its
 * problem to error (from ks_error_new); on success email (email_size bytes)
 * holds the normalised address, else "".
 */
void ks_acc_check_email(const ks_server *srv, const json_t *body, json_t *error, char *email,
                        size_t email_size);

#endif
