/* The packed record (session/record.h): what the loop thread appends to a
 * batch must come back on a compression thread as exactly the JSON that
 * gl_record_json writes for the record itself, and a damaged buffer must
 * be refused, never read past. */
#include <stdlib.h>
#include <uv.h>

#include "check.h"
#include "session/record.h"
#include "session/table.h"

static void base_record(gl_record *r) {
  memset(r, 0, sizeof(*r));
  r->sid = 0x9f2c1a7b3d4e5f60ULL;
  r->resource = 42;
  r->proto = GL_PROTO_TCP;
  r->end_reason = "closed";
  r->final = 1;
  gl_addr_parse("203.0.113.7:51234", 17, &r->src);
  gl_addr_parse("10.0.0.5:443", 12, &r->dst);
  r->started_ns = 1795773600123456789ULL;
  r->ended_ns = 1795773605987600000ULL;
  r->bytes_tx = 12345;
  r->bytes_rx = 67890;
}

/* Records of every shape, each with its JSON from gl_record_json. */
#define NREC 6
static void make_records(gl_record rec[NREC], gl_extras x[NREC], gl_buf want[NREC]) {
  memset(x, 0, NREC * sizeof(*x));
  memset(want, 0, NREC * sizeof(*want));
  for (int i = 0; i < NREC; i++) base_record(&rec[i]);
  /* 1: enrichment of every type, escapes, an unset key. */
  CHECK(gl_extras_set_string(&x[1], "site", 4, "edge-1", 6) == 0);
  CHECK(gl_extras_set_number(&x[1], "score", 5, -1.5e-7, GL_EXTRA_NUMBER) == 0);
  CHECK(gl_extras_set_number(&x[1], "vip", 3, 1, GL_EXTRA_BOOLEAN) == 0);
  CHECK(gl_extras_set_number(&x[1], "no", 2, 0, GL_EXTRA_BOOLEAN) == 0);
  CHECK(gl_extras_set_string(&x[1], "a\"b<", 4, "x\ny\xff", 4) == 0);
  CHECK(gl_extras_set_string(&x[1], "gone", 4, "g", 1) == 0);
  gl_extras_unset(&x[1], "gone", 4);
  rec[1].extras = &x[1];
  /* 2: both addresses replaced, an empty key and value. */
  CHECK(gl_extras_set_addr(&x[2], 0, "redacted", 8) == 0);
  CHECK(gl_extras_set_addr(&x[2], 1, "<dst>", 5) == 0);
  CHECK(gl_extras_set_string(&x[2], "", 0, "", 0) == 0);
  rec[2].extras = &x[2];
  /* 3: UDP over IPv6, a negative resource, an interim record. */
  rec[3].proto = GL_PROTO_UDP;
  rec[3].resource = -7;
  rec[3].sid = 1;
  gl_addr_parse("[2001:db8::1]:5000", 18, &rec[3].src);
  rec[3].with_seq = 1;
  rec[3].final = 0;
  rec[3].seq = 3;
  rec[3].delta_tx = 5;
  rec[3].delta_rx = 6;
  /* 4: a start record (no endedAt), extremes. */
  rec[4].is_start = 1;
  rec[4].with_seq = 1;
  rec[4].bytes_tx = UINT64_MAX;
  rec[4].resource = INT64_MIN;
  /* 5: extras present but empty. */
  rec[5].extras = &x[5];
  for (int i = 0; i < NREC; i++) CHECK(gl_record_json(&want[i], &rec[i]) == 0);
}

static void free_records(gl_extras x[NREC], gl_buf want[NREC]) {
  for (int i = 0; i < NREC; i++) {
    gl_extras_free(&x[i]);
    gl_buf_free(&want[i]);
  }
}

static void test_round_trip(void) {
  gl_record rec[NREC];
  gl_extras x[NREC];
  gl_buf want[NREC], packed = {0}, got = {0};
  make_records(rec, x, want);
  for (int i = 0; i < NREC; i++) CHECK(gl_record_pack(&packed, &rec[i]) == 0);
  /* The enrichment is copied: changing it after the pack changes nothing. */
  gl_extras_reset(&x[1]);
  const char *p = packed.data, *end = packed.data + packed.len;
  for (int i = 0; i < NREC; i++) {
    gl_buf_reset(&got);
    CHECK(gl_record_unpack_json(&got, &p, end) == 0);
    CHECK_STR(got.data, want[i].data);
  }
  CHECK(p == end);
  gl_buf_free(&packed);
  gl_buf_free(&got);
  free_records(x, want);
}

/* Cut anywhere, a packed record is refused (UV_EINVAL), the reader stays
 * where it was; a wrong length inside is refused too. */
static void test_truncated(void) {
  gl_record rec[NREC];
  gl_extras x[NREC];
  gl_buf want[NREC], packed = {0}, got = {0};
  make_records(rec, x, want);
  CHECK(gl_record_pack(&packed, &rec[1]) == 0);
  int bad = 0;
  for (size_t cut = 0; cut < packed.len; cut++) {
    const char *p = packed.data;
    gl_buf_reset(&got);
    bad += gl_record_unpack_json(&got, &p, packed.data + cut) != UV_EINVAL || p != packed.data;
  }
  CHECK(bad == 0);
  /* The last string's length says one byte more than there is. */
  uint32_t len;
  size_t at = packed.len - 4 - 4; /* "x\ny\xff": its 4 bytes and its length before them */
  memcpy(&len, packed.data + at, 4);
  CHECK(len == 4);
  len = 5;
  memcpy(packed.data + at, &len, 4);
  const char *p = packed.data;
  CHECK(gl_record_unpack_json(&got, &p, packed.data + packed.len) == UV_EINVAL);
  gl_buf_free(&packed);
  gl_buf_free(&got);
  free_records(x, want);
}

#define TESTS(TEST)  \
  TEST(round_trip)   \
  TEST(truncated)
CHECK_MAIN(TESTS)
