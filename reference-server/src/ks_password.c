/*
 * ks_password.c: ACC-04's checks of a new password as a form sends it (see
 * ks_password.h). The password faults act here, so they break every route
 * that sets a password alike.
 */
#include "ks_password.h"

#include "ks_fault.h"
#include "ks_handler.h"
#include "ks_server.h"

void ks_password_check(const ks_server *srv, const json_t *body, json_t *error, const char **pw,
                       size_t *pw_len, kf_pw_report *report) {
  const char *rep;
  size_t rep_len;
  ks_member pw_m = ks_handler_string(body, "password", pw, pw_len);
  ks_member rep_m = ks_handler_string(body, "password_repeat", &rep, &rep_len);
  if (rep_m == KS_MEMBER_ABSENT && ks_fault_on(srv, KS_FAULT_PASSWORD_REPEAT_OPTIONAL)) {
    rep_m = pw_m;
    rep = *pw;
    rep_len = *pw_len;
  }
  kf_pw_check(*pw, *pw_len, rep_m == KS_MEMBER_PRESENT ? rep : NULL, rep_len, report);
  if (ks_fault_on(srv, KS_FAULT_PASSWORD_LENGTH_IN_BYTES))
    report->ok[KF_PW_LENGTH] = *pw_len >= KF_PW_MIN_CHARS && *pw_len <= KF_PW_MAX_CHARS;
  if (!ks_handler_member_problem(error, "password", pw_m, KS_FIELD_PASSWORD_REQUIRED)) {
    for (int c = KF_PW_LENGTH; c <= KF_PW_FORBIDDEN; c++) {
      if (!report->ok[c])
        kf_http_error_add_field(error, "password", kf_pw_criterion_code((kf_pw_criterion)c),
                                kf_pw_criterion_label((kf_pw_criterion)c));
    }
  }
  if (!ks_handler_member_problem(error, "password_repeat", rep_m,
                                 KS_FIELD_PASSWORD_REPEAT_REQUIRED) &&
      pw_m == KS_MEMBER_PRESENT && !report->ok[KF_PW_REPEAT])
    kf_http_error_add_field(error, "password_repeat", kf_pw_criterion_code(KF_PW_REPEAT),
                            kf_pw_criterion_label(KF_PW_REPEAT));
}

void ks_password_attach_checks(json_t *error, const kf_pw_report *report) {
  if (!ks_handler_has_fields(error))
    return;
  json_t *checks = json_array();
  for (int c = 0; c < KF_PW_CRITERIA_COUNT; c++) {
    json_array_append_new(
        checks, json_pack("{s:s, s:b, s:s}", "criterion", kf_pw_criterion_key((kf_pw_criterion)c),
                          "ok", report->ok[c], "label", kf_pw_criterion_label((kf_pw_criterion)c)));
  }
  json_object_set_new(error, "password_checks", checks);
}
