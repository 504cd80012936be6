/* The otlp codec (lua/gatelog/codec/otlp.lua): OTLP/HTTP JSON logs, one
 * logRecord per record under one resource and scope. Part 0: the body up
 * to the logRecords' '[' (the resource from the options). A record whose
 * resourceId or byte counts are not exact Lua integers, or whose replaced
 * address has a port that is not plain digits, takes otlp.lua's general
 * path: such a batch is declined (the script encodes it). */
#include <stdio.h>
#include <string.h>

#include "outbox/codecs/codec_impl.h"
#include "util/ids.h"

#define EXACT ((int64_t)1 << 53)

static int int_value(gl_buf *b, int64_t v) {
  char tmp[48];
  int n = snprintf(tmp, sizeof(tmp), "{\"intValue\":\"%lld\"}", (long long)v);
  return gl_put(b, tmp, (size_t)n);
}

static int string_value(gl_buf *b, gl_str s) {
  int err = GL_PUT(b, "{\"stringValue\":");
  if (err == 0) err = gl_lua_string(b, s.s, s.len);
  if (err == 0) err = GL_PUT(b, "}");
  return err;
}

static int bool_value(gl_buf *b, int v) {
  return v ? GL_PUT(b, "{\"boolValue\":true}") : GL_PUT(b, "{\"boolValue\":false}");
}

/* otlp.any_value of a number. */
static int number_value(gl_buf *b, double v) {
  if (v == (double)(int64_t)v && v > -(double)EXACT && v < (double)EXACT) return int_value(b, (int64_t)v);
  int err = GL_PUT(b, "{\"doubleValue\":");
  if (err == 0) err = gl_lua_number(b, v);
  if (err == 0) err = GL_PUT(b, "}");
  return err;
}

/* ',{"key":"<key>","value":' before a value, '}' after it. */
static int open_attr(gl_buf *b, const char *key) {
  int err = GL_PUT(b, ",{\"key\":\"");
  if (err == 0) err = gl_put(b, key, strlen(key));
  if (err == 0) err = GL_PUT(b, "\",\"value\":");
  return err;
}
static int attr_int(gl_buf *b, const char *key, int64_t v) {
  int err = open_attr(b, key);
  if (err == 0) err = int_value(b, v);
  return err ? err : GL_PUT(b, "}");
}
static int attr_str(gl_buf *b, const char *key, gl_str v) {
  int err = open_attr(b, key);
  if (err == 0) err = string_value(b, v);
  return err ? err : GL_PUT(b, "}");
}
static int attr_num(gl_buf *b, const char *key, double v) {
  int err = open_attr(b, key);
  if (err == 0) err = number_value(b, v);
  return err ? err : GL_PUT(b, "}");
}
static int attr_bool(gl_buf *b, const char *key, int v) {
  int err = open_attr(b, key);
  if (err == 0) err = bool_value(b, v);
  return err ? err : GL_PUT(b, "}");
}

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
  char ns[24];
  int err, n = snprintf(ns, sizeof(ns), "%llu", (unsigned long long)gl_crec_time_ns(c));
  gl_buf *s = &it->scratch;
  gl_buf_reset(s);
  const char *proto = gl_proto_name(r->proto);
  if ((err = gl_put(s, proto, 3)) || (err = GL_PUT(s, " ")) || (err = gl_put_str(s, c->src)) ||
      (err = GL_PUT(s, " to ")) || (err = gl_put_str(s, c->dst)) ||
      (c->reason.s && ((err = GL_PUT(s, " ")) || (err = gl_put_str(s, c->reason)))))
    return err;
  if ((err = GL_PUT(out, "{\"timeUnixNano\":\"")) || (err = gl_put(out, ns, (size_t)n)) ||
      (err = GL_PUT(out, "\",\"observedTimeUnixNano\":\"")) || (err = gl_put(out, ns, (size_t)n)) ||
      (err = GL_PUT(out, "\",\"severityNumber\":9,\"severityText\":\"INFO\",\"body\":{\"stringValue\":")) ||
      (err = gl_lua_string(out, s->data, s->len)) ||
      (err = GL_PUT(out, "},\"attributes\":[{\"key\":\"session.id\",\"value\":")) ||
      (err = string_value(out, c->sid)) || (err = GL_PUT(out, "}")) ||
      (err = attr_int(out, "gatelog.resource_id", r->resource)) ||
      (err = attr_str(out, "network.transport", (gl_str){proto, 3})) ||
      (err = attr_str(out, "source.address", src_ip)) ||
      (src_port >= 0 && (err = attr_int(out, "source.port", src_port))) ||
      (err = attr_str(out, "destination.address", dst_ip)) ||
      (dst_port >= 0 && (err = attr_int(out, "destination.port", dst_port))) ||
      (err = attr_str(out, "gatelog.started_at", c->started)) ||
      (err = attr_int(out, "gatelog.bytes_tx", (int64_t)r->bytes_tx)) ||
      (err = attr_int(out, "gatelog.bytes_rx", (int64_t)r->bytes_rx)) ||
      (c->reason.s && (err = attr_str(out, "gatelog.end_reason", c->reason))) ||
      (c->final >= 0 && (err = attr_bool(out, "gatelog.final", c->final))))
    return err;
  if (r->with_seq && ((err = attr_int(out, "gatelog.seq", r->seq)) ||
                      (err = attr_num(out, "gatelog.delta_tx", (double)r->delta_tx)) ||
                      (err = attr_num(out, "gatelog.delta_rx", (double)r->delta_rx))))
    return err;
  for (uint32_t i = 0; i < c->nx; i++) {
    const gl_cextra *e = &c->x[i];
    if ((err = GL_PUT(out, ",{\"key\":")) || (err = gl_lua_string(out, e->key.s, e->key.len)) ||
        (err = GL_PUT(out, ",\"value\":")))
      return err;
    if (e->type == GL_EXTRA_STRING) err = string_value(out, e->str);
    else if (e->type == GL_EXTRA_BOOLEAN) err = bool_value(out, e->num != 0);
    else err = number_value(out, e->num);
    if (err || (err = GL_PUT(out, "}"))) return err;
  }
  if (it->instance.s) {
    gl_buf_reset(s);
    if ((err = gl_lua_key(s, c, it->instance)) ||
        (err = attr_str(out, "gatelog.record_id", (gl_str){s->data, s->len})) ||
        (err = attr_str(out, "gatelog.batch_id", batch_id)))
      return err;
  }
  return GL_PUT(out, "]}");
}

static int body(const gl_codec *c, gl_codec_iter *it, gl_buf *out) {
  char id[17];
  gl_hex16(it->in->id, id);
  int n = 0, err = gl_put_str(out, gl_codec_part(c, 0));
  for (uint32_t i = 0; err == 0 && (n = gl_codec_next(it)) == 1; i++) {
    if (i > 0 && (err = GL_PUT(out, ","))) break;
    err = record(it, &it->rec, (gl_str){id, 16}, out);
  }
  if (err == 0) err = n;
  return err ? err : GL_PUT(out, "]}]}]}");
}

const gl_codec_kind gl_codec_otlp = {"otlp", body};
