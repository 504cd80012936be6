#include "util/ids.h"

#include <errno.h>
#include <sys/random.h>
#include <uv.h>

static int refill(gl_ids *ids) {
  char *p = (char *)ids->pool;
  size_t want = sizeof(ids->pool);
  while (want > 0) {
    ssize_t n = getrandom(p, want, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return -errno;
    }
    p += n;
    want -= (size_t)n;
  }
  ids->left = GL_IDS_BUFFERED;
  return 0;
}

int gl_ids_next(gl_ids *ids, uint64_t *out) {
  for (;;) {
    if (ids->left == 0) {
      int err = refill(ids);
      if (err) return err;
    }
    uint64_t v = ids->pool[--ids->left];
    ids->pool[ids->left] = 0; /* a used id does not linger in memory */
    if (v != 0) {
      *out = v;
      return 0;
    }
  }
}

void gl_hex16(uint64_t v, char out[17]) {
  static const char digits[] = "0123456789abcdef";
  for (int i = 15; i >= 0; i--) {
    out[i] = digits[v & 0xf];
    v >>= 4;
  }
  out[16] = '\0';
}

int gl_parse_hex16(const char *s, size_t len, uint64_t *out) {
  if (len != 16) return UV_EINVAL;
  uint64_t v = 0;
  for (size_t i = 0; i < 16; i++) {
    char c = s[i];
    unsigned d;
    if (c >= '0' && c <= '9') d = (unsigned)(c - '0');
    else if (c >= 'a' && c <= 'f') d = (unsigned)(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F') d = (unsigned)(c - 'A' + 10);
    else return UV_EINVAL;
    v = (v << 4) | d;
  }
  *out = v;
  return 0;
}
