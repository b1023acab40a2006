/*
 * ks_auth_api.h: the routes of the auth area (AUTH-01..06): login, logout,
 * the current session and the account. The handlers live in ks_auth_api.c;
 * the login's rules are ks_login.c, the lockout ks_lockout.c, the idle expiry
 * the request filter (ks_api.c).
 */
#ifndef KS_AUTH_API_H
#define KS_AUTH_API_H

#include "ks_api.h"

extern const ks_area ks_auth_api;

#endif
