#include "gatelog.h"

#include <stddef.h>

static const struct {
  int code;
  const char *name;
  const char *text;
} own[] = {
    {GATELOG_ENOSESSION, "ENOSESSION", "unknown or already ended session id"},
    {GATELOG_ECLOSED, "ECLOSED", "gatelog is closing or closed"},
    {GATELOG_ESCRIPT, "ESCRIPT", "the policy script failed to load or is invalid"},
    {GATELOG_ECONFIG, "ECONFIG", "invalid option or script config value"},
    {GATELOG_EWRONGPROTO, "EWRONGPROTO", "the session is of the other protocol"},
    {GATELOG_EFULL, "EFULL", "the session table is full (max_sessions)"},
    {GATELOG_EAGAIN, "EAGAIN", "the producer's queue is full (producer_queue); try again"},
};

const char *gatelog_strerror(int err) {
  if (err == 0) return "success";
  for (size_t i = 0; i < sizeof(own) / sizeof(own[0]); i++)
    if (own[i].code == err) return own[i].text;
  return uv_strerror(err);
}

const char *gatelog_err_name(int err) {
  if (err == 0) return "OK";
  for (size_t i = 0; i < sizeof(own) / sizeof(own[0]); i++)
    if (own[i].code == err) return own[i].name;
  return uv_err_name(err);
}
