/* The loki codec (lua/gatelog/codec/loki.lua): Loki's push JSON, one
 * stream per protocol in the order the batch first has it, each value the
 * time in nanoseconds, the record's JSON line as a string, and its
 * metadata. Parts 0 and 1: the stream labels of tcp and of udp records. */
#include "outbox/codecs/codec_impl.h"
#include "session/table.h"

static int value(gl_codec_iter *it, gl_buf *v) {
  const gl_crec *r = &it->rec;
  gl_buf *s = &it->scratch;
  int err;
  gl_buf_reset(s);
  if ((err = gl_buf_reserve(s, r->room)) || (err = gl_buf_reserve(v, 6 * r->room))) return err;
  if (v->len) gl_buf_putc(v, ',');
  PUT(v, "[\"");
  gl_buf_put_u64(v, gl_crec_time_ns(r));
  PUT(v, "\",");
  gl_lua_record_string(v, r, s);
  PUT(v, ",{\"session_id\":");
  put_qstr(v, r->sid);
  if (it->instance.s) {
    gl_buf_reset(s);
    gl_lua_key(s, r, it->instance);
    PUT(v, ",\"record_id\":");
    put_qstr(v, (gl_str){s->data, s->len, it->instance.plain});
  }
  PUT(v, "}]");
  return 0;
}

static int body(const gl_codec *c, gl_codec_iter *it, gl_buf *out) {
  gl_buf values[2] = {{0}, {0}}; /* tcp, udp */
  int order[2], nstreams = 0, n = 0, err = 0;
  while (err == 0 && (n = gl_codec_next(it)) == 1) {
    int s = it->rec.r->proto == GL_PROTO_UDP;
    if (values[s].len == 0) order[nstreams++] = s;
    err = value(it, &values[s]);
  }
  if (err == 0) err = n;
  size_t room = 64 + gl_codec_part(c, 0).len + gl_codec_part(c, 1).len + values[0].len + values[1].len;
  if (err == 0 && (err = gl_buf_reserve(out, room)) == 0) {
    PUT(out, "{\"streams\":[");
    for (int i = 0; i < nstreams; i++) {
      int s = order[i];
      if (i > 0) gl_buf_putc(out, ',');
      PUT(out, "{\"stream\":");
      put_str(out, gl_codec_part(c, s));
      PUT(out, ",\"values\":[");
      gl_buf_put(out, values[s].data, values[s].len);
      PUT(out, "]}");
    }
    PUT(out, "]}");
  }
  gl_buf_free(&values[0]);
  gl_buf_free(&values[1]);
  return err;
}

const gl_codec_kind gl_codec_loki = {"loki", body, 180};
