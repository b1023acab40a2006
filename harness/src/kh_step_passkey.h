/*
 * kh_step_passkey.h: the `passkey` step, the scenario's virtual passkey
 * authenticator (kh_authn.h):
 *
 *   passkey create KEY from "OPTIONS" [fmt none|packed] [origin "URL"] [rp-id "ID"]
 *           [fault KNOB ["ARG"]]... into VAR
 *   passkey get KEY from "OPTIONS" [origin "URL"] [rp-id "ID"] [fault KNOB ["ARG"]]... into VAR
 *
 * create makes a credential for the creation options and keeps it (its JSON)
 * in variable KEY; get signs an assertion with KEY for the request options
 * and moves KEY's counter on. VAR holds the RegistrationResponseJSON or
 * AuthenticationResponseJSON to send: `json {"credential": {{VAR}}}`.
 */
#ifndef KH_STEP_PASSKEY_H
#define KH_STEP_PASSKEY_H

#include <stdbool.h>
#include <stddef.h>

#include "kh_ast.h"
#include "kh_authn.h"
#include "kh_step.h"

typedef struct kh_passkey_knob {
  const kh_authn_fault_def *def; /* Borrowed row of KH_AUTHN_FAULTS. */
  kh_template arg;               /* Absent (text NULL) when the knob has none. */
} kh_passkey_knob;

typedef struct kh_passkey_step {
  bool create;         /* create, else get. */
  const char *key;     /* The credential's variable (in the string table). */
  kh_template options; /* The options JSON. */
  bool packed;         /* create: fmt packed. */
  kh_template origin;  /* Absent: the origin of the target's public_url. */
  kh_template rp_id;   /* Absent: the options' RP id, else the public_url's host. */
  kh_passkey_knob knobs[KH_AUTHN_MAX_FAULTS];
  size_t knobs_len;
  const char *into; /* The variable for the response JSON (in the string table). */
} kh_passkey_step;

extern const kh_step_def kh_step_passkey;

#endif
