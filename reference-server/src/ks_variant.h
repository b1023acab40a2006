/*
 * ks_variant.h: the variant catalogue (test mode only), the fault
 * catalogue's twin. Each row is a choice an independent implementation of the
 * portal might well make differently from this one where the contract
 * (docs/openapi.yaml) leaves it free, switched on at run time with
 * `--variant NAME` (repeatable; `--variant all` switches on every row;
 * refused without --test-mode), so that a run of every scenario against a
 * server with every variant on shows the suite accepts what the contract
 * allows. `konform-server --list-variants` prints the rows.
 *
 * A variant acts at exactly one place in the code, behind
 * `if (ks_variant_on(srv, KS_VARIANT_X))`. Adding a variant is one row here,
 * that one if and the sentence of the contract that allows it.
 *
 * Ownership: rows and strings are static; srv is borrowed.
 */
#ifndef KS_VARIANT_H
#define KS_VARIANT_H

#include <stdbool.h>

#include "kf/buf.h"
#include "kf/error.h"
#include "ks_switch.h"

/* X(name, kebab-case name, one-line description naming the clause that allows it). */
#define KS_VARIANTS(X)                                                                             \
  X(MAIL_DATE_ZONE, "mail-date-zone",                                                              \
    "the mail's Date in Europe/Berlin time (+0100, in summer +0200) without the day name, the "    \
    "same instant (RFC 5322 3.3; contract: x-konform-decisions mail-format)")                      \
  X(SUBJECT_FOLDED, "subject-folded",                                                              \
    "the Subject folded right after the colon, in several short encoded words (RFC 5322 2.2.3, "   \
    "RFC 2047 2; contract: x-konform-decisions mail-format)")                                      \
  X(MAIL_ENCODING, "mail-encoding",                                                                \
    "the text part in base64, the plain alternative of a multipart/alternative with an HTML "      \
    "part of the same text and links (contract: x-konform-decisions mail-format)")                 \
  X(PAGE_ENTITIES, "page-entities",                                                                \
    "pages write non-ASCII as character references (&auml;), attributes single-quoted and "        \
    "sorted, an extra div and indentation; the same visible text (contract: x-konform-decisions "  \
    "pages)")                                                                                      \
  X(REQUEST_ID, "request-id",                                                                      \
    "every answer has X-Request-Id: <random UUID>, and error pages show it as "                    \
    "\"Vorgangsnummer\" (contract: x-konform-decisions answer-headers)")                           \
  X(JSON_LAYOUT, "json-layout",                                                                    \
    "JSON bodies with their members sorted, indented, \\u escapes and a final newline, as "        \
    "application/json without a charset (RFC 8259 11; contract: x-konform-decisions json-layout)") \
  X(LINK_ID_UPPER, "link-id-upper",                                                                \
    "the confirmation link's id in upper-case hex (contract: ids are compared "                    \
    "case-insensitively, POST /api/v1/email-confirmations)")                                       \
  X(ANSWER_HEADERS, "answer-headers",                                                              \
    "every answer also has Content-Language: de, Referrer-Policy: no-referrer and "                \
    "X-Frame-Options: DENY (contract: x-konform-decisions answer-headers)")                        \
  X(RESET_LINK_ID_UPPER, "reset-link-id-upper",                                                    \
    "the password reset link's id in upper-case hex (contract: x-konform-decisions reset-link)")

typedef enum ks_variant {
#define KS_X_VARIANT_ENUM(name, kebab, what) KS_VARIANT_##name,
  KS_VARIANTS(KS_X_VARIANT_ENUM)
#undef KS_X_VARIANT_ENUM
      KS_VARIANT_COUNT
} ks_variant;

/* What --variant takes to switch on every row. */
#define KS_VARIANT_ALL "all"

/*
 * ks_variant_row_get (ids is NULL), ks_variant_find, ks_variant_list
 * (--list-variants: one "name<TAB>description" line per variant) and
 * ks_variant_on(srv, v), whether variant v is switched on (--variant; only
 * ever in test mode; a NULL srv, a mail rendered or a request served without
 * a server in unit tests, has none on).
 */
KS_SWITCH_DECLARE(ks_variant, ks_variant)

#endif
