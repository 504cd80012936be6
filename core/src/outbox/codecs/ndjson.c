/* The ndjson codec (lua/gatelog/codec/ndjson.lua): one record a line, each
 * line ending with '\n'; no options. */
#include "outbox/codecs/codec_impl.h"

static int body(const gl_codec *c, gl_codec_iter *it, gl_buf *out) {
  (void)c;
  int n, err = 0;
  while ((n = gl_codec_next(it)) == 1) {
    if ((err = GL_PUT(out, "{")) || (err = gl_lua_record_fields(out, &it->rec)) || (err = GL_PUT(out, "}\n")))
      return err;
  }
  return n;
}

const gl_codec_kind gl_codec_ndjson = {"ndjson", body};
