/* The otlp codec (lua/gatelog/codec/otlp.lua): OTLP/HTTP JSON logs, one
 * logRecord per record under one resource and scope. Part 0: the body up
 * to the logRecords' '[' (the resource from the options). A record whose
 * resourceId or byte counts are not exact Lua integers, or whose replaced
 * address has a port that is not plain digits, takes otlp.lua's general
 * path: such a batch is declined (the script encodes it). */
#include <string.h>

#include "outbox/codecs/codec_impl.h"
#include "util/ids.h"

#define EXACT ((int64_t)1 << 53)

/* An attribute: ',{"key":"<key>","value":' (KEY), a value, then '}'. */
#define KEY(b, key) PUT(b, ",{\"key\":\"" key "\",\"value\":")

static void int_value(gl_buf *b, int64_t v) {
  PUT(b, "{\"intValue\":\"");
  gl_buf_put_i64(b, v);
  PUT(b, "\"}");
}

static void string_value(gl_buf *b, gl_str s) {
  PUT(b, "{\"stringValue\":");
  put_qstr(b, s);
  gl_buf_putc(b, '}');
}

static void bool_value(gl_buf *b, int v) {
  if (v) PUT(b, "{\"boolValue\":true}");
  else PUT(b, "{\"boolValue\":false}");
}

/* otlp.any_value of a number. */
static void number_value(gl_buf *b, double v) {
  if (v > -(double)EXACT && v < (double)EXACT && v == (double)(int64_t)v) {
    int_value(b, (int64_t)v);
    return;
  }
  PUT(b, "{\"doubleValue\":");
  gl_lua_number(b, v);
  gl_buf_putc(b, '}');
}

#define ATTR(b, key, write) \
  do {                      \
    KEY(b, key);            \
    write;                  \
    gl_buf_putc(b, '}');    \
  } while (0)

/* record.split_addr: "ip:port" / "[v6]:port" as ip and port (-1: none).
 * 1 when the port is text that only Lua's tonumber reads (hex, spaces,
 * a fraction): the general path's. */
static int split_addr(gl_str a, gl_str *ip, long *port) {
  const char *p = NULL;
  *ip = a;
  *port = -1;
  if (a.len > 0 && a.s[0] == '[') {
    for (size_t i = 1; i + 1 < a.len; i++)
      if (a.s[i] == ']' && a.s[i + 1] == ':') {
        p = a.s + i + 2;
        break;
      }
    if (p) ip->s = a.s + 1, ip->len = (size_t)(p - 2 - (a.s + 1));
  } else {
    const char *colon = memchr(a.s, ':', a.len);
    if (colon && memchr(colon + 1, ':', a.len - (size_t)(colon + 1 - a.s)) == NULL) {
      p = colon + 1;
      ip->len = (size_t)(colon - a.s);
    }
  }
  if (p == NULL) return 0;
  size_t n = a.len - (size_t)(p - a.s);
  long v = 0;
  for (size_t i = 0; i < n; i++) {
    if (p[i] < '0' || p[i] > '9' || i >= 9) return 1;
    v = v * 10 + (p[i] - '0');
  }
  if (n == 0) { /* tonumber("") is nil: the address whole */
    *ip = a;
    return 0;
  }
  *port = v;
  return 0;
}

static int record(gl_codec_iter *it, const gl_crec *c, gl_str batch_id, gl_buf *out) {
  const gl_record *r = c->r;
  gl_str src_ip, dst_ip;
  long src_port, dst_port;
  if (r->resource <= -EXACT || r->resource >= EXACT || r->bytes_tx >= (uint64_t)EXACT ||
      r->bytes_rx >= (uint64_t)EXACT || split_addr(c->src, &src_ip, &src_port) ||
      split_addr(c->dst, &dst_ip, &dst_port))
    return GL_CODEC_DECLINE;
  gl_buf *s = &it->scratch;
  gl_buf_reset(s);
  int err = gl_buf_reserve(out, c->room);
  if (err == 0) err = gl_buf_reserve(s, c->room);
  if (err) return err;
  gl_str proto = {gl_proto_name(r->proto), 3, 1};
  put_str(s, proto); /* the body: "tcp <src> to <dst>[ <reason>]" */
  gl_buf_putc(s, ' ');
  put_str(s, c->src);
  PUT(s, " to ");
  put_str(s, c->dst);
  if (c->reason.s) {
    gl_buf_putc(s, ' ');
    put_str(s, c->reason);
  }
  uint64_t ns = gl_crec_time_ns(c);
  PUT(out, "{\"timeUnixNano\":\"");
  gl_buf_put_u64(out, ns);
  PUT(out, "\",\"observedTimeUnixNano\":\"");
  gl_buf_put_u64(out, ns);
  PUT(out, "\",\"severityNumber\":9,\"severityText\":\"INFO\",\"body\":{\"stringValue\":");
  put_qstr(out, (gl_str){s->data, s->len, c->src.plain && c->dst.plain && (!c->reason.s || c->reason.plain)});
  PUT(out, "},\"attributes\":[{\"key\":\"session.id\",\"value\":");
  string_value(out, c->sid);
  gl_buf_putc(out, '}');
  ATTR(out, "gatelog.resource_id", int_value(out, r->resource));
  ATTR(out, "network.transport", string_value(out, proto));
  ATTR(out, "source.address", string_value(out, src_ip));
  if (src_port >= 0) ATTR(out, "source.port", int_value(out, src_port));
  ATTR(out, "destination.address", string_value(out, dst_ip));
  if (dst_port >= 0) ATTR(out, "destination.port", int_value(out, dst_port));
  ATTR(out, "gatelog.started_at", string_value(out, c->started));
  ATTR(out, "gatelog.bytes_tx", int_value(out, (int64_t)r->bytes_tx));
  ATTR(out, "gatelog.bytes_rx", int_value(out, (int64_t)r->bytes_rx));
  if (c->reason.s) ATTR(out, "gatelog.end_reason", string_value(out, c->reason));
  if (c->final >= 0) ATTR(out, "gatelog.final", bool_value(out, c->final));
  if (r->with_seq) {
    ATTR(out, "gatelog.seq", int_value(out, r->seq));
    ATTR(out, "gatelog.delta_tx", number_value(out, (double)r->delta_tx));
    ATTR(out, "gatelog.delta_rx", number_value(out, (double)r->delta_rx));
  }
  for (uint32_t i = 0; i < c->nx; i++) {
    const gl_cextra *e = &c->x[i];
    PUT(out, ",{\"key\":");
    put_qstr(out, e->key);
    PUT(out, ",\"value\":");
    if (e->type == GL_EXTRA_STRING) string_value(out, e->str);
    else if (e->type == GL_EXTRA_BOOLEAN) bool_value(out, e->num != 0);
    else number_value(out, e->num);
    gl_buf_putc(out, '}');
  }
  if (it->instance.s) {
    gl_buf_reset(s);
    gl_lua_key(s, c, it->instance);
    ATTR(out, "gatelog.record_id", string_value(out, ((gl_str){s->data, s->len, it->instance.plain})));
    ATTR(out, "gatelog.batch_id", string_value(out, batch_id));
  }
  PUT(out, "]}");
  return 0;
}

static int body(const gl_codec *c, gl_codec_iter *it, gl_buf *out) {
  char id[17];
  gl_hex16(it->in->id, id);
  gl_str head = gl_codec_part(c, 0);
  int n = 0, err = gl_buf_reserve(out, head.len + 8);
  if (err) return err;
  put_str(out, head);
  for (uint32_t i = 0; err == 0 && (n = gl_codec_next(it)) == 1; i++) {
    if (i > 0 && (err = gl_buf_reserve(out, 1)) == 0) gl_buf_putc(out, ',');
    if (err == 0) err = record(it, &it->rec, (gl_str){id, 16, 1}, out);
  }
  if (err == 0) err = n;
  if (err == 0 && (err = gl_buf_reserve(out, 8)) == 0) PUT(out, "]}]}]}");
  return err;
}

const gl_codec_kind gl_codec_otlp = {"otlp", body, 460};
