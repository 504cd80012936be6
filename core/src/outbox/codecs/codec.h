/* The C codecs: ndjson, otlp, loki, elasticsearch and syslog bodies built
 * on a compression thread from a batch's packed records, byte for byte
 * what the Lua codec of the same name (lua/gatelog/codec/) writes for the
 * batch's records and the same options. A script selects one with
 * require("gatelog.codec.native").new(name, opts); the options are turned
 * into text by the Lua codec's own helpers (lua/gatelog/codec/native.lua),
 * so what the options change is written by one piece of code only, and C
 * writes what changes per record.
 *
 * A gl_codec is immutable once made: the loop thread gives each batch
 * sealed under it a reference, and the compression thread only reads it. */
#ifndef GATELOG_CODEC_H
#define GATELOG_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "session/record.h"
#include "util/buf.h"

/* A batch this codec leaves to the Lua codec (a record whose bytes only
 * the general Lua path writes): no body, the script encodes it. */
#define GL_CODEC_DECLINE 1

typedef struct gl_codec gl_codec;

/* What a body is made from: the batch's packed records, each record's
 * endReason ('\n' after each), its id and instance id. */
typedef struct gl_codec_batch {
  const char *bin, *reasons;
  size_t bin_len, reasons_len;
  uint32_t count;
  uint64_t id;
  const char *instance; /* the batch's (opts.instance_id wins) */
  size_t json_len;      /* the default JSON's size: the body's is guessed from it */
} gl_codec_batch;

/* The codec of that name with no prepared text yet, or NULL (unknown name,
 * or no memory: *nomem says which). */
gl_codec *gl_codec_new(const char *name, int *nomem);
const char *gl_codec_name(const gl_codec *c);
/* The names, for error messages: "ndjson, otlp, ...". */
const char *gl_codec_names(void);
/* Text the options made (which: 0 to GL_CODEC_PARTS - 1, as each codec's
 * file says), and instance_id (NULL: the batch's). 0 or UV_ENOMEM. */
#define GL_CODEC_PARTS 3
int gl_codec_set_part(gl_codec *c, int which, const char *s, size_t len);
int gl_codec_set_instance(gl_codec *c, const char *s, size_t len);
void gl_codec_ref(gl_codec *c);
void gl_codec_unref(gl_codec *c);

/* Append the body of batch in to out: 0, GL_CODEC_DECLINE (out as it
 * was), UV_ENOMEM or UV_EINVAL (the packed records are not whole). */
int gl_codec_body(const gl_codec *c, const gl_codec_batch *in, gl_buf *out);

#endif
