/*
 * ks_acc_api.h: the routes of the account area (ACC-01..11, the start of
 * AUTH-02/04): health, registration, confirmation, resend, login, logout and
 * the two HTML pages. The handlers live in ks_acc_api.c.
 */
#ifndef KS_ACC_API_H
#define KS_ACC_API_H

#include "ks_api.h"

extern const ks_area ks_acc_api;

#endif
