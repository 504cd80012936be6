#include "util/json.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

/* 1 for bytes that are copied as they are. */
static const unsigned char plain[256] = {
#define R16(v) v, v, v, v, v, v, v, v, v, v, v, v, v, v, v, v
    R16(0), R16(0), /* 0x00-0x1f: control */
    /* 0x20-0x2f: space ! " # $ % & ' ( ) * + , - . / */
    1, 1, 0, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    /* 0x30-0x3f: 0-9 : ; < = > ? */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 0, 1,
    R16(1), /* 0x40-0x4f */
    /* 0x50-0x5f: backslash at 0x5c */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1,
    R16(1), R16(1), /* 0x60-0x7f */
    R16(0), R16(0), R16(0), R16(0), R16(0), R16(0), R16(0), R16(0)
#undef R16
};

/* Length of the valid UTF-8 sequence at s (RFC 3629: no overlong forms,
 * no surrogates, nothing past U+10FFFF), or 0 if it is not valid. */
static size_t utf8_len(const unsigned char *s, size_t left, uint32_t *cp) {
  unsigned char c = s[0];
  size_t n;
  uint32_t v, min;
  if (c >= 0xc2 && c <= 0xdf) n = 2, v = c & 0x1f, min = 0x80;
  else if (c >= 0xe0 && c <= 0xef) n = 3, v = c & 0x0f, min = 0x800;
  else if (c >= 0xf0 && c <= 0xf4) n = 4, v = c & 0x07, min = 0x10000;
  else return 0;
  if (left < n) return 0;
  for (size_t i = 1; i < n; i++) {
    if ((s[i] & 0xc0) != 0x80) return 0;
    v = (v << 6) | (s[i] & 0x3f);
  }
  if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff)) return 0;
  *cp = v;
  return n;
}

int gl_json_utf8_valid(const char *str, size_t len) {
  const unsigned char *s = (const unsigned char *)str;
  uint32_t cp;
  for (size_t i = 0, n; i < len; i += n) {
    if (s[i] < 0x80) n = 1;
    else if ((n = utf8_len(s + i, len - i, &cp)) == 0) return 0;
  }
  return 1;
}

size_t gl_json_utf8_clean(char *out, const char *str, size_t len) {
  const unsigned char *s = (const unsigned char *)str;
  char *o = out;
  uint32_t cp;
  for (size_t i = 0, n; i < len; i += n) {
    if (s[i] < 0x80) n = 1;
    else if ((n = utf8_len(s + i, len - i, &cp)) == 0) {
      memcpy(o, "\xef\xbf\xbd", 3);
      o += 3;
      n = 1;
      continue;
    }
    memcpy(o, s + i, n);
    o += n;
  }
  return (size_t)(o - out);
}

int gl_json_string(gl_buf *b, const char *str, size_t len) {
  static const char hex[] = "0123456789abcdef";
  const unsigned char *s = (const unsigned char *)str;
  /* Worst case: every byte becomes a 6-byte \uXXXX escape. */
  int err = gl_buf_reserve(b, len * 6 + 2);
  if (err) return err;
  gl_buf_putc(b, '"');
  size_t i = 0;
  while (i < len) {
    size_t run = i;
    while (run < len && plain[s[run]]) run++;
    if (run > i) {
      gl_buf_put(b, s + i, run - i);
      i = run;
      if (i == len) break;
    }
    unsigned char c = s[i];
    if (c < 0x80) {
      gl_buf_putc(b, '\\');
      switch (c) {
        case '"': gl_buf_putc(b, '"'); break;
        case '\\': gl_buf_putc(b, '\\'); break;
        case '\n': gl_buf_putc(b, 'n'); break;
        case '\r': gl_buf_putc(b, 'r'); break;
        case '\t': gl_buf_putc(b, 't'); break;
        default:
          gl_buf_put(b, "u00", 3);
          gl_buf_putc(b, hex[c >> 4]);
          gl_buf_putc(b, hex[c & 0xf]);
      }
      i++;
      continue;
    }
    uint32_t cp;
    size_t n = utf8_len(s + i, len - i, &cp);
    if (n == 0) {
      gl_buf_put(b, "\\ufffd", 6);
      i++;
    } else if (cp == 0x2028 || cp == 0x2029) {
      gl_buf_put(b, cp == 0x2028 ? "\\u2028" : "\\u2029", 6);
      i += n;
    } else {
      gl_buf_put(b, s + i, n);
      i += n;
    }
  }
  gl_buf_putc(b, '"');
  b->data[b->len] = '\0';
  return 0;
}

int gl_json_uint64(gl_buf *b, uint64_t v) {
  char tmp[24];
  size_t n = 0;
  do {
    tmp[sizeof(tmp) - 1 - n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v != 0);
  return gl_buf_append(b, tmp + sizeof(tmp) - n, n);
}

int gl_json_int64(gl_buf *b, int64_t v) {
  if (v >= 0) return gl_json_uint64(b, (uint64_t)v);
  int err = gl_buf_append(b, "-", 1);
  if (err) return err;
  return gl_json_uint64(b, (uint64_t)0 - (uint64_t)v);
}

/* As Go's encoding/json writes a float64: the fewest digits that read
 * back equal, plain decimals for 1e-6 <= |v| < 1e21, otherwise an
 * exponent: "1e-7", "1e+21", "1e+300". */
int gl_json_double(gl_buf *b, double v) {
  if (!isfinite(v)) return UV_EINVAL;
  if (v == 0) return gl_buf_append(b, signbit(v) ? "-0" : "0", signbit(v) ? 2 : 1);
  if (v == floor(v) && fabs(v) < 1e21 && fabs(v) < 9.2e18) return gl_json_int64(b, (int64_t)v);
  char sci[40], out[64];
  int prec = 1;
  for (; prec < 17; prec++) {
    snprintf(sci, sizeof(sci), "%.*e", prec - 1, v);
    if (strtod(sci, NULL) == v) break;
  }
  snprintf(sci, sizeof(sci), "%.*e", prec - 1, v);
  int exp10 = atoi(strchr(sci, 'e') + 1);
  double a = fabs(v);
  if (a >= 1e-6 && a < 1e21) {
    int decimals = prec - 1 - exp10;
    snprintf(out, sizeof(out), "%.*f", decimals > 0 ? decimals : 0, v);
  } else {
    char *e = strchr(sci, 'e');
    *e = '\0';
    snprintf(out, sizeof(out), exp10 < 0 ? "%se-%d" : "%se+%02d", sci, abs(exp10));
  }
  return gl_buf_append(b, out, strlen(out));
}
