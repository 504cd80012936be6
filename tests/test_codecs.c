/* The C codecs (outbox/codecs/) on what spec/codec_c_spec.lua cannot
 * reach through a core: an empty batch, damaged packed records (refused,
 * the body left as it was, never read past), a record only the Lua
 * codec's general path writes (declined), and an unknown name. The bytes
 * of real batches against the Lua codecs are that spec's. */
#include <stdlib.h>
#include <uv.h>

#include "check.h"
#include "outbox/codecs/codec.h"
#include "session/record.h"
#include "session/table.h"

static gl_codec *codec(const char *name) {
  int nomem;
  gl_codec *c = gl_codec_new(name, &nomem);
  CHECK(c != NULL && !nomem);
  return c;
}

static void record(gl_record *r) {
  memset(r, 0, sizeof(*r));
  r->sid = 0x9f2c1a7b3d4e5f60ULL;
  r->resource = 42;
  r->proto = GL_PROTO_TCP;
  r->final = 1;
  gl_addr_parse("203.0.113.7:51234", 17, &r->src);
  gl_addr_parse("10.0.0.5:443", 12, &r->dst);
  r->started_ns = 1795773600123456789ULL;
  r->ended_ns = 1795773605987600000ULL;
  r->bytes_tx = 12345;
  r->bytes_rx = 67890;
}

static int body(gl_codec *c, const gl_buf *bin, uint32_t count, gl_buf *out) {
  gl_codec_batch in = {bin->data ? bin->data : "", "closed\n", bin->len, 7, count, 0xaa, "gw-1", 0};
  return gl_codec_body(c, &in, out);
}

static void test_empty(void) {
  static const char *const names[] = {"ndjson", "elasticsearch", "syslog", "loki", "otlp"};
  static const char *const want[] = {"", "", "", "{\"streams\":[]}", "<head>]}]}]}"};
  gl_buf bin = {0};
  for (int i = 0; i < 5; i++) {
    gl_codec *c = codec(names[i]);
    CHECK(gl_codec_set_part(c, 0, "<head>", 6) == 0);
    gl_buf out = {0};
    CHECK(body(c, &bin, 0, &out) == 0);
    CHECK_STR(out.data ? out.data : "", want[i]);
    gl_buf_free(&out);
    gl_codec_unref(c);
  }
}

/* Cut anywhere, the records are refused and the body is as it was. */
static void test_truncated(void) {
  gl_record r;
  gl_extras x = {0};
  record(&r);
  CHECK(gl_extras_set_string(&x, "note", 4, "a\"b", 3) == 0);
  CHECK(gl_extras_set_number(&x, "n", 1, 0.5, GL_EXTRA_NUMBER) == 0);
  r.extras = &x;
  gl_buf bin = {0};
  CHECK(gl_record_pack(&bin, &r) == 0);
  static const char *const names[] = {"ndjson", "elasticsearch", "syslog", "loki", "otlp"};
  for (int i = 0; i < 5; i++) {
    gl_codec *c = codec(names[i]);
    gl_buf out = {0}, cut = {0};
    CHECK(gl_buf_append(&out, "kept", 4) == 0);
    int bad = 0;
    for (size_t n = 0; n < bin.len; n++) {
      gl_buf_reset(&cut);
      CHECK(gl_buf_append(&cut, bin.data, n) == 0);
      bad += body(c, &cut, 1, &out) != UV_EINVAL || out.len != 4;
    }
    CHECK(bad == 0);
    CHECK_STR(out.data, "kept");
    /* Whole, but the batch says two records. */
    CHECK(body(c, &bin, 2, &out) == UV_EINVAL && out.len == 4);
    CHECK(body(c, &bin, 1, &out) == 0 && out.len > 4);
    gl_buf_free(&out);
    gl_buf_free(&cut);
    gl_codec_unref(c);
  }
  gl_buf_free(&bin);
  gl_extras_free(&x);
}

/* Counters past 2^53: Lua numbers, so json.number writes %.17g (%.14g
 * does not read back the same); otlp.lua takes its general path for them,
 * and the C otlp declines the batch. */
static void test_past_2_53(void) {
  gl_record r;
  record(&r);
  r.bytes_tx = UINT64_MAX;
  gl_buf bin = {0}, out = {0};
  CHECK(gl_record_pack(&bin, &r) == 0);
  gl_codec *c = codec("otlp");
  CHECK(body(c, &bin, 1, &out) == GL_CODEC_DECLINE && out.len == 0);
  gl_codec_unref(c);
  c = codec("ndjson");
  CHECK(body(c, &bin, 1, &out) == 0);
  CHECK(strstr(out.data, "\"bytesTx\":1.8446744073709552e+19,") != NULL);
  gl_codec_unref(c);
  gl_buf_free(&bin);
  gl_buf_free(&out);
}

static void test_unknown(void) {
  int nomem = 1;
  CHECK(gl_codec_new("xml", &nomem) == NULL && nomem == 0);
  CHECK(gl_codec_new("newt", &nomem) == NULL && nomem == 0);
}

#define TESTS(TEST) \
  TEST(empty)       \
  TEST(truncated)   \
  TEST(past_2_53)   \
  TEST(unknown)
CHECK_MAIN(TESTS)
