/*
 * ks_server.h: konform-server's configuration and the state its handlers share.
 */
#ifndef KS_SERVER_H
#define KS_SERVER_H

#include <stdbool.h>
#include <stddef.h>

#include "kf/httpd.h"
#include "kf/log.h"
#include "ks_db.h"
#include "ks_fault.h"
#include "ks_pwhash.h"
#include "ks_variant.h"

typedef struct ks_outbox ks_outbox;

/* Settings from the command line. Strings point into argv or literals (borrowed). */
typedef struct ks_config {
  const char *bind;              /* "127.0.0.1". */
  unsigned port;                 /* 8480; 0 = any free port. */
  const char *db_path;           /* "konform-server.db". */
  bool test_mode;                /* Enables /test/v1 and the Konform-Clock header. */
  const char *hash_cost;         /* "interactive", "moderate" or "test" (test mode only). */
  unsigned long long argon2_ops; /* 0 = from hash_cost. */
  size_t argon2_mem_kib;         /* 0 = from hash_cost. */
  const char *public_url;        /* NULL = http://<bind>:<actual port>. */
  const char *smtp_url;          /* "smtp://127.0.0.1:8425". */
  const char *mail_domain;       /* "arbeitsagentur.de". */
  const char *post_url;          /* "http://127.0.0.1:8427"; not used by ACC yet. */
  unsigned threads;              /* Handler thread pool, 8. */
  unsigned outbox_senders;       /* Outbox sender threads (SMTP sessions), KS_OUTBOX_SENDERS. */
  size_t max_body;               /* 1 MiB. */
  kf_httpd_limits http;          /* Slow clients: KF_HTTPD_LIMITS_DEFAULT. */
  unsigned lockout_attempts;     /* AUTH-05: the failure that locks, 5; 0 = none ever locks. */
  unsigned lockout_minutes;      /* AUTH-05: how long a lock lasts, 15. */
  int ready_fd;                  /* -1 = none. */
  kf_log_level log_level;
  bool faults[KS_FAULT_COUNT];     /* --fault: switched-on faults (test mode only). */
  bool variants[KS_VARIANT_COUNT]; /* --variant: switched-on variants (test mode only). */
} ks_config;

/* Fill cfg with the defaults listed above. */
void ks_config_init(ks_config *cfg);

/* What every handler needs. Owned by main; handlers borrow it. */
typedef struct ks_server {
  const ks_config *cfg;
  char *public_url; /* Resolved base URL without trailing slash; owned. */
  ks_db *db;
  ks_pwhash pwhash;
  ks_outbox *outbox; /* May be NULL in unit tests: mails then just wait in the table. */
} ks_server;

#endif
