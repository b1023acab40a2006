/*
 * km_store.c: konform-mail's mails in a kf_mailbox (see km_store.h).
 */
#include "km_store.h"

#include <assert.h>

#include "kf/alloc.h"
#include "kf/log.h"
#include "km_mime.h"

static kf_rc store_expand(void *ctx, const json_t *stored, const char *raw, size_t raw_len,
                          json_t **out, kf_err *err) {
  (void)ctx;
  return km_mime_expand(stored, raw, raw_len, out, err);
}

void km_store_setup(kf_mailbox *mb) {
  assert(mb != NULL);
  kf_mailbox_set_expand(mb, store_expand, NULL);
}

/* The SMTP engine's reading of a store result (see km_smtp_deliver_fn). */
static kf_rc store_verdict(kf_mailbox *mb, kf_rc rc) {
  /*
   * KF_ERR_LIMIT tells the SMTP engine the store is full (452 4.3.1). The
   * mailbox also says KF_ERR_LIMIT for a single document over its size cap,
   * which deleting mails would not cure; that one stays a plain failure.
   */
  if (rc == KF_ERR_LIMIT && kf_mailbox_count(mb) < KM_STORE_MAX_ITEMS)
    return KF_ERR_INVALID;
  return rc;
}

static void store_log(const km_smtp_envelope *env, size_t len, kf_rc rc, int64_t id,
                      const kf_err *err) {
  if (rc == KF_OK) {
    kf_info("stored mail %lld from <%s> to %zu recipient(s), %zu bytes", (long long)id,
            env->mail_from, env->rcpt_to_len, len);
  } else {
    kf_warn("mail from <%s> not stored: %s", env->mail_from, err->message);
  }
}

kf_rc km_store_deliver(void *ctx, const km_smtp_envelope *env, const char *data, size_t len,
                       int64_t *id_out) {
  kf_mailbox *mb = ctx;
  kf_err err;
  kf_err_init(&err);
  json_t *summary = NULL;
  kf_rc rc = km_mime_summary(data, len, env, &summary, &err);
  /* The "messages" collection finds the search values in the summary. */
  if (rc == KF_OK)
    rc = kf_mailbox_add(mb, summary, data, len, id_out, &err);
  json_decref(summary);
  store_log(env, len, rc, rc == KF_OK ? *id_out : 0, &err);
  return store_verdict(mb, rc);
}

void km_store_deliver_all(void *ctx, km_delivery *const *msgs, size_t n) {
  kf_mailbox *mb = ctx;
  kf_mailbox_entry *entries = kf_calloc(n, sizeof(*entries));
  if (entries == NULL) {
    /* One at a time needs no array. */
    for (size_t i = 0; i < n; i++)
      msgs[i]->rc = km_store_deliver(mb, &msgs[i]->env, msgs[i]->data, msgs[i]->len, &msgs[i]->id);
    return;
  }
  kf_err err;
  kf_err_init(&err);
  for (size_t i = 0; i < n; i++) {
    entries[i].raw = msgs[i]->data;
    entries[i].raw_len = msgs[i]->len;
    /* Without a summary (out of memory) the doc stays NULL, which the store refuses. */
    (void)km_mime_summary(msgs[i]->data, msgs[i]->len, &msgs[i]->env, &entries[i].doc, &err);
  }
  kf_mailbox_add_all(mb, entries, n);
  for (size_t i = 0; i < n; i++) {
    km_delivery *d = msgs[i];
    kf_mailbox_entry *e = &entries[i];
    kf_rc rc = e->doc != NULL ? e->rc : KF_ERR_NOMEM;
    d->id = rc == KF_OK ? e->id : 0;
    store_log(&d->env, d->len, rc, d->id, e->doc != NULL ? &e->err : &err);
    d->rc = store_verdict(mb, rc);
    json_decref(e->doc);
  }
  kf_free(entries);
}
