/* A sealed batch's records, from the packed form the loop thread wrote
 * (session/record.h) to the default codec's JSON array, on a compression
 * thread: the loop only copies each record, and the text (times, addresses,
 * escaping) is written here, off the gateway's thread. */
#include <stdlib.h>

#include "internal.h"
#include "outbox/codecs/codec.h"

int gl_batch_encode(gl_batch *b) {
  if (b->bin.data == NULL) return 0; /* read back from the spool: JSON already */
  /* JSON is about twice the packed size: one reservation, rarely a second. */
  int err = gl_buf_reserve(&b->json, b->bin.len * 2 + 2);
  if (err) return err;
  if ((b->ends = malloc((b->count ? b->count : 1) * sizeof(*b->ends))) == NULL) return UV_ENOMEM;
  b->ends_cap = b->count;
  gl_buf_put(&b->json, "[", 1);
  const char *p = b->bin.data, *end = b->bin.data + b->bin.len;
  for (uint32_t i = 0; i < b->count; i++) {
    if (i > 0 && (err = gl_buf_append(&b->json, ",", 1))) return err;
    if ((err = gl_record_unpack_json(&b->json, &p, end))) return err;
    b->ends[i] = (uint32_t)b->json.len;
  }
  if ((err = gl_buf_append(&b->json, "]", 1))) return err;
  if (p != end) return UV_EINVAL;
  if (b->codec) {
    gl_codec_batch in = {b->bin.data, b->reasons.data, b->bin.len, b->reasons.len, b->count, b->id,
                         b->instance ? b->instance : b->gl->instance_id, b->json.len};
    /* Declined: no body, and the script's Lua codec writes this batch. */
    if ((err = gl_codec_body(b->codec, &in, &b->body)) == GL_CODEC_DECLINE) {
      gl_buf_free(&b->body);
      err = 0;
    }
    if (err) return err;
  }
  gl_buf_free(&b->bin);
  return 0;
}
