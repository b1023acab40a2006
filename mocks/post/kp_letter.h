/*
 * kp_letter.h: the letter konform-post accepts (docs/design.md, "Mock HTTP
 * APIs"): validation field by field and the stored form. Its search keys
 * (kind, recipient.customer_number, recipient.name) are the "letters" row of
 * the mailbox's collection table.
 *
 * Rules (each field reports at most one problem; absent or null is
 * MISSING_FIELD, anything else wrong is INVALID_FIELD):
 *   kind                       required, [a-z0-9-]{1,64}
 *   date                       required, YYYY-MM-DD and a real calendar date
 *   recipient                  required object
 *   recipient.name             required, 1..200 characters
 *   recipient.customer_number  optional; three digits, one upper-case letter, six digits
 *   recipient.address          required object
 *   recipient.address.street, .postal_code, .city   required, non-empty
 *   recipient.address.country  optional, two upper-case letters, default "DE"
 *   text                       required, non-empty
 *   fields                     optional object of string values
 * No string may hold a control character other than \n and \t (C0, DEL, C1).
 * Other keys, at the top or inside recipient and its address, are kept as they
 * are, but every string in them (in nested objects and arrays too) and every
 * key is held to the same rule, reported as INVALID_FIELD at the dotted path
 * ("meta.list.2.note"; array items by index).
 */
#ifndef KP_LETTER_H
#define KP_LETTER_H

#include <jansson.h>

#include "kf/error.h"

#define KP_CODE_MISSING "MISSING_FIELD"
#define KP_CODE_INVALID "INVALID_FIELD"

/*
 * Check letter (borrowed). Appends one {"field","code","message"} object per
 * problem to issues (a JSON array, borrowed), in a stable order. Returns KF_OK
 * if the letter is valid, KF_ERR_INVALID if it found problems, KF_ERR_NOMEM if
 * an allocation failed (issues may then be incomplete).
 */
kf_rc kp_letter_check(const json_t *letter, json_t *issues);

/*
 * The document to store for a valid letter: a deep copy with
 * recipient.address.country defaulted to "DE". Caller json_decref's *out.
 */
kf_rc kp_letter_normalize(const json_t *letter, json_t **out);

#endif
