/* Log lines to the host's callback, and a once-per-second limiter for
 * lines that a broken script or a dead sink could repeat at record rate. */
#ifndef GATELOG_LOG_H
#define GATELOG_LOG_H

#include <stdint.h>

typedef struct gatelog_s gatelog_t;

typedef struct gl_ratelimit {
  uint64_t last_ms;    /* when a line last went out; 0: never */
  uint64_t suppressed; /* lines held back since */
} gl_ratelimit;

void gl_log(gatelog_t *gl, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* 1 if a line may go out now (and *suppressed says how many were held
 * back before it), 0 if it is held back and counted. */
int gl_ratelimit_allow(gl_ratelimit *rl, uint64_t now_ms, uint64_t *suppressed);

#endif
