/* The loki codec (lua/gatelog/codec/loki.lua): Loki's push JSON, one
 * stream per protocol in the order the batch first has it, each value the
 * time in nanoseconds, the record's JSON line as a string, and its
 * metadata. Parts 0 and 1: the stream labels of tcp and of udp records. */
#include <stdio.h>

#include "outbox/codecs/codec_impl.h"
#include "session/table.h"

static int value(gl_codec_iter *it, gl_buf *v) {
  const gl_crec *r = &it->rec;
  char ns[24];
  int err, n = snprintf(ns, sizeof(ns), "%llu", (unsigned long long)gl_crec_time_ns(r));
  if (v->len && (err = GL_PUT(v, ","))) return err;
  if ((err = GL_PUT(v, "[\"")) || (err = gl_put(v, ns, (size_t)n)) || (err = GL_PUT(v, "\",")))
    return err;
  gl_buf_reset(&it->scratch);
  if ((err = GL_PUT(&it->scratch, "{")) || (err = gl_lua_record_fields(&it->scratch, r)) ||
      (err = GL_PUT(&it->scratch, "}")))
    return err;
  if ((err = gl_lua_string(v, it->scratch.data, it->scratch.len)) ||
      (err = GL_PUT(v, ",{\"session_id\":")) || (err = gl_lua_string(v, r->sid.s, r->sid.len)))
    return err;
  if (it->instance.s) {
    gl_buf_reset(&it->scratch);
    if ((err = gl_lua_key(&it->scratch, r, it->instance)) || (err = GL_PUT(v, ",\"record_id\":")) ||
        (err = gl_lua_string(v, it->scratch.data, it->scratch.len)))
      return err;
  }
  return GL_PUT(v, "}]");
}

static int body(const gl_codec *c, gl_codec_iter *it, gl_buf *out) {
  gl_buf values[2] = {{0}, {0}}; /* tcp, udp */
  int order[2], nstreams = 0, n, err = 0;
  while (err == 0 && (n = gl_codec_next(it)) == 1) {
    int s = it->rec.r->proto == GL_PROTO_UDP;
    if (values[s].len == 0) order[nstreams++] = s;
    err = value(it, &values[s]);
  }
  if (err == 0) err = n;
  if (err == 0) err = GL_PUT(out, "{\"streams\":[");
  for (int i = 0; err == 0 && i < nstreams; i++) {
    int s = order[i];
    if ((i > 0 && (err = GL_PUT(out, ","))) || (err = GL_PUT(out, "{\"stream\":")) ||
        (err = gl_put_str(out, gl_codec_part(c, s))) || (err = GL_PUT(out, ",\"values\":[")) ||
        (err = gl_put(out, values[s].data, values[s].len)) || (err = GL_PUT(out, "]}")))
      break;
  }
  if (err == 0) err = GL_PUT(out, "]}");
  gl_buf_free(&values[0]);
  gl_buf_free(&values[1]);
  return err;
}

const gl_codec_kind gl_codec_loki = {"loki", body};
