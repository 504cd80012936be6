/* lua/gatelog/json.lua and gatelog/record.lua in C: the same bytes for
 * the same values, which is what lets a C codec stand in for a Lua one. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "outbox/codecs/codec_impl.h"

/* Bytes json.string's pattern stops at: controls, '"', '\', '<', '>',
 * '&', and 0xE2 (which may start U+2028 / U+2029). */
static const unsigned char stop[256] = {
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    ['"'] = 1, ['\\'] = 1, ['<'] = 1, ['>'] = 1, ['&'] = 1, [0xE2] = 1};

/* json.string's text between its quotes. Strings are short: bytes are
 * copied as they are scanned, not by a memcpy a run. */
static void string_body(gl_buf *b, const char *str, size_t len) {
  static const char hex[] = "0123456789abcdef";
  const unsigned char *s = (const unsigned char *)str;
  char *o = b->data + b->len;
  for (size_t i = 0; i < len;) {
    unsigned char c = s[i++];
    if (!stop[c]) {
      *o++ = (char)c;
      continue;
    }
    const char *e = NULL;
    switch (c) {
      case '"': e = "\\\""; break;
      case '\\': e = "\\\\"; break;
      case '\b': e = "\\b"; break;
      case '\f': e = "\\f"; break;
      case '\n': e = "\\n"; break;
      case '\r': e = "\\r"; break;
      case '\t': e = "\\t"; break;
      case '<': e = "\\u003c"; break;
      case '>': e = "\\u003e"; break;
      case '&': e = "\\u0026"; break;
      case 0xE2:
        if (len - i >= 2 && s[i] == 0x80 && (s[i + 1] == 0xA8 || s[i + 1] == 0xA9)) {
          e = s[i + 1] == 0xA8 ? "\\u2028" : "\\u2029";
          i += 2;
        } else {
          *o++ = (char)c;
          continue;
        }
        break;
      default:
        memcpy(o, "\\u00", 4);
        o[4] = hex[c >> 4];
        o[5] = hex[c & 0xf];
        o += 6;
        continue;
    }
    size_t n = strlen(e);
    memcpy(o, e, n);
    o += n;
  }
  b->len = (size_t)(o - b->data);
}

void gl_lua_string(gl_buf *b, const char *s, size_t len) {
  gl_buf_putc(b, '"');
  string_body(b, s, len);
  gl_buf_putc(b, '"');
}

int gl_lua_plain(const char *str, size_t len) {
  const unsigned char *s = (const unsigned char *)str;
  for (size_t i = 0; i < len; i++)
    if (stop[s[i]]) return 0;
  return 1;
}

/* json.string of json.string of s, without the outer quotes: a string of
 * the record's JSON text when that text is itself a string (loki's line).
 * tmp has room for json.string(s). */
static void string_embedded(gl_buf *b, const char *s, size_t len, gl_buf *tmp) {
  if (gl_lua_plain(s, len)) {
    PUT(b, "\\\"");
    gl_buf_put(b, s, len);
    PUT(b, "\\\"");
    return;
  }
  gl_buf_reset(tmp);
  gl_lua_string(tmp, s, len);
  string_body(b, tmp->data, tmp->len);
}

#define EXACT 9007199254740992.0 /* 2^53: Lua numbers are exact below */

void gl_lua_number(gl_buf *b, double v) {
  if (v == floor(v) && v > -EXACT && v < EXACT) {
    gl_buf_put_i64(b, (int64_t)v);
    return;
  }
  if (isnan(v) || isinf(v)) {
    PUT(b, "null");
    return;
  }
  char tmp[40];
  int n = snprintf(tmp, sizeof(tmp), "%.14g", v);
  if (strtod(tmp, NULL) != v) n = snprintf(tmp, sizeof(tmp), "%.17g", v);
  gl_buf_put(b, tmp, (size_t)n);
}

void gl_lua_u64(gl_buf *b, uint64_t v) {
  if (v < (uint64_t)1 << 53) gl_buf_put_u64(b, v);
  else gl_lua_number(b, (double)v);
}

void gl_lua_i64(gl_buf *b, int64_t v) {
  if (v > -((int64_t)1 << 53) && v < (int64_t)1 << 53) gl_buf_put_i64(b, v);
  else gl_lua_number(b, (double)v);
}

/* The record's text in one of two styles: plain JSON, or (emb) that JSON
 * as the inside of a JSON string, every quote and escape escaped again,
 * written so at once rather than escaped afterwards. L(plain, embedded)
 * picks the literal. */
#define L(p, e) (emb ? PUT(b, e) : PUT(b, p))

static void str(gl_buf *b, gl_str v, int emb, gl_buf *tmp) {
  if (!emb) put_qstr(b, v);
  else if (!v.plain) string_embedded(b, v.s, v.len, tmp);
  else {
    PUT(b, "\\\"");
    gl_buf_put(b, v.s, v.len);
    PUT(b, "\\\"");
  }
}

static void fields(gl_buf *b, const gl_crec *c, int emb, gl_buf *tmp) {
  const gl_record *r = c->r;
  L("\"sessionId\":", "\\\"sessionId\\\":");
  str(b, c->sid, emb, tmp);
  L(",\"resourceId\":", ",\\\"resourceId\\\":");
  gl_lua_i64(b, r->resource);
  L(",\"sourceAddr\":", ",\\\"sourceAddr\\\":");
  str(b, c->src, emb, tmp);
  L(",\"destAddr\":", ",\\\"destAddr\\\":");
  str(b, c->dst, emb, tmp);
  L(",\"protocol\":", ",\\\"protocol\\\":");
  str(b, (gl_str){gl_proto_name(r->proto), 3, 1}, emb, tmp);
  L(",\"startedAt\":", ",\\\"startedAt\\\":");
  str(b, c->started, emb, tmp);
  if (c->ended.s) {
    L(",\"endedAt\":", ",\\\"endedAt\\\":");
    str(b, c->ended, emb, tmp);
  }
  L(",\"bytesTx\":", ",\\\"bytesTx\\\":");
  gl_lua_u64(b, r->bytes_tx);
  L(",\"bytesRx\":", ",\\\"bytesRx\\\":");
  gl_lua_u64(b, r->bytes_rx);
  if (c->final > 0) L(",\"final\":true", ",\\\"final\\\":true");
  else if (c->final == 0) L(",\"final\":false", ",\\\"final\\\":false");
  if (r->with_seq) {
    L(",\"seq\":", ",\\\"seq\\\":");
    gl_buf_put_u64(b, r->seq);
    L(",\"deltaTx\":", ",\\\"deltaTx\\\":");
    gl_lua_u64(b, r->delta_tx);
    L(",\"deltaRx\":", ",\\\"deltaRx\\\":");
    gl_lua_u64(b, r->delta_rx);
  }
  if (c->reason.s) {
    L(",\"endReason\":", ",\\\"endReason\\\":");
    str(b, c->reason, emb, tmp);
  }
  for (uint32_t i = 0; i < c->nx; i++) {
    const gl_cextra *e = &c->x[i];
    gl_buf_putc(b, ',');
    str(b, e->key, emb, tmp);
    gl_buf_putc(b, ':');
    if (e->type == GL_EXTRA_STRING) str(b, e->str, emb, tmp);
    else if (e->type == GL_EXTRA_BOOLEAN) e->num != 0 ? PUT(b, "true") : PUT(b, "false");
    else gl_lua_number(b, e->num);
  }
}

void gl_lua_record_fields(gl_buf *b, const gl_crec *c) { fields(b, c, 0, NULL); }

void gl_lua_record_string(gl_buf *b, const gl_crec *c, gl_buf *tmp) {
  PUT(b, "\"{");
  fields(b, c, 1, tmp);
  PUT(b, "}\"");
}

void gl_lua_key(gl_buf *b, const gl_crec *c, gl_str instance) {
  if (instance.s) {
    put_str(b, instance);
    gl_buf_putc(b, ':');
  }
  put_str(b, c->sid);
  if (c->r->with_seq) {
    gl_buf_putc(b, '-');
    gl_buf_put_u64(b, c->r->seq);
  }
}
