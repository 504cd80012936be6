/* A completed session on its way to a batch: the fields of the default
 * codec, the view-only fields, and what the policy's enrich added. */
#ifndef GATELOG_RECORD_H
#define GATELOG_RECORD_H

#include <stdint.h>

#include "util/addr.h"
#include "util/buf.h"

enum { GL_EXTRA_STRING = 1, GL_EXTRA_NUMBER, GL_EXTRA_BOOLEAN };

typedef struct gl_extra {
  uint32_t key_off, key_len; /* in gl_extras.strs */
  uint32_t str_off, str_len; /* GL_EXTRA_STRING */
  double num;                /* GL_EXTRA_NUMBER; booleans as 0 / 1 */
  int type;
} gl_extra;

/* Fields the script set. Reused from record to record: reset, not freed.
 * A value replaced leaves its old bytes in strs until they outweigh the
 * live ones; then strs is compacted, so it never holds much more than
 * twice what the record keeps. */
typedef struct gl_extras {
  gl_extra *v;
  uint32_t n, cap;
  gl_buf strs;
  size_t held;          /* bytes of strs still referenced */
  size_t size;          /* gl_extras_size */
  int src_set, dst_set; /* sourceAddr / destAddr overridden */
  uint32_t src_off, src_len, dst_off, dst_len;
} gl_extras;

typedef struct gl_record {
  uint64_t sid;
  int64_t resource;
  int proto; /* GL_PROTO_TCP / GL_PROTO_UDP */
  const char *end_reason;
  gl_addr src, dst;
  uint64_t started_ns, ended_ns; /* wall clock */
  uint64_t bytes_tx, bytes_rx;
  /* With interim or start records on (with_seq): */
  int with_seq;      /* write final, seq, deltaTx, deltaRx */
  int final;         /* the session's last record */
  int is_start;      /* a start record: no endedAt */
  uint32_t seq;
  uint64_t delta_tx, delta_rx; /* since the session's previous record */
  gl_extras *extras; /* NULL: nothing added */
  /* Fields the gateway set on the session (gatelog_set_attr, as strings),
   * NULL if none: the policy copies them into extras before filter runs. */
  const struct gl_extras *attrs;
} gl_record;

const char *gl_proto_name(int proto);

void gl_extras_reset(gl_extras *x);
void gl_extras_free(gl_extras *x);
/* The entry for key, or NULL. */
gl_extra *gl_extras_find(gl_extras *x, const char *key, size_t len);
/* Set key to a string / number / boolean (replacing an earlier value).
 * 0 or UV_ENOMEM. */
int gl_extras_set_string(gl_extras *x, const char *key, size_t klen,
                         const char *s, size_t len);
int gl_extras_set_number(gl_extras *x, const char *key, size_t klen,
                         double v, int type);
/* Make x a copy of from's fields (not its address overrides). 0 or
 * UV_ENOMEM. */
int gl_extras_copy(gl_extras *x, const gl_extras *from);
/* Remove key if present. */
void gl_extras_unset(gl_extras *x, const char *key, size_t klen);
/* Override sourceAddr (which = 0) or destAddr (which = 1). */
int gl_extras_set_addr(gl_extras *x, int which, const char *s, size_t len);

/* What enrich added, as enrich_max_bytes counts it: the bytes of keys,
 * string values and replaced addresses, 8 for a number or boolean. */
#define GL_EXTRA_SCALAR_SIZE 8
static inline size_t gl_extras_size(const gl_extras *x) { return x->size; }
/* The size after key (new, or replacing its value) is set to a value of
 * vsize bytes; which < 0: key is a field, else the address override it
 * names. */
size_t gl_extras_size_after(gl_extras *x, int which, const char *key, size_t klen, size_t vsize);
/* Bytes of C memory x holds for the record now (for the memory budget). */
static inline size_t gl_extras_memory(const gl_extras *x) {
  return x->strs.len + x->n * sizeof(gl_extra);
}

static inline const char *gl_extras_str(const gl_extras *x, uint32_t off) {
  return x->strs.data + off;
}

/* Append the record as one JSON object of the default codec: the
 * reference's keys in its order (endedAt left out of a start record),
 * then, with interim or start records on, final, seq, deltaTx and deltaRx,
 * then the enrichment keys in the order they were first set. 0 or
 * UV_ENOMEM. */
int gl_record_json(gl_buf *b, const gl_record *r);
/* gl_record_json in parts, for a record read back from its packed form:
 * the object's opening brace and standard fields (src / dst, when not
 * NULL, replace the addresses: escaped, src_len / dst_len bytes), then
 * one enrichment key and value (str for GL_EXTRA_STRING, else num); the
 * caller closes the object. 0 or UV_ENOMEM (UV_EINVAL: num not finite). */
int gl_record_json_open(gl_buf *b, const gl_record *r, const char *src, uint32_t src_len,
                        const char *dst, uint32_t dst_len);
int gl_record_json_extra(gl_buf *b, const char *key, uint32_t klen, int type, const char *str,
                         uint32_t slen, double num);

/* The packed form: how the loop thread appends a kept record to the open
 * batch (its fixed fields copied as they are, then the replaced addresses
 * and the enrichment's keys and values as length-prefixed bytes), so that
 * the JSON is written on a compression thread. gl_record_pack appends r
 * to b: 0 or UV_ENOMEM (b as it was). gl_record_unpack_json appends the
 * record packed at *p (at most end - *p bytes) to out as
 * gl_record_json writes it, and moves *p past it: 0, UV_ENOMEM, or
 * UV_EINVAL if the bytes are not a whole packed record. */
int gl_record_pack(gl_buf *b, const gl_record *r);
int gl_record_unpack_json(gl_buf *out, const char **p, const char *end);

/* A packed record read back as it is, for the C codecs: the fixed fields
 * (r; its extras and attrs NULL), the replaced addresses (NULL: none) and
 * the enrichment in the order it was set, pointing into the packed bytes.
 * x grows as needed and is the caller's to free. */
typedef struct gl_packed_extra {
  const char *key, *str; /* str: GL_EXTRA_STRING */
  uint32_t klen, slen;
  double num;            /* GL_EXTRA_NUMBER; booleans as 0 / 1 */
  int type;
} gl_packed_extra;
typedef struct gl_unpacked {
  gl_record r;
  const char *src, *dst;
  uint32_t src_len, dst_len;
  gl_packed_extra *x;
  uint32_t nx, cap;
} gl_unpacked;
/* Read the record packed at *p into u and move *p past it: 0, UV_ENOMEM,
 * or UV_EINVAL if the bytes are not a whole packed record. */
int gl_record_unpack(gl_unpacked *u, const char **p, const char *end);

#endif
