/* What the codecs share (private to outbox/codecs/): a batch's records
 * read back as the Lua codecs see them in batch.records, and the JSON
 * pieces of lua/gatelog/json.lua written the same way. */
#ifndef GATELOG_CODEC_IMPL_H
#define GATELOG_CODEC_IMPL_H

#include "outbox/codecs/codec.h"
#include "util/addr.h"
#include "util/timefmt.h"

typedef struct gl_str {
  const char *s; /* NULL: absent */
  size_t len;
  int plain; /* 1: nothing in it that json.string escapes (known, not looked for) */
} gl_str;

typedef struct gl_cextra {
  gl_str key, str; /* str: GL_EXTRA_STRING */
  double num;
  int type;
} gl_cextra;

/* One record as batch.records holds it: strings as the default codec's
 * JSON decodes (invalid UTF-8 already U+FFFD), endReason from the batch's
 * reasons, final true where interim records are off, the enrichment
 * sorted by key (json.extra_keys). */
typedef struct gl_crec {
  const gl_record *r;
  gl_str sid, src, dst, started, ended; /* ended.s NULL: a start record */
  gl_str reason;                        /* s NULL: none */
  int final; /* 1 true, 0 false, -1 absent */
  const gl_cextra *x;
  uint32_t nx;
  size_t room; /* the most bytes its text takes in any codec */
} gl_crec;

typedef struct gl_codec_iter {
  const gl_codec_batch *in;
  const char *p, *end, *reason_p, *reason_end;
  uint32_t i;
  gl_unpacked u;
  gl_cextra *x;
  uint32_t xcap;
  gl_buf clean; /* strings that were not valid UTF-8, made so */
  char sid[17], src[GL_ADDR_STRLEN], dst[GL_ADDR_STRLEN];
  char started[GL_TIME_STRLEN], ended[GL_TIME_STRLEN];
  gl_crec rec;
  gl_buf scratch; /* the codec's own */
  gl_str instance;
} gl_codec_iter;

typedef struct gl_codec_kind {
  const char *name;
  int (*body)(const gl_codec *c, gl_codec_iter *it, gl_buf *out);
  unsigned json_percent; /* a body's usual size, in percent of the default JSON's */
} gl_codec_kind;

struct gl_codec {
  const gl_codec_kind *kind;
  int refs;
  gl_buf part[GL_CODEC_PARTS];
  gl_str instance; /* opts.instance_id, or s NULL */
  gl_buf instance_buf;
};

static inline gl_str gl_codec_part(const gl_codec *c, int which) {
  gl_str s = {c->part[which].data ? c->part[which].data : "", c->part[which].len, 0};
  return s;
}

/* The next record into it->rec: 1, 0 at the end, or a UV error. */
int gl_codec_next(gl_codec_iter *it);

/* lua/gatelog/json.lua's and gatelog/record.lua's pieces, written
 * without checks into room the caller reserved: a record's text in any
 * codec fits in rec.room bytes (gl_codec_next works it out), so each codec
 * reserves once a record. */
void gl_lua_string(gl_buf *b, const char *s, size_t len); /* json.string: at most 6 len + 2 */
void gl_lua_number(gl_buf *b, double v);                   /* json.number: at most 32 */
void gl_lua_u64(gl_buf *b, uint64_t v); /* json.number of v read back as a Lua number */
void gl_lua_i64(gl_buf *b, int64_t v);
/* json.record's text without its braces (every key from sessionId on);
 * json.record is '{' this '}'. */
void gl_lua_record_fields(gl_buf *b, const gl_crec *r);
/* json.record_string: the record's JSON text as a JSON string; at most 6
 * rec.room bytes. tmp: a buffer with rec.room bytes of room. */
void gl_lua_record_string(gl_buf *b, const gl_crec *r, gl_buf *tmp);
/* record.key: "<instance>:<sessionId>[-<seq>]" (no instance: no prefix). */
void gl_lua_key(gl_buf *b, const gl_crec *r, gl_str instance);
/* record.time_of: endedAt, or startedAt for a start record. */
static inline gl_str gl_crec_time(const gl_crec *r) { return r->ended.s ? r->ended : r->started; }
static inline uint64_t gl_crec_time_ns(const gl_crec *r) {
  return r->ended.s ? r->r->ended_ns : r->r->started_ns;
}
#define PUT(b, lit) gl_buf_put(b, lit, sizeof(lit) - 1)
static inline void put_str(gl_buf *b, gl_str s) { gl_buf_put(b, s.s, s.len); }
/* 1 if json.string would write s as it is, between quotes. */
int gl_lua_plain(const char *s, size_t len);
static inline void put_qstr(gl_buf *b, gl_str s) {
  if (!s.plain) {
    gl_lua_string(b, s.s, s.len);
    return;
  }
  gl_buf_putc(b, '"');
  gl_buf_put(b, s.s, s.len);
  gl_buf_putc(b, '"');
}

extern const gl_codec_kind gl_codec_ndjson, gl_codec_otlp, gl_codec_loki, gl_codec_elasticsearch,
    gl_codec_syslog;

#endif
