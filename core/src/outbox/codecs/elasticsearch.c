/* The elasticsearch codec (lua/gatelog/codec/elasticsearch.lua): a _bulk
 * body, a "create" action line and a document line per record. Part 0:
 * the index as a JSON string. */
#include "outbox/codecs/codec_impl.h"

static int body(const gl_codec *c, gl_codec_iter *it, gl_buf *out) {
  gl_str index = gl_codec_part(c, 0);
  int n, err = 0;
  while ((n = gl_codec_next(it)) == 1) {
    const gl_crec *r = &it->rec;
    gl_buf_reset(&it->scratch);
    if ((err = gl_lua_key(&it->scratch, r, it->instance))) return err;
    if ((err = GL_PUT(out, "{\"create\":{\"_index\":")) || (err = gl_put_str(out, index)) ||
        (err = GL_PUT(out, ",\"_id\":")) || (err = gl_lua_string(out, it->scratch.data, it->scratch.len)) ||
        (err = GL_PUT(out, "}}\n{\"@timestamp\":")))
      return err;
    gl_str t = gl_crec_time(r);
    if ((err = gl_lua_string(out, t.s, t.len)) || (err = GL_PUT(out, ",")) ||
        (err = gl_lua_record_fields(out, r)) || (err = GL_PUT(out, "}\n")))
      return err;
  }
  return n;
}

const gl_codec_kind gl_codec_elasticsearch = {"elasticsearch", body};
