/* gatelog embedded as a gateway embeds it: only the public header, the
 * gateway's own libuv loop, a host sender that answers later (from a timer),
 * and closes that must leave the loop empty. Payloads are decoded the way
 * a collector would (base64, zlib, JSON text) to check what arrives. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>
#include <zlib.h>

#include "check.h"
#include "gatelog.h"

#define FIXTURE GATELOG_SOURCE_DIR "/spec/fixtures/embed_sender.lua"
#define TIMEOUT_MS 10000 /* generous: valgrind is slow */

/* ---- small helpers --------------------------------------------------- */

typedef struct {
  char *p;
  size_t len, cap;
} buf;

static void buf_add(buf *b, const void *data, size_t n) {
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n + 1) cap *= 2;
    if ((b->p = realloc(b->p, cap)) == NULL) abort();
    b->cap = cap;
  }
  memcpy(b->p + b->len, data, n);
  b->len += n;
  b->p[b->len] = '\0';
}

static void buf_adds(buf *b, const char *s) { buf_add(b, s, strlen(s)); }

static int b64_value(char c) {
  static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  const char *p = c ? strchr(alphabet, c) : NULL;
  return p ? (int)(p - alphabet) : -1;
}

/* Strict standard base64: padded, no whitespace, '=' only at the end. */
static int b64_decode(const char *s, size_t len, buf *out) {
  if (len % 4 != 0) return -1;
  for (size_t i = 0; i < len; i += 4) {
    int v[4], pad = 0;
    for (int k = 0; k < 4; k++) {
      if (s[i + k] == '=' && k >= 2 && i + 4 == len) {
        v[k] = 0;
        pad++;
      } else if (pad || (v[k] = b64_value(s[i + k])) < 0) {
        return -1;
      }
    }
    unsigned char o[3] = {(unsigned char)(v[0] << 2 | v[1] >> 4),
                          (unsigned char)((v[1] & 15) << 4 | v[2] >> 2),
                          (unsigned char)((v[2] & 3) << 6 | v[3])};
    buf_add(out, o, (size_t)(3 - pad));
  }
  return 0;
}

/* zlib format (RFC 1950) to the end of the stream, nothing left over. */
static int inflate_all(const buf *z, buf *out) {
  z_stream zs;
  memset(&zs, 0, sizeof(zs));
  if (inflateInit(&zs) != Z_OK) return -1;
  zs.next_in = (Bytef *)z->p;
  zs.avail_in = (uInt)z->len;
  unsigned char chunk[4096];
  int rc;
  do {
    zs.next_out = chunk;
    zs.avail_out = sizeof(chunk);
    rc = inflate(&zs, Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END) break;
    buf_add(out, chunk, sizeof(chunk) - zs.avail_out);
  } while (rc != Z_STREAM_END);
  inflateEnd(&zs);
  return rc == Z_STREAM_END && zs.avail_in == 0 ? 0 : -1;
}

static int count_of(const char *hay, const char *needle) {
  int n = 0;
  for (const char *p = hay; p && (p = strstr(p, needle)) != NULL; p += strlen(needle)) n++;
  return n;
}

static const char *hex(gatelog_sid_t sid, char out[17]) {
  snprintf(out, 17, "%016llx", (unsigned long long)sid);
  return out;
}

static struct sockaddr_storage addr(const char *ip, int port) {
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof(ss));
  if (strchr(ip, ':')) uv_ip6_addr(ip, port, (struct sockaddr_in6 *)&ss);
  else uv_ip4_addr(ip, port, (struct sockaddr_in *)&ss);
  return ss;
}
#define SA(ss) ((const struct sockaddr *)&(ss))

/* ---- the host sender ------------------------------------------------- */

typedef struct collector collector;
typedef struct answer {
  uv_timer_t timer; /* first: the handle's address is the answer's */
  collector *c;
  gatelog_send_t *req;
  const char *payload;
  size_t len;
} answer;

struct collector {
  uv_loop_t *loop;
  int hold;      /* never answer by itself: the test answers after close */
  int fail_next; /* answer the next send with a failure: it must come again */
  int outstanding, delivered, bad_payloads;
  gatelog_t *gl;  /* set while the core is open: to see what send_done does */
  int done_early; /* answers the core acted on inside gatelog_send_done */
  answer *held[16];
  int nheld;
  buf json; /* every delivered batch's JSON text, one per line */
};

/* Decoding at answer time, not at call time, is what proves the payload
 * stays valid until gatelog_send_done. */
static void answer_now(collector *c, answer *a, int ok) {
  buf z = {0}, j = {0};
  int good = a->payload[a->len] == '\0' && b64_decode(a->payload, a->len, &z) == 0 &&
             inflate_all(&z, &j) == 0 && j.len > 2 && strlen(j.p) == j.len &&
             strncmp(j.p, "[{\"sessionId\":\"", 15) == 0 && strcmp(j.p + j.len - 2, "}]") == 0;
  if (!good) c->bad_payloads++;
  if (good && ok) {
    buf_add(&c->json, j.p, j.len);
    buf_adds(&c->json, "\n");
    c->delivered++;
  }
  free(z.p);
  free(j.p);
  c->outstanding--;
  gatelog_stats_t before = {0}, after = {0};
  if (c->gl) gatelog_stats(c->gl, &before);
  gatelog_send_done(a->req, ok ? 0 : -1, ok ? NULL : "collector busy");
  if (c->gl) gatelog_stats(c->gl, &after);
  c->done_early += after.batches_sent + after.batches_failed !=
                   before.batches_sent + before.batches_failed;
}

static void on_answer_closed(uv_handle_t *h) { free(h); }

static void on_answer_timer(uv_timer_t *t) {
  answer *a = (answer *)t;
  int ok = !a->c->fail_next;
  a->c->fail_next = 0;
  answer_now(a->c, a, ok);
  uv_close((uv_handle_t *)t, on_answer_closed);
}

static void collector_send(gatelog_send_t *req, const char *payload, size_t len, void *data) {
  collector *c = data;
  answer *a = calloc(1, sizeof(*a));
  if (a == NULL) abort();
  *a = (answer){.c = c, .req = req, .payload = payload, .len = len};
  c->outstanding++;
  if (c->hold) {
    if (c->nheld == (int)(sizeof(c->held) / sizeof(c->held[0]))) abort();
    c->held[c->nheld++] = a;
    return;
  }
  uv_timer_init(c->loop, &a->timer);
  uv_timer_start(&a->timer, on_answer_timer, 3, 0);
}

/* The record of `sid` as delivered (a flat object), or "" if none. */
static const char *record_of(const collector *c, gatelog_sid_t sid) {
  static char rec[1024];
  char key[64], h[17];
  snprintf(key, sizeof(key), "{\"sessionId\":\"%s\"", hex(sid, h));
  const char *p = c->json.p ? strstr(c->json.p, key) : NULL;
  const char *e = p ? strchr(p, '}') : NULL;
  size_t n = e && e - p < (long)sizeof(rec) - 1 ? (size_t)(e - p + 1) : 0;
  memcpy(rec, p ? p : "", n);
  rec[n] = '\0';
  return rec;
}
#define REC_HAS(sid, part) CHECK(strstr(record_of(&x.col, (sid)), (part)) != NULL)

static int delivered_once(const collector *c, gatelog_sid_t sid) {
  char key[64], h[17];
  snprintf(key, sizeof(key), "\"sessionId\":\"%s\"", hex(sid, h));
  return count_of(c->json.p, key) == 1;
}

/* ---- running the loop ------------------------------------------------ */

typedef struct ctx {
  uv_loop_t loop;
  uv_timer_t tick;
  gatelog_t *gl;
  collector col;
  buf log; /* every log line, one per line */
  int log_errors;
  int (*pred)(struct ctx *);
  uint64_t deadline, want;
  int met, timed_out, closed;
  gatelog_stats_t at_close;
} ctx;

static void on_log(void *data, int level, const char *msg) {
  struct ctx *x = data;
  if (level == GATELOG_LOG_ERROR) x->log_errors++;
  buf_adds(&x->log, msg);
  buf_adds(&x->log, "\n");
}

/* Whether a line starting with `prefix` names session `sid`. */
static int log_has(const struct ctx *x, const char *prefix, gatelog_sid_t sid) {
  char key[40], h[17];
  snprintf(key, sizeof(key), " session=%s ", hex(sid, h));
  for (const char *line = x->log.p; line && *line;) {
    const char *nl = strchr(line, '\n');
    const char *k = strstr(line, key);
    if (strncmp(line, prefix, strlen(prefix)) == 0 && k && k < nl) return 1;
    line = nl + 1;
  }
  return 0;
}

static gatelog_stats_t stats(ctx *x) {
  gatelog_stats_t st = {0};
  gatelog_stats(x->gl, &st);
  return st;
}

static void on_tick(uv_timer_t *t) {
  ctx *x = t->data;
  if (x->pred && (x->met = x->pred(x))) uv_stop(&x->loop);
  else if ((x->timed_out = uv_now(&x->loop) >= x->deadline)) uv_stop(&x->loop);
}

/* Run the loop until pred holds (1), or the timeout (0). With pred NULL,
 * until the loop has nothing left to do: it must end by itself, so the
 * timer is only an unreferenced watchdog then. */
static int run_until(ctx *x, int (*pred)(ctx *)) {
  x->pred = pred;
  x->timed_out = 0;
  x->deadline = uv_now(&x->loop) + TIMEOUT_MS;
  if (pred && (x->met = pred(x))) return 1;
  if (pred) uv_ref((uv_handle_t *)&x->tick);
  else uv_unref((uv_handle_t *)&x->tick);
  uv_timer_start(&x->tick, on_tick, pred ? 1 : TIMEOUT_MS, pred ? 1 : 0);
  uv_run(&x->loop, UV_RUN_DEFAULT);
  uv_timer_stop(&x->tick);
  return pred ? x->met : !x->timed_out;
}

static void on_closed(gatelog_t *gl, void *data) {
  ctx *x = data;
  x->closed++;
  gatelog_stats(gl, &x->at_close);
  x->col.gl = NULL; /* freed once we return */
}

static void ctx_init(ctx *x, int hold) {
  memset(x, 0, sizeof(*x));
  CHECK(uv_loop_init(&x->loop) == 0);
  uv_timer_init(&x->loop, &x->tick);
  x->tick.data = x;
  x->col.loop = &x->loop;
  x->col.hold = hold;
}

static void ctx_options(ctx *x, gatelog_options_t *o) {
  gatelog_options_init(o);
  o->script = FIXTURE;
  o->flush_interval_ms = 50;
  o->batch_max_records = 10;
  o->udp_idle_timeout_ms = 100;
  o->access_log = 1;
  o->log = on_log;
  o->log_data = x;
}

/* Our own handle goes last: uv_loop_close then proves gatelog left none. */
static void ctx_finish(ctx *x) {
  uv_close((uv_handle_t *)&x->tick, NULL);
  uv_run(&x->loop, UV_RUN_DEFAULT);
  CHECK(uv_loop_close(&x->loop) == 0);
  free(x->col.json.p);
  free(x->log.p);
}

/* A core on the fixture whose sender "collector" is x->col; 0 if
 * gatelog_new failed. */
static int ctx_start(ctx *x, int hold) {
  ctx_init(x, hold);
  gatelog_options_t o;
  ctx_options(x, &o);
  CHECK(gatelog_new(&x->loop, &o, &x->gl) == 0 && x->gl != NULL);
  if (x->gl == NULL) return 0;
  CHECK(gatelog_register_sender(x->gl, "collector", collector_send, &x->col) == 0);
  return 1;
}

/* ---- scenarios ------------------------------------------------------- */

static void expect_new_fails(uv_loop_t *loop, const gatelog_options_t *o, int want) {
  gatelog_t *gl = (gatelog_t *)o; /* any non-NULL value: it must become NULL */
  int err = gatelog_new(loop, o, &gl);
  CHECK_STR(gatelog_err_name(err), gatelog_err_name(want));
  CHECK(gl == NULL);
  if (want == GATELOG_ESCRIPT) CHECK(strstr(gatelog_last_error(NULL), o->script) != NULL);
}

static void test_new_failures(void) {
  static const struct {
    const char *file, *text, *says;
  } bad[] = {
      {"syntax.lua", "return { send = function(b, done) done(true) end\n", "expected"},
      {"nosend.lua", "return { filter = function() return true end }\n", "'send'"},
      {"raises.lua", "error('no policy today')\n", "no policy today"},
  };
  ctx x;
  ctx_init(&x, 0);
  gatelog_options_t o;
  ctx_options(&x, &o);
  o.script = GATELOG_SOURCE_DIR "/spec/fixtures/embed_does_not_exist.lua";
  expect_new_fails(&x.loop, &o, GATELOG_ESCRIPT);

  char dir[] = "/tmp/gatelog-embed-XXXXXX", path[64];
  CHECK(mkdtemp(dir) != NULL);
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    snprintf(path, sizeof(path), "%s/%s", dir, bad[i].file);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL && fputs(bad[i].text, f) >= 0 && fclose(f) == 0);
    o.script = path;
    expect_new_fails(&x.loop, &o, GATELOG_ESCRIPT);
    CHECK(strstr(gatelog_last_error(NULL), bad[i].says) != NULL);
    unlink(path);
  }
  rmdir(dir);

  ctx_options(&x, &o);
  o.queue_max_records = 5; /* < batch_max_records 10 */
  expect_new_fails(&x.loop, &o, GATELOG_ECONFIG);
  CHECK(strstr(gatelog_last_error(NULL), "queue_max_records") != NULL);
  o.queue_max_records = 10;
  o.script = NULL;
  expect_new_fails(&x.loop, &o, UV_EINVAL);
  ctx_finish(&x); /* a failed gatelog_new left no handle behind */
}

static int idle_ended(ctx *x) { return stats(x).ended_idle >= 1; }

static int all_delivered(ctx *x) {
  gatelog_stats_t st = stats(x);
  return st.records_sent == x->want && st.records_queued == 0 && x->col.outstanding == 0;
}

static void check_errors(ctx *x, gatelog_sid_t ended_tcp) {
  gatelog_t *gl = x->gl;
  struct sockaddr_storage a = addr("192.0.2.1", 1000), b = addr("192.0.2.2", 80);
  gatelog_stats_t before = stats(x), after;

  CHECK(gatelog_tcp_end(gl, 0x0123456789abcdefull) == GATELOG_ENOSESSION);
  CHECK(gatelog_tcp_end(gl, 0) == GATELOG_ENOSESSION);
  CHECK(gatelog_add_bytes(gl, 0x0123456789abcdefull, 1, 1) == GATELOG_ENOSESSION);
  CHECK(gatelog_tcp_end(gl, ended_tcp) == GATELOG_ENOSESSION); /* ended twice */
  after = stats(x);
  CHECK(memcmp(&before, &after, sizeof(before)) == 0);

  gatelog_sid_t t = 0, u = 0;
  CHECK(gatelog_tcp_start(gl, 1, SA(a), SA(b), &t) == 0 && t != 0);
  CHECK(gatelog_udp_track(gl, 1, SA(a), SA(b), &u) == 0 && u != 0 && u != t);
  CHECK(gatelog_udp_end(gl, t) == GATELOG_EWRONGPROTO);
  CHECK(gatelog_tcp_end(gl, u) == GATELOG_EWRONGPROTO);
  CHECK(gatelog_tcp_end(gl, t) == 0);
  CHECK(gatelog_udp_end(gl, u) == 0);
  CHECK(gatelog_udp_end(gl, u) == GATELOG_ENOSESSION);

  struct sockaddr_un un;
  memset(&un, 0, sizeof(un));
  un.sun_family = AF_UNIX;
  strcpy(un.sun_path, "/tmp/gatelog-embed.sock");
  gatelog_sid_t none = 0;
  before = stats(x);
  CHECK(gatelog_tcp_start(gl, 1, (const struct sockaddr *)&un, SA(b), &none) == UV_EAFNOSUPPORT);
  CHECK(gatelog_udp_track(gl, 1, SA(a), (const struct sockaddr *)&un, &none) == UV_EAFNOSUPPORT);
  CHECK(none == 0);
  after = stats(x);
  CHECK(memcmp(&before, &after, sizeof(before)) == 0); /* tcp_open, udp_open unchanged */

  CHECK(gatelog_register_sender(gl, "collector", collector_send, &x->col) == UV_EEXIST);
  CHECK(gatelog_register_sender(gl, "", collector_send, &x->col) == UV_EINVAL);
  CHECK(gatelog_reload(gl) == 0); /* the same script again: swapped in */
  CHECK(stats(x).reloads == 1);

  static const int codes[] = {GATELOG_ENOSESSION, GATELOG_ECLOSED, GATELOG_ESCRIPT,
                              GATELOG_ECONFIG, GATELOG_EWRONGPROTO, UV_EAFNOSUPPORT};
  static const char *const names[] = {"ENOSESSION", "ECLOSED",     "ESCRIPT",
                                      "ECONFIG",    "EWRONGPROTO", "EAFNOSUPPORT"};
  for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
    CHECK_STR(gatelog_err_name(codes[i]), names[i]);
    CHECK(gatelog_strerror(codes[i])[0] != '\0');
  }
}

/* A gateway's life: sessions, an idle UDP flow, enough records for several
 * batches, a failed send retried, then a close with sessions still open. */
static void test_gateway(void) {
  ctx x;
  ctx_init(&x, 0);
  gatelog_options_t o;
  ctx_options(&x, &o);
  CHECK(gatelog_new(&x.loop, &o, &x.gl) == 0 && x.gl != NULL);
  if (x.gl == NULL) return;
  gatelog_t *gl = x.gl;
  CHECK(gatelog_register_sender(gl, "collector", collector_send, &x.col) == 0);
  x.col.fail_next = 1;
  x.col.gl = gl;

  struct sockaddr_storage c4 = addr("203.0.113.7", 51234), web = addr("10.0.0.5", 443),
                          c6 = addr("2001:db8::1", 5000), ssh = addr("2001:db8::22", 22),
                          c3 = addr("198.51.100.20", 40001), dns = addr("10.0.0.1", 53);
  gatelog_sid_t t4 = 0, t6 = 0, u = 0, again = 0, done[64];
  int ndone = 0;

  CHECK(gatelog_tcp_start(gl, 42, SA(c4), SA(web), &t4) == 0);
  CHECK(gatelog_tcp_start(gl, 7, SA(c6), SA(ssh), &t6) == 0);
  CHECK(t4 != 0 && t6 != 0 && t4 != t6);
  CHECK(gatelog_add_bytes(gl, t4, 517, 4380) == 0);
  CHECK(gatelog_add_bytes(gl, t4, 100, 20) == 0);
  CHECK(gatelog_add_bytes(gl, t6, 3000, 2500) == 0);
  CHECK(log_has(&x, "ACCESS START ", t4) && log_has(&x, "ACCESS START ", t6));
  CHECK(strstr(x.log.p, " src=[2001:db8::1]:5000 dst=[2001:db8::22]:22 ") != NULL);
  CHECK(gatelog_tcp_end(gl, t4) == 0);
  CHECK(gatelog_tcp_end(gl, t6) == 0);
  CHECK(log_has(&x, "ACCESS END ", t4) && log_has(&x, "ACCESS END ", t6));
  done[ndone++] = t4;
  done[ndone++] = t6;

  int same = 1;
  CHECK(gatelog_udp_track(gl, 9, SA(c3), SA(dns), &u) == 0 && u != 0);
  for (int i = 0; i < 1000; i++) {
    same &= gatelog_udp_track(gl, 9, SA(c3), SA(dns), &again) == 0 && again == u;
    same &= gatelog_add_bytes(gl, u, 1, 2) == 0;
  }
  CHECK(same);
  CHECK(stats(&x).udp_started == 1 && stats(&x).udp_open == 1);
  CHECK(run_until(&x, idle_ended));
  CHECK(stats(&x).ended_idle == 1 && stats(&x).udp_open == 0);
  CHECK(log_has(&x, "ACCESS END (idle) ", u));
  done[ndone++] = u;

  check_errors(&x, t4);

  gatelog_stats_t before = stats(&x);
  struct sockaddr_storage client;
  for (int i = 0; i < 35; i++) {
    gatelog_sid_t s = 0;
    client = addr("192.0.2.50", 20000 + i);
    CHECK(gatelog_tcp_start(gl, 100 + i, SA(client), SA(web), &s) == 0);
    CHECK(gatelog_add_bytes(gl, s, (uint64_t)i, 2 * (uint64_t)i) == 0);
    CHECK(gatelog_tcp_end(gl, s) == 0);
    done[ndone++] = s;
  }
  /* t4, t6, u, the two sessions of check_errors and the 35 */
  x.want = 40;
  CHECK(run_until(&x, all_delivered));
  gatelog_stats_t st = stats(&x);
  CHECK(st.batches_sealed - before.batches_sealed >= 4);
  CHECK(st.batches_failed == 1 && st.batches_retried >= 1);
  CHECK(st.records_kept == 40 && st.records_sent == 40);
  CHECK(x.col.bad_payloads == 0);
  int once = 1;
  for (int i = 0; i < ndone; i++) once &= delivered_once(&x.col, done[i]);
  CHECK(once);
  CHECK(count_of(x.col.json.p, "{\"sessionId\":\"") == 40);

  char h[17], want[256];
  snprintf(want, sizeof(want),
           "{\"sessionId\":\"%s\",\"resourceId\":42,\"sourceAddr\":\"203.0.113.7:51234\","
           "\"destAddr\":\"10.0.0.5:443\",\"protocol\":\"tcp\",\"startedAt\":\"",
           hex(t4, h));
  CHECK(strncmp(record_of(&x.col, t4), want, strlen(want)) == 0); /* key order */
  REC_HAS(t4, "\"bytesTx\":617,\"bytesRx\":4400}");
  REC_HAS(t6, "\"resourceId\":7,\"sourceAddr\":\"[2001:db8::1]:5000\","
              "\"destAddr\":\"[2001:db8::22]:22\"");
  REC_HAS(t6, "\"bytesTx\":3000,\"bytesRx\":2500}");
  REC_HAS(u, "\"sourceAddr\":\"198.51.100.20:40001\",\"destAddr\":\"10.0.0.1:53\","
             "\"protocol\":\"udp\"");
  REC_HAS(u, "\"bytesTx\":1000,\"bytesRx\":2000}");
  REC_HAS(done[ndone - 1], "\"resourceId\":134,\"sourceAddr\":\"192.0.2.50:20034\"");
  REC_HAS(done[ndone - 1], "\"bytesTx\":34,\"bytesRx\":68}");

  /* Close with 3 TCP sessions and 2 UDP flows open. */
  gatelog_sid_t open[5];
  for (int i = 0; i < 3; i++) {
    client = addr("192.0.2.60", 30000 + i);
    CHECK(gatelog_tcp_start(gl, 200, SA(client), SA(web), &open[i]) == 0);
    CHECK(gatelog_add_bytes(gl, open[i], 10, 20) == 0);
  }
  CHECK(gatelog_udp_track(gl, 9, SA(c4), SA(dns), &open[3]) == 0);
  CHECK(gatelog_udp_track(gl, 9, SA(c6), SA(dns), &open[4]) == 0);
  CHECK(stats(&x).tcp_open == 3 && stats(&x).udp_open == 2);

  CHECK(gatelog_close(gl, 2000, on_closed, &x) == 0);
  CHECK(gatelog_close(gl, 2000, on_closed, &x) == GATELOG_ECLOSED);
  gatelog_sid_t s = 0;
  CHECK(gatelog_tcp_start(gl, 1, SA(c4), SA(web), &s) == GATELOG_ECLOSED);
  CHECK(gatelog_udp_track(gl, 1, SA(c4), SA(dns), &s) == GATELOG_ECLOSED);
  CHECK(gatelog_tcp_end(gl, open[0]) == GATELOG_ECLOSED);
  CHECK(gatelog_udp_end(gl, open[3]) == GATELOG_ECLOSED);
  CHECK(gatelog_add_bytes(gl, open[1], 1, 1) == GATELOG_ECLOSED);
  CHECK(gatelog_flush(gl) == GATELOG_ECLOSED);
  CHECK(gatelog_register_sender(gl, "late", collector_send, &x.col) == GATELOG_ECLOSED);
  CHECK(x.closed == 0); /* never from inside gatelog_close */

  CHECK(run_until(&x, NULL)); /* the loop ends by itself after the close */
  CHECK(x.closed == 1);
  CHECK(x.at_close.lost_on_close == 0);
  CHECK(x.at_close.ended_shutdown == 5);
  CHECK(x.at_close.ended_idle == 1);
  CHECK(x.at_close.records_sent == 45);
  CHECK(x.at_close.tcp_open == 0 && x.at_close.udp_open == 0);
  CHECK(x.col.outstanding == 0 && x.col.bad_payloads == 0);
  CHECK(x.col.done_early == 0); /* the script hears of an answer on a later turn */
  once = 1;
  for (int i = 0; i < 5; i++) {
    once &= delivered_once(&x.col, open[i]);
    once &= log_has(&x, "ACCESS END (shutdown) ", open[i]);
    once &= strstr(record_of(&x.col, open[i]), i < 3 ? "\"protocol\":\"tcp\""
                                                     : "\"protocol\":\"udp\"") != NULL;
  }
  CHECK(once);
  CHECK(count_of(x.col.json.p, "{\"sessionId\":\"") == 45);
  CHECK(x.log_errors == 0);
  ctx_finish(&x);
}

static int three_held(ctx *x) { return x->col.nheld >= 3; }

/* A sender that never answers: the close gives up at drain_ms, counts the
 * loss, and the answers that come after it only free the sends. */
static void test_close_unanswered(void) {
  ctx x;
  if (!ctx_start(&x, 1)) return;
  struct sockaddr_storage dst = addr("10.0.0.5", 443), src;
  for (int i = 0; i < 30; i++) {
    gatelog_sid_t s = 0;
    src = addr(i % 2 ? "2001:db8::7" : "192.0.2.70", 40000 + i);
    CHECK(gatelog_tcp_start(x.gl, 5, SA(src), SA(dst), &s) == 0);
    if (i < 25) CHECK(gatelog_tcp_end(x.gl, s) == 0);
  }
  CHECK(run_until(&x, three_held)); /* 10 + 10 + 5 records, held by the host */

  CHECK(gatelog_close(x.gl, 100, on_closed, &x) == 0);
  CHECK(run_until(&x, NULL)); /* the loop ends by itself after the close */
  CHECK(x.closed == 1);
  CHECK(x.at_close.records_sent == 0);
  CHECK(x.at_close.ended_shutdown == 5);
  CHECK(x.at_close.lost_on_close == 30);
  CHECK(x.log_errors >= 1 && strstr(x.log.p, "lost_on_close") != NULL);
  /* A fourth send carries the five ended by the close, if it started
   * before the deadline: not something to assert on. */
  CHECK(x.col.nheld == 3 || x.col.nheld == 4);
  int held = x.col.nheld;
  for (int i = 0; i < x.col.nheld; i++) {
    answer_now(&x.col, x.col.held[i], 1);
    free(x.col.held[i]);
  }
  CHECK(x.col.bad_payloads == 0 && x.col.delivered == held);
  CHECK(count_of(x.col.json.p, "{\"sessionId\":\"") == (held == 4 ? 30 : 25));
  ctx_finish(&x);
}

/* Byte counters stop at 2^64 - 1 instead of wrapping, and say so. */
static void test_add_bytes_saturates(void) {
  ctx x;
  if (!ctx_start(&x, 0)) return;
  x.col.gl = x.gl;
  struct sockaddr_storage src = addr("192.0.2.9", 4000), dst = addr("10.0.0.5", 443);
  gatelog_sid_t s = 0;
  CHECK(gatelog_tcp_start(x.gl, 1, SA(src), SA(dst), &s) == 0);
  CHECK(gatelog_add_bytes(x.gl, s, UINT64_MAX - 10, 7) == 0);
  CHECK(stats(&x).bytes_saturated == 0);
  CHECK(gatelog_add_bytes(x.gl, s, 5, 0) == 0); /* UINT64_MAX - 5 */
  CHECK(gatelog_add_bytes(x.gl, s, 15, 3) == 0); /* tx stops; rx is 10 */
  CHECK(gatelog_add_bytes(x.gl, s, 1, UINT64_MAX) == 0); /* both stop */
  CHECK(stats(&x).bytes_saturated == 3);
  CHECK(gatelog_tcp_end(x.gl, s) == 0);
  x.want = 1;
  CHECK(run_until(&x, all_delivered));
  CHECK(strstr(x.col.json.p, "\"bytesTx\":18446744073709551615,\"bytesRx\":18446744073709551615") != NULL);
  CHECK(gatelog_close(x.gl, 100, on_closed, &x) == 0);
  CHECK(run_until(&x, NULL));
  ctx_finish(&x);
}

/* A close whose drain deadline catches a batch on a compression thread
 * still calls back (found by the script fuzz target: the batch was taken
 * off the threads' lists, its work never ended, the close waited). */
static void deliver_at_once(gatelog_send_t *req, const char *payload, size_t len, void *data) {
  (void)payload;
  (void)len;
  (void)data;
  gatelog_send_done(req, 0, NULL);
}

static void set_flag(gatelog_t *gl, void *data) {
  (void)gl;
  *(int *)data = 1;
}

static void tick(uv_timer_t *t) { (void)t; }

static void quiet(void *data, int level, const char *msg) {
  (void)data;
  (void)level;
  (void)msg;
}

static void test_close_while_compressing(void) {
  uv_loop_t loop;
  uv_timer_t keepalive; /* gatelog's handles do not keep the loop alive */
  CHECK(uv_loop_init(&loop) == 0);
  uv_timer_init(&loop, &keepalive);
  int calledback = 0;
  for (int run = 0; run < 20; run++) {
    gatelog_options_t o;
    gatelog_options_init(&o);
    o.script = GATELOG_SOURCE_DIR "/scripts/default.lua";
    o.access_log = 0;
    o.compress_threads = 1;
    o.send_override = deliver_at_once;
    o.log = quiet;
    gatelog_t *gl;
    CHECK(gatelog_new(&loop, &o, &gl) == 0);
    struct sockaddr_in a, b;
    uv_ip4_addr("10.0.0.1", 1, &a);
    uv_ip4_addr("10.0.0.2", 2, &b);
    gatelog_sid_t sid;
    CHECK(gatelog_tcp_start(gl, 1, (struct sockaddr *)&a, (struct sockaddr *)&b, &sid) == 0);
    CHECK(gatelog_tcp_end(gl, sid) == 0);
    CHECK(gatelog_flush(gl) == 0);
    uv_run(&loop, UV_RUN_NOWAIT); /* the pump hands the batch to a thread */
    int closed = 0;
    CHECK(gatelog_close(gl, 0, set_flag, &closed) == 0);
    uv_timer_start(&keepalive, tick, 1, 1);
    uint64_t t0 = uv_now(&loop);
    while (!closed && uv_now(&loop) - t0 < 30000) uv_run(&loop, UV_RUN_ONCE);
    uv_timer_stop(&keepalive);
    calledback += closed;
  }
  CHECK(calledback == 20);
  uv_close((uv_handle_t *)&keepalive, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK(uv_loop_close(&loop) == 0);
}

#define TESTS(TEST)      \
  TEST(close_while_compressing) \
  TEST(new_failures)     \
  TEST(add_bytes_saturates) \
  TEST(gateway)          \
  TEST(close_unanswered)
CHECK_MAIN(TESTS)
