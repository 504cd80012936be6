/* Random 64-bit values from the kernel's CSPRNG (getrandom), buffered so
 * that one system call serves many ids. */
#ifndef GATELOG_IDS_H
#define GATELOG_IDS_H

#include <stddef.h>
#include <stdint.h>

#define GL_IDS_BUFFERED 128

typedef struct gl_ids {
  uint64_t pool[GL_IDS_BUFFERED];
  unsigned left;
} gl_ids;

/* A nonzero random value. 0 or a negative UV error (the CSPRNG failed). */
int gl_ids_next(gl_ids *ids, uint64_t *out);

/* Write the 16 lowercase hex digits of v to out (17 bytes, NUL-ended). */
void gl_hex16(uint64_t v, char out[17]);

/* Parse exactly 16 hex digits (either case). 0 on success, UV_EINVAL. */
int gl_parse_hex16(const char *s, size_t len, uint64_t *out);

#endif
