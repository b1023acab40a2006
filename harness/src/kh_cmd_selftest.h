/*
 * kh_cmd_selftest.h: `konform selftest`: the suite proves its own strength.
 *
 * The reference server has a catalogue of realistic faults (test mode only,
 * `konform-server --list-faults`). For each fault the embedded stack is
 * started once with `--fault NAME`, and the scenarios covering the
 * requirements the fault breaks are run. At least one of them must fail;
 * a fault that none catches fails the self-test, because a check that cannot
 * fail proves nothing. The table says which scenarios caught what.
 *
 * Its twin: the server's variants (`--list-variants`), the ways the contract
 * lets a portal differ from the reference (a Date in +0100, entities in
 * pages, a folded Subject, a request id). The stack is started once with
 * every variant on and every selected scenario must pass: a check that fails
 * there judges the reference's incidental bytes, not the contract.
 */
#ifndef KH_CMD_SELFTEST_H
#define KH_CMD_SELFTEST_H

#include "kh_catalogue.h"
#include "kh_cli.h"
#include "kh_suite.h"

/* Run the self-test over suite; prints the table; returns an exit code. */
int kh_cmd_selftest(const kh_cli_options *o, const kh_suite *suite, const kh_catalogue *cat);

#endif
