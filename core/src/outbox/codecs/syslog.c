/* The syslog codec (lua/gatelog/codec/syslog.lua): RFC 5424 messages with
 * the record as structured data, framed by octet counting. Part 0: the
 * PRI and version ("<134>1 "); part 1: what follows the timestamp up to
 * the SD-ID and its space (" host app procid msgid [sd@id "). */
#include <stdio.h>
#include <string.h>

#include "outbox/codecs/codec_impl.h"

/* syslog.param_value of a string: '"', '\' and ']' escaped. */
static int param_string(gl_buf *b, gl_str v) {
  int err = gl_buf_reserve(b, v.len * 2);
  if (err) return err;
  for (size_t i = 0; i < v.len; i++) {
    char c = v.s[i];
    if (c == '"' || c == '\\' || c == ']') gl_buf_putc(b, '\\');
    gl_buf_putc(b, c);
  }
  return 0;
}

static int param(gl_buf *b, const char *name, gl_str v) {
  int err = gl_put(b, name, strlen(name));
  if (err == 0) err = GL_PUT(b, "=\"");
  if (err == 0) err = param_string(b, v);
  return err ? err : GL_PUT(b, "\" ");
}

static int param_u64(gl_buf *b, const char *name, uint64_t v) {
  int err = gl_put(b, name, strlen(name));
  if (err == 0) err = GL_PUT(b, "=\"");
  if (err == 0) err = gl_lua_u64(b, v);
  return err ? err : GL_PUT(b, "\" ");
}

/* syslog.param_name: bytes outside [A-Za-z0-9._-] as '_', 32 at most. */
static int param_name(gl_buf *b, gl_str k) {
  size_t n = k.len < 32 ? k.len : 32;
  int err = gl_buf_reserve(b, n);
  if (err) return err;
  for (size_t i = 0; i < n; i++) {
    char c = k.s[i];
    int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
             c == '_' || c == '-';
    gl_buf_putc(b, ok ? c : '_');
  }
  return 0;
}

/* syslog.timestamp: at most 6 digits of fraction. */
static gl_str timestamp(gl_str t, char *buf) {
  const char *dot = t.len > 19 ? memchr(t.s + 19, '.', t.len - 19) : NULL;
  if (dot == NULL || t.len - (size_t)(dot - t.s) <= 8) return t;
  size_t keep = (size_t)(dot - t.s) + 7;
  memcpy(buf, t.s, keep);
  buf[keep] = 'Z';
  return (gl_str){buf, keep + 1};
}

static int message(const gl_codec *c, const gl_crec *rc, gl_buf *m) {
  const gl_record *r = rc->r;
  char tbuf[GL_TIME_STRLEN];
  gl_str proto = {gl_proto_name(r->proto), 3};
  int err;
  if ((err = gl_put_str(m, gl_codec_part(c, 0))) || (err = gl_put_str(m, timestamp(gl_crec_time(rc), tbuf))) ||
      (err = gl_put_str(m, gl_codec_part(c, 1))) || (err = param(m, "sessionId", rc->sid)) ||
      (err = GL_PUT(m, "resourceId=\"")) || (err = gl_lua_i64(m, r->resource)) || (err = GL_PUT(m, "\" ")) ||
      (err = param(m, "sourceAddr", rc->src)) || (err = param(m, "destAddr", rc->dst)) ||
      (err = param(m, "protocol", proto)) || (err = param(m, "startedAt", rc->started)) ||
      (rc->ended.s && (err = param(m, "endedAt", rc->ended))) || (err = param_u64(m, "bytesTx", r->bytes_tx)) ||
      (err = param_u64(m, "bytesRx", r->bytes_rx)) ||
      (rc->final >= 0 && (err = rc->final ? GL_PUT(m, "final=\"true\" ") : GL_PUT(m, "final=\"false\" "))))
    return err;
  if (r->with_seq && ((err = param_u64(m, "seq", r->seq)) || (err = param_u64(m, "deltaTx", r->delta_tx)) ||
                      (err = param_u64(m, "deltaRx", r->delta_rx))))
    return err;
  if (rc->reason.s && (err = param(m, "endReason", rc->reason))) return err;
  for (uint32_t i = 0; i < rc->nx; i++) {
    const gl_cextra *e = &rc->x[i];
    if ((err = param_name(m, e->key)) || (err = GL_PUT(m, "=\""))) return err;
    if (e->type == GL_EXTRA_STRING) err = param_string(m, e->str);
    else if (e->type == GL_EXTRA_BOOLEAN) err = e->num != 0 ? GL_PUT(m, "true") : GL_PUT(m, "false");
    else err = gl_lua_number(m, e->num);
    if (err || (err = GL_PUT(m, "\" "))) return err;
  }
  m->len--; /* the last parameter's space */
  if ((err = GL_PUT(m, "] ")) || (err = gl_put_str(m, proto)) || (err = GL_PUT(m, " ")) ||
      (err = gl_put_str(m, rc->src)) || (err = GL_PUT(m, " -> ")) || (err = gl_put_str(m, rc->dst)) ||
      (rc->reason.s && ((err = GL_PUT(m, " ")) || (err = gl_put_str(m, rc->reason)))))
    return err;
  return 0;
}

static int body(const gl_codec *c, gl_codec_iter *it, gl_buf *out) {
  int n, err = 0;
  while ((n = gl_codec_next(it)) == 1) {
    gl_buf_reset(&it->scratch);
    if ((err = message(c, &it->rec, &it->scratch))) return err;
    char len[24];
    int k = snprintf(len, sizeof(len), "%zu ", it->scratch.len);
    if ((err = gl_put(out, len, (size_t)k)) || (err = gl_put(out, it->scratch.data, it->scratch.len))) return err;
  }
  return n;
}

const gl_codec_kind gl_codec_syslog = {"syslog", body};
