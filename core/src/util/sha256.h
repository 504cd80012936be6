/* SHA-256 (FIPS 180-4), to name a script by its content the way
 * `sha256sum` does. */
#ifndef GATELOG_SHA256_H
#define GATELOG_SHA256_H

#include <stddef.h>

/* Write the 64 lowercase hex digits of SHA-256(data) and a NUL to out. */
void gl_sha256_hex(const void *data, size_t len, char out[65]);

#endif
