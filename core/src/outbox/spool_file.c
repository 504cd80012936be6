/* The spool's segment format (spool_file.h): encoding and checking heads,
 * scanning a segment, reading one entry back. */
#include "outbox/spool_file.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>
#include <zlib.h>

#define SEG_MAGIC "GLSPOOL"
#define ENTRY_MAGIC 0x31455347u /* "GSE1" read as little-endian */
#define SCAN_WINDOW 65536

static void put32(unsigned char *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static void put64(unsigned char *p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get32(const unsigned char *p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; i--) v = v << 8 | p[i];
  return v;
}

static uint64_t get64(const unsigned char *p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
  return v;
}

static uint32_t crc(const unsigned char *p, size_t n) {
  return (uint32_t)crc32(crc32(0, Z_NULL, 0), p, (uInt)n);
}

void gl_seg_head_encode(unsigned char out[GL_SEG_HEAD], uint64_t number, uint64_t created_ms,
                        const char *instance) {
  memset(out, 0, GL_SEG_HEAD);
  memcpy(out, SEG_MAGIC, sizeof(SEG_MAGIC)); /* with its NUL: 8 bytes */
  put32(out + 8, 1);
  put32(out + 12, GL_SEG_HEAD);
  put64(out + 16, number);
  put64(out + 24, created_ms);
  size_t n = strlen(instance);
  memcpy(out + 32, instance, n < GL_INSTANCE_MAX ? n : GL_INSTANCE_MAX);
  put32(out + 100, crc(out, 100));
}

int gl_seg_head_decode(const unsigned char in[GL_SEG_HEAD], uint64_t *number,
                       char instance[GL_INSTANCE_MAX + 1]) {
  if (memcmp(in, SEG_MAGIC, sizeof(SEG_MAGIC)) != 0 || get32(in + 8) != 1 ||
      get32(in + 12) != GL_SEG_HEAD || get32(in + 100) != crc(in, 100))
    return -1;
  *number = get64(in + 16);
  memcpy(instance, in + 32, GL_INSTANCE_MAX);
  instance[GL_INSTANCE_MAX] = '\0';
  return 0;
}

void gl_entry_encode(unsigned char out[GL_ENTRY_HEAD], const gl_entry *e) {
  memset(out, 0, GL_ENTRY_HEAD);
  put32(out, ENTRY_MAGIC);
  out[4] = (unsigned char)e->type;
  out[5] = (unsigned char)e->flags;
  put64(out + 8, e->id);
  put64(out + 16, e->seq);
  put64(out + 24, e->time_ms);
  put32(out + 32, e->count);
  put32(out + 36, e->attempt);
  put32(out + 40, e->body_len);
  put32(out + 44, e->reasons_len);
  put32(out + 48, e->json_len);
  put32(out + 52, e->body_crc);
  put32(out + 60, crc(out, 60));
}

const char *gl_entry_decode(const unsigned char in[GL_ENTRY_HEAD], gl_entry *e) {
  if (get32(in) != ENTRY_MAGIC) return "no entry magic";
  if (get32(in + 60) != crc(in, 60)) return "bad head checksum";
  e->type = in[4];
  e->flags = in[5];
  e->id = get64(in + 8);
  e->seq = get64(in + 16);
  e->time_ms = get64(in + 24);
  e->count = get32(in + 32);
  e->attempt = get32(in + 36);
  e->body_len = get32(in + 40);
  e->reasons_len = get32(in + 44);
  e->json_len = get32(in + 48);
  e->body_crc = get32(in + 52);
  /* A batch's body holds its reasons and ends; other entries have none. */
  uint64_t fixed = (uint64_t)e->reasons_len + 4ull * e->count;
  if (e->type < GL_ENTRY_BATCH || e->type > GL_ENTRY_ATTEMPT || e->body_len > GL_ENTRY_BODY_MAX ||
      e->count > GL_ENTRY_RECORDS_MAX ||
      (e->type == GL_ENTRY_BATCH ? fixed >= e->body_len || e->count == 0 : e->body_len != 0))
    return "impossible lengths";
  return NULL;
}

void gl_entry_batch_lengths(gl_entry *e, size_t reasons_len, size_t zlib_len) {
  e->reasons_len = (uint32_t)reasons_len;
  e->body_len = (uint32_t)(reasons_len + 4ull * e->count + zlib_len);
}

void gl_entry_batch_encode(unsigned char *out, gl_entry *e, const char *reasons,
                           const uint32_t *ends, const unsigned char *zlib) {
  unsigned char *body = out + GL_ENTRY_HEAD, *p = body;
  memcpy(p, reasons, e->reasons_len);
  p += e->reasons_len;
  for (uint32_t i = 0; i < e->count; i++, p += 4) put32(p, ends[i]);
  size_t zlen = e->body_len - (size_t)(p - body);
  memcpy(p, zlib, zlen);
  memset(p + zlen, 0, gl_align8(e->body_len) - e->body_len);
  e->body_crc = crc(body, e->body_len);
  gl_entry_encode(out, e);
}

void gl_entry_batch_parts(const gl_entry *e, const unsigned char *body, uint32_t *ends,
                          const unsigned char **zlib, size_t *zlib_len) {
  const unsigned char *p = body + e->reasons_len;
  for (uint32_t i = 0; i < e->count; i++, p += 4) ends[i] = get32(p);
  *zlib = p;
  *zlib_len = e->body_len - (size_t)(p - body);
}

static int read_at(int fd, void *p, size_t n, uint64_t off, size_t *got) {
  *got = 0;
  while (*got < n) {
    ssize_t r = pread(fd, (char *)p + *got, n - *got, (off_t)(off + *got));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return -errno;
    if (r == 0) break;
    *got += (size_t)r;
  }
  return 0;
}

/* The offset of the first good head at an 8-aligned offset from `from`,
 * or `size` if there is none. Damage is rare: a plain search will do. */
static int resync(int fd, uint64_t from, uint64_t size, uint64_t *next) {
  unsigned char *w = malloc(SCAN_WINDOW);
  if (w == NULL) return UV_ENOMEM;
  gl_entry e;
  int err = 0;
  uint64_t at = gl_align8(from);
  *next = size;
  while (at + GL_ENTRY_HEAD <= size) {
    size_t got;
    if ((err = read_at(fd, w, SCAN_WINDOW, at, &got)) != 0) break;
    size_t i;
    for (i = 0; i + GL_ENTRY_HEAD <= got; i += 8)
      if (gl_entry_decode(w + i, &e) == NULL) {
        *next = at + i;
        free(w);
        return 0;
      }
    if (got < SCAN_WINDOW) break;
    at += i; /* the window's last heads may straddle into the next one */
  }
  free(w);
  return err;
}

int gl_seg_scan(int fd, uint64_t size, const gl_scan_cb *cb) {
  uint64_t off = GL_SEG_HEAD;
  unsigned char head[GL_ENTRY_HEAD];
  while (off < size) {
    size_t got;
    int err = read_at(fd, head, sizeof(head), off, &got);
    if (err) return err;
    gl_entry e;
    const char *why = got < sizeof(head) ? "truncated entry head" : gl_entry_decode(head, &e);
    if (why == NULL && off + gl_entry_size(&e) > size) why = "truncated entry";
    if (why == NULL) {
      cb->entry(cb->data, &e, off);
      off += gl_entry_size(&e);
      continue;
    }
    uint64_t next = size;
    if (got == sizeof(head) && (err = resync(fd, off + 8, size, &next)) != 0) return err;
    cb->damage(cb->data, off, next, why);
    off = next;
  }
  return 0;
}

int gl_entry_read(int fd, uint64_t off, uint64_t want_id, gl_entry *e, unsigned char **body,
                  const char **why) {
  unsigned char head[GL_ENTRY_HEAD];
  size_t got;
  *body = NULL;
  int err = read_at(fd, head, sizeof(head), off, &got);
  if (err) return err;
  *why = got < sizeof(head) ? "truncated entry head" : gl_entry_decode(head, e);
  if (*why == NULL && (e->type != GL_ENTRY_BATCH || e->id != want_id)) *why = "another entry";
  if (*why) return UV_EILSEQ;
  unsigned char *b = malloc(e->body_len ? e->body_len : 1);
  if (b == NULL) return UV_ENOMEM;
  if ((err = read_at(fd, b, e->body_len, off + GL_ENTRY_HEAD, &got)) != 0) {
    free(b);
    return err;
  }
  if (got < e->body_len) *why = "truncated entry";
  else if (crc(b, e->body_len) != e->body_crc) *why = "bad body checksum";
  if (*why) {
    free(b);
    return UV_EILSEQ;
  }
  *body = b;
  return 0;
}

int gl_write_all(int fd, const void *p, size_t n, size_t *done) {
  *done = 0;
  while (*done < n) {
    ssize_t w = write(fd, (const char *)p + *done, n - *done);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return -errno;
    if (w == 0) return UV_EIO;
    *done += (size_t)w;
  }
  return 0;
}
