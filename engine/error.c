/*
** error.c -- names and messages of error codes and cancel sources.
*/
#include <string.h>
#include "internal.h"

/* libuv names a code it does not know in a string it allocates on every
** call, never freed: such codes are "unknown" here. */
static int uv_knows(int err) {
  char buf[64];
  if (!(err < 0 && err > CR__ERRBASE)) return 0;
  uv_err_name_r(err, buf, sizeof buf);
  return strncmp(buf, "Unknown system error", 20) != 0;
}

const char *cr_err_name(int err) {
  switch (err) {
#define XX(name, _) case CR_##name: return "CR_" #name;
    CR_ERRNO_MAP(XX)
#undef XX
  }
  if (uv_knows(err)) return uv_err_name(err);
  return "unknown";
}

const char *cr_strerror(int err) {
  switch (err) {
#define XX(name, msg) case CR_##name: return msg;
    CR_ERRNO_MAP(XX)
#undef XX
  }
  if (uv_knows(err)) return uv_strerror(err);
  return "unknown error";
}

const char *cr_source_name(cr_source_t src) {
  static const char *const names[] = {
    "none", "explicit", "deadline", "failure", "stop", "signal", "host",
    "deadlock"
  };
  if ((unsigned)src < sizeof names / sizeof names[0]) return names[src];
  return "unknown";
}

const char *cr_wait_name(cr_wait_t w) {
  static const char *const names[] = {
    "none", "other", "sleep", "checkpoint", "event", "semaphore", "send",
    "recv", "join", "start", "children", "stopping", "read", "write",
    "connect", "accept", "resolve", "process", "signal", "host", "idle"
  };
  if ((unsigned)w < sizeof names / sizeof names[0]) return names[w];
  return "unknown";
}
