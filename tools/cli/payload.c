/* Decoding a payload of the default codec, base64(zlib(JSON array)), the
 * way a collector would: its own base64 decoder and zlib's inflate, not
 * the core's code, so that `gatelog decode` also checks the core. Each
 * stage's failure is reported with the stage's name. */
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "cli.h"

#define INFLATE_MAX ((size_t)1 << 30) /* without a limit of the caller's */

/* The value of each base64 character, -1 for the others. */
static int b64_value(unsigned char c) {
  static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  static signed char table[256];
  static int ready;
  if (!ready) {
    ready = 1;
    memset(table, -1, sizeof(table));
    for (int i = 0; i < 64; i++) table[(unsigned char)alphabet[i]] = (signed char)i;
  }
  return table[c];
}

static int is_space(unsigned char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

/* Standard base64 with padding. Whitespace anywhere is skipped (a payload
 * pasted from a terminal or a file ends with a newline, or is wrapped). */
static int b64_decode(const char *s, size_t n, unsigned char **out, size_t *outlen, char *err,
                      size_t errlen) {
  unsigned char *o = malloc(n / 4 * 3 + 3);
  if (o == NULL) {
    snprintf(err, errlen, "base64: out of memory");
    return -1;
  }
  size_t len = 0, count = 0;
  unsigned acc = 0;
  int pad = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (is_space(c)) continue;
    int v = b64_value(c);
    if (c == '=' && count % 4 >= 2) {
      pad++;
      v = 0;
    } else if (v < 0 || pad) {
      if (v < 0 && c >= 0x20 && c < 0x7f)
        snprintf(err, errlen, "base64: '%c' at offset %zu is not in the alphabet", c, i);
      else if (v < 0) snprintf(err, errlen, "base64: byte 0x%02x at offset %zu is not in the alphabet", c, i);
      else snprintf(err, errlen, "base64: data after the padding at offset %zu", i);
      free(o);
      return -1;
    }
    acc = acc << 6 | (unsigned)v;
    if (++count % 4 == 0) {
      o[len++] = (unsigned char)(acc >> 16);
      o[len++] = (unsigned char)(acc >> 8);
      o[len++] = (unsigned char)acc;
      acc = 0;
    }
  }
  if (count == 0 || count % 4 != 0) {
    snprintf(err, errlen, count ? "base64: %zu characters, not a multiple of 4 (truncated?)"
                                : "base64: the payload is empty",
             count);
    free(o);
    return -1;
  }
  *out = o;
  *outlen = len - (size_t)pad;
  return 0;
}

/* "16 MiB" or "1000 bytes". */
static void size_text(size_t n, char *out, size_t len) {
  if (n >= (1u << 20) && n % (1u << 20) == 0) snprintf(out, len, "%zu MiB", n >> 20);
  else snprintf(out, len, "%zu bytes", n);
}

/* Inflate into a buffer that doubles up to max + 1 bytes (the one past
 * max tells a stream that inflates to exactly max from a longer one), so
 * that what a refused payload costs is bounded by max, not by its ratio. */
static int inflate_all(const unsigned char *z, size_t n, size_t max, char **out, size_t *outlen,
                       char *err, size_t errlen) {
  z_stream st;
  memset(&st, 0, sizeof(st));
  if (inflateInit(&st) != Z_OK) { /* the zlib format (RFC 1950), not gzip */
    snprintf(err, errlen, "zlib: cannot start inflate");
    return -1;
  }
  size_t cap = n < max / 4 ? n * 4 + 1024 : max + 1, len = 0;
  if (cap > max + 1) cap = max + 1;
  char *o = malloc(cap + 1);
  st.next_in = (Bytef *)z;
  st.avail_in = (uInt)n;
  int rc = Z_OK;
  while (o && rc == Z_OK && len <= max) {
    if (len == cap) {
      size_t next = cap * 2 > max + 1 ? max + 1 : cap * 2;
      char *bigger = next > cap ? realloc(o, next + 1) : NULL;
      if (bigger == NULL) break;
      o = bigger;
      cap = next;
    }
    st.next_out = (Bytef *)o + len;
    st.avail_out = (uInt)(cap - len);
    rc = inflate(&st, Z_NO_FLUSH);
    len = cap - st.avail_out;
    if (rc == Z_BUF_ERROR && st.avail_in == 0) break; /* needs input that is not there */
    if (rc == Z_BUF_ERROR) rc = Z_OK;
  }
  int ok = 0;
  char limit[32];
  size_text(max, limit, sizeof(limit));
  if (len > max) snprintf(err, errlen, "zlib: the JSON inflates to more than %s (the limit)", limit);
  else if (rc == Z_STREAM_END && st.avail_in > 0)
    snprintf(err, errlen, "zlib: %u bytes after the end of the stream", st.avail_in);
  else if (rc == Z_STREAM_END) ok = 1;
  else if (o == NULL || rc == Z_OK) snprintf(err, errlen, "zlib: out of memory");
  else if (rc == Z_BUF_ERROR) snprintf(err, errlen, "zlib: the stream is truncated");
  else snprintf(err, errlen, "zlib: %s", st.msg ? st.msg : zError(rc));
  inflateEnd(&st);
  if (!ok) {
    free(o);
    return -1;
  }
  o[len] = '\0';
  *out = o;
  *outlen = len;
  return 0;
}

int cli_payload_decode(const char *text, size_t len, const cli_payload_limits *limits,
                       cli_payload *out, char *err, size_t errlen) {
  memset(out, 0, sizeof(*out));
  unsigned char *z;
  size_t json_max = limits && limits->json_max ? limits->json_max : INFLATE_MAX;
  if (b64_decode(text, len, &z, &out->zlib_len, err, errlen)) return -1;
  int rc = inflate_all(z, out->zlib_len, json_max, &out->json, &out->json_len, err, errlen);
  free(z);
  if (rc) return -1;
  char why[256];
  out->doc = json_parse(out->json, out->json_len, limits ? limits->values_max : 0, why, sizeof(why));
  if (out->doc == NULL) {
    snprintf(err, errlen, "JSON: %s", why);
  } else if (out->doc->type != JSON_ARRAY) {
    snprintf(err, errlen, "JSON: the payload is %s, not an array of records",
             json_type_name(out->doc->type));
  } else {
    return 0;
  }
  cli_payload_free(out);
  return -1;
}

void cli_payload_free(cli_payload *p) {
  json_free(p->doc);
  free(p->json);
  memset(p, 0, sizeof(*p));
}
