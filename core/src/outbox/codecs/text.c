/* lua/gatelog/json.lua and gatelog/record.lua in C: the same bytes for
 * the same values, which is what lets a C codec stand in for a Lua one. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "outbox/codecs/codec_impl.h"

/* Bytes json.string's pattern stops at: controls, '"', '\', '<', '>',
 * '&', and 0xE2 (which may start U+2028 / U+2029). */
static const unsigned char stop[256] = {
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    ['"'] = 1, ['\\'] = 1, ['<'] = 1, ['>'] = 1, ['&'] = 1, [0xE2] = 1};

int gl_lua_string(gl_buf *b, const char *str, size_t len) {
  static const char hex[] = "0123456789abcdef";
  const unsigned char *s = (const unsigned char *)str;
  int err = gl_buf_reserve(b, len * 6 + 2);
  if (err) return err;
  gl_buf_putc(b, '"');
  size_t i = 0;
  while (i < len) {
    size_t run = i;
    while (run < len && !stop[s[run]]) run++;
    gl_buf_put(b, s + i, run - i);
    if ((i = run) == len) break;
    unsigned char c = s[i++];
    switch (c) {
      case '"': gl_buf_put(b, "\\\"", 2); break;
      case '\\': gl_buf_put(b, "\\\\", 2); break;
      case '\b': gl_buf_put(b, "\\b", 2); break;
      case '\f': gl_buf_put(b, "\\f", 2); break;
      case '\n': gl_buf_put(b, "\\n", 2); break;
      case '\r': gl_buf_put(b, "\\r", 2); break;
      case '\t': gl_buf_put(b, "\\t", 2); break;
      case '<': gl_buf_put(b, "\\u003c", 6); break;
      case '>': gl_buf_put(b, "\\u003e", 6); break;
      case '&': gl_buf_put(b, "\\u0026", 6); break;
      case 0xE2:
        if (len - i >= 2 && s[i] == 0x80 && (s[i + 1] == 0xA8 || s[i + 1] == 0xA9)) {
          gl_buf_put(b, s[i + 1] == 0xA8 ? "\\u2028" : "\\u2029", 6);
          i += 2;
        } else {
          gl_buf_putc(b, (char)c);
        }
        break;
      default:
        gl_buf_put(b, "\\u00", 4);
        gl_buf_putc(b, hex[c >> 4]);
        gl_buf_putc(b, hex[c & 0xf]);
    }
  }
  gl_buf_putc(b, '"');
  b->data[b->len] = '\0';
  return 0;
}

#define EXACT 9007199254740992.0 /* 2^53: Lua numbers are exact below */

static int put_int(gl_buf *b, int64_t v) {
  char tmp[24];
  int n = snprintf(tmp, sizeof(tmp), "%lld", (long long)v);
  return gl_buf_append(b, tmp, (size_t)n);
}

int gl_lua_number(gl_buf *b, double v) {
  if (v == floor(v) && v > -EXACT && v < EXACT) return put_int(b, (int64_t)v);
  if (isnan(v) || isinf(v)) return GL_PUT(b, "null");
  char tmp[40];
  int n = snprintf(tmp, sizeof(tmp), "%.14g", v);
  if (strtod(tmp, NULL) != v) n = snprintf(tmp, sizeof(tmp), "%.17g", v);
  return gl_buf_append(b, tmp, (size_t)n);
}

int gl_lua_u64(gl_buf *b, uint64_t v) {
  if (v < (uint64_t)1 << 53) return put_int(b, (int64_t)v);
  return gl_lua_number(b, (double)v);
}

int gl_lua_i64(gl_buf *b, int64_t v) {
  if (v > -((int64_t)1 << 53) && v < (int64_t)1 << 53) return put_int(b, v);
  return gl_lua_number(b, (double)v);
}

static int put_quoted(gl_buf *b, gl_str s) { return gl_lua_string(b, s.s, s.len); }

int gl_lua_record_fields(gl_buf *b, const gl_crec *c) {
  const gl_record *r = c->r;
  int err = 0;
  if ((err = GL_PUT(b, "\"sessionId\":")) || (err = put_quoted(b, c->sid)) ||
      (err = GL_PUT(b, ",\"resourceId\":")) || (err = gl_lua_i64(b, r->resource)) ||
      (err = GL_PUT(b, ",\"sourceAddr\":")) || (err = put_quoted(b, c->src)) ||
      (err = GL_PUT(b, ",\"destAddr\":")) || (err = put_quoted(b, c->dst)) ||
      (err = GL_PUT(b, ",\"protocol\":\"")) || (err = gl_put(b, gl_proto_name(r->proto), 3)) ||
      (err = GL_PUT(b, "\",\"startedAt\":")) || (err = put_quoted(b, c->started)))
    return err;
  if (c->ended.s && ((err = GL_PUT(b, ",\"endedAt\":")) || (err = put_quoted(b, c->ended)))) return err;
  if ((err = GL_PUT(b, ",\"bytesTx\":")) || (err = gl_lua_u64(b, r->bytes_tx)) ||
      (err = GL_PUT(b, ",\"bytesRx\":")) || (err = gl_lua_u64(b, r->bytes_rx)))
    return err;
  if (c->final >= 0 && (err = c->final ? GL_PUT(b, ",\"final\":true") : GL_PUT(b, ",\"final\":false")))
    return err;
  if (r->with_seq &&
      ((err = GL_PUT(b, ",\"seq\":")) || (err = gl_lua_u64(b, r->seq)) || (err = GL_PUT(b, ",\"deltaTx\":")) ||
       (err = gl_lua_u64(b, r->delta_tx)) || (err = GL_PUT(b, ",\"deltaRx\":")) ||
       (err = gl_lua_u64(b, r->delta_rx))))
    return err;
  if (c->reason.s && ((err = GL_PUT(b, ",\"endReason\":")) || (err = put_quoted(b, c->reason)))) return err;
  for (uint32_t i = 0; i < c->nx; i++) {
    const gl_cextra *e = &c->x[i];
    if ((err = GL_PUT(b, ",")) || (err = put_quoted(b, e->key)) || (err = GL_PUT(b, ":"))) return err;
    if (e->type == GL_EXTRA_STRING) err = put_quoted(b, e->str);
    else if (e->type == GL_EXTRA_BOOLEAN) err = e->num != 0 ? GL_PUT(b, "true") : GL_PUT(b, "false");
    else err = gl_lua_number(b, e->num);
    if (err) return err;
  }
  return 0;
}

int gl_lua_key(gl_buf *b, const gl_crec *c, gl_str instance) {
  int err = 0;
  if (instance.s && ((err = gl_put_str(b, instance)) || (err = GL_PUT(b, ":")))) return err;
  if ((err = gl_put_str(b, c->sid))) return err;
  if (c->r->with_seq && ((err = GL_PUT(b, "-")) || (err = put_int(b, c->r->seq)))) return err;
  return 0;
}
