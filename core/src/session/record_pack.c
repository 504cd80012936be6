/* A record's packed form (record.h): written on the loop thread, where
 * every nanosecond is the gateway's, and read back into JSON on a
 * compression thread. The fixed fields are one struct copied as it is
 * (both ends are the same process); what varies in size follows it, each
 * piece with its length:
 *
 *   head | [u32 len, sourceAddr] | [u32 len, destAddr]
 *        | nextras x (u8 type, u32 key len, key, u32 len + string | f64)
 */
#include <stdlib.h>
#include <uv.h>

#include "session/record.h"

enum { HAS_SRC = 1, HAS_DST = 2, WITH_SEQ = 4, FINAL = 8, IS_START = 16 };

typedef struct packed_head {
  uint64_t sid;
  int64_t resource;
  uint64_t started_ns, ended_ns, bytes_tx, bytes_rx, delta_tx, delta_rx;
  gl_addr src, dst;
  uint32_t seq;
  uint32_t var_len; /* bytes after the head */
  uint32_t nextras;
  uint8_t proto, flags;
} packed_head;

static size_t var_size(const gl_extras *x) {
  if (x == NULL) return 0;
  size_t n = (x->src_set ? 4 + x->src_len : 0) + (x->dst_set ? 4 + x->dst_len : 0);
  for (uint32_t i = 0; i < x->n; i++) {
    const gl_extra *e = &x->v[i];
    n += 5 + e->key_len + (e->type == GL_EXTRA_STRING ? 4 + e->str_len : 8);
  }
  return n;
}

static void put_bytes(gl_buf *b, const char *s, uint32_t len) {
  gl_buf_put(b, &len, 4);
  gl_buf_put(b, s, len);
}

int gl_record_pack(gl_buf *b, const gl_record *r) {
  const gl_extras *x = r->extras;
  size_t var = var_size(x);
  if (var > UINT32_MAX) return UV_ENOMEM;
  int err = gl_buf_reserve(b, sizeof(packed_head) + var);
  if (err) return err;
  packed_head h = {r->sid, r->resource, r->started_ns, r->ended_ns, r->bytes_tx, r->bytes_rx,
                   r->delta_tx, r->delta_rx, r->src, r->dst, r->seq, (uint32_t)var,
                   x ? x->n : 0, (uint8_t)r->proto, 0};
  h.flags = (uint8_t)((x && x->src_set ? HAS_SRC : 0) | (x && x->dst_set ? HAS_DST : 0) |
                      (r->with_seq ? WITH_SEQ : 0) | (r->final ? FINAL : 0) |
                      (r->is_start ? IS_START : 0));
  gl_buf_put(b, &h, sizeof(h));
  if (x == NULL) return 0;
  if (x->src_set) put_bytes(b, gl_extras_str(x, x->src_off), x->src_len);
  if (x->dst_set) put_bytes(b, gl_extras_str(x, x->dst_off), x->dst_len);
  for (uint32_t i = 0; i < x->n; i++) {
    const gl_extra *e = &x->v[i];
    uint8_t type = (uint8_t)e->type;
    gl_buf_put(b, &type, 1);
    put_bytes(b, gl_extras_str(x, e->key_off), e->key_len);
    if (e->type == GL_EXTRA_STRING) put_bytes(b, gl_extras_str(x, e->str_off), e->str_len);
    else gl_buf_put(b, &e->num, 8);
  }
  return 0;
}

/* A reader of the variable part that never passes its end. */
typedef struct reader {
  const char *p, *end;
} reader;

static int take(reader *rd, void *out, size_t n) {
  if ((size_t)(rd->end - rd->p) < n) return -1;
  memcpy(out, rd->p, n);
  rd->p += n;
  return 0;
}

static int take_bytes(reader *rd, const char **s, uint32_t *len) {
  if (take(rd, len, 4) != 0 || (size_t)(rd->end - rd->p) < *len) return -1;
  *s = rd->p;
  rd->p += *len;
  return 0;
}

static int extras_json(gl_buf *out, reader *rd, uint32_t n) {
  for (uint32_t i = 0; i < n; i++) {
    uint8_t type;
    const char *key, *str = NULL;
    uint32_t klen, slen = 0;
    double num = 0;
    if (take(rd, &type, 1) != 0 || take_bytes(rd, &key, &klen) != 0) return UV_EINVAL;
    if (type == GL_EXTRA_STRING ? take_bytes(rd, &str, &slen) != 0 : take(rd, &num, 8) != 0)
      return UV_EINVAL;
    int err = gl_record_json_extra(out, key, klen, type, str, slen, num);
    if (err) return err;
  }
  return 0;
}

/* The head of the record packed at *p: its fixed fields into r, the
 * replaced addresses, and a reader over what follows them. */
static int unpack_head(const char *p, const char *end, gl_record *r, const char **src,
                       uint32_t *src_len, const char **dst, uint32_t *dst_len, uint32_t *nextras,
                       reader *rd) {
  packed_head h;
  if ((size_t)(end - p) < sizeof(h)) return UV_EINVAL;
  memcpy(&h, p, sizeof(h));
  if ((size_t)(end - p) - sizeof(h) < h.var_len) return UV_EINVAL;
  rd->p = p + sizeof(h);
  rd->end = rd->p + h.var_len;
  memset(r, 0, sizeof(*r));
  r->sid = h.sid;
  r->resource = h.resource;
  r->proto = h.proto;
  r->src = h.src;
  r->dst = h.dst;
  r->started_ns = h.started_ns;
  r->ended_ns = h.ended_ns;
  r->bytes_tx = h.bytes_tx;
  r->bytes_rx = h.bytes_rx;
  r->with_seq = (h.flags & WITH_SEQ) != 0;
  r->final = (h.flags & FINAL) != 0;
  r->is_start = (h.flags & IS_START) != 0;
  r->seq = h.seq;
  r->delta_tx = h.delta_tx;
  r->delta_rx = h.delta_rx;
  *src = *dst = NULL;
  *src_len = *dst_len = 0;
  *nextras = h.nextras;
  if ((h.flags & HAS_SRC) && take_bytes(rd, src, src_len) != 0) return UV_EINVAL;
  if ((h.flags & HAS_DST) && take_bytes(rd, dst, dst_len) != 0) return UV_EINVAL;
  return 0;
}

int gl_record_unpack_json(gl_buf *out, const char **p, const char *end) {
  gl_record r;
  reader rd;
  const char *src, *dst;
  uint32_t src_len, dst_len, nextras;
  int err = unpack_head(*p, end, &r, &src, &src_len, &dst, &dst_len, &nextras, &rd);
  if (err == 0) err = gl_record_json_open(out, &r, src, src_len, dst, dst_len);
  if (err == 0) err = extras_json(out, &rd, nextras);
  if (err == 0 && rd.p != rd.end) err = UV_EINVAL;
  if (err == 0) err = gl_buf_append(out, "}", 1);
  if (err == 0) *p = rd.end;
  return err;
}

int gl_record_unpack(gl_unpacked *u, const char **p, const char *end) {
  reader rd;
  int err = unpack_head(*p, end, &u->r, &u->src, &u->src_len, &u->dst, &u->dst_len, &u->nx, &rd);
  if (err) return err;
  if (u->nx > u->cap) {
    gl_packed_extra *x = realloc(u->x, (size_t)u->nx * sizeof(*x));
    if (x == NULL) return UV_ENOMEM;
    u->x = x;
    u->cap = u->nx;
  }
  for (uint32_t i = 0; i < u->nx; i++) {
    gl_packed_extra *e = &u->x[i];
    uint8_t type;
    e->str = NULL;
    e->slen = 0;
    e->num = 0;
    if (take(&rd, &type, 1) != 0 || take_bytes(&rd, &e->key, &e->klen) != 0) return UV_EINVAL;
    e->type = type;
    if (type == GL_EXTRA_STRING ? take_bytes(&rd, &e->str, &e->slen) != 0 : take(&rd, &e->num, 8) != 0)
      return UV_EINVAL;
  }
  if (rd.p != rd.end) return UV_EINVAL;
  *p = rd.end;
  return 0;
}
