/* The two clocks of a session: wall time for the record's timestamps,
 * monotonic time for durations and expiry (wall time may jump). */
#ifndef GATELOG_CLOCK_H
#define GATELOG_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t gl_clock_real_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline uint64_t gl_clock_mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

#endif
