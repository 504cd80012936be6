/* A growable byte buffer; every writer below keeps it NUL-terminated. */
#ifndef GATELOG_BUF_H
#define GATELOG_BUF_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct gl_buf {
  char *data;
  size_t len;
  size_t cap;
} gl_buf;

/* Make room for `more` bytes after len (plus a NUL). 0 or UV_ENOMEM. */
int gl_buf_reserve(gl_buf *b, size_t more);
int gl_buf_append(gl_buf *b, const void *p, size_t n);
int gl_buf_printf(gl_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void gl_buf_free(gl_buf *b);

/* Room for element n of the array *p of *cap elements of `size` bytes:
 * doubled when full (from 16). 0, or UV_ENOMEM with the array as it was. */
int gl_grow(void **p, size_t *cap, size_t n, size_t size);

static inline void gl_buf_reset(gl_buf *b) {
  b->len = 0;
  if (b->data) b->data[0] = '\0';
}

/* Append without a capacity check: the caller reserved first. */
static inline void gl_buf_put(gl_buf *b, const void *p, size_t n) {
  memcpy(b->data + b->len, p, n);
  b->len += n;
}

static inline void gl_buf_putc(gl_buf *b, char c) { b->data[b->len++] = c; }

/* Decimal digits of v, without a capacity check (20 bytes at most; 21
 * with the sign). */
void gl_buf_put_u64(gl_buf *b, uint64_t v);
void gl_buf_put_i64(gl_buf *b, int64_t v);

#endif
