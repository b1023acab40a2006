/*
 * mailbox_api.h: the HTTP API both mocks share (list, search, read, delete,
 * long-poll wait), as documented in docs/design.md and docs/mocks-openapi.yaml.
 */
#ifndef KF_MAILBOX_API_H
#define KF_MAILBOX_API_H

#include "kf/error.h"
#include "kf/httpd.h"
#include "kf/mailbox.h"

/*
 * Register GET/DELETE /api/v1/{collection}[/{id}[/raw]], GET
 * /api/v1/wait/{collection} and GET /api/v1/health on httpd, where
 * {collection} is the name of mb's collection ("messages", "letters"). The
 * search parameters of list and wait are the key names of every collection
 * in the table; one that mb's collection lacks matches nothing. mb is
 * borrowed and must outlive httpd.
 */
kf_rc kf_mailbox_api_register(kf_httpd *httpd, kf_mailbox *mb, kf_err *err);

#endif
