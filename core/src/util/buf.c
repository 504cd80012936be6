#include "util/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <uv.h>

int gl_buf_reserve(gl_buf *b, size_t more) {
  size_t need = b->len + more + 1;
  if (need <= b->cap) return 0;
  size_t cap = b->cap ? b->cap : 256;
  while (cap < need) cap *= 2;
  char *p = realloc(b->data, cap);
  if (p == NULL) return UV_ENOMEM;
  b->data = p;
  b->cap = cap;
  return 0;
}

int gl_buf_append(gl_buf *b, const void *p, size_t n) {
  int err = gl_buf_reserve(b, n);
  if (err) return err;
  gl_buf_put(b, p, n);
  b->data[b->len] = '\0';
  return 0;
}

int gl_buf_printf(gl_buf *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0) return UV_EINVAL;
  int err = gl_buf_reserve(b, (size_t)n);
  if (err) return err;
  va_start(ap, fmt);
  vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  b->len += (size_t)n;
  return 0;
}

int gl_grow(void **p, size_t *cap, size_t n, size_t size) {
  if (n < *cap) return 0;
  size_t c = *cap ? *cap * 2 : 16;
  void *q = realloc(*p, c * size);
  if (q == NULL) return UV_ENOMEM;
  *p = q;
  *cap = c;
  return 0;
}

void gl_buf_free(gl_buf *b) {
  free(b->data);
  b->data = NULL;
  b->len = b->cap = 0;
}

/* Two digits a division: numbers are most of a record's text. */
void gl_buf_put_u64(gl_buf *b, uint64_t v) {
  static const char pairs[] =
      "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
      "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
      "8081828384858687888990919293949596979899";
  char tmp[20];
  int n = 20;
  while (v >= 100) {
    unsigned d = (unsigned)(v % 100) * 2;
    v /= 100;
    tmp[--n] = pairs[d + 1];
    tmp[--n] = pairs[d];
  }
  if (v >= 10) {
    tmp[--n] = pairs[v * 2 + 1];
    tmp[--n] = pairs[v * 2];
  } else {
    tmp[--n] = (char)('0' + v);
  }
  gl_buf_put(b, tmp + n, (size_t)(20 - n));
}

void gl_buf_put_i64(gl_buf *b, int64_t v) {
  if (v < 0) {
    gl_buf_putc(b, '-');
    gl_buf_put_u64(b, (uint64_t)0 - (uint64_t)v);
  } else {
    gl_buf_put_u64(b, (uint64_t)v);
  }
}
