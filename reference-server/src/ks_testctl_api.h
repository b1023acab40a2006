/*
 * ks_testctl_api.h: the routes of the test-control area (/test/v1, only with
 * --test-mode): test clocks. The handlers live in ks_testctl_api.c.
 */
#ifndef KS_TESTCTL_API_H
#define KS_TESTCTL_API_H

#include "ks_api.h"

extern const ks_area ks_testctl_api;

#endif
