/*
 * kp_service.h: konform-post's HTTP routes: POST /api/v1/letters plus the
 * shared mailbox API (list, read, delete, wait, health) on "letters".
 */
#ifndef KP_SERVICE_H
#define KP_SERVICE_H

#include "kf/error.h"
#include "kf/httpd.h"
#include "kf/mailbox.h"

/* Register every route on httpd. mb is borrowed and must outlive httpd. */
kf_rc kp_service_register(kf_httpd *httpd, kf_mailbox *mb, kf_err *err);

#endif
