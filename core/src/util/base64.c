#include "util/base64.h"

#include <stdint.h>

static const char alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void gl_base64_encode(const unsigned char *src, size_t n, char *out) {
  size_t i = 0;
  for (; i + 3 <= n; i += 3) {
    uint32_t v = (uint32_t)src[i] << 16 | (uint32_t)src[i + 1] << 8 | src[i + 2];
    *out++ = alphabet[v >> 18];
    *out++ = alphabet[(v >> 12) & 63];
    *out++ = alphabet[(v >> 6) & 63];
    *out++ = alphabet[v & 63];
  }
  if (n - i == 1) {
    uint32_t v = (uint32_t)src[i] << 16;
    *out++ = alphabet[v >> 18];
    *out++ = alphabet[(v >> 12) & 63];
    *out++ = '=';
    *out++ = '=';
  } else if (n - i == 2) {
    uint32_t v = (uint32_t)src[i] << 16 | (uint32_t)src[i + 1] << 8;
    *out++ = alphabet[v >> 18];
    *out++ = alphabet[(v >> 12) & 63];
    *out++ = alphabet[(v >> 6) & 63];
    *out++ = '=';
  }
}

static int sextet(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

long gl_base64_decode(const char *src, size_t n, unsigned char *out) {
  if (n % 4 != 0) return -1;
  long len = 0;
  for (size_t i = 0; i < n; i += 4) {
    int last = i + 4 == n;
    int a = sextet(src[i]), b = sextet(src[i + 1]);
    int c = src[i + 2] == '=' && last ? -2 : sextet(src[i + 2]);
    int d = src[i + 3] == '=' && last ? -2 : sextet(src[i + 3]);
    if (a < 0 || b < 0 || c == -1 || d == -1 || (c == -2 && d != -2)) return -1;
    uint32_t v = (uint32_t)a << 18 | (uint32_t)b << 12;
    out[len++] = (unsigned char)(v >> 16);
    if (c >= 0) {
      v |= (uint32_t)c << 6;
      out[len++] = (unsigned char)(v >> 8);
    }
    if (d >= 0) {
      v |= (uint32_t)d;
      out[len++] = (unsigned char)v;
    }
  }
  return len;
}
