/* Time texts in the forms Go prints them, so that records and log lines
 * read as the reference's do. */
#ifndef GATELOG_TIMEFMT_H
#define GATELOG_TIMEFMT_H

#include <stddef.h>
#include <stdint.h>

#define GL_TIME_STRLEN 40
#define GL_DURATION_STRLEN 40

/* UTC RFC3339 with nanoseconds, trailing zeros trimmed, no fraction when
 * zero: "2026-11-27T10:00:05.9876Z" (Go's time.RFC3339Nano). */
size_t gl_fmt_time_nano(uint64_t unix_ns, char out[GL_TIME_STRLEN]);

/* UTC RFC3339 to the second: "2026-11-27T10:00:05Z". */
size_t gl_fmt_time_sec(uint64_t unix_ns, char out[GL_TIME_STRLEN]);

/* A duration as Go's time.Duration prints it: "5.9876s", "1m30s",
 * "150ms", "2.5µs", "0s". */
size_t gl_fmt_duration(int64_t ns, char out[GL_DURATION_STRLEN]);

#endif
