/* Producers on other threads and a core on its own thread (issue 15),
 * through the public header only. Records are counted by session id at
 * the receiver (a host sender given each batch's JSON): none lost, none
 * twice, each with its byte counts. Built and run under ThreadSanitizer
 * too (dev/test --tsan). */
#define _GNU_SOURCE /* memmem */
#include <arpa/inet.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "gatelog.h"

#define FIXTURE GATELOG_SOURCE_DIR "/spec/fixtures/json_collector.lua"
#define DRAIN_MS 600000 /* the close's drain: generous, for the sanitizers' slowness */

/* ---- the receiver: records by session id -------------------------------- */

typedef struct {
  uint64_t sid;
  uint32_t seen;
  uint64_t tx, rx;
  char reason[16];
} got;

typedef struct {
  got *slots;
  uint64_t mask;
  uint64_t records;
} receiver;

static void receiver_init(receiver *r, uint64_t expect) {
  uint64_t n = 1024;
  while (n < expect * 2) n <<= 1;
  r->slots = calloc(n, sizeof(got));
  r->mask = n - 1;
  r->records = 0;
}

static got *find(const receiver *r, uint64_t sid) {
  uint64_t i = (sid * 0x9e3779b97f4a7c15ull) & r->mask;
  while (r->slots[i].sid != 0 && r->slots[i].sid != sid) i = (i + 1) & r->mask;
  return &r->slots[i];
}

static uint64_t number_after(const char *p, const char *end, const char *key) {
  const char *k = memmem(p, (size_t)(end - p), key, strlen(key));
  return k ? strtoull(k + strlen(key), NULL, 10) : UINT64_MAX;
}

/* The host sender: each record of the batch's JSON into the table. */
static void collect(gatelog_send_t *req, const char *json, size_t len, void *data) {
  receiver *r = data;
  static const char key[] = "\"sessionId\":\"";
  const char *p = json, *stop = json + len;
  while ((p = memmem(p, (size_t)(stop - p), key, sizeof(key) - 1)) != NULL) {
    p += sizeof(key) - 1;
    const char *next = memmem(p, (size_t)(stop - p), key, sizeof(key) - 1);
    const char *end = next ? next : stop;
    uint64_t sid = strtoull(p, NULL, 16);
    got *g = find(r, sid);
    g->sid = sid;
    g->seen++;
    g->tx = number_after(p, end, "\"bytesTx\":");
    g->rx = number_after(p, end, "\"bytesRx\":");
    r->records++;
  }
  gatelog_send_done(req, 0, NULL);
}

static void options(gatelog_options_t *o) {
  gatelog_options_init(o);
  o->script = FIXTURE;
  o->access_log = 0;
  o->compression_level = 1;
  o->batch_max_records = 1000;
  o->queue_max_records = 100000;
  o->flush_interval_ms = 20;
  o->compress_threads = 1;
}

static struct sockaddr_in addr4(const char *ip, int port) {
  struct sockaddr_in a;
  memset(&a, 0, sizeof(a));
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)port);
  inet_pton(AF_INET, ip, &a.sin_addr);
  return a;
}
#define SA(a) ((const struct sockaddr *)&(a))

/* A core on the test's own loop (the gateway's loop), which runs only
 * when the test runs it: events stay queued until then. */
typedef struct {
  uv_loop_t loop;
  uv_timer_t alive; /* the gateway's own handle: gatelog's do not keep a loop alive */
  gatelog_t *gl;
  receiver rcv;
  int closed;
  gatelog_stats_t final;
} onloop;

static void on_closed(gatelog_t *gl, void *data) {
  onloop *t = data;
  gatelog_stats(gl, &t->final);
  t->closed = 1;
}

static void never(uv_timer_t *h) { (void)h; }

/* The core on t's loop, and a producer of it; NULL if they fail. */
static gatelog_producer_t *onloop_open(onloop *t, gatelog_options_t *o) {
  uv_loop_init(&t->loop);
  uv_timer_init(&t->loop, &t->alive);
  uv_timer_start(&t->alive, never, 3600000, 0);
  receiver_init(&t->rcv, 1024);
  t->closed = 0;
  int err = gatelog_new(&t->loop, o, &t->gl);
  if (err == 0) err = gatelog_register_sender(t->gl, "collector", collect, &t->rcv);
  gatelog_producer_t *p = NULL;
  if (err == 0) err = gatelog_producer_new(t->gl, &p);
  CHECK(err == 0);
  return p;
}

static void onloop_close(onloop *t) {
  CHECK(gatelog_close(t->gl, DRAIN_MS, on_closed, t) == 0);
  while (!t->closed) uv_run(&t->loop, UV_RUN_ONCE);
  uv_close((uv_handle_t *)&t->alive, NULL);
  uv_run(&t->loop, UV_RUN_DEFAULT);
  CHECK(uv_loop_close(&t->loop) == 0);
}

static void onloop_free(onloop *t) { free(t->rcv.slots); }

/* ---- a core on its own thread --------------------------------------------- */

static gatelog_t *threaded(gatelog_options_t *o, receiver *r) {
  gatelog_t *gl = NULL;
  int err = gatelog_start_thread(o, &gl);
  CHECK(err == 0);
  if (err) {
    fprintf(stderr, "gatelog_start_thread: %s: %s\n", gatelog_err_name(err), gatelog_last_error(NULL));
    return NULL;
  }
  CHECK(gatelog_register_sender(gl, "collector", collect, r) == 0);
  return gl;
}

/* ---- the stress: 4 threads x 250,000 sessions, UDP flows shared ----------- */

#define STRESS_THREADS 4
/* Sessions per thread: 250,000, or $GATELOG_STRESS_SESSIONS (dev/test
 * --tsan runs fewer: ThreadSanitizer makes each one some 50 times slower). */
static int stress_flows = 125000; /* half TCP sessions, half UDP flows */
#define STRESS_FLOWS stress_flows

typedef struct {
  gatelog_t *gl;
  int index;
  gatelog_sid_t *tcp;   /* [STRESS_FLOWS] */
  gatelog_sid_t *udp;   /* [STRESS_FLOWS]: the id this thread got for flow j */
  int errors;
} stress_arg;

/* Bytes of session i of thread t: distinct, so that a record with another's
 * counts is caught. */
static uint64_t tcp_tx(int t, int i) { return (uint64_t)t * 1000003u + (uint64_t)i; }

static void stress_thread(void *data) {
  stress_arg *a = data;
  gatelog_producer_t *p;
  if (gatelog_producer_new(a->gl, &p) != 0) {
    a->errors++;
    return;
  }
  for (int j = 0; j < STRESS_FLOWS; j++) {
    struct sockaddr_in c = addr4("10.1.0.1", 1024 + a->index), s = addr4("10.9.0.1", 443);
    c.sin_addr.s_addr = htonl(0x0a010000u + (uint32_t)j);
    gatelog_sid_t sid;
    int err = gatelog_p_tcp_start(p, a->index, SA(c), SA(s), &sid);
    if (err == 0) err = gatelog_p_add_bytes(p, sid, tcp_tx(a->index, j), 7);
    if (err == 0) err = gatelog_p_tcp_end(p, sid);
    a->tcp[j] = sid;
    /* The same flow j from every thread: one session, the bytes of all. */
    struct sockaddr_in u = addr4("10.2.0.1", 5000), d = addr4("10.8.0.53", 53);
    u.sin_addr.s_addr = htonl(0x0a020000u + (uint32_t)j);
    if (err == 0) err = gatelog_p_udp_track(p, 99, SA(u), SA(d), &a->udp[j]);
    if (err == 0) err = gatelog_p_add_bytes(p, a->udp[j], 1, (uint64_t)a->index + 1);
    if (err) a->errors++;
  }
  gatelog_producer_free(p);
}

static void test_stress(void) {
  const char *env = getenv("GATELOG_STRESS_SESSIONS");
  if (env && atoi(env) >= 2) stress_flows = atoi(env) / 2;
  gatelog_options_t o;
  options(&o);
  o.producer_full = GATELOG_FULL_WAIT;
  o.producer_wait_ms = 60000;
  o.udp_idle_timeout_ms = 3600000;
  receiver r;
  receiver_init(&r, (uint64_t)STRESS_THREADS * STRESS_FLOWS + STRESS_FLOWS);
  gatelog_t *gl = threaded(&o, &r);
  if (gl == NULL) return;
  stress_arg args[STRESS_THREADS];
  uv_thread_t tids[STRESS_THREADS];
  for (int t = 0; t < STRESS_THREADS; t++) {
    args[t] = (stress_arg){gl, t, calloc(STRESS_FLOWS, 8), calloc(STRESS_FLOWS, 8), 0};
    uv_thread_create(&tids[t], stress_thread, &args[t]);
  }
  for (int t = 0; t < STRESS_THREADS; t++) uv_thread_join(&tids[t]);
  gatelog_stats_t st;
  CHECK(gatelog_stats(gl, &st) == 0);
  CHECK(st.producer_full == 0);
  /* The UDP flows are still open: the stop ends them (shutdown). */
  CHECK(gatelog_stop_thread(gl, DRAIN_MS) == 0);
  int errors = 0, once = 0, bytes = 0, same_flow = 0;
  for (int t = 0; t < STRESS_THREADS; t++) {
    errors += args[t].errors;
    for (int j = 0; j < STRESS_FLOWS; j++) {
      got *g = find(&r, args[t].tcp[j]);
      once += g->sid != 0 && g->seen == 1;
      bytes += g->sid != 0 && g->tx == tcp_tx(t, j) && g->rx == 7;
      same_flow += args[t].udp[j] == args[0].udp[j];
    }
  }
  int udp_once = 0, udp_bytes = 0;
  for (int j = 0; j < STRESS_FLOWS; j++) {
    got *g = find(&r, args[0].udp[j]);
    udp_once += g->sid != 0 && g->seen == 1;
    /* tx: 1 from each thread; rx: 1 + 2 + 3 + 4 */
    udp_bytes += g->tx == STRESS_THREADS && g->rx == 10;
  }
  CHECK(errors == 0);
  CHECK(once == STRESS_THREADS * STRESS_FLOWS);
  CHECK(bytes == STRESS_THREADS * STRESS_FLOWS);
  CHECK(same_flow == STRESS_THREADS * STRESS_FLOWS);
  CHECK(udp_once == STRESS_FLOWS);
  CHECK(udp_bytes == STRESS_FLOWS);
  CHECK(r.records == (uint64_t)STRESS_THREADS * STRESS_FLOWS + STRESS_FLOWS);
  if (r.records != (uint64_t)STRESS_THREADS * STRESS_FLOWS + STRESS_FLOWS)
    fprintf(stderr, "records %llu, once %d, bytes %d, udp once %d, udp bytes %d\n",
            (unsigned long long)r.records, once, bytes, udp_once, udp_bytes);
  for (int t = 0; t < STRESS_THREADS; t++) {
    free(args[t].tcp);
    free(args[t].udp);
  }
  free(r.slots);
}

/* ---- a producer freed with events still queued ---------------------------- */

static void test_free_nonempty(void) {
  gatelog_options_t o;
  options(&o);
  onloop t;
  gatelog_producer_t *p = onloop_open(&t, &o);
  if (p == NULL) return;
  gatelog_sid_t sids[100];
  struct sockaddr_in c = addr4("192.0.2.1", 40000), s = addr4("198.51.100.1", 80);
  /* The loop is not running: all of this waits in the queue. */
  for (int i = 0; i < 100; i++) {
    CHECK(gatelog_p_tcp_start(p, i, SA(c), SA(s), &sids[i]) == 0);
    CHECK(gatelog_p_add_bytes(p, sids[i], (uint64_t)i, (uint64_t)i * 2) == 0);
    CHECK(gatelog_p_tcp_end_reason(p, sids[i], "client_gone") == 0);
  }
  gatelog_stats_t st;
  gatelog_stats(t.gl, &st);
  CHECK(st.producers_open == 1);
  CHECK(st.producer_events == 0);
  gatelog_producer_free(p);
  /* Ends wait a pass over the queues (docs/threads.md): a few turns. */
  for (int i = 0; i < 100 && st.ended_other < 100; i++) {
    uv_run(&t.loop, UV_RUN_NOWAIT);
    gatelog_stats(t.gl, &st);
  }
  CHECK(st.producers_open == 0);
  CHECK(st.producer_events == 300);
  CHECK(st.producer_failed == 0);
  CHECK(st.ended_other == 100);
  onloop_close(&t);
  int right = 0;
  for (int i = 0; i < 100; i++) {
    got *g = find(&t.rcv, sids[i]);
    right += g->seen == 1 && g->tx == (uint64_t)i && g->rx == (uint64_t)i * 2;
  }
  CHECK(right == 100);
  CHECK(t.rcv.records == 100);
  onloop_free(&t);
}

/* ---- the close while producers call --------------------------------------- */

#define CALLERS 4
#define CALLER_MAX 400000

typedef struct {
  gatelog_producer_t *p;
  gatelog_sid_t *sids;
  uint8_t *ended;          /* its tcp_end returned 0 */
  _Atomic int calls;
  int count;               /* sessions started */
  int closed_seen;         /* a call returned GATELOG_ECLOSED */
  int other_errors;
} caller_arg;

static void caller(void *data) {
  caller_arg *a = data;
  struct sockaddr_in c = addr4("203.0.113.9", 50000), s = addr4("10.0.0.5", 443);
  while (a->count < CALLER_MAX) {
    gatelog_sid_t sid;
    int err = gatelog_p_tcp_start(a->p, 1, SA(c), SA(s), &sid);
    if (err == 0) {
      a->sids[a->count++] = sid;
      err = gatelog_p_add_bytes(a->p, sid, 5, 6);
      /* Every other session stays open: the close ends those. */
      if (err == 0 && a->count % 2 == 0 && (err = gatelog_p_tcp_end(a->p, sid)) == 0)
        a->ended[a->count - 1] = 1;
    }
    atomic_fetch_add(&a->calls, 1);
    if (err == GATELOG_ECLOSED) {
      a->closed_seen = 1;
      break;
    }
    if (err) a->other_errors++;
  }
  /* After the core is gone: still an answer, and the free is safe. */
  gatelog_sid_t sid;
  if (gatelog_p_tcp_start(a->p, 1, SA(c), SA(s), &sid) != GATELOG_ECLOSED) a->other_errors++;
  gatelog_producer_free(a->p);
}

static void test_close_while_calling(void) {
  gatelog_options_t o;
  options(&o);
  o.producer_full = GATELOG_FULL_WAIT;
  o.producer_wait_ms = 60000;
  receiver r;
  receiver_init(&r, (uint64_t)CALLERS * CALLER_MAX);
  gatelog_t *gl = threaded(&o, &r);
  if (gl == NULL) return;
  caller_arg args[CALLERS];
  uv_thread_t tids[CALLERS];
  for (int i = 0; i < CALLERS; i++) {
    memset(&args[i], 0, sizeof(args[i]));
    CHECK(gatelog_producer_new(gl, &args[i].p) == 0);
    args[i].sids = calloc(CALLER_MAX, sizeof(gatelog_sid_t));
    args[i].ended = calloc(CALLER_MAX, 1);
    uv_thread_create(&tids[i], caller, &args[i]);
  }
  /* Close once every thread is well under way (counted, not timed). */
  for (int i = 0; i < CALLERS; i++)
    while (atomic_load(&args[i].calls) < 2000) uv_sleep(1);
  CHECK(gatelog_stop_thread(gl, DRAIN_MS) == 0);
  for (int i = 0; i < CALLERS; i++) uv_thread_join(&tids[i]);
  uint64_t started = 0;
  int right = 0, reason_ok = 1;
  for (int i = 0; i < CALLERS; i++) {
    CHECK(args[i].other_errors == 0);
    CHECK(args[i].closed_seen || args[i].count == CALLER_MAX);
    started += (uint64_t)args[i].count;
    for (int k = 0; k < args[i].count; k++) {
      got *g = find(&r, args[i].sids[k]);
      /* add_bytes may have been the call that met the close: 0 or 5. */
      right += g->seen == 1 && (g->tx == 5 || (g->tx == 0 && !args[i].ended[k]));
    }
    free(args[i].sids);
    free(args[i].ended);
  }
  (void)reason_ok;
  CHECK((uint64_t)right == started);
  CHECK(r.records == started);
  free(r.slots);
}

/* ---- the full-queue policy, both ways --------------------------------------- */

static void test_full_fail(void) {
  gatelog_options_t o;
  options(&o);
  o.producer_queue = 16;
  onloop t;
  gatelog_producer_t *p = onloop_open(&t, &o);
  if (p == NULL) return;
  struct sockaddr_in c = addr4("192.0.2.1", 1), s = addr4("192.0.2.2", 2);
  gatelog_sid_t sid, sids[16];
  for (int i = 0; i < 16; i++) CHECK(gatelog_p_tcp_start(p, i, SA(c), SA(s), &sids[i]) == 0);
  sid = 0;
  CHECK(gatelog_p_tcp_start(p, 16, SA(c), SA(s), &sid) == GATELOG_EAGAIN);
  CHECK(sid == 0);
  CHECK(gatelog_p_add_bytes(p, sids[0], 1, 1) == GATELOG_EAGAIN);
  gatelog_stats_t st;
  gatelog_stats(t.gl, &st);
  CHECK(st.producer_full == 2);
  CHECK(st.producer_waits == 0);
  uv_run(&t.loop, UV_RUN_NOWAIT); /* the loop drains: room again */
  CHECK(gatelog_p_tcp_start(p, 16, SA(c), SA(s), &sid) == 0);
  uv_run(&t.loop, UV_RUN_NOWAIT);
  gatelog_stats(t.gl, &st);
  CHECK(st.tcp_started == 17);
  gatelog_producer_free(p);
  onloop_close(&t);
  CHECK(t.rcv.records == 17);
  CHECK(t.final.producer_full == 2);
  onloop_free(&t);
}

/* wait: a call on a full queue waits for the loop to make room. With the
 * loop stopped it gives up after producer_wait_ms; with a core on its own
 * thread every call gets in, however small the queue. */
static void test_full_wait(void) {
  gatelog_options_t o;
  options(&o);
  o.producer_queue = 16;
  o.producer_full = GATELOG_FULL_WAIT;
  o.producer_wait_ms = 1;
  onloop t;
  gatelog_producer_t *p = onloop_open(&t, &o);
  if (p == NULL) return;
  struct sockaddr_in c = addr4("192.0.2.1", 1), s = addr4("192.0.2.2", 2);
  gatelog_sid_t sid;
  for (int i = 0; i < 16; i++) CHECK(gatelog_p_tcp_start(p, i, SA(c), SA(s), &sid) == 0);
  CHECK(gatelog_p_tcp_start(p, 16, SA(c), SA(s), &sid) == GATELOG_EAGAIN);
  gatelog_stats_t st;
  gatelog_stats(t.gl, &st);
  CHECK(st.producer_waits == 1);
  CHECK(st.producer_full == 1);
  gatelog_producer_free(p);
  onloop_close(&t);
  CHECK(t.rcv.records == 16);
  onloop_free(&t);
}

static void test_full_wait_room(void) {
  gatelog_options_t o;
  struct sockaddr_in c = addr4("192.0.2.1", 1), s = addr4("192.0.2.2", 2);
  gatelog_stats_t st;
  gatelog_producer_t *p;
  options(&o);
  o.producer_queue = 16;
  o.producer_full = GATELOG_FULL_WAIT;
  o.producer_wait_ms = 60000;
  receiver r;
  receiver_init(&r, 20000);
  gatelog_t *gl = threaded(&o, &r);
  if (gl == NULL) return;
  CHECK(gatelog_producer_new(gl, &p) == 0);
  int ok = 0;
  gatelog_sid_t sids[5000];
  for (int i = 0; i < 5000; i++) {
    int err = gatelog_p_tcp_start(p, i, SA(c), SA(s), &sids[i]);
    if (err == 0) err = gatelog_p_tcp_end(p, sids[i]);
    ok += err == 0;
  }
  gatelog_producer_free(p);
  CHECK(gatelog_stats(gl, &st) == 0);
  CHECK(st.producer_full == 0);
  CHECK(gatelog_stop_thread(gl, DRAIN_MS) == 0);
  CHECK(ok == 5000);
  int once = 0;
  for (int i = 0; i < 5000; i++) once += find(&r, sids[i])->seen == 1;
  CHECK(once == 5000);
  free(r.slots);
}

/* ---- UDP: one id per flow, whoever tracks it ---------------------------------- */

static void test_udp_dedup(void) {
  gatelog_options_t o;
  options(&o);
  onloop t;
  gatelog_producer_t *a = onloop_open(&t, &o), *b;
  if (a == NULL) return;
  CHECK(gatelog_producer_new(t.gl, &b) == 0);
  struct sockaddr_in c = addr4("192.0.2.7", 5353), s = addr4("192.0.2.53", 53);
  gatelog_sid_t x, y, z, w;
  CHECK(gatelog_p_udp_track(a, 7, SA(c), SA(s), &x) == 0);
  CHECK(gatelog_p_udp_track(b, 7, SA(c), SA(s), &y) == 0);
  /* The loop thread too, before either start reached the loop. */
  CHECK(gatelog_udp_track(t.gl, 7, SA(c), SA(s), &z) == 0);
  CHECK(x != 0 && x == y && y == z);
  CHECK(gatelog_p_add_bytes(b, y, 10, 20) == 0);
  CHECK(gatelog_p_add_bytes(a, x, 1, 2) == 0);
  uv_run(&t.loop, UV_RUN_NOWAIT);
  gatelog_stats_t st;
  gatelog_stats(t.gl, &st);
  CHECK(st.udp_started == 1);
  CHECK(st.udp_open == 1);
  CHECK(gatelog_p_udp_end(b, x) == 0);
  for (int i = 0; i < 100 && st.udp_ended == 0; i++) {
    uv_run(&t.loop, UV_RUN_NOWAIT);
    gatelog_stats(t.gl, &st);
  }
  /* Ended: the next track is a new session. */
  CHECK(gatelog_p_udp_track(a, 7, SA(c), SA(s), &w) == 0);
  CHECK(w != 0 && w != x);
  /* An end of an id the loop no longer knows: counted, not returned. */
  CHECK(gatelog_p_udp_end(a, x) == 0);
  CHECK(gatelog_p_tcp_end(a, w) == 0);
  /* An unknown id waits a pass (its start could be in another queue). */
  for (int i = 0; i < 100 && st.producer_failed < 2; i++) {
    uv_run(&t.loop, UV_RUN_NOWAIT);
    gatelog_stats(t.gl, &st);
  }
  CHECK(st.udp_started == 2);
  CHECK(st.producer_failed == 2); /* ENOSESSION, then EWRONGPROTO */
  gatelog_producer_free(a);
  gatelog_producer_free(b);
  onloop_close(&t);
  got *g = find(&t.rcv, x);
  CHECK(g->seen == 1 && g->tx == 11 && g->rx == 22);
  CHECK(find(&t.rcv, w)->seen == 1);
  CHECK(t.rcv.records == 2);
  onloop_free(&t);
}

/* ---- a client that reuses its port at once ---------------------------------
 * An end forgets the flow on the calling thread: a track called after it
 * is a new session even while the end still waits in a queue (nginx starts
 * the next UDP session of a client before gatelog's loop has run). Both
 * sessions get their record; no call fails. On one producer, and on two
 * where the loop drains the second (newer) queue first. */

static void udp_reuse(int producers) {
  gatelog_options_t o;
  options(&o);
  onloop t;
  gatelog_producer_t *a = onloop_open(&t, &o), *b;
  if (a == NULL) return;
  b = a;
  if (producers == 2) CHECK(gatelog_producer_new(t.gl, &b) == 0);
  struct sockaddr_in c = addr4("192.0.2.9", 4000), s = addr4("192.0.2.53", 53);
  gatelog_sid_t x, x2, y, z;
  CHECK(gatelog_p_udp_track(a, 5, SA(c), SA(s), &x) == 0);
  CHECK(gatelog_p_udp_track(b, 5, SA(c), SA(s), &x2) == 0);
  CHECK(x2 == x);
  CHECK(gatelog_p_add_bytes(b, x, 1, 2) == 0);
  CHECK(gatelog_p_udp_end(a, x) == 0);
  CHECK(gatelog_p_udp_track(b, 5, SA(c), SA(s), &y) == 0);
  CHECK(y != 0 && y != x);
  CHECK(gatelog_p_add_bytes(b, y, 3, 4) == 0);
  CHECK(gatelog_p_udp_end_reason(b, y, "idle") == 0);
  CHECK(gatelog_p_udp_track(a, 5, SA(c), SA(s), &z) == 0);
  CHECK(z != x && z != y);
  gatelog_stats_t st;
  memset(&st, 0, sizeof(st));
  for (int i = 0; i < 100 && (st.udp_ended < 2 || st.udp_open < 1); i++) {
    uv_run(&t.loop, UV_RUN_NOWAIT);
    gatelog_stats(t.gl, &st);
  }
  CHECK(st.udp_started == 3);
  CHECK(st.udp_ended == 2);
  CHECK(st.udp_open == 1);
  CHECK(st.producer_failed == 0);
  if (b != a) gatelog_producer_free(b);
  gatelog_producer_free(a);
  onloop_close(&t);
  got *g = find(&t.rcv, x);
  CHECK(g->seen == 1 && g->tx == 1 && g->rx == 2);
  g = find(&t.rcv, y);
  CHECK(g->seen == 1 && g->tx == 3 && g->rx == 4);
  CHECK(find(&t.rcv, z)->seen == 1); /* ended by the close */
  CHECK(t.rcv.records == 3);
  onloop_free(&t);
}

static void test_udp_reuse_one(void) { udp_reuse(1); }
static void test_udp_reuse_two(void) { udp_reuse(2); }

/* ---- a session's calls from two producers --------------------------------------
 * A start on one producer, its bytes and end on another, queued before the
 * loop runs; the loop visits the second queue first (the producers' order
 * of creation), and still applies them in the order of the calls. */

static void test_order_across_producers(void) {
  gatelog_options_t o;
  options(&o);
  onloop t;
  gatelog_producer_t *first = onloop_open(&t, &o), *second;
  if (first == NULL) return;
  CHECK(gatelog_producer_new(t.gl, &second) == 0);
  struct sockaddr_in c = addr4("192.0.2.1", 1), s = addr4("192.0.2.2", 2);
  gatelog_sid_t sid, flow;
  CHECK(gatelog_p_tcp_start(second, 1, SA(c), SA(s), &sid) == 0);
  CHECK(gatelog_p_add_bytes(first, sid, 3, 4) == 0);
  CHECK(gatelog_p_tcp_end_reason(first, sid, "moved") == 0);
  CHECK(gatelog_p_udp_track(second, 2, SA(c), SA(s), &flow) == 0);
  CHECK(gatelog_p_add_bytes(first, flow, 5, 6) == 0);
  CHECK(gatelog_p_udp_end(first, flow) == 0);
  gatelog_stats_t st;
  memset(&st, 0, sizeof(st));
  for (int i = 0; i < 100 && st.tcp_ended + st.udp_ended < 2; i++) {
    uv_run(&t.loop, UV_RUN_NOWAIT);
    gatelog_stats(t.gl, &st);
  }
  CHECK(st.ended_other == 1);
  CHECK(st.ended_closed == 1);
  CHECK(st.producer_failed == 0);
  gatelog_producer_free(first);
  gatelog_producer_free(second);
  onloop_close(&t);
  got *g = find(&t.rcv, sid);
  CHECK(g->seen == 1 && g->tx == 3 && g->rx == 4);
  g = find(&t.rcv, flow);
  CHECK(g->seen == 1 && g->tx == 5 && g->rx == 6);
  onloop_free(&t);
}

/* ---- bad input, and a producer that outlives its core ------------------------ */

static void test_errors(void) {
  gatelog_options_t o;
  options(&o);
  onloop t;
  gatelog_producer_t *p = onloop_open(&t, &o), *none;
  if (p == NULL) return;
  CHECK(gatelog_producer_new(NULL, &none) == UV_EINVAL);
  CHECK(gatelog_producer_new(t.gl, NULL) == UV_EINVAL);
  struct sockaddr_in c = addr4("192.0.2.1", 1), s = addr4("192.0.2.2", 2);
  struct sockaddr bad;
  memset(&bad, 0, sizeof(bad));
  bad.sa_family = AF_UNIX;
  gatelog_sid_t sid;
  CHECK(gatelog_p_tcp_start(p, 1, &bad, SA(s), &sid) == UV_EAFNOSUPPORT);
  CHECK(gatelog_p_tcp_start(p, 1, SA(c), SA(s), NULL) == UV_EINVAL);
  CHECK(gatelog_p_tcp_end(p, 0) == GATELOG_ENOSESSION);
  CHECK(gatelog_p_tcp_end_reason(p, 5, "") == UV_EINVAL);
  CHECK(gatelog_p_udp_end_reason(p, 5, "bad\nreason") == UV_EINVAL);
  CHECK(gatelog_p_add_bytes(NULL, 5, 1, 1) == UV_EINVAL);
  CHECK(strcmp(gatelog_err_name(GATELOG_EAGAIN), "EAGAIN") == 0);
  /* Nothing was queued by a refused call. */
  gatelog_stats_t st;
  uv_run(&t.loop, UV_RUN_NOWAIT);
  gatelog_stats(t.gl, &st);
  CHECK(st.producer_events == 0);
  CHECK(gatelog_stop_thread(t.gl, 0) == UV_EINVAL); /* not a threaded core */
  CHECK(gatelog_p_tcp_start(p, 1, SA(c), SA(s), &sid) == 0);
  onloop_close(&t);
  /* Its start was applied by the close, and ended by it. */
  CHECK(t.rcv.records == 1);
  CHECK(find(&t.rcv, sid)->seen == 1);
  CHECK(gatelog_p_tcp_start(p, 1, SA(c), SA(s), &sid) == GATELOG_ECLOSED);
  gatelog_producer_free(p);
  onloop_free(&t);
}

/* ---- flush, reload and stats from another thread ------------------------------ */

static void test_thread_calls(void) {
  gatelog_options_t o;
  options(&o);
  o.flush_interval_ms = 3600000; /* only an explicit flush sends */
  receiver r;
  receiver_init(&r, 64);
  gatelog_t *gl = threaded(&o, &r);
  if (gl == NULL) return;
  gatelog_producer_t *p;
  CHECK(gatelog_producer_new(gl, &p) == 0);
  struct sockaddr_in c = addr4("192.0.2.1", 1), s = addr4("192.0.2.2", 2);
  gatelog_sid_t sid;
  CHECK(gatelog_p_tcp_start(p, 1, SA(c), SA(s), &sid) == 0);
  CHECK(gatelog_p_tcp_end(p, sid) == 0);
  gatelog_stats_t st;
  /* The end reaches the loop on its own; stats shows it once it has. */
  do {
    CHECK(gatelog_stats(gl, &st) == 0);
  } while (st.tcp_ended == 0);
  CHECK(st.producer_events == 2);
  CHECK(st.records_sent == 0);
  CHECK(gatelog_flush(gl) == 0);
  do {
    CHECK(gatelog_stats(gl, &st) == 0);
  } while (st.records_sent == 0 && st.batches_failed == 0);
  CHECK(st.records_sent == 1);
  CHECK(gatelog_reload(gl) == 0);
  CHECK(gatelog_stats(gl, &st) == 0);
  CHECK(st.reloads == 1);
  CHECK(gatelog_register_sender(gl, "collector", collect, &r) == UV_EEXIST);
  gatelog_producer_free(p);
  CHECK(gatelog_stop_thread(gl, 5000) == 0);
  CHECK(r.records == 1);
  CHECK(find(&r, sid)->seen == 1);
  free(r.slots);
}

#define TESTS(TEST)            \
  TEST(stress)                 \
  TEST(free_nonempty)          \
  TEST(close_while_calling)    \
  TEST(full_fail)              \
  TEST(full_wait)              \
  TEST(full_wait_room)         \
  TEST(udp_dedup)              \
  TEST(udp_reuse_one)          \
  TEST(udp_reuse_two)          \
  TEST(order_across_producers) \
  TEST(errors)                 \
  TEST(thread_calls)
CHECK_MAIN(TESTS)
