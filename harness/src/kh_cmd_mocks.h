/*
 * kh_cmd_mocks.h: `konform mocks`: konform-mail and konform-post on
 * loopback for a target of one's own, with a ready profile to copy, until
 * Ctrl-C. The third-party target then needs no shell of its own: point its
 * SMTP at the printed port, its letters at the post API, and run
 * `konform run --target my.profile`.
 */
#ifndef KH_CMD_MOCKS_H
#define KH_CMD_MOCKS_H

#include "kh_catalogue.h"
#include "kh_cli.h"

/*
 * Start the mocks (ports from the options, 0 = free), print where they are
 * and a profile skeleton with the catalogue's defaults (cat may be NULL),
 * and keep them up until SIGINT or SIGTERM. Returns an exit code.
 */
int kh_cmd_mocks(const kh_cli_options *o, const kh_catalogue *cat);

#endif
