/* The spool's segment format (core/src/outbox/spool_file.c): what a head
 * and an entry hold, that any damage to either is caught, and that a scan
 * finds every good entry around damage, however large. The spool itself
 * is tested through the Lua module (spec/spool_spec.lua) and the proxy
 * (tests/proxy/spool_*_test.sh). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "check.h"
#include "outbox/spool_file.h"

static void test_seg_head(void) {
  unsigned char h[GL_SEG_HEAD];
  char inst[GL_INSTANCE_MAX + 1];
  uint64_t n = 0;
  gl_seg_head_encode(h, 0x1234567890ull, 1700000000000ull, "edge-7");
  CHECK(gl_seg_head_decode(h, &n, inst) == 0);
  CHECK(n == 0x1234567890ull);
  CHECK_STR(inst, "edge-7");
  int caught = 0;
  for (size_t i = 0; i < sizeof(h); i++) {
    h[i] ^= 0x10;
    caught += gl_seg_head_decode(h, &n, inst) != 0;
    h[i] ^= 0x10;
  }
  CHECK(caught == GL_SEG_HEAD);
}

static gl_entry batch_entry(uint64_t id, uint32_t count) {
  gl_entry e = {GL_ENTRY_BATCH, 0, id, id * 3, 1700000000123ull, count, 2, 0, 0, 0, 0};
  return e;
}

/* A batch entry of `count` records, encoded whole, in a malloc'd buffer. */
static unsigned char *encode_batch(gl_entry *e, const char *reasons, const unsigned char *z,
                                   size_t zlen) {
  uint32_t ends[8];
  for (uint32_t i = 0; i < e->count; i++) ends[i] = 10 * (i + 1);
  e->json_len = 10 * e->count + 1;
  gl_entry_batch_lengths(e, strlen(reasons), zlen);
  unsigned char *out = calloc(1, gl_entry_size(e));
  gl_entry_batch_encode(out, e, reasons, ends, z);
  return out;
}

static void test_entry(void) {
  gl_entry e = batch_entry(0xfeedfacecafebeefull, 3), d;
  const unsigned char z[] = {0x78, 0x9c, 1, 2, 3, 4, 5};
  unsigned char *out = encode_batch(&e, "closed\n\nidle\n", z, sizeof(z));
  CHECK(e.body_len == 13 + 12 + 7);
  CHECK(gl_entry_size(&e) == 64 + 32);
  CHECK(gl_entry_decode(out, &d) == NULL);
  CHECK(d.type == GL_ENTRY_BATCH && d.id == e.id && d.seq == e.seq && d.count == 3);
  CHECK(d.attempt == 2 && d.time_ms == e.time_ms && d.json_len == 31);
  CHECK(d.body_crc == e.body_crc && d.reasons_len == 13);
  uint32_t ends[3];
  const unsigned char *zp;
  size_t zlen;
  gl_entry_batch_parts(&d, out + GL_ENTRY_HEAD, ends, &zp, &zlen);
  CHECK(ends[0] == 10 && ends[2] == 30);
  CHECK(zlen == sizeof(z) && memcmp(zp, z, zlen) == 0);
  CHECK(memcmp(out + GL_ENTRY_HEAD, "closed\n\nidle\n", 13) == 0);
  /* Any bit of the head, flipped, is caught. */
  int caught = 0;
  for (int i = 0; i < GL_ENTRY_HEAD * 8; i++) {
    out[i / 8] ^= (unsigned char)(1u << (i % 8));
    caught += gl_entry_decode(out, &d) != NULL;
    out[i / 8] ^= (unsigned char)(1u << (i % 8));
  }
  CHECK(caught == GL_ENTRY_HEAD * 8);
  /* A done mark has no body; lengths that cannot be are refused even with
   * a good checksum. */
  gl_entry ack = {GL_ENTRY_ACK, 0, 7, 8, 9, 0, 1, 0, 0, 0, 0};
  unsigned char head[GL_ENTRY_HEAD];
  gl_entry_encode(head, &ack);
  CHECK(gl_entry_decode(head, &d) == NULL && d.type == GL_ENTRY_ACK && d.id == 7);
  ack.body_len = 8;
  gl_entry_encode(head, &ack);
  CHECK_STR(gl_entry_decode(head, &d), "impossible lengths");
  free(out);
}

/* A segment file: its head, then the given bytes. */
static int segment(const unsigned char *p, size_t n, char path[64]) {
  strcpy(path, "/tmp/gatelog-test-spool.XXXXXX");
  int fd = mkstemp(path);
  unsigned char h[GL_SEG_HEAD];
  size_t done;
  gl_seg_head_encode(h, 1, 0, "x");
  gl_write_all(fd, h, sizeof(h), &done);
  gl_write_all(fd, p, n, &done);
  return fd;
}

typedef struct seen {
  uint64_t ids[16], offs[16];
  int n;
  uint64_t bad_off[4], bad_next[4];
  const char *why[4];
  int bad;
} seen;

static void on_entry(void *data, const gl_entry *e, uint64_t off) {
  seen *s = data;
  if (s->n < 16) {
    s->ids[s->n] = e->id;
    s->offs[s->n++] = off;
  }
}

static void on_damage(void *data, uint64_t off, uint64_t next, const char *why) {
  seen *s = data;
  if (s->bad < 4) {
    s->bad_off[s->bad] = off;
    s->bad_next[s->bad] = next;
    s->why[s->bad++] = why;
  }
}

static void scan_file(int fd, seen *s) {
  memset(s, 0, sizeof(*s));
  gl_scan_cb cb = {s, on_entry, on_damage};
  off_t size = lseek(fd, 0, SEEK_END);
  CHECK(gl_seg_scan(fd, (uint64_t)size, &cb) == 0);
}

static void flip(int fd, uint64_t off) {
  unsigned char c;
  CHECK(pread(fd, &c, 1, (off_t)off) == 1);
  c ^= 0x40;
  CHECK(pwrite(fd, &c, 1, (off_t)off) == 1);
}

/* Three batches with `gap` bytes of garbage after the first; the second's
 * body damaged or not. */
static void test_scan(void) {
  const unsigned char z[] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  gl_entry e[3] = {batch_entry(1, 2), batch_entry(2, 2), batch_entry(3, 2)};
  unsigned char *enc[3];
  for (int i = 0; i < 3; i++) enc[i] = encode_batch(&e[i], "a\nb\n", z, sizeof(z));
  size_t sz = gl_entry_size(&e[0]);
  size_t gaps[] = {0, 8, 200, 70000, 200000}; /* past the scan's window too */
  for (size_t g = 0; g < sizeof(gaps) / sizeof(gaps[0]); g++) {
    size_t n = 3 * sz + gaps[g];
    unsigned char *buf = malloc(n);
    memcpy(buf, enc[0], sz);
    for (size_t i = 0; i < gaps[g]; i++) buf[sz + i] = (unsigned char)(i * 7 + 1);
    memcpy(buf + sz + gaps[g], enc[1], sz);
    memcpy(buf + 2 * sz + gaps[g], enc[2], sz);
    char path[64];
    int fd = segment(buf, n, path);
    seen s;
    scan_file(fd, &s);
    CHECK(s.n == 3 && s.ids[0] == 1 && s.ids[1] == 2 && s.ids[2] == 3);
    CHECK(s.bad == (gaps[g] ? 1 : 0));
    if (gaps[g]) {
      CHECK(s.bad_off[0] == GL_SEG_HEAD + sz && s.bad_next[0] == GL_SEG_HEAD + sz + gaps[g]);
      CHECK_STR(s.why[0], "no entry magic");
    }
    /* The second entry read back: whole, then with a body byte flipped. */
    gl_entry d;
    unsigned char *body;
    const char *why = NULL;
    uint64_t off2 = s.offs[1];
    CHECK(gl_entry_read(fd, off2, 2, &d, &body, &why) == 0 && body != NULL);
    free(body);
    CHECK(gl_entry_read(fd, off2, 3, &d, &body, &why) == UV_EILSEQ);
    CHECK_STR(why, "another entry");
    flip(fd, off2 + GL_ENTRY_HEAD + 3);
    CHECK(gl_entry_read(fd, off2, 2, &d, &body, &why) == UV_EILSEQ && body == NULL);
    CHECK_STR(why, "bad body checksum");
    /* A head damaged in its middle: the scan skips to the third entry. */
    flip(fd, off2 + 20);
    scan_file(fd, &s);
    CHECK(s.n == 2 && s.ids[1] == 3);
    CHECK(s.bad >= 1 && s.bad_next[s.bad - 1] == off2 + sz);
    /* (After garbage, the search for the next head passes over it.) */
    CHECK_STR(s.why[s.bad - 1], gaps[g] ? "no entry magic" : "bad head checksum");
    flip(fd, off2 + 20);
    /* Torn in the middle of the last entry: it is reported, not read. */
    CHECK(ftruncate(fd, (off_t)(GL_SEG_HEAD + n - 10)) == 0);
    scan_file(fd, &s);
    CHECK(s.n == 2 && s.ids[1] == 2);
    CHECK_STR(s.why[s.bad - 1], "truncated entry");
    /* And in the middle of its head. */
    CHECK(ftruncate(fd, (off_t)(GL_SEG_HEAD + n - sz + 30)) == 0);
    scan_file(fd, &s);
    CHECK_STR(s.why[s.bad - 1], "truncated entry head");
    close(fd);
    unlink(path);
    free(buf);
  }
  for (int i = 0; i < 3; i++) free(enc[i]);
}

#define TESTS(TEST) \
  TEST(seg_head)    \
  TEST(entry)       \
  TEST(scan)
CHECK_MAIN(TESTS)
