/*
 * file.h: reading a whole file into a capped buffer.
 */
#ifndef KF_FILE_H
#define KF_FILE_H

#include "kf/buf.h"
#include "kf/error.h"

/*
 * Append the whole file at path to out (whose cap is the largest file
 * accepted). KF_ERR_IO "cannot open: <why>" / "read error", KF_ERR_LIMIT
 * "larger than N bytes", KF_ERR_NOMEM; messages do not name the path, which
 * the caller prints.
 */
kf_rc kf_file_read(const char *path, kf_buf *out, kf_err *err);

#endif
