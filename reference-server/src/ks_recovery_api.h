/*
 * ks_recovery_api.h: the routes of the recovery area (AUTH-07): "Passwort
 * vergessen" (POST /api/v1/password-resets and .../confirm) and
 * "Benutzername / E-Mail-Adresse vergessen" (POST /api/v1/username-reminders).
 * The handlers live in ks_recovery_api.c, the rules in ks_recovery.c.
 */
#ifndef KS_RECOVERY_API_H
#define KS_RECOVERY_API_H

#include "ks_api.h"

extern const ks_area ks_recovery_api;

#endif
