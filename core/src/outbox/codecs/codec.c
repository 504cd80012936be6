/* The codecs by name, their lifecycle, and a batch's records read back as
 * batch.records has them. */
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "outbox/codecs/codec_impl.h"
#include "util/ids.h"
#include "util/json.h"

static const gl_codec_kind *const kinds[] = {&gl_codec_ndjson, &gl_codec_otlp, &gl_codec_loki,
                                             &gl_codec_elasticsearch, &gl_codec_syslog};
#define NKINDS (sizeof(kinds) / sizeof(kinds[0]))

const char *gl_codec_names(void) { return "ndjson, otlp, loki, elasticsearch, syslog"; }

gl_codec *gl_codec_new(const char *name, int *nomem) {
  *nomem = 0;
  for (size_t i = 0; i < NKINDS; i++) {
    if (strcmp(kinds[i]->name, name) != 0) continue;
    gl_codec *c = calloc(1, sizeof(*c));
    if (c == NULL) {
      *nomem = 1;
      return NULL;
    }
    c->kind = kinds[i];
    c->refs = 1;
    return c;
  }
  return NULL;
}

const char *gl_codec_name(const gl_codec *c) { return c->kind->name; }

int gl_codec_set_part(gl_codec *c, int which, const char *s, size_t len) {
  gl_buf_reset(&c->part[which]);
  return gl_buf_append(&c->part[which], s, len);
}

int gl_codec_set_instance(gl_codec *c, const char *s, size_t len) {
  gl_buf_reset(&c->instance_buf);
  int err = gl_buf_append(&c->instance_buf, s, len);
  if (err) return err;
  c->instance.s = c->instance_buf.data;
  c->instance.len = len;
  return 0;
}

/* Batches are sealed and freed on the loop thread, but a policy's handle
 * may be collected with its Lua state on another: atomic counts. */
void gl_codec_ref(gl_codec *c) { __atomic_add_fetch(&c->refs, 1, __ATOMIC_RELAXED); }

void gl_codec_unref(gl_codec *c) {
  if (c == NULL || __atomic_sub_fetch(&c->refs, 1, __ATOMIC_ACQ_REL) != 0) return;
  for (int i = 0; i < GL_CODEC_PARTS; i++) gl_buf_free(&c->part[i]);
  gl_buf_free(&c->instance_buf);
  free(c);
}

/* s as JSON decodes it: each byte that is not part of valid UTF-8 as
 * U+FFFD, as gl_json_string writes it. */
static gl_str cleaned(gl_codec_iter *it, const char *s, size_t len) {
  gl_str out = {s, len, 0};
  if (gl_json_utf8_valid(s, len)) return out;
  out.s = it->clean.data + it->clean.len; /* room reserved by the caller */
  it->clean.len += gl_json_utf8_clean(it->clean.data + it->clean.len, s, len);
  out.len = (size_t)(it->clean.data + it->clean.len - out.s);
  return out;
}

/* json.extra_keys' order: Lua compares strings bytewise, shorter first
 * on a common prefix. */
static int key_less(const gl_str *a, const gl_str *b) {
  size_t n = a->len < b->len ? a->len : b->len;
  int c = memcmp(a->s, b->s, n);
  return c < 0 || (c == 0 && a->len < b->len);
}

static void sort_extras(gl_cextra *x, uint32_t n) {
  for (uint32_t i = 1; i < n; i++) {
    gl_cextra e = x[i];
    uint32_t j = i;
    for (; j > 0 && key_less(&e.key, &x[j - 1].key); j--) x[j] = x[j - 1];
    x[j] = e;
  }
}

int gl_codec_next(gl_codec_iter *it) {
  if (it->i == it->in->count) return it->p == it->end ? 0 : UV_EINVAL;
  gl_unpacked *u = &it->u;
  int err = gl_record_unpack(u, &it->p, it->end);
  if (err) return err;
  it->i++;
  gl_crec *c = &it->rec;
  const gl_record *r = &u->r;
  c->r = r;
  gl_hex16(r->sid, it->sid);
  /* What the core formats (ids, times, its own addresses) is plain. */
  c->sid = (gl_str){it->sid, 16, 1};
  /* Room for every string of the record made valid (3 bytes a byte). */
  size_t room = (size_t)u->src_len + u->dst_len;
  for (uint32_t i = 0; i < u->nx; i++) room += (size_t)u->x[i].klen + u->x[i].slen;
  gl_buf_reset(&it->clean);
  if ((err = gl_buf_reserve(&it->clean, room * 3))) return err;
  if (u->src) c->src = cleaned(it, u->src, u->src_len);
  else c->src = (gl_str){it->src, gl_addr_format(&r->src, it->src), 1};
  if (u->dst) c->dst = cleaned(it, u->dst, u->dst_len);
  else c->dst = (gl_str){it->dst, gl_addr_format(&r->dst, it->dst), 1};
  c->started = (gl_str){it->started, gl_fmt_time_nano(r->started_ns, it->started), 1};
  if (r->is_start) c->ended = (gl_str){NULL, 0, 0};
  else c->ended = (gl_str){it->ended, gl_fmt_time_nano(r->ended_ns, it->ended), 1};
  /* endReason: this record's line of the batch's reasons (raw: batch.c
   * gives Lua the bytes as they are). */
  const char *nl = it->reason_p < it->reason_end
                       ? memchr(it->reason_p, '\n', (size_t)(it->reason_end - it->reason_p))
                       : NULL;
  c->reason = (gl_str){NULL, 0, 0};
  /* batch.c sets final = true on a record with a line and none yet. */
  c->final = r->with_seq ? r->final : nl ? 1 : -1;
  if (nl) {
    if (nl > it->reason_p) {
      size_t n = (size_t)(nl - it->reason_p);
      c->reason = (gl_str){it->reason_p, n, gl_lua_plain(it->reason_p, n)};
    }
    it->reason_p = nl + 1;
  }
  if (u->nx > it->xcap) {
    gl_cextra *x = realloc(it->x, (size_t)u->nx * sizeof(*x));
    if (x == NULL) return UV_ENOMEM;
    it->x = x;
    it->xcap = u->nx;
  }
  for (uint32_t i = 0; i < u->nx; i++) {
    const gl_packed_extra *e = &u->x[i];
    gl_cextra *x = &it->x[i];
    x->key = cleaned(it, e->key, e->klen);
    x->type = e->type;
    x->num = e->num;
    x->str = e->type == GL_EXTRA_STRING ? cleaned(it, e->str, e->slen) : (gl_str){NULL, 0, 0};
  }
  sort_extras(it->x, u->nx);
  c->x = it->x;
  c->nx = u->nx;
  /* A bound on the record's text in any codec: fixed text and numbers,
   * then each string escaped (6 bytes a byte at most), the addresses,
   * reason and instance twice (otlp writes them in its body too). */
  c->room = 4096 + 12 * (c->src.len + c->dst.len + c->reason.len + it->instance.len);
  for (uint32_t i = 0; i < c->nx; i++) c->room += 128 + 6 * (c->x[i].key.len + c->x[i].str.len);
  return 1;
}

int gl_codec_body(const gl_codec *c, const gl_codec_batch *in, gl_buf *out) {
  gl_codec_iter it;
  memset(&it, 0, sizeof(it));
  it.in = in;
  it.p = in->bin;
  it.end = in->bin + in->bin_len;
  it.reason_p = in->reasons;
  it.reason_end = in->reasons ? in->reasons + in->reasons_len : NULL;
  it.instance = c->instance.s ? c->instance : (gl_str){in->instance, in->instance ? strlen(in->instance) : 0, 0};
  it.instance.plain = it.instance.s == NULL || gl_lua_plain(it.instance.s, it.instance.len);
  size_t mark = out->len;
  /* One allocation of about the right size, rather than a dozen as it
   * doubles: a batch's body is large, and each realloc copies it. */
  int err = gl_buf_reserve(out, in->json_len / 100 * c->kind->json_percent + 4096);
  if (err == 0) err = c->kind->body(c, &it, out);
  if (err) out->len = mark;
  if (out->data) out->data[out->len] = '\0'; /* the writers leave room for it */
  free(it.u.x);
  free(it.x);
  gl_buf_free(&it.clean);
  gl_buf_free(&it.scratch);
  return err;
}
