#include "session/record.h"

#include <stdlib.h>
#include <uv.h>

#include "util/ids.h"
#include "util/json.h"
#include "session/table.h"
#include "util/timefmt.h"

const char *gl_proto_name(int proto) {
  return proto == GL_PROTO_UDP ? "udp" : "tcp";
}

void gl_extras_reset(gl_extras *x) {
  x->n = 0;
  x->held = x->size = 0;
  x->src_set = x->dst_set = 0;
  gl_buf_reset(&x->strs);
}

void gl_extras_free(gl_extras *x) {
  free(x->v);
  gl_buf_free(&x->strs);
  x->v = NULL;
  x->n = x->cap = 0;
}

gl_extra *gl_extras_find(gl_extras *x, const char *key, size_t len) {
  for (uint32_t i = 0; i < x->n; i++) {
    gl_extra *e = &x->v[i];
    if (e->key_len == len && memcmp(x->strs.data + e->key_off, key, len) == 0) return e;
  }
  return NULL;
}

static size_t value_size(const gl_extra *e) {
  return e->type == GL_EXTRA_STRING ? e->str_len : e->type ? GL_EXTRA_SCALAR_SIZE : 0;
}

size_t gl_extras_size_after(gl_extras *x, int which, const char *key, size_t klen, size_t vsize) {
  if (which >= 0) {
    int set = which ? x->dst_set : x->src_set;
    return x->size - (set ? (which ? x->dst_len : x->src_len) : 0) + vsize;
  }
  gl_extra *e = gl_extras_find(x, key, klen);
  return e ? x->size - value_size(e) + vsize : x->size + klen + vsize;
}

/* Copy the string at *off (and its NUL) from x's strs to b; *off follows. */
static void move(gl_buf *b, const gl_extras *x, uint32_t *off, uint32_t len) {
  uint32_t from = *off;
  *off = (uint32_t)b->len;
  gl_buf_put(b, x->strs.data + from, (size_t)len + 1);
}

/* Move the live strings to a fresh buffer. */
static int compact(gl_extras *x) {
  gl_buf b = {0};
  int err = gl_buf_reserve(&b, x->held);
  if (err) return err;
  for (uint32_t i = 0; i < x->n; i++) {
    gl_extra *e = &x->v[i];
    move(&b, x, &e->key_off, e->key_len);
    if (e->type == GL_EXTRA_STRING) move(&b, x, &e->str_off, e->str_len);
  }
  if (x->src_set) move(&b, x, &x->src_off, x->src_len);
  if (x->dst_set) move(&b, x, &x->dst_off, x->dst_len);
  gl_buf_free(&x->strs);
  x->strs = b;
  return 0;
}

static int store(gl_extras *x, const char *s, size_t len, uint32_t *off) {
  /* Replaced values are garbage: once they outweigh the live bytes, drop
   * them, so that setting one field again and again takes no memory. */
  if (x->strs.len - x->held > x->held + 4096) {
    int err = compact(x);
    if (err) return err;
  }
  /* Keep each stored string NUL-terminated for readers that want C strings. */
  int err = gl_buf_reserve(&x->strs, len + 1);
  if (err) return err;
  *off = (uint32_t)x->strs.len;
  gl_buf_put(&x->strs, s, len);
  gl_buf_putc(&x->strs, '\0');
  x->held += len + 1;
  return 0;
}

/* The old value of e is no longer referenced. */
static void drop_value(gl_extras *x, gl_extra *e) {
  if (e->type == GL_EXTRA_STRING) x->held -= e->str_len + 1;
  x->size -= value_size(e);
  e->type = 0;
}

static int entry(gl_extras *x, const char *key, size_t klen, gl_extra **out) {
  gl_extra *e = gl_extras_find(x, key, klen);
  if (e == NULL) {
    if (x->n == x->cap) {
      uint32_t cap = x->cap ? x->cap * 2 : 8;
      gl_extra *v = realloc(x->v, cap * sizeof(*v));
      if (v == NULL) return UV_ENOMEM;
      x->v = v;
      x->cap = cap;
    }
    uint32_t off;
    int err = store(x, key, klen, &off);
    if (err) return err;
    e = &x->v[x->n++];
    memset(e, 0, sizeof(*e));
    e->key_off = off;
    e->key_len = (uint32_t)klen;
    x->size += klen;
  }
  *out = e;
  return 0;
}

int gl_extras_set_string(gl_extras *x, const char *key, size_t klen,
                         const char *s, size_t len) {
  gl_extra *e;
  int err = entry(x, key, klen, &e);
  if (err) return err;
  uint32_t off;
  size_t index = (size_t)(e - x->v); /* store may compact: e stays, its offsets move */
  err = store(x, s, len, &off);
  if (err) return err;
  e = &x->v[index];
  drop_value(x, e);
  e->type = GL_EXTRA_STRING;
  e->str_off = off;
  e->str_len = (uint32_t)len;
  x->size += len;
  return 0;
}

int gl_extras_set_number(gl_extras *x, const char *key, size_t klen,
                         double v, int type) {
  gl_extra *e;
  int err = entry(x, key, klen, &e);
  if (err) return err;
  drop_value(x, e);
  e->type = type;
  e->num = v;
  x->size += GL_EXTRA_SCALAR_SIZE;
  return 0;
}

void gl_extras_unset(gl_extras *x, const char *key, size_t klen) {
  gl_extra *e = gl_extras_find(x, key, klen);
  if (e == NULL) return;
  drop_value(x, e);
  x->held -= e->key_len + 1;
  x->size -= e->key_len;
  memmove(e, e + 1, (size_t)(x->v + x->n - (e + 1)) * sizeof(*e));
  x->n--;
}

int gl_extras_set_addr(gl_extras *x, int which, const char *s, size_t len) {
  uint32_t off;
  int err = store(x, s, len, &off);
  if (err) return err;
  int *set = which ? &x->dst_set : &x->src_set;
  uint32_t *old = which ? &x->dst_len : &x->src_len;
  if (*set) {
    x->held -= *old + 1;
    x->size -= *old;
  }
  x->size += len;
  if (which == 0) x->src_set = 1, x->src_off = off, x->src_len = (uint32_t)len;
  else x->dst_set = 1, x->dst_off = off, x->dst_len = (uint32_t)len;
  return 0;
}

#define KEY(b, lit) gl_buf_put(b, lit, sizeof(lit) - 1)

/* The longest standard part: keys, a 16-digit id, two bracketed IPv6
 * addresses with ports, two times, five 20-digit counters. */
#define STANDARD_MAX 512

/* An address is digits, hex, dots, colons and brackets: nothing that JSON
 * escapes, so it goes in as it is. An address the script replaced is any
 * string and is escaped. */
static int put_addr(gl_buf *b, const gl_addr *a, const char *ovr, uint32_t ovr_len) {
  if (ovr != NULL) return gl_json_string(b, ovr, ovr_len);
  gl_buf_putc(b, '"');
  b->len += gl_addr_format(a, b->data + b->len);
  gl_buf_putc(b, '"');
  return 0;
}

int gl_record_json_open(gl_buf *b, const gl_record *r, const char *src, uint32_t src_len,
                        const char *dst, uint32_t dst_len) {
  int err = gl_buf_reserve(b, STANDARD_MAX);
  if (err) return err;
  KEY(b, "{\"sessionId\":\"");
  gl_hex16(r->sid, b->data + b->len); /* writes a NUL after the 16 digits: overwritten next */
  b->len += 16;
  KEY(b, "\",\"resourceId\":");
  gl_buf_put_i64(b, r->resource);
  KEY(b, ",\"sourceAddr\":");
  if ((err = put_addr(b, &r->src, src, src_len))) return err;
  if ((err = gl_buf_reserve(b, STANDARD_MAX))) return err; /* a replaced address may be long */
  KEY(b, ",\"destAddr\":");
  if ((err = put_addr(b, &r->dst, dst, dst_len))) return err;
  if ((err = gl_buf_reserve(b, STANDARD_MAX))) return err;
  KEY(b, ",\"protocol\":\"");
  gl_buf_put(b, gl_proto_name(r->proto), 3);
  KEY(b, "\",\"startedAt\":\"");
  b->len += gl_fmt_time_nano(r->started_ns, b->data + b->len);
  if (!r->is_start) {
    KEY(b, "\",\"endedAt\":\"");
    b->len += gl_fmt_time_nano(r->ended_ns, b->data + b->len);
  }
  KEY(b, "\",\"bytesTx\":");
  gl_buf_put_u64(b, r->bytes_tx);
  KEY(b, ",\"bytesRx\":");
  gl_buf_put_u64(b, r->bytes_rx);
  if (r->with_seq) {
    if (r->final) KEY(b, ",\"final\":true,\"seq\":");
    else KEY(b, ",\"final\":false,\"seq\":");
    gl_buf_put_u64(b, r->seq);
    KEY(b, ",\"deltaTx\":");
    gl_buf_put_u64(b, r->delta_tx);
    KEY(b, ",\"deltaRx\":");
    gl_buf_put_u64(b, r->delta_rx);
  }
  b->data[b->len] = '\0';
  return 0;
}

int gl_record_json_extra(gl_buf *b, const char *key, uint32_t klen, int type, const char *str,
                         uint32_t slen, double num) {
  int err;
  if ((err = gl_buf_append(b, ",", 1))) return err;
  if ((err = gl_json_string(b, key, klen))) return err;
  if ((err = gl_buf_append(b, ":", 1))) return err;
  if (type == GL_EXTRA_STRING) return gl_json_string(b, str, slen);
  if (type == GL_EXTRA_BOOLEAN) return num != 0 ? gl_buf_append(b, "true", 4) : gl_buf_append(b, "false", 5);
  return gl_json_double(b, num);
}

int gl_record_json(gl_buf *b, const gl_record *r) {
  const gl_extras *x = r->extras;
  int src_set = x != NULL && x->src_set, dst_set = x != NULL && x->dst_set;
  int err = gl_record_json_open(b, r, src_set ? gl_extras_str(x, x->src_off) : NULL,
                                src_set ? x->src_len : 0, dst_set ? gl_extras_str(x, x->dst_off) : NULL,
                                dst_set ? x->dst_len : 0);
  for (uint32_t i = 0; err == 0 && x != NULL && i < x->n; i++) {
    const gl_extra *e = &x->v[i];
    err = gl_record_json_extra(b, gl_extras_str(x, e->key_off), e->key_len, e->type,
                               e->type == GL_EXTRA_STRING ? gl_extras_str(x, e->str_off) : NULL,
                               e->str_len, e->num);
  }
  return err ? err : gl_buf_append(b, "}", 1);
}

int gl_extras_copy(gl_extras *x, const gl_extras *from) {
  gl_extras_reset(x);
  for (uint32_t i = 0; i < from->n; i++) {
    const gl_extra *e = &from->v[i];
    const char *key = gl_extras_str(from, e->key_off);
    int err = e->type == GL_EXTRA_STRING
                  ? gl_extras_set_string(x, key, e->key_len, gl_extras_str(from, e->str_off), e->str_len)
                  : gl_extras_set_number(x, key, e->key_len, e->num, e->type);
    if (err) return err;
  }
  return 0;
}
