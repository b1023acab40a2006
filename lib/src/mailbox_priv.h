/*
 * mailbox_priv.h: helpers shared by mailbox.c and mailbox_api.c (and their tests) only.
 *
 * kf_mailbox_api_register needs per-registration state (the collection name
 * and the mailbox) that must live as long as the HTTP daemon. The public
 * headers have no "unregister" call, and the mailbox is documented to outlive
 * the daemon, so the mailbox owns that state and frees it in kf_mailbox_free.
 */
#ifndef KF_MAILBOX_PRIV_H
#define KF_MAILBOX_PRIV_H

#include <stdint.h>

#include "kf/buf.h"
#include "kf/error.h"
#include "kf/mailbox.h"

/*
 * Hand ptr to mb: kf_mailbox_free calls free_fn(ptr) after every waiter has
 * left. On failure (KF_ERR_NOMEM) the caller still owns ptr.
 */
kf_rc kf_mailbox_attach(kf_mailbox *mb, void *ptr, void (*free_fn)(void *));

/*
 * Block until at least n threads are inside kf_mailbox_wait. A waiter holds
 * the mailbox mutex from registering itself until it sleeps on the condition
 * variable, so once this returns those waiters are truly asleep: tests use it
 * to prove that an add (or a shutdown) wakes a sleeping waiter, without
 * sleeping themselves.
 */
void kf_mailbox_await_waiters(kf_mailbox *mb, unsigned n);

/*
 * Append sqlite's plan for the search of filter (EXPLAIN QUERY PLAN, one
 * line per step) to out, so tests can prove that a search or a wait uses the
 * (key, value) index instead of scanning every item. It is the statement a
 * wait runs (it reads ids only); with filter->after_id > 0 it is a wait's
 * later look, whose cursor is inside each (key, value, item_id) lookup.
 */
kf_rc kf_mailbox_plan(kf_mailbox *mb, const kf_mailbox_filter *filter, kf_buf *out, kf_err *err);

/*
 * How many transactions have stored items so far (each group commit of
 * kf_mailbox_add and kf_mailbox_add_all counts once), so tests can prove that
 * items added together share one commit.
 */
uint64_t kf_mailbox_commits(kf_mailbox *mb);

#endif
