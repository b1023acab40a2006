/*
 * kh_result_read.h: a JSON report (docs/report-schema.json, as kr_json writes
 * it) read back into a kf_run_result: the inverse of kr_json_write, for
 * `konform merge`.
 *
 * What the writer's text rules changed (invalid UTF-8 as U+FFFD, a NUL as
 * \x00, texts cut over 1 MiB) stays changed; everything else, artifact bytes
 * included, comes back as the run recorded it. Requirement verdicts are not
 * read: they follow from the scenarios (kf_run_result_requirement_status).
 */
#ifndef KH_RESULT_READ_H
#define KH_RESULT_READ_H

#include <stddef.h>

#include "kf/error.h"
#include "kf/run_result.h"

/* The largest report read (the writer's own cap is smaller). */
#define KH_RESULT_READ_MAX (512u << 20)

/*
 * Read the report at path into run (kf_run_result_init'ed by the caller, who
 * releases it whatever the result). KF_ERR_IO when the file cannot be read,
 * KF_ERR_PARSE when it is not JSON or not a report of this schema version,
 * with err naming the file and the member ("r.json: $.scenarios[3].status:
 * ...").
 */
kf_rc kh_result_read_file(const char *path, kf_run_result *run, kf_err *err);

/* The same from len bytes of text; name is used in messages. */
kf_rc kh_result_read_text(const char *name, const char *text, size_t len, kf_run_result *run,
                          kf_err *err);

#endif
