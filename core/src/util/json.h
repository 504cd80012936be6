/* JSON text pieces. Strings are escaped as Go's encoding/json escapes
 * them (so a record reads byte for byte as the reference's): control
 * characters, quote, backslash, <, >, &, U+2028, U+2029, and every byte
 * that is not valid UTF-8 becomes U+FFFD. */
#ifndef GATELOG_JSON_H
#define GATELOG_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

/* Append `s` (len bytes, any content) as a quoted JSON string. */
int gl_json_string(gl_buf *b, const char *s, size_t len);
/* 1 if s[0..len) is valid UTF-8 (as gl_json_string reads it: anything
 * else it writes as U+FFFD, so two such strings may come out the same). */
int gl_json_utf8_valid(const char *s, size_t len);
/* s[0..len) with each byte that is not part of valid UTF-8 replaced by
 * U+FFFD, as gl_json_string reads it, into out (room for 3 * len bytes):
 * the bytes written. */
size_t gl_json_utf8_clean(char *out, const char *s, size_t len);
int gl_json_int64(gl_buf *b, int64_t v);
int gl_json_uint64(gl_buf *b, uint64_t v);
/* A finite double as Go writes a float64: the shortest form that reads
 * back equal, with an exponent only outside 1e-6 <= |v| < 1e21. UV_EINVAL
 * for NaN and infinities (JSON has no spelling for them). */
int gl_json_double(gl_buf *b, double v);

#endif
