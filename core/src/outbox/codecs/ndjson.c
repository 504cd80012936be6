/* The ndjson codec (lua/gatelog/codec/ndjson.lua): one record a line, each
 * line ending with '\n'; no options. */
#include "outbox/codecs/codec_impl.h"

static int body(const gl_codec *c, gl_codec_iter *it, gl_buf *out) {
  (void)c;
  int n, err;
  while ((n = gl_codec_next(it)) == 1) {
    if ((err = gl_buf_reserve(out, it->rec.room))) return err;
    gl_buf_putc(out, '{');
    gl_lua_record_fields(out, &it->rec);
    PUT(out, "}\n");
  }
  return n;
}

const gl_codec_kind gl_codec_ndjson = {"ndjson", body, 125};
