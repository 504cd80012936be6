/* Standard base64 (RFC 4648, section 4) with padding. */
#ifndef GATELOG_BASE64_H
#define GATELOG_BASE64_H

#include <stddef.h>

static inline size_t gl_base64_len(size_t n) { return (n + 2) / 3 * 4; }

/* Write the encoding of src to out (gl_base64_len(n) bytes, no NUL). */
void gl_base64_encode(const unsigned char *src, size_t n, char *out);

/* Decode; out needs n / 4 * 3 bytes. Returns the length, or -1 if src is
 * not padded standard base64. */
long gl_base64_decode(const char *src, size_t n, unsigned char *out);

#endif
