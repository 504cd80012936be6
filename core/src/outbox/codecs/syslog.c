/* The syslog codec (lua/gatelog/codec/syslog.lua): RFC 5424 messages with
 * the record as structured data, framed by octet counting. Part 0: the
 * PRI and version ("<134>1 "); part 1: what follows the timestamp up to
 * the SD-ID and its space (" host app procid msgid [sd@id "). */
#include <string.h>

#include "outbox/codecs/codec_impl.h"

/* syslog.param_value of a string: '"', '\' and ']' escaped. */
static void param_string(gl_buf *b, gl_str v) {
  for (size_t i = 0; i < v.len; i++) {
    char c = v.s[i];
    if (c == '"' || c == '\\' || c == ']') gl_buf_putc(b, '\\');
    gl_buf_putc(b, c);
  }
}

#define PARAM(b, name, write) \
  do {                        \
    PUT(b, name "=\"");       \
    write;                    \
    PUT(b, "\" ");            \
  } while (0)

/* syslog.param_name: bytes outside [A-Za-z0-9._-] as '_', 32 at most. */
static void param_name(gl_buf *b, gl_str k) {
  size_t n = k.len < 32 ? k.len : 32;
  for (size_t i = 0; i < n; i++) {
    char c = k.s[i];
    int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
             c == '_' || c == '-';
    gl_buf_putc(b, ok ? c : '_');
  }
}

/* syslog.timestamp: at most 6 digits of fraction. */
static void timestamp(gl_buf *b, gl_str t) {
  const char *dot = t.len > 19 ? memchr(t.s + 19, '.', t.len - 19) : NULL;
  if (dot == NULL || t.len - (size_t)(dot - t.s) <= 8) {
    put_str(b, t);
    return;
  }
  gl_buf_put(b, t.s, (size_t)(dot - t.s) + 7);
  gl_buf_putc(b, 'Z');
}

static void message(const gl_codec *c, const gl_crec *rc, gl_buf *m) {
  const gl_record *r = rc->r;
  gl_str proto = {gl_proto_name(r->proto), 3, 1};
  put_str(m, gl_codec_part(c, 0));
  timestamp(m, gl_crec_time(rc));
  put_str(m, gl_codec_part(c, 1));
  PARAM(m, "sessionId", put_str(m, rc->sid));
  PARAM(m, "resourceId", gl_lua_i64(m, r->resource));
  PARAM(m, "sourceAddr", param_string(m, rc->src));
  PARAM(m, "destAddr", param_string(m, rc->dst));
  PARAM(m, "protocol", put_str(m, proto));
  PARAM(m, "startedAt", put_str(m, rc->started));
  if (rc->ended.s) PARAM(m, "endedAt", put_str(m, rc->ended));
  PARAM(m, "bytesTx", gl_lua_u64(m, r->bytes_tx));
  PARAM(m, "bytesRx", gl_lua_u64(m, r->bytes_rx));
  if (rc->final > 0) PUT(m, "final=\"true\" ");
  else if (rc->final == 0) PUT(m, "final=\"false\" ");
  if (r->with_seq) {
    PARAM(m, "seq", gl_buf_put_u64(m, r->seq));
    PARAM(m, "deltaTx", gl_lua_u64(m, r->delta_tx));
    PARAM(m, "deltaRx", gl_lua_u64(m, r->delta_rx));
  }
  if (rc->reason.s) PARAM(m, "endReason", param_string(m, rc->reason));
  for (uint32_t i = 0; i < rc->nx; i++) {
    const gl_cextra *e = &rc->x[i];
    param_name(m, e->key);
    PUT(m, "=\"");
    if (e->type == GL_EXTRA_STRING) param_string(m, e->str);
    else if (e->type == GL_EXTRA_BOOLEAN) e->num != 0 ? PUT(m, "true") : PUT(m, "false");
    else gl_lua_number(m, e->num);
    PUT(m, "\" ");
  }
  m->len--; /* the last parameter's space */
  PUT(m, "] ");
  put_str(m, proto);
  gl_buf_putc(m, ' ');
  put_str(m, rc->src);
  PUT(m, " -> ");
  put_str(m, rc->dst);
  if (rc->reason.s) {
    gl_buf_putc(m, ' ');
    put_str(m, rc->reason);
  }
}

static int body(const gl_codec *c, gl_codec_iter *it, gl_buf *out) {
  size_t parts = gl_codec_part(c, 0).len + gl_codec_part(c, 1).len;
  int n, err;
  while ((n = gl_codec_next(it)) == 1) {
    gl_buf_reset(&it->scratch);
    if ((err = gl_buf_reserve(&it->scratch, it->rec.room + parts))) return err;
    message(c, &it->rec, &it->scratch);
    if ((err = gl_buf_reserve(out, it->scratch.len + 24))) return err;
    gl_buf_put_u64(out, it->scratch.len);
    gl_buf_putc(out, ' ');
    gl_buf_put(out, it->scratch.data, it->scratch.len);
  }
  return n;
}

const gl_codec_kind gl_codec_syslog = {"syslog", body, 165};
