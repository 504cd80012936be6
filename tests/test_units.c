/* Unit tests of the leaf modules: JSON text, time texts, base64, ids,
 * addresses, the session table and the record codec. Expected texts are
 * what Go prints for the same values (the records must read byte for byte
 * as the reference's); dates were checked with `date -u -d @SECONDS`. */
#include <arpa/inet.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <uv.h>

#include "util/addr.h"
#include "util/base64.h"
#include "util/buf.h"
#include "check.h"
#include "util/ids.h"
#include "util/json.h"
#include "session/record.h"
#include "session/table.h"
#include "util/timefmt.h"

/* ---- json ---------------------------------------------------------- */

/* The JSON text of s[0..len), or NULL if gl_json_string failed. */
static const char *jstr(gl_buf *b, const char *s, size_t len) {
  gl_buf_reset(b);
  return gl_json_string(b, s, len) == 0 ? b->data : NULL;
}
/* sizeof, not strlen: literals below may hold NUL bytes. */
#define JS(lit) jstr(&b, lit, sizeof(lit) - 1)

static const char *jdouble(gl_buf *b, double v) {
  gl_buf_reset(b);
  return gl_json_double(b, v) == 0 ? b->data : NULL;
}

static void test_json(void) {
  gl_buf b = {0};

  CHECK_STR(JS(""), "\"\"");
  CHECK_STR(JS("plain text 123 ~"), "\"plain text 123 ~\"");
  CHECK_STR(JS("a\"b\\c/d"), "\"a\\\"b\\\\c/d\"");
  CHECK_STR(JS("\n\r\t"), "\"\\n\\r\\t\"");
  CHECK_STR(JS("\x01x\x1f"), "\"\\u0001x\\u001f\"");
  /* Go before 1.22 spells these \u0008 / \u000c, not \b / \f. */
  CHECK_STR(JS("\b\f"), "\"\\u0008\\u000c\"");
  CHECK_STR(JS("a\0b"), "\"a\\u0000b\"");
  /* DEL is not a control character for encoding/json. */
  CHECK_STR(JS("\x7f"), "\"\x7f\"");
  /* HTML-significant characters, so that a record is safe inside HTML. */
  CHECK_STR(JS("<a>&</a>"), "\"\\u003ca\\u003e\\u0026\\u003c/a\\u003e\"");
  /* JavaScript line terminators. */
  CHECK_STR(JS("x\xe2\x80\xa8y\xe2\x80\xa9"), "\"x\\u2028y\\u2029\"");

  /* Valid UTF-8 of each length is copied, neighbours of U+2028 too. */
  CHECK_STR(JS("\xc3\xa9"), "\"\xc3\xa9\"");                      /* é */
  CHECK_STR(JS("\xe2\x82\xac"), "\"\xe2\x82\xac\"");              /* € */
  CHECK_STR(JS("\xe2\x80\xa7\xe2\x80\xaa"), "\"\xe2\x80\xa7\xe2\x80\xaa\"");
  CHECK_STR(JS("\xf0\x9f\x98\x80"), "\"\xf0\x9f\x98\x80\"");      /* 😀 */
  CHECK_STR(JS("\xf4\x8f\xbf\xbf"), "\"\xf4\x8f\xbf\xbf\"");      /* U+10FFFF */
  CHECK_STR(JS("\xef\xbf\xbd"), "\"\xef\xbf\xbd\"");              /* U+FFFD */

  /* Invalid UTF-8: each offending byte becomes one U+FFFD escape. */
  CHECK_STR(JS("\x80"), "\"\\ufffd\"");
  CHECK_STR(JS("a\x80z"), "\"a\\ufffdz\"");
  CHECK_STR(JS("\xff\xfe"), "\"\\ufffd\\ufffd\"");
  CHECK_STR(JS("x\xe2\x82"), "\"x\\ufffd\\ufffd\"");  /* truncated at end */
  CHECK_STR(JS("\xe2\x82z"), "\"\\ufffd\\ufffdz\"");  /* interrupted */
  CHECK_STR(JS("\xc0\xaf"), "\"\\ufffd\\ufffd\"");    /* overlong '/' */
  CHECK_STR(JS("\xe0\x80\xaf"), "\"\\ufffd\\ufffd\\ufffd\"");
  CHECK_STR(JS("\xed\xa0\x80"), "\"\\ufffd\\ufffd\\ufffd\""); /* surrogate */
  /* Past U+10FFFF, by value and by lead byte. */
  CHECK_STR(JS("\xf4\x90\x80\x80"), "\"\\ufffd\\ufffd\\ufffd\\ufffd\"");
  CHECK_STR(JS("\xf5\x80\x80\x80"), "\"\\ufffd\\ufffd\\ufffd\\ufffd\"");

  /* Worst case growth: every byte escaped to six. */
  {
    char many[300];
    memset(many, '<', sizeof(many));
    const char *got = jstr(&b, many, sizeof(many));
    CHECK(got != NULL && b.len == sizeof(many) * 6 + 2);
    CHECK(got != NULL && strncmp(got + 1 + 6 * 299, "\\u003c\"", 8) == 0);
  }

  /* Appends after what is already there. */
  gl_buf_reset(&b);
  CHECK(gl_buf_append(&b, "[", 1) == 0 && gl_json_string(&b, "x", 1) == 0);
  CHECK_STR(b.data, "[\"x\"");

  gl_buf_reset(&b);
  CHECK(gl_json_int64(&b, INT64_MIN) == 0 && gl_buf_append(&b, " ", 1) == 0 &&
        gl_json_int64(&b, -1) == 0 && gl_buf_append(&b, " ", 1) == 0 &&
        gl_json_int64(&b, 0) == 0 && gl_buf_append(&b, " ", 1) == 0 &&
        gl_json_int64(&b, INT64_MAX) == 0 && gl_buf_append(&b, " ", 1) == 0 &&
        gl_json_uint64(&b, UINT64_MAX) == 0);
  CHECK_STR(b.data, "-9223372036854775808 -1 0 9223372036854775807 18446744073709551615");

  CHECK_STR(jdouble(&b, 42.0), "42");
  CHECK_STR(jdouble(&b, -3.0), "-3");
  CHECK_STR(jdouble(&b, -0.5), "-0.5");
  CHECK_STR(jdouble(&b, 0.1), "0.1");
  CHECK_STR(jdouble(&b, 1.5), "1.5");
  CHECK_STR(jdouble(&b, 1e300), "1e+300");
  /* Go's choices: plain decimals from 1e-6 up to 1e21, a short exponent
   * outside, and negative zero kept. */
  CHECK_STR(jdouble(&b, -0.0), "-0");
  CHECK_STR(jdouble(&b, 1e-7), "1e-7");
  CHECK_STR(jdouble(&b, 0.00001), "0.00001");
  CHECK_STR(jdouble(&b, 3.0000000000000004e-05), "0.000030000000000000004");
  CHECK_STR(jdouble(&b, 1e20), "100000000000000000000");
  CHECK_STR(jdouble(&b, 1e21), "1e+21");
  CHECK_STR(jdouble(&b, -2.5e-10), "-2.5e-10");
  CHECK_STR(jdouble(&b, 123456.789), "123456.789");
  /* 17 significant digits are needed here; the text must read back. */
  {
    const char *got = jdouble(&b, 0.1 + 0.2);
    CHECK(got != NULL && strtod(got, NULL) == 0.1 + 0.2);
    CHECK_STR(got, "0.30000000000000004");
  }

  gl_buf_reset(&b);
  CHECK(gl_json_double(&b, NAN) == UV_EINVAL);
  CHECK(gl_json_double(&b, INFINITY) == UV_EINVAL);
  CHECK(gl_json_double(&b, -INFINITY) == UV_EINVAL);
  CHECK(b.len == 0);

  gl_buf_free(&b);
}

/* ---- timefmt ------------------------------------------------------- */

/* The text, provided the returned length is its length. */
static const char *sized(size_t n, const char *out) {
  return n == strlen(out) ? out : "(length mismatch)";
}
#define tnano(t, ns) sized(gl_fmt_time_nano(ns, t), t)
#define tsec(t, ns) sized(gl_fmt_time_sec(ns, t), t)
#define dur(d, ns) sized(gl_fmt_duration(ns, d), d)

#define SEC 1000000000ULL

static void test_timefmt(void) {
  char t[GL_TIME_STRLEN];

  CHECK_STR(tnano(t, 0), "1970-01-01T00:00:00Z");
  CHECK_STR(tnano(t, 1), "1970-01-01T00:00:00.000000001Z");
  CHECK_STR(tnano(t, 100), "1970-01-01T00:00:00.0000001Z");
  CHECK_STR(tnano(t, 1795773600123456789ULL), "2026-11-27T10:00:00.123456789Z");
  CHECK_STR(tnano(t, 1795773605ULL * SEC + 987600000), "2026-11-27T10:00:05.9876Z");
  CHECK_STR(tnano(t, 1795773605ULL * SEC + 500000000), "2026-11-27T10:00:05.5Z");
  CHECK_STR(tnano(t, 1709210096ULL * SEC), "2024-02-29T12:34:56Z");
  CHECK_STR(tnano(t, 1709251199ULL * SEC + 999999999), "2024-02-29T23:59:59.999999999Z");
  /* 2100 is not a leap year: Feb 28 is followed by Mar 1. */
  CHECK_STR(tnano(t, 4107542399ULL * SEC), "2100-02-28T23:59:59Z");
  CHECK_STR(tnano(t, 4107542400ULL * SEC), "2100-03-01T00:00:00Z");
  CHECK_STR(tnano(t, 946684799ULL * SEC), "1999-12-31T23:59:59Z");
  CHECK_STR(tnano(t, 946684800ULL * SEC), "2000-01-01T00:00:00Z");

  CHECK_STR(tsec(t, 0), "1970-01-01T00:00:00Z");
  CHECK_STR(tsec(t, 1795773605ULL * SEC + 987600000), "2026-11-27T10:00:05Z");
  CHECK_STR(tsec(t, 946684799ULL * SEC + 999999999), "1999-12-31T23:59:59Z");

  char d[GL_DURATION_STRLEN];
  CHECK_STR(dur(d, 0), "0s");
  CHECK_STR(dur(d, 1), "1ns");
  CHECK_STR(dur(d, 999), "999ns");
  CHECK_STR(dur(d, 1000), "1\xc2\xb5s");
  CHECK_STR(dur(d, 1500), "1.5\xc2\xb5s");
  CHECK_STR(dur(d, 1001), "1.001\xc2\xb5s");
  CHECK_STR(dur(d, 1000000), "1ms");
  CHECK_STR(dur(d, 1500000), "1.5ms");
  CHECK_STR(dur(d, 999999999), "999.999999ms");
  CHECK_STR(dur(d, 1000000000), "1s");
  CHECK_STR(dur(d, 5864197532LL), "5.864197532s");
  CHECK_STR(dur(d, 59999999999LL), "59.999999999s");
  CHECK_STR(dur(d, 60000000000LL), "1m0s");
  CHECK_STR(dur(d, 90000000000LL), "1m30s");
  CHECK_STR(dur(d, 3600000000000LL), "1h0m0s");
  CHECK_STR(dur(d, 3723004000000LL), "1h2m3.004s");
  CHECK_STR(dur(d, 360000000000000LL), "100h0m0s");
  CHECK_STR(dur(d, -1), "-1ns");
  CHECK_STR(dur(d, -1500000), "-1.5ms");
  CHECK_STR(dur(d, -90000000000LL), "-1m30s");
  /* The magnitude of INT64_MIN does not fit int64 (Go prints this). */
  CHECK_STR(dur(d, INT64_MIN), "-2562047h47m16.854775808s");
  CHECK_STR(dur(d, INT64_MAX), "2562047h47m16.854775807s");
}

/* ---- base64 -------------------------------------------------------- */

static int b64_rejects(const char *s) {
  unsigned char out[64];
  return gl_base64_decode(s, strlen(s), out) == -1;
}

static void test_base64(void) {
  static const char *const plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
  static const char *const coded[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
  char enc[64];
  unsigned char dec[64];

  for (int i = 0; i < 7; i++) {
    size_t n = strlen(plain[i]);
    CHECK(gl_base64_len(n) == strlen(coded[i]));
    gl_base64_encode((const unsigned char *)plain[i], n, enc);
    enc[gl_base64_len(n)] = '\0';
    CHECK_STR(enc, coded[i]);
    long got = gl_base64_decode(coded[i], strlen(coded[i]), dec);
    CHECK(got == (long)n && memcmp(dec, plain[i], n) == 0);
  }

  /* Random bytes, every remainder mod 3, fixed seed for repeatability. */
  srand(4648);
  int bad = 0;
  for (size_t n = 0; n <= 20; n++) {
    unsigned char src[20];
    for (size_t i = 0; i < n; i++) src[i] = (unsigned char)(rand() & 0xff);
    size_t el = gl_base64_len(n);
    memset(enc, '#', sizeof(enc));
    gl_base64_encode(src, n, enc);
    if (enc[el] != '#') bad++; /* wrote past its length */
    long got = gl_base64_decode(enc, el, dec);
    if (got != (long)n || memcmp(dec, src, n) != 0) bad++;
  }
  CHECK(bad == 0);

  /* All byte values, so every alphabet character (+ and / too) occurs. */
  {
    unsigned char all[255];
    char big[341];
    unsigned char back[255];
    CHECK(gl_base64_len(255) + 1 == sizeof(big));
    for (int i = 0; i < 255; i++) all[i] = (unsigned char)(i * 7 + 3);
    gl_base64_encode(all, sizeof(all), big);
    big[sizeof(big) - 1] = '\0';
    CHECK(strchr(big, '+') != NULL && strchr(big, '/') != NULL);
    CHECK(gl_base64_decode(big, sizeof(big) - 1, back) == 255 &&
          memcmp(all, back, 255) == 0);
  }

  /* Length not a multiple of 4 (unpadded too); outside the alphabet (the
   * URL-safe one included); padding before the last quantum or followed
   * by data; too much padding. */
  CHECK(b64_rejects("Zg=") && b64_rejects("Zm9vY") && b64_rejects("Zg"));
  CHECK(b64_rejects("Zm9v!A==") && b64_rejects("Zm-_") && b64_rejects("Zm 9"));
  CHECK(b64_rejects("Zg==Zm8=") && b64_rejects("Zm=v") && b64_rejects("Zg=A"));
  CHECK(b64_rejects("Z===") && b64_rejects("===="));
}

/* ---- ids ----------------------------------------------------------- */

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static void test_ids(void) {
  gl_ids ids;
  memset(&ids, 0, sizeof(ids));
  enum { DRAWS = 10000 };
  uint64_t *v = malloc(DRAWS * sizeof(*v));
  CHECK(v != NULL);
  if (v == NULL) return;
  int err = 0, zero = 0, dup = 0;
  uint64_t ored = 0;
  for (int i = 0; i < DRAWS; i++) {
    err |= gl_ids_next(&ids, &v[i]);
    zero += v[i] == 0;
    ored |= v[i];
  }
  CHECK(err == 0 && zero == 0);
  CHECK(ored >> 63 == 1); /* the top bit is random too */
  qsort(v, DRAWS, sizeof(*v), cmp_u64);
  for (int i = 1; i < DRAWS; i++) dup += v[i] == v[i - 1];
  CHECK(dup == 0);
  free(v);

  char h[17];
  gl_hex16(0x9f2c1a7b3d4e5f60ULL, h); CHECK_STR(h, "9f2c1a7b3d4e5f60");
  gl_hex16(1, h); CHECK_STR(h, "0000000000000001");
  gl_hex16(UINT64_MAX, h); CHECK_STR(h, "ffffffffffffffff");

  uint64_t x = 0;
  static const char *const cases[] = {"9f2c1a7b3d4e5f60", "9F2C1A7B3D4E5F60", "9f2C1a7B3d4E5f60"};
  for (int i = 0; i < 3; i++, x = 0)
    CHECK(gl_parse_hex16(cases[i], 16, &x) == 0 && x == 0x9f2c1a7b3d4e5f60ULL);
  CHECK(gl_parse_hex16("0000000000000001", 16, &x) == 0 && x == 1);
  CHECK(gl_parse_hex16("ffffffffffffffff", 16, &x) == 0 && x == UINT64_MAX);
  /* Only len bytes are read, whatever follows them. */
  CHECK(gl_parse_hex16("0000000000000001ff", 16, &x) == 0 && x == 1);
  CHECK(gl_parse_hex16("9f2c1a7b3d4e5f6", 15, &x) == UV_EINVAL);
  CHECK(gl_parse_hex16("9f2c1a7b3d4e5f600", 17, &x) == UV_EINVAL);
  CHECK(gl_parse_hex16("", 0, &x) == UV_EINVAL);
  CHECK(gl_parse_hex16("9f2c1a7b3d4e5f6g", 16, &x) == UV_EINVAL);
  CHECK(gl_parse_hex16("0x2c1a7b3d4e5f60", 16, &x) == UV_EINVAL);
  CHECK(gl_parse_hex16(" f2c1a7b3d4e5f60", 16, &x) == UV_EINVAL);
  CHECK(gl_parse_hex16("-000000000000001", 16, &x) == UV_EINVAL);
}

/* ---- addr ---------------------------------------------------------- */

static int parse_rejects(const char *s, size_t len) {
  gl_addr a;
  return gl_addr_parse(s, len, &a) == UV_EINVAL;
}

/* Parse, then format what was parsed. */
static const char *round_trip(const char *s, char out[GL_ADDR_STRLEN]) {
  gl_addr a;
  if (gl_addr_parse(s, strlen(s), &a) != 0) return "(rejected)";
  return sized(gl_addr_format(&a, out), out);
}

static void test_addr(void) {
  struct sockaddr_in in4;
  struct sockaddr_in6 in6;
  gl_addr a;
  char s[GL_ADDR_STRLEN], ip[GL_IP_STRLEN];

  CHECK(uv_ip4_addr("203.0.113.7", 51234, &in4) == 0);
  CHECK(gl_addr_from_sockaddr((const struct sockaddr *)&in4, &a) == 0);
  CHECK(a.family == 4 && a.port == 51234);
  CHECK(a.ip[0] == 203 && a.ip[1] == 0 && a.ip[2] == 113 && a.ip[3] == 7);
  CHECK_STR(sized(gl_addr_format(&a, s), s), "203.0.113.7:51234");
  CHECK_STR(sized(gl_addr_format_ip(&a, ip), ip), "203.0.113.7");

  CHECK(uv_ip6_addr("2001:db8::1", 5000, &in6) == 0);
  CHECK(gl_addr_from_sockaddr((const struct sockaddr *)&in6, &a) == 0);
  CHECK(a.family == 6 && a.port == 5000 && a.ip[0] == 0x20 && a.ip[15] == 1);
  CHECK_STR(sized(gl_addr_format(&a, s), s), "[2001:db8::1]:5000");
  CHECK_STR(sized(gl_addr_format_ip(&a, ip), ip), "2001:db8::1");

  /* Back to a sockaddr and again: nothing lost. */
  struct sockaddr_storage ss;
  gl_addr back;
  gl_addr_to_sockaddr(&a, &ss);
  CHECK(ss.ss_family == AF_INET6 && gl_addr_from_sockaddr((struct sockaddr *)&ss, &back) == 0 &&
        memcmp(&a, &back, sizeof(a)) == 0);
  CHECK(gl_addr_parse("203.0.113.7:51234", 17, &a) == 0);
  gl_addr_to_sockaddr(&a, &ss);
  CHECK(ss.ss_family == AF_INET && ((struct sockaddr_in *)&ss)->sin_port == htons(51234));
  CHECK(gl_addr_from_sockaddr((struct sockaddr *)&ss, &back) == 0 &&
        memcmp(&a, &back, sizeof(a)) == 0);

  struct sockaddr_un un;
  memset(&un, 0, sizeof(un));
  un.sun_family = AF_UNIX;
  CHECK(gl_addr_from_sockaddr((const struct sockaddr *)&un, &a) == UV_EAFNOSUPPORT);
  CHECK(gl_addr_from_sockaddr(NULL, &a) == UV_EINVAL);
  CHECK(gl_addr_from_sockaddr((const struct sockaddr *)&in4, NULL) == UV_EINVAL);

  CHECK_STR(round_trip("203.0.113.7:51234", s), "203.0.113.7:51234");
  CHECK_STR(round_trip("[2001:db8::1]:5000", s), "[2001:db8::1]:5000");
  CHECK_STR(round_trip("0.0.0.0:0", s), "0.0.0.0:0");
  CHECK_STR(round_trip("255.255.255.255:65535", s), "255.255.255.255:65535");
  CHECK_STR(round_trip("[::]:1", s), "[::]:1");
  CHECK_STR(round_trip("[::1]:80", s), "[::1]:80");
  CHECK_STR(round_trip("[::ffff:192.0.2.1]:53", s), "[::ffff:192.0.2.1]:53");
  /* The longest form must fit GL_ADDR_STRLEN. */
  CHECK_STR(round_trip("[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535", s),
            "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535");
  /* Text is normalised: case and zero runs as inet_ntop writes them. */
  CHECK_STR(round_trip("[2001:DB8:0:0:0:0:0:1]:5000", s), "[2001:db8::1]:5000");
  /* Only the given length is read. */
  CHECK(gl_addr_parse("1.2.3.4:80xyz", 10, &a) == 0 && a.port == 80);

  /* sizeof, as above: two of these hold a NUL byte. */
#define BAD(lit) {lit, sizeof(lit) - 1}
  static const struct { const char *s; size_t len; } bad[] = {
      BAD("1.2.3.4"), BAD("1.2.3.4:"), BAD("1.2.3.4:65536"), BAD("1.2.3.4:99999"),
      BAD("1.2.3.4:123456"), BAD("1.2.3.4:-1"), BAD("1.2.3.4:+1"), BAD("1.2.3.4: 80"),
      BAD("1.2.3.4:80:90"), BAD(":80"), BAD("[::1]"), BAD("[::1]:"), BAD("[::1]80"),
      BAD("[]:80"), BAD("[::1:80"), BAD("::1:80"), BAD("[::1]:80x"), BAD("[1.2.3.4]:80"),
      BAD("[fe80::1%eth0]:80"), BAD("300.1.1.1:80"), BAD("1.2.3:80"), BAD("example.com:80"),
      BAD(""), BAD("1.2.3.4\0:80"), BAD("1.2.3.4:80\0")};
#undef BAD
  int accepted = 0;
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    if (!parse_rejects(bad[i].s, bad[i].len)) {
      fprintf(stderr, "gl_addr_parse accepted \"%.*s\"\n", (int)bad[i].len, bad[i].s);
      accepted++;
    }
  }
  CHECK(accepted == 0);
  CHECK(parse_rejects(NULL, 0));
}

/* ---- table --------------------------------------------------------- */

enum { NSESS = 100000 };

/* Distinct and nonzero for i < 2^64 / multiplier: an odd multiplier is a
 * bijection, and it scatters the ids as random ones would be. */
static uint64_t sid_of(uint32_t i) { return (uint64_t)(i + 1) * 0x9e3779b97f4a7c15ULL; }
static int is_udp(uint32_t i) { return i % 3 == 0; }

/* Session i's endpoints: every fifth one over IPv6, so both families
 * share the index. */
static void make_addrs(uint32_t i, gl_addr *src, gl_addr *dst) {
  memset(src, 0, sizeof(*src));
  memset(dst, 0, sizeof(*dst));
  src->family = dst->family = i % 5 == 0 ? 6 : 4;
  src->ip[0] = 10;
  src->ip[1] = (uint8_t)(i >> 16);
  src->ip[2] = (uint8_t)(i >> 8);
  src->ip[3] = (uint8_t)i;
  src->port = (uint16_t)(1024 + i % 50000);
  dst->ip[0] = 192;
  dst->ip[3] = 1;
  dst->port = 53;
}

static void make_session(uint32_t i, gl_session *s) {
  gl_addr src, dst;
  memset(s, 0, sizeof(*s));
  s->sid = sid_of(i);
  s->resource = (int64_t)(i % 7);
  s->proto = is_udp(i) ? GL_PROTO_UDP : GL_PROTO_TCP;
  s->last_mono_ns = i;
  s->start_mono_ns = i;
  s->bytes_tx = i;
  make_addrs(i, &src, &dst);
  gl_session_set_addrs(s, &src, &dst);
}

/* Entries an index holds, counting those still in its previous array. */
static uint32_t held(const gl_index *ix) { return ix->count + ix->old_count; }

/* Walk a protocol's activity list: count, links and order (by activity)
 * must agree. Returns the number of problems. */
static int list_problems(const gl_table *t, int proto) {
  int bad = 0;
  uint32_t n = 0, prev = GL_NONE;
  for (uint32_t i = t->lists[proto].head; i != GL_NONE && n <= t->count;
       i = gl_table_at(t, i)->next, n++) {
    const gl_session *s = gl_table_at(t, i);
    if (s->proto != proto || s->prev != prev) bad++;
    if (prev != GL_NONE && gl_table_at(t, prev)->last_mono_ns > s->last_mono_ns) bad++;
    prev = i;
  }
  if (n != t->lists[proto].count || prev != t->lists[proto].tail) bad++;
  return bad;
}

static void test_table(void) {
  gl_table t;
  gl_session s;
  gl_addr src, dst;
  gl_table_init(&t, 0x5eedULL, 0, 0, 0, 0);
  CHECK(gl_table_find_sid(&t, 1) == GL_NONE);
  make_session(0, &s);
  make_addrs(0, &src, &dst);
  CHECK(gl_table_find_flow(&t, s.resource, &src, &dst) == GL_NONE);
  CHECK(gl_table_first(&t, GL_PROTO_UDP) == GL_NONE);
  CHECK(gl_table_next_open(&t, 0) == GL_NONE);

  uint32_t *idx = malloc(NSESS * sizeof(*idx));
  CHECK(idx != NULL);
  if (idx == NULL) return;
  int bad = 0;
  uint32_t udp = 0;
  for (uint32_t i = 0; i < NSESS; i++) {
    make_session(i, &s);
    if (gl_table_insert(&t, &s, &idx[i]) != 0) bad++;
    udp += is_udp(i);
  }
  CHECK(bad == 0);
  CHECK(t.count == NSESS && t.used == NSESS && held(&t.by_sid) == NSESS && held(&t.by_flow) == udp);
  CHECK(t.lists[GL_PROTO_UDP].count == udp && t.lists[GL_PROTO_TCP].count == NSESS - udp);

  bad = 0;
  for (uint32_t i = 0; i < NSESS; i++) {
    make_session(i, &s);
    uint32_t got = gl_table_find_sid(&t, s.sid);
    if (got != idx[i] || gl_table_at(&t, got)->bytes_tx != i) bad++;
    make_addrs(i, &src, &dst);
    uint32_t flow = gl_table_find_flow(&t, s.resource, &src, &dst);
    /* TCP sessions are not in the flow index. */
    if (flow != (is_udp(i) ? idx[i] : GL_NONE)) bad++;
  }
  CHECK(bad == 0);
  CHECK(gl_table_find_sid(&t, sid_of(NSESS)) == GL_NONE);

  /* A flow matches only on all of resource, source and destination. */
  make_session(3, &s);
  make_addrs(3, &src, &dst);
  CHECK(gl_table_find_flow(&t, s.resource, &src, &dst) == idx[3]);
  CHECK(gl_table_find_flow(&t, s.resource + 1, &src, &dst) == GL_NONE);
  CHECK(gl_table_find_flow(&t, s.resource, &dst, &src) == GL_NONE);
  dst.port++;
  CHECK(gl_table_find_flow(&t, s.resource, &src, &dst) == GL_NONE);

  CHECK(gl_table_first(&t, GL_PROTO_UDP) == idx[0]);
  CHECK(gl_table_first(&t, GL_PROTO_TCP) == idx[1]);
  CHECK(gl_table_least_recent_any(&t) == idx[0]);

  /* Remove the even ones in a scattered order (7919 is prime to NSESS/2),
   * so probe runs lose members in their middles, not only at their ends. */
  for (uint32_t k = 0; k < NSESS / 2; k++) {
    uint32_t i = 2 * (uint32_t)(((uint64_t)k * 7919) % (NSESS / 2));
    gl_table_remove(&t, idx[i]);
    udp -= is_udp(i);
  }
  CHECK(t.count == NSESS / 2 && held(&t.by_sid) == NSESS / 2 && held(&t.by_flow) == udp);
  CHECK(t.lists[GL_PROTO_UDP].count == udp && t.lists[GL_PROTO_TCP].count == NSESS / 2 - udp);

  bad = 0;
  for (uint32_t i = 0; i < NSESS; i++) {
    make_session(i, &s);
    uint32_t want = i % 2 ? idx[i] : GL_NONE;
    if (gl_table_find_sid(&t, s.sid) != want) bad++;
    make_addrs(i, &src, &dst);
    if (gl_table_find_flow(&t, s.resource, &src, &dst) != (is_udp(i) ? want : GL_NONE)) bad++;
  }
  CHECK(bad == 0);
  CHECK(list_problems(&t, GL_PROTO_UDP) == 0);
  CHECK(list_problems(&t, GL_PROTO_TCP) == 0);

  /* The oldest still open: UDP 0 and TCP 0 went, UDP 3 and TCP 1 remain. */
  CHECK(gl_table_first(&t, GL_PROTO_UDP) == idx[3]);
  CHECK(gl_table_first(&t, GL_PROTO_TCP) == idx[1]);
  gl_table_touch(&t, idx[3], NSESS + 1);
  CHECK(gl_table_first(&t, GL_PROTO_UDP) == idx[9]);
  CHECK(t.lists[GL_PROTO_UDP].tail == idx[3]);
  CHECK(gl_table_at(&t, idx[3])->last_mono_ns == NSESS + 1);
  /* Touching the most recent one again keeps the list as it is. */
  gl_table_touch(&t, idx[3], NSESS + 2);
  CHECK(t.lists[GL_PROTO_UDP].tail == idx[3] && t.lists[GL_PROTO_UDP].count == udp);
  CHECK(gl_table_first(&t, GL_PROTO_UDP) == idx[9]);
  CHECK(list_problems(&t, GL_PROTO_UDP) == 0);
  CHECK(gl_table_first(&t, GL_PROTO_TCP) == idx[1]); /* untouched */

  /* Iteration visits exactly the open slots, in slot order. */
  {
    uint32_t n = 0, last = 0;
    bad = 0;
    for (uint32_t i = gl_table_next_open(&t, 0); i != GL_NONE; i = gl_table_next_open(&t, i + 1)) {
      const gl_session *o = gl_table_at(&t, i);
      if ((n > 0 && i <= last) || o->proto == 0 || gl_table_find_sid(&t, o->sid) != i) bad++;
      last = i;
      if (++n > NSESS) break;
    }
    CHECK(bad == 0 && n == NSESS / 2);
    CHECK(gl_table_next_open(&t, t.used) == GL_NONE);
  }

  /* New sessions take the freed slots before the slab grows. */
  bad = 0;
  for (uint32_t i = 0; i < NSESS / 2; i++) {
    uint32_t at;
    make_session(NSESS + i, &s);
    if (gl_table_insert(&t, &s, &at) != 0 || gl_table_find_sid(&t, s.sid) != at) bad++;
  }
  CHECK(bad == 0);
  CHECK(t.used == NSESS && t.count == NSESS);
  {
    uint32_t at;
    make_session(2 * NSESS, &s);
    CHECK(gl_table_insert(&t, &s, &at) == 0 && at == NSESS && t.used == NSESS + 1);
  }

  /* Emptying the table leaves nothing indexed or listed. */
  for (uint32_t i = gl_table_next_open(&t, 0); i != GL_NONE; i = gl_table_next_open(&t, i + 1))
    gl_table_remove(&t, i);
  CHECK(t.count == 0 && held(&t.by_sid) == 0 && held(&t.by_flow) == 0);
  CHECK(gl_table_first(&t, GL_PROTO_UDP) == GL_NONE &&
        gl_table_first(&t, GL_PROTO_TCP) == GL_NONE);
  CHECK(gl_table_find_sid(&t, sid_of(1)) == GL_NONE);

  free(idx);
  gl_table_free(&t);
  CHECK(t.chunks == NULL && t.count == 0 && t.used == 0);
}

/* gatelog writes IPv6 text itself (inet_ntop is slow on the hot path):
 * it must be exactly what glibc's inet_ntop writes, zero runs, embedded
 * IPv4 and all. */
static void test_ip6_text(void) {
  uint64_t x = 88172645463325252ULL;
  int bad = 0;
  for (int t = 0; t < 200000; t++) {
    gl_addr a;
    memset(&a, 0, sizeof(a));
    a.family = 6;
    for (int i = 0; i < 8; i++) {
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      unsigned kind = x % 4, v = kind == 0 ? 0 : kind == 1 ? (unsigned)(x >> 8) & 0xff
                                 : kind == 2 ? 1 : (unsigned)(x >> 16) & 0xffff;
      a.ip[2 * i] = (uint8_t)(v >> 8);
      a.ip[2 * i + 1] = (uint8_t)v;
    }
    if (t % 7 == 0) memset(a.ip, 0, 10), a.ip[10] = a.ip[11] = 0xff; /* ::ffff:a.b.c.d */
    if (t % 11 == 0) memset(a.ip, 0, 12);                            /* ::a.b.c.d */
    if (t % 13 == 0) memset(a.ip, 0, 14);                            /* ::x */
    if (t % 17 == 0) memset(a.ip, 0, 16);                            /* :: */
    char ours[GL_IP_STRLEN], theirs[INET6_ADDRSTRLEN];
    gl_addr_format_ip(&a, ours);
    inet_ntop(AF_INET6, a.ip, theirs, sizeof(theirs));
    if (strcmp(ours, theirs) != 0 && bad++ < 5) fprintf(stderr, "ip6: %s vs %s\n", ours, theirs);
  }
  CHECK(bad == 0);
}

/* Growth moves the index a few probe runs at a time: lookups, inserts and
 * removals in the middle of it must see every session exactly where it
 * is, in the new array or the old. */
static void test_table_growth(void) {
  gl_table t;
  gl_session s;
  uint32_t at[5000];
  uint32_t n = 0, removed_below = 0;
  gl_table_init(&t, 7, 0, 0, 0, 0);
  /* Insert until a growth is under way, then look everything up. */
  int saw_drain = 0, bad = 0;
  while (n < 5000) {
    make_session(n, &s);
    if (gl_table_insert(&t, &s, &at[n]) != 0) bad++;
    n++;
    if (t.by_sid.old != NULL && n > 1100 && !saw_drain) {
      saw_drain = 1;
      for (uint32_t i = 0; i < n; i++)
        if (gl_table_find_sid(&t, sid_of(i)) != at[i]) bad++;
      /* Remove some of each: ones still in the old array and moved ones. */
      for (uint32_t i = 0; i < n; i += 3) gl_table_remove(&t, at[i]);
      removed_below = n;
      for (uint32_t i = 0; i < n; i++)
        if (gl_table_find_sid(&t, sid_of(i)) != (i % 3 ? at[i] : GL_NONE)) bad++;
    }
  }
  CHECK(saw_drain);
  CHECK(bad == 0);
  CHECK(t.by_sid.old == NULL); /* long since drained */
  bad = 0;
  for (uint32_t i = 0; i < n; i++) {
    int removed = i % 3 == 0 && i < removed_below;
    if (gl_table_find_sid(&t, sid_of(i)) != (removed ? GL_NONE : at[i])) bad++;
  }
  CHECK(bad == 0);
  CHECK(held(&t.by_sid) == t.count);
  gl_table_free(&t);

  /* Sized up front: no growth until past the expected count. */
  gl_table_init(&t, 7, 0, 0, 0, 100000);
  uint32_t size = t.by_sid.mask + 1;
  CHECK(size >= 200000);
  for (uint32_t i = 0; i < 100000; i++) {
    uint32_t idx;
    make_session(i, &s);
    gl_table_insert(&t, &s, &idx);
  }
  CHECK(t.by_sid.mask + 1 == size && t.by_sid.old == NULL);
  gl_table_free(&t);
}

/* The lists kept only for max_lifetime (start order) and interim records
 * (next due first), and eviction's least recently active of any kind. */
static void test_table_lists(void) {
  gl_table t;
  gl_session s;
  uint32_t at[10];
  gl_table_init(&t, 7, 1, 1, 1, 0);
  for (uint32_t i = 0; i < 10; i++) {
    make_session(i, &s);
    gl_table_insert(&t, &s, &at[i]);
    CHECK(gl_table_interim(&t, at[i])->seq == 0);
  }
  CHECK(gl_table_first(&t, GL_LIST_LIFE) == at[0]);
  CHECK(gl_table_first(&t, GL_LIST_INTERIM) == at[0]);
  CHECK(t.lists[GL_LIST_LIFE].count == 10 && t.lists[GL_LIST_INTERIM].count == 10);
  gl_table_requeue_interim(&t, at[0]);
  CHECK(gl_table_first(&t, GL_LIST_INTERIM) == at[1]);
  CHECK(t.lists[GL_LIST_INTERIM].tail == at[0]);
  CHECK(gl_table_first(&t, GL_LIST_LIFE) == at[0]); /* start order is not activity */
  gl_table_remove(&t, at[0]);
  CHECK(gl_table_first(&t, GL_LIST_LIFE) == at[1]);
  CHECK(t.lists[GL_LIST_INTERIM].tail == at[9]);
  CHECK(t.lists[GL_LIST_LIFE].count == 9 && t.lists[GL_LIST_INTERIM].count == 9);
  /* Least recent of either protocol: session 1 (TCP, activity 1), then
   * after touching it, session 2 (TCP, 2), then 3 (UDP, 3). */
  CHECK(gl_table_least_recent_any(&t) == at[1]);
  gl_table_touch(&t, at[1], 100);
  CHECK(gl_table_least_recent_any(&t) == at[2]);
  gl_table_touch(&t, at[2], 101);
  CHECK(gl_table_least_recent_any(&t) == at[3]);
  CHECK(gl_table_at(&t, at[3])->proto == GL_PROTO_UDP);
  gl_table_free(&t);
}

/* ---- record -------------------------------------------------------- */

#define REC_HEAD                                                          \
  "{\"sessionId\":\"9f2c1a7b3d4e5f60\",\"resourceId\":42,"
#define REC_TAIL                                                          \
  "\"protocol\":\"tcp\",\"startedAt\":\"2026-11-27T10:00:00.123456789Z\","  \
  "\"endedAt\":\"2026-11-27T10:00:05.9876Z\",\"bytesTx\":12345,\"bytesRx\":67890"
#define REC_ADDRS "\"sourceAddr\":\"203.0.113.7:51234\",\"destAddr\":\"10.0.0.5:443\","

static const char *rjson(gl_buf *b, const gl_record *r) {
  gl_buf_reset(b);
  return gl_record_json(b, r) == 0 ? b->data : NULL;
}

static void test_record(void) {
  gl_record r;
  gl_buf b = {0};
  memset(&r, 0, sizeof(r));
  r.sid = 0x9f2c1a7b3d4e5f60ULL;
  r.resource = 42;
  r.proto = GL_PROTO_TCP;
  CHECK(gl_addr_parse("203.0.113.7:51234", 17, &r.src) == 0);
  CHECK(gl_addr_parse("10.0.0.5:443", 12, &r.dst) == 0);
  r.started_ns = 1795773600123456789ULL;
  r.ended_ns = 1795773605ULL * SEC + 987600000;
  r.bytes_tx = 12345;
  r.bytes_rx = 67890;

  CHECK_STR(rjson(&b, &r), REC_HEAD REC_ADDRS REC_TAIL "}");

  /* Appended to what the batch already holds. */
  gl_buf_reset(&b);
  CHECK(gl_buf_append(&b, "[", 1) == 0 && gl_record_json(&b, &r) == 0);
  CHECK_STR(b.data, "[" REC_HEAD REC_ADDRS REC_TAIL "}");

  /* Leading zeros of the id, a negative resource, IPv6, UDP. */
  gl_record u = r;
  u.proto = GL_PROTO_UDP, u.resource = -7, u.sid = 1;
  CHECK(gl_addr_parse("[2001:db8::1]:5000", 18, &u.src) == 0);
  const char *got = rjson(&b, &u);
  CHECK(got != NULL && strstr(got, "{\"sessionId\":\"0000000000000001\",\"resourceId\":-7,"
                                   "\"sourceAddr\":\"[2001:db8::1]:5000\",") == got);
  CHECK(got != NULL && strstr(got, ",\"protocol\":\"udp\",") != NULL);

  gl_extras x;
  memset(&x, 0, sizeof(x));
  r.extras = &x;
  /* Present but empty: the record is the plain one. */
  CHECK_STR(rjson(&b, &r), REC_HEAD REC_ADDRS REC_TAIL "}");

  CHECK(gl_extras_set_string(&x, "site", 4, "edge-1", 6) == 0);
  CHECK(gl_extras_set_number(&x, "score", 5, 1.5, GL_EXTRA_NUMBER) == 0);
  CHECK(gl_extras_set_number(&x, "vip", 3, 1, GL_EXTRA_BOOLEAN) == 0);
  CHECK_STR(rjson(&b, &r), REC_HEAD REC_ADDRS REC_TAIL
            ",\"site\":\"edge-1\",\"score\":1.5,\"vip\":true}");

  CHECK(gl_extras_set_addr(&x, 0, "redacted", 8) == 0);
  CHECK(gl_extras_set_string(&x, "site", 4, "edge-2", 6) == 0);
  gl_extras_unset(&x, "score", 5);
  gl_extras_unset(&x, "absent", 6);
  CHECK(x.n == 2);
  CHECK(gl_extras_find(&x, "score", 5) == NULL);
  {
    gl_extra *e = gl_extras_find(&x, "site", 4);
    CHECK(e != NULL && e->type == GL_EXTRA_STRING);
    CHECK(e != NULL && strcmp(gl_extras_str(&x, e->str_off), "edge-2") == 0);
    /* A key that is a prefix of another is a different key. */
    CHECK(gl_extras_find(&x, "sit", 3) == NULL);
  }
  CHECK_STR(rjson(&b, &r), REC_HEAD
            "\"sourceAddr\":\"redacted\",\"destAddr\":\"10.0.0.5:443\"," REC_TAIL
            ",\"site\":\"edge-2\",\"vip\":true}");

  /* Keys, values and overrides are escaped; a type can change in place. */
  CHECK(gl_extras_set_addr(&x, 1, "<dst>", 5) == 0);
  CHECK(gl_extras_set_string(&x, "a\"b", 3, "x\ny", 3) == 0);
  CHECK(gl_extras_set_number(&x, "vip", 3, 0, GL_EXTRA_BOOLEAN) == 0);
  CHECK(gl_extras_set_number(&x, "site", 4, -2, GL_EXTRA_NUMBER) == 0);
  CHECK_STR(rjson(&b, &r), REC_HEAD
            "\"sourceAddr\":\"redacted\",\"destAddr\":\"\\u003cdst\\u003e\"," REC_TAIL
            ",\"site\":-2,\"vip\":false,\"a\\\"b\":\"x\\ny\"}");

  /* Reset for the next record: no extras, no overrides. */
  gl_extras_reset(&x);
  CHECK_STR(rjson(&b, &r), REC_HEAD REC_ADDRS REC_TAIL "}");
  CHECK(gl_extras_set_string(&x, "k", 1, "v", 1) == 0);
  CHECK_STR(rjson(&b, &r), REC_HEAD REC_ADDRS REC_TAIL ",\"k\":\"v\"}");

  /* Many keys: the entry array grows past its first allocation. */
  gl_extras_reset(&x);
  int bad = 0;
  for (int i = 0; i < 40; i++) {
    char key[8];
    int kl = snprintf(key, sizeof(key), "k%d", i);
    bad += gl_extras_set_number(&x, key, (size_t)kl, i, GL_EXTRA_NUMBER) != 0;
  }
  got = rjson(&b, &r);
  CHECK(bad == 0 && x.n == 40 && got != NULL);
  CHECK(got != NULL && strstr(got, "\"bytesRx\":67890,\"k0\":0,\"k1\":1,") != NULL);
  CHECK(got != NULL && strstr(got, ",\"k38\":38,\"k39\":39}") != NULL);

  gl_extras_free(&x);
  gl_buf_free(&b);
}

/* What enrich sets is counted (enrich_max_bytes) and held compactly:
 * setting a field again and again does not grow the buffer. */
static void test_extras_bounded(void) {
  gl_extras x = {0};
  char big[1000];
  memset(big, 'v', sizeof(big));
  CHECK(gl_extras_set_string(&x, "first", 5, "1", 1) == 0);
  CHECK(gl_extras_set_number(&x, "n", 1, 2, GL_EXTRA_NUMBER) == 0);
  CHECK(gl_extras_size(&x) == 5 + 1 + 1 + GL_EXTRA_SCALAR_SIZE);
  CHECK(gl_extras_size_after(&x, -1, "n", 1, 3) == 5 + 1 + 1 + 3);
  CHECK(gl_extras_size_after(&x, -1, "new", 3, 4) == 5 + 1 + 1 + 8 + 3 + 4);
  int bad = 0;
  for (int i = 0; i < 10000; i++) {
    big[0] = (char)('a' + i % 26);
    bad += gl_extras_set_string(&x, "k", 1, big, sizeof(big)) != 0;
    bad += gl_extras_set_addr(&x, 1, big, 10 + (size_t)(i % 5)) != 0;
  }
  CHECK(bad == 0);
  CHECK(gl_extras_size(&x) == 15 + 1 + 1000 + 14);
  CHECK(x.strs.len < 3 * (x.held + 4096)); /* 10,000 values set, a few kept */
  CHECK(gl_extras_size_after(&x, 1, NULL, 0, 2) == 15 + 1 + 1000 + 2);
  gl_extras_unset(&x, "first", 5);
  CHECK(gl_extras_size(&x) == 8 + 1 + 1 + 1000 + 14);

  /* After compactions, the JSON still has each field's last value. */
  gl_record r;
  memset(&r, 0, sizeof(r));
  r.extras = &x;
  gl_buf b = {0};
  CHECK(gl_record_json(&b, &r) == 0);
  /* The last i, 9999: 'a' + 9999 % 26 is 'p'; 10 + 9999 % 5 bytes. */
  CHECK(strstr(b.data, ",\"destAddr\":\"pvvvvvvvvvvvvv\",") != NULL);
  CHECK(strstr(b.data, ",\"n\":2,\"k\":\"pvvv") != NULL);
  gl_buf_free(&b);
  gl_extras_reset(&x);
  CHECK(gl_extras_size(&x) == 0 && x.held == 0);
  gl_extras_free(&x);
}

#define TESTS(TEST)  \
  TEST(json)         \
  TEST(timefmt)      \
  TEST(base64)       \
  TEST(ids)          \
  TEST(addr)         \
  TEST(ip6_text)     \
  TEST(table)        \
  TEST(table_growth) \
  TEST(table_lists)  \
  TEST(record)       \
  TEST(extras_bounded)
CHECK_MAIN(TESTS)
