/* Unit tests of the command-line tool's pieces: the strict JSON reader,
 * payload decoding with the failing stage named, the replay's event lines
 * (times to the nanosecond) and its id map; the bounds of every input
 * (cli.h) and the refusal of each; the checks tools/common makes. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "util/base64.h"
#include "check.h"
#include "events.h"
#include "idmap.h"
#include "tally.h"
#include "tool.h"

static json_value *parse(const char *s, char *err) { return json_parse(s, strlen(s), 0, err, 256); }

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
  CHECK(json_parse(deep, 1200 - 1, 0, err, sizeof(err)) == NULL && strstr(err, "nested more than"));
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
  if (cli_payload_decode(payload, strlen(payload), NULL, &p, err, sizeof(err)) == 0) {
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
  CHECK(cli_payload_decode(wrapped, strlen(wrapped), NULL, &p, err, sizeof(err)) == 0);
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
  json_value *v = json_parse(line, strlen(line), 0, err, sizeof(err));
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
            "\"tx\" must be an integer from 0 to 9007199254740991");
  CHECK_STR(event_error("{\"t\":1,\"ev\":\"bytes\",\"id\":\"c\",\"rx\":1.5}", &ev),
            "\"rx\" must be an integer from 0 to 9007199254740991");
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

/* A JSON text's values are counted: a limit of n takes n, not n + 1. */
static void test_json_limit(void) {
  char err[256];
  const char *six = "[1,[2],{\"k\":3}]"; /* the array, 1, [2], 2, the object, 3 */
  json_value *v = json_parse(six, strlen(six), 6, err, sizeof(err));
  CHECK(v != NULL);
  json_free(v);
  CHECK(json_parse(six, strlen(six), 5, err, sizeof(err)) == NULL);
  CHECK_STR(err, "line 1, column 13: more than 5 values");
}

/* What a payload may inflate to, and hold, is bounded by the caller. */
static void test_payload_limits(void) {
  char json[4096] = "[", err[256];
  for (int i = 0; i < 1000; i++) strcat(json, i ? ",0" : "0");
  strcat(json, "]");
  size_t n = strlen(json); /* 2001 bytes, 1001 values */
  char *payload = make_payload(json, n);
  cli_payload p;
  cli_payload_limits exact = {n, 1001}, short_json = {n - 1, 0}, few_values = {0, 1000};
  CHECK(cli_payload_decode(payload, strlen(payload), &exact, &p, err, sizeof(err)) == 0);
  CHECK(p.json_len == n);
  cli_payload_free(&p);
  CHECK(cli_payload_decode(payload, strlen(payload), &short_json, &p, err, sizeof(err)) == -1);
  CHECK_STR(err, "zlib: the JSON inflates to more than 2000 bytes (the limit)");
  CHECK(cli_payload_decode(payload, strlen(payload), &few_values, &p, err, sizeof(err)) == -1);
  CHECK_STR(err, "JSON: line 1, column 2000: more than 1000 values");
  free(payload);

  /* 64 MiB of zeros compress to 64 KiB: refused at 16 MiB, and what the
   * refusal cost stays near the limit (the doubling stops there). */
  size_t big = 64u << 20;
  char *zeros = calloc(1, big);
  payload = make_payload(zeros, big);
  free(zeros);
  cli_payload_limits decode = {CLI_JSON_MAX, CLI_JSON_VALUES};
  CHECK(cli_payload_decode(payload, strlen(payload), &decode, &p, err, sizeof(err)) == -1);
  CHECK_STR(err, "zlib: the JSON inflates to more than 16 MiB (the limit)");
  free(payload);
}

static const char *time_error(const char *t, uint64_t *ns) {
  static char line[256];
  cli_event ev;
  snprintf(line, sizeof(line), "{\"t\":%s,\"ev\":\"end\",\"id\":\"c\"}", t);
  const char *err = event_error(line, &ev);
  *ns = ev.t_ns;
  return err;
}

/* Times: from the epoch to before 2200, nothing wraps; dates exist. */
static void test_event_times(void) {
  static const char *range = "\"t\" must be from 1970-01-01T00:00:00Z to before 2200-01-01T00:00:00Z";
  static const char *format = "\"t\" must be seconds since the epoch or an RFC 3339 time";
  uint64_t ns;
  CHECK_STR(time_error("0", &ns), "");
  CHECK(ns == 0);
  CHECK_STR(time_error("7258118399.999999999", &ns), "");
  CHECK(ns == 7258118399999999999ull);
  CHECK_STR(time_error("\"2199-12-31T23:59:59.999999999Z\"", &ns), "");
  CHECK(ns == 7258118399999999999ull);
  CHECK_STR(time_error("\"1970-01-01T00:00:00Z\"", &ns), "");
  CHECK_STR(time_error("\"2024-02-29T00:00:00Z\"", &ns), "");
  CHECK_STR(time_error("\"2000-02-29T00:00:00Z\"", &ns), "");
  CHECK_STR(time_error("7258118400", &ns), range);
  CHECK_STR(time_error("999999999999999999", &ns), range); /* was the year 2334 */
  CHECK_STR(time_error("1e300", &ns), range);
  CHECK_STR(time_error("-1", &ns), range);
  CHECK_STR(time_error("\"2600-01-01T00:00:00Z\"", &ns), range); /* was 2015 */
  CHECK_STR(time_error("\"2200-01-01T00:00:00Z\"", &ns), range);
  CHECK_STR(time_error("\"2199-12-31T23:00:00-01:00\"", &ns), range);
  CHECK_STR(time_error("\"1969-12-31T23:59:59Z\"", &ns), range);
  CHECK_STR(time_error("\"1970-01-01T00:30:00+01:00\"", &ns), range);
  CHECK_STR(time_error("\"2026-02-29T00:00:00Z\"", &ns), format);
  CHECK_STR(time_error("\"1900-02-29T00:00:00Z\"", &ns), format);
  CHECK_STR(time_error("\"2026-04-31T00:00:00Z\"", &ns), format);
  CHECK_STR(time_error("\"2026-01-01T24:00:00Z\"", &ns), format);
  CHECK_STR(time_error("true", &ns), format);
}

/* Byte counts and resources: exact integers in range, or refused. */
static void test_event_integers(void) {
#define TX "\"tx\" must be an integer from 0 to 9007199254740991"
#define RESOURCE "\"resource\" must be an integer from -9223372036854775808 to 9223372036854775807"
  static const struct {
    const char *key, *value, *want;
  } cases[] = {
      {"tx", "9007199254740991", ""},         {"tx", "9007199254740992", TX},
      {"tx", "9000000000000000000", TX},      {"tx", "1e3", TX},
      {"tx", "\"5\"", TX},                     {"resource", "-9223372036854775808", ""},
      {"resource", "9223372036854775807", ""}, {"resource", "9223372036854775808", RESOURCE},
      {"resource", "-9223372036854775809", RESOURCE},
  };
#undef TX
#undef RESOURCE
  cli_event ev;
  char line[256];
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    snprintf(line, sizeof(line),
             "{\"t\":1,\"ev\":\"start\",\"id\":\"c\",\"src\":\"1.2.3.4:5\",\"dst\":\"1.2.3.4:6\",\"%s\":%s}",
             cases[i].key, cases[i].value);
    CHECK_STR(event_error(line, &ev), cases[i].want);
  }
  snprintf(line, sizeof(line), "{\"t\":1,\"ev\":\"bytes\",\"id\":\"c\",\"tx\":%s,\"rx\":%s}",
           "9007199254740991", "0");
  CHECK_STR(event_error(line, &ev), "");
  CHECK(ev.tx == 9007199254740991ull && ev.rx == 0);
  snprintf(line, sizeof(line), "{\"t\":1,\"ev\":\"start\",\"id\":\"c\",\"src\":\"1.2.3.4:5\","
           "\"dst\":\"1.2.3.4:6\",\"resource\":%s}", "-9223372036854775808");
  CHECK_STR(event_error(line, &ev), "");
  CHECK(ev.resource == INT64_MIN);
}

/* Lines are read up to a bound, never more; a NUL byte is kept. */
static void test_read_line(void) {
  char text[] = "abc\n\nxyz\0w\n12345678\nlast", buf[9];
  FILE *f = fmemopen(text, sizeof(text) - 1, "r");
  size_t len;
  CHECK(cli_read_line(f, buf, 8, &len) == 1 && len == 3 && strcmp(buf, "abc") == 0);
  CHECK(cli_read_line(f, buf, 8, &len) == 1 && len == 0);
  CHECK(cli_read_line(f, buf, 8, &len) == 1 && len == 5 && memcmp(buf, "xyz\0w", 5) == 0);
  CHECK(cli_read_line(f, buf, 8, &len) == 1 && len == 8); /* exactly the bound */
  CHECK(cli_read_line(f, buf, 8, &len) == 1 && len == 4 && strcmp(buf, "last") == 0);
  CHECK(cli_read_line(f, buf, 8, &len) == 0);
  fclose(f);
  char longer[] = "123456789\n";
  f = fmemopen(longer, sizeof(longer) - 1, "r");
  CHECK(cli_read_line(f, buf, 8, &len) == -1);
  fclose(f);
}

/* A whole file up to a bound: one byte more is EFBIG. */
static void test_read_file(void) {
  char path[] = "/tmp/gatelog-test-cli-XXXXXX";
  int fd = mkstemp(path);
  CHECK(fd >= 0 && write(fd, "0123456789", 10) == 10);
  close(fd);
  size_t len = 0;
  char *text = cli_read_file(path, 10, &len);
  CHECK(text != NULL && len == 10 && strcmp(text, "0123456789") == 0);
  free(text);
  errno = 0;
  CHECK(cli_read_file(path, 9, &len) == NULL && errno == EFBIG);
  unlink(path);
}

/* Per-session totals: they add up, fit or not, survive growth and
 * removals (collisions included: every sid below shares low bits). */
static void test_tally(void) {
  tally t = {0};
  CHECK(tally_fits(&t, 7, 10, 10, 10));
  for (gatelog_sid_t sid = 1; sid <= 3000; sid++) CHECK(tally_add(&t, sid << 32, sid, 2 * sid) == 0);
  CHECK(t.count == 3000 && t.cap >= 6000);
  CHECK(tally_add(&t, 5ull << 32, 1, 1) == 0);
  CHECK(tally_fits(&t, 5ull << 32, 94, 0, 100) && !tally_fits(&t, 5ull << 32, 95, 0, 100));
  CHECK(tally_fits(&t, 5ull << 32, 0, 89, 100) && !tally_fits(&t, 5ull << 32, 0, 90, 100));
  for (gatelog_sid_t sid = 1; sid <= 3000; sid += 2) tally_remove(&t, sid << 32);
  tally_remove(&t, 999999); /* not there: nothing happens */
  int right = 0;
  for (gatelog_sid_t sid = 2; sid <= 3000; sid += 2)
    right += tally_fits(&t, sid << 32, 0, UINT64_MAX - 2 * sid, UINT64_MAX) &&
             !tally_fits(&t, sid << 32, 0, UINT64_MAX - 2 * sid + 1, UINT64_MAX);
  CHECK(right == 1500);
  CHECK(t.count == 1500 && tally_fits(&t, 3ull << 32, UINT64_MAX, UINT64_MAX, UINT64_MAX));
  tally_free(&t);
}

/* A directory, a FIFO: named before the core would read them. */
static void test_script_problem(void) {
  char dir[] = "/tmp/gatelog-test-cli-XXXXXX", path[64];
  CHECK(mkdtemp(dir) != NULL);
  CHECK_STR(tool_script_problem(dir), "is a directory, not a script file");
  snprintf(path, sizeof(path), "%s/fifo.lua", dir);
  CHECK(mkfifo(path, 0600) == 0);
  CHECK_STR(tool_script_problem(path), "is not a regular file (a FIFO, a device or a socket)");
  unlink(path);
  CHECK(tool_script_problem(path) == NULL); /* missing: the core names it */
  CHECK(tool_script_problem(GATELOG_SOURCE_DIR "/scripts/default.lua") == NULL);
  rmdir(dir);
}

/* An exit while a notice is set prints it (as when LuaJIT calls exit(1)
 * on an unprotected error); a cleared notice prints nothing. */
static const char *exit_output(int clear) {
  static char out[512];
  int fds[2];
  memset(out, 0, sizeof(out));
  if (pipe(fds) != 0) return "(pipe)";
  pid_t pid = fork();
  if (pid == 0) {
    dup2(fds[1], 2);
    tool_exit_notice("gatelog check: x.lua: the Lua runtime ended the process");
    if (clear) tool_exit_notice(NULL);
    exit(1);
  }
  close(fds[1]);
  ssize_t n = read(fds[0], out, sizeof(out) - 1);
  close(fds[0]);
  int status;
  waitpid(pid, &status, 0);
  if (n < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 1) return "(no exit 1)";
  return out;
}

static void test_exit_notice(void) {
  CHECK_STR(exit_output(0), "gatelog check: x.lua: the Lua runtime ended the process\n");
  CHECK_STR(exit_output(1), "");
}

#define TESTS(TEST)         \
  TEST(idmap)               \
  TEST(json_values)         \
  TEST(json_strict)         \
  TEST(json_limit)          \
  TEST(payload)             \
  TEST(payload_limits)      \
  TEST(events)              \
  TEST(event_times)         \
  TEST(event_integers)      \
  TEST(read_line)           \
  TEST(read_file)           \
  TEST(tally)               \
  TEST(script_problem)      \
  TEST(exit_notice)
CHECK_MAIN(TESTS)
