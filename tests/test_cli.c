/* Unit tests of the command-line tool's pieces: the strict JSON reader,
 * payload decoding with the failing stage named, the replay's event lines
 * (times to the nanosecond) and its id map. */
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "util/base64.h"
#include "check.h"
#include "events.h"
#include "idmap.h"

static json_value *parse(const char *s, char *err) { return json_parse(s, strlen(s), err, 256); }

/* Print v compact or pretty into a string (static buffer). */
static const char *printed(const json_value *v, int pretty) {
  static char buf[1024];
  FILE *f = fmemopen(buf, sizeof(buf), "w");
  json_print(f, v, pretty);
  fclose(f);
  return buf;
}

static void test_json_values(void) {
  char err[256];
  json_value *v = parse(" {\"a\" : [1, -2.5e3, true, false, null, \"x\\u00e9\\ud83d\\ude00\\n\"],"
                        " \"b\" : {} } ",
                        err);
  CHECK(v != NULL && v->type == JSON_OBJECT);
  const json_value *a = json_get(v, "a");
  CHECK(a && a->type == JSON_ARRAY);
  const json_value *n1 = a->child, *n2 = n1->next, *t = n2->next, *f = t->next, *nul = f->next,
                   *s = nul->next;
  CHECK(n1->number == 1 && n2->number == -2500);
  CHECK(t->type == JSON_TRUE && f->type == JSON_FALSE && nul->type == JSON_NULL);
  CHECK_STR(s->string, "x\xc3\xa9\xf0\x9f\x98\x80\n");
  CHECK(s->len == 8);
  CHECK(json_get(v, "b")->type == JSON_OBJECT && json_get(v, "b")->child == NULL);
  CHECK(json_get(v, "c") == NULL);
  /* Printing keeps each scalar's source text: escapes and number forms. */
  CHECK_STR(printed(v, 0), "{\"a\":[1,-2.5e3,true,false,null,\"x\\u00e9\\ud83d\\ude00\\n\"],\"b\":{}}");
  json_free(v);

  v = parse("[{\"k\":\"v\",\"n\":[]}]", err);
  CHECK_STR(printed(v, 1), "[\n  {\n    \"k\": \"v\",\n    \"n\": []\n  }\n]");
  json_free(v);
}

static void test_json_strict(void) {
  static const char *bad[] = {
      "",          "[1,]",        "{\"a\":1,}",   "01",          "1.",         ".5",
      "-",         "1e",          "\"\\x\"",      "\"a\tb\"",    "\"\\ud800\"", "\"\\udc00\"",
      "\"\\u12\"", "\"\xc3\x28\"", "\"\xc0\xaf\"", "\"\xed\xa0\x80\"", "tru",  "[1] x",
      "{\"a\" 1}", "{a:1}",       "[1 2]",        "\"open",      "nul",        "[\"a\",]"};
  char err[256];
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    json_value *v = parse(bad[i], err);
    CHECK(v == NULL);
    if (v) fprintf(stderr, "  accepted: %s\n", bad[i]);
    CHECK(strncmp(err, "line ", 5) == 0);
    json_free(v);
  }
  CHECK(parse("[1,\n  2,,3]", err) == NULL);
  CHECK_STR(err, "line 2, column 5: expected a value, found ','");
  char deep[1200];
  memset(deep, '[', 600);
  memset(deep + 600, ']', 600);
  deep[1199] = '\0';
  CHECK(json_parse(deep, 1200 - 1, err, sizeof(err)) == NULL && strstr(err, "nested more than"));
}

/* base64(zlib(text)), as the core makes payloads. */
static char *make_payload(const char *text, size_t n) {
  uLongf zlen = compressBound((uLong)n);
  unsigned char *z = malloc(zlen);
  compress2(z, &zlen, (const Bytef *)text, (uLong)n, 6);
  char *out = calloc(1, gl_base64_len(zlen) + 1);
  gl_base64_encode(z, zlen, out);
  free(z);
  return out;
}

static const char *decode_error(const char *payload) {
  static char err[256];
  cli_payload p;
  if (cli_payload_decode(payload, strlen(payload), &p, err, sizeof(err)) == 0) {
    cli_payload_free(&p);
    return "(decoded)";
  }
  return err;
}

static void test_payload(void) {
  const char *records = "[{\"sessionId\":\"00000000000000ff\",\"bytesTx\":12}]";
  char *good = make_payload(records, strlen(records));
  char wrapped[512];
  snprintf(wrapped, sizeof(wrapped), "%.8s\n%s\r\n", good, good + 8);
  cli_payload p;
  char err[256];
  CHECK(cli_payload_decode(wrapped, strlen(wrapped), &p, err, sizeof(err)) == 0);
  CHECK_STR(p.json, records);
  CHECK(p.json_len == strlen(records) && p.zlib_len > 0 && p.zlib_len < strlen(good));
  CHECK(p.doc->type == JSON_ARRAY && p.doc->child->next == NULL);
  CHECK_STR(json_get(p.doc->child, "sessionId")->string, "00000000000000ff");
  cli_payload_free(&p);

  CHECK_STR(decode_error(""), "base64: the payload is empty");
  CHECK(strncmp(decode_error("ab!d"), "base64: '!' at offset 2", 23) == 0);
  CHECK(strncmp(decode_error("abcde"), "base64: 5 characters", 20) == 0);
  CHECK(strncmp(decode_error("ab=c"), "base64: data after the padding", 30) == 0);
  CHECK_STR(decode_error("QUJD"), "zlib: incorrect header check");
  good[strlen(good) - 8] = '\0';
  CHECK_STR(decode_error(good), "zlib: the stream is truncated");
  free(good);

  char *not_json = make_payload("nope", 4), *object = make_payload("{}", 2);
  CHECK_STR(decode_error(not_json), "JSON: line 1, column 1: expected a value, found 'n'");
  CHECK_STR(decode_error(object), "JSON: the payload is an object, not an array of records");
  free(not_json);
  free(object);

  /* Bytes after the end of the zlib stream. */
  uLongf zlen = 64;
  unsigned char z[70];
  compress2(z, &zlen, (const Bytef *)"[]", 2, 6);
  memcpy(z + zlen, "xyz", 3);
  char b64[128] = {0};
  gl_base64_encode(z, zlen + 3, b64);
  CHECK_STR(decode_error(b64), "zlib: 3 bytes after the end of the stream");
}

static const char *event_error(const char *line, cli_event *ev) {
  static char err[256];
  json_value *v = json_parse(line, strlen(line), err, sizeof(err));
  int rc = v ? cli_event_parse(v, ev, err, sizeof(err)) : -1;
  if (rc == 0 && ev->id) { /* the id points into the tree: keep a copy */
    static char id[64];
    snprintf(id, sizeof(id), "%s", ev->id);
    ev->id = id;
  }
  json_free(v);
  return rc == 0 ? "" : err;
}

static void test_events(void) {
  cli_event ev;
  CHECK_STR(event_error("{\"t\":\"2026-11-27T10:00:00.123456789Z\",\"ev\":\"start\",\"proto\":\"udp\","
                        "\"id\":\"c1\",\"resource\":-3,\"src\":\"[2001:db8::1]:5000\","
                        "\"dst\":\"10.0.0.1:53\",\"extra\":{}}",
                        &ev),
            "");
  CHECK(ev.kind == EV_START && ev.udp && ev.resource == -3);
  CHECK(ev.t_ns == 1795773600123456789ull);
  CHECK_STR(ev.id, "c1");
  CHECK(ev.src.ss_family == AF_INET6 && ev.dst.ss_family == AF_INET);

  CHECK_STR(event_error("{\"t\":1795773600.000000001,\"ev\":\"bytes\",\"id\":\"c1\",\"tx\":5}", &ev), "");
  CHECK(ev.t_ns == 1795773600000000001ull && ev.tx == 5 && ev.rx == 0 && ev.kind == EV_BYTES);
  CHECK_STR(event_error("{\"t\":\"2026-11-27T11:30:00+01:30\",\"ev\":\"end\",\"id\":\"c1\"}", &ev), "");
  CHECK(ev.t_ns == 1795773600000000000ull);
  CHECK_STR(event_error("{\"t\":1.7957736e9,\"ev\":\"packet\",\"src\":\"1.2.3.4:5\",\"dst\":\"5.6.7.8:9\"}", &ev), "");
  CHECK(ev.t_ns == 1795773600000000000ull && ev.udp && ev.id == NULL);

  CHECK_STR(event_error("[1]", &ev), "an event must be a JSON object, not an array");
  CHECK_STR(event_error("{\"ev\":\"end\",\"id\":\"c1\"}", &ev), "\"t\" (the time) is missing");
  CHECK_STR(event_error("{\"t\":\"yesterday\",\"ev\":\"end\",\"id\":\"c1\"}", &ev),
            "\"t\" must be seconds since the epoch or an RFC 3339 time");
  CHECK_STR(event_error("{\"t\":\"2026-11-27T10:00:00.1234567891Z\",\"ev\":\"end\",\"id\":\"c1\"}", &ev),
            "\"t\" must be seconds since the epoch or an RFC 3339 time");
  CHECK_STR(event_error("{\"t\":1,\"ev\":\"stop\",\"id\":\"c1\"}", &ev),
            "\"ev\" must be start, bytes, end or packet");
  CHECK_STR(event_error("{\"t\":1,\"ev\":\"end\"}", &ev), "\"id\" is missing");
  CHECK_STR(event_error("{\"t\":1,\"ev\":\"end\",\"id\":7}", &ev), "\"id\" must be a string");
  CHECK_STR(event_error("{\"t\":1,\"ev\":\"bytes\",\"id\":\"c\",\"tx\":-1}", &ev),
            "\"tx\" must be a non-negative integer");
  CHECK_STR(event_error("{\"t\":1,\"ev\":\"bytes\",\"id\":\"c\",\"rx\":1.5}", &ev),
            "\"rx\" must be a non-negative integer");
  CHECK_STR(event_error("{\"t\":1,\"ev\":\"start\",\"id\":\"c\",\"proto\":\"sctp\"}", &ev),
            "\"proto\" must be tcp or udp");
  CHECK_STR(event_error("{\"t\":1,\"ev\":\"start\",\"id\":\"c\",\"dst\":\"1.2.3.4:5\"}", &ev),
            "\"src\" is missing");
  CHECK_STR(event_error("{\"t\":1,\"ev\":\"start\",\"id\":\"c\",\"src\":\"::1:5\",\"dst\":\"1.2.3.4:5\"}", &ev),
            "\"src\" must be \"ip:port\" or \"[ipv6]:port\"");
}

/* Past several doublings, every id is found again, and removals stick. */
static void test_idmap(void) {
  idmap m = {0};
  char id[32];
  int found = 0, gone = 0;
  for (int i = 0; i < 5000; i++) {
    snprintf(id, sizeof(id), "s%d", i);
    idmap_add(&m, id)->sid = (gatelog_sid_t)i + 1;
  }
  CHECK(m.count == 5000 && m.nbuckets >= 4096);
  for (int i = 0; i < 5000; i += 2) {
    snprintf(id, sizeof(id), "s%d", i);
    idmap_remove(&m, idmap_find(&m, id));
  }
  for (int i = 0; i < 5000; i++) {
    snprintf(id, sizeof(id), "s%d", i);
    id_entry **e = idmap_find(&m, id);
    if (i % 2 && e && (*e)->sid == (gatelog_sid_t)i + 1) found++;
    if (i % 2 == 0 && e == NULL) gone++;
  }
  CHECK(found == 2500 && gone == 2500 && m.count == 2500);
  CHECK(idmap_find(&m, "nope") == NULL);
  idmap_free(&m);
}

#define TESTS(TEST) \
  TEST(idmap)       \
  TEST(json_values) \
  TEST(json_strict) \
  TEST(payload)     \
  TEST(events)
CHECK_MAIN(TESTS)
