/*
 * ks_pk_api.h: the routes of the passkey area (PK-01..05): registration
 * options and registration (a session at second_factor_setup or full; the
 * first passkey moves second_factor_setup to full), login options and a
 * login with a passkey alone (a new session at full), the list and removal.
 * The handlers live in ks_pk_api.c; verification is ks_webauthn, the store
 * ks_passkey.
 */
#ifndef KS_PK_API_H
#define KS_PK_API_H

#include "ks_api.h"

extern const ks_area ks_pk_api;

#endif
