/*
 * kh_step_check.h: a standalone `expect` or `capture` line in column 1; it
 * reads the subjects the steps before it left (the last response, mail, letter).
 */
#ifndef KH_STEP_CHECK_H
#define KH_STEP_CHECK_H

#include "kh_step.h"

extern const kh_step_def kh_step_check;

#endif
