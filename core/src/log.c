#include "log.h"

#include <stdarg.h>
#include <stdio.h>

#include "internal.h"

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void gl_log(gatelog_t *gl, int level, const char *fmt, ...) {
  if (level > gl->opts.log_level) return;
  char line[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof(line), fmt, ap);
  va_end(ap);
  if (gl->log_fn) {
    gl->log_fn(gl->log_data, level, line);
    return;
  }
  fprintf(stderr, "gatelog %s: %s\n", level_names[level & 3], line);
}

int gl_ratelimit_allow(gl_ratelimit *rl, uint64_t now_ms, uint64_t *suppressed) {
  if (rl->last_ms != 0 && now_ms < rl->last_ms + 1000) {
    rl->suppressed++;
    return 0;
  }
  *suppressed = rl->suppressed;
  rl->suppressed = 0;
  rl->last_ms = now_ms ? now_ms : 1;
  return 1;
}
