/* The elasticsearch codec (lua/gatelog/codec/elasticsearch.lua): a _bulk
 * body, a "create" action line and a document line per record. Part 0:
 * the index as a JSON string. */
#include "outbox/codecs/codec_impl.h"

static int body(const gl_codec *c, gl_codec_iter *it, gl_buf *out) {
  gl_str index = gl_codec_part(c, 0);
  int n, err;
  while ((n = gl_codec_next(it)) == 1) {
    const gl_crec *r = &it->rec;
    gl_buf_reset(&it->scratch);
    if ((err = gl_buf_reserve(out, r->room + index.len)) || (err = gl_buf_reserve(&it->scratch, r->room)))
      return err;
    gl_lua_key(&it->scratch, r, it->instance);
    PUT(out, "{\"create\":{\"_index\":");
    put_str(out, index);
    PUT(out, ",\"_id\":");
    put_qstr(out, (gl_str){it->scratch.data, it->scratch.len, it->instance.plain});
    PUT(out, "}}\n{\"@timestamp\":");
    put_qstr(out, gl_crec_time(r));
    gl_buf_putc(out, ',');
    gl_lua_record_fields(out, r);
    PUT(out, "}\n");
  }
  return n;
}

const gl_codec_kind gl_codec_elasticsearch = {"elasticsearch", body, 170};
