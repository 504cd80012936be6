/* The session table at scale: 1,000,000 open sessions, then churn (end
 * one, start one) of 500,000 more, through the public API on a real loop.
 * It asserts what must hold (every call succeeds, the counts add up) and
 * PRINTS the longest single call and the 99.9th percentile, both in wall
 * time (which includes time the thread was preempted, e.g. by compression
 * on the thread pool) and in the thread's own CPU time (what the call
 * itself cost): timing is measured by bench/, not asserted here (the
 * machines are shared). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "gatelog.h"

#define OPEN 1000000
#define CHURN 500000

static uint64_t clock_ns(clockid_t id) {
  struct timespec ts;
  clock_gettime(id, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

typedef struct timing {
  uint32_t *wall, *cpu;
  size_t n;
  uint64_t w0, c0;
} timing;

static void begin(timing *t) {
  t->w0 = clock_ns(CLOCK_MONOTONIC);
  t->c0 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
}

static void end(timing *t) {
  t->cpu[t->n] = (uint32_t)(clock_ns(CLOCK_THREAD_CPUTIME_ID) - t->c0);
  t->wall[t->n++] = (uint32_t)(clock_ns(CLOCK_MONOTONIC) - t->w0);
}

static int cmp_u32(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return x < y ? -1 : x > y;
}

static void discard(gatelog_send_t *req, const char *payload, size_t len, void *data) {
  (void)payload, (void)len, (void)data;
  gatelog_send_done(req, 0, NULL);
}

static int closed;
static void on_closed(gatelog_t *gl, void *data) {
  (void)gl, (void)data;
  closed = 1;
}

static void test_open_and_churn(void) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  gatelog_options_t o;
  gatelog_options_init(&o);
  o.script = GATELOG_SOURCE_DIR "/spec/fixtures/embed_sender.lua";
  o.access_log = 0;
  o.send_override = discard; /* records are made and sealed; the sink is free */
  o.queue_max_records = 10000000;
  gatelog_t *gl;
  CHECK(gatelog_new(&loop, &o, &gl) == 0);

  gatelog_sid_t *sids = malloc(OPEN * sizeof(*sids));
  timing tm = {malloc((OPEN + 2 * CHURN) * sizeof(uint32_t)),
               malloc((OPEN + 2 * CHURN) * sizeof(uint32_t)), 0, 0, 0};
  int failed = 0;
  struct sockaddr_in src, dst;
  uv_ip4_addr("10.0.0.1", 1, &src);
  uv_ip4_addr("10.200.0.1", 443, &dst);
  for (uint32_t i = 0; i < OPEN; i++) {
    src.sin_addr.s_addr = htonl(0x0a000000u | i);
    begin(&tm);
    failed |= gatelog_tcp_start(gl, i & 63, (struct sockaddr *)&src, (struct sockaddr *)&dst, &sids[i]);
    end(&tm);
  }
  gatelog_stats_t st;
  gatelog_stats(gl, &st);
  CHECK(failed == 0);
  CHECK(st.tcp_open == OPEN);

  for (uint32_t i = 0; i < CHURN; i++) {
    begin(&tm);
    failed |= gatelog_tcp_end(gl, sids[i]);
    end(&tm);
    src.sin_addr.s_addr = htonl(0x0b000000u | i);
    begin(&tm);
    failed |= gatelog_tcp_start(gl, 1, (struct sockaddr *)&src, (struct sockaddr *)&dst, &sids[i]);
    end(&tm);
    if (i % 1000 == 0) uv_run(&loop, UV_RUN_NOWAIT); /* let batches go out */
  }
  gatelog_stats(gl, &st);
  CHECK(failed == 0);
  CHECK(st.tcp_open == OPEN);
  CHECK(st.tcp_ended == CHURN && st.tcp_started == OPEN + CHURN);

  size_t n = tm.n;
  qsort(tm.wall, n, sizeof(uint32_t), cmp_u32);
  qsort(tm.cpu, n, sizeof(uint32_t), cmp_u32);
  printf("scale: %d open sessions, %d churned, %zu calls\n", OPEN, CHURN, n);
  printf("  wall time per call: longest %.3f ms, p99.9 %.2f us, median %.2f us\n",
         tm.wall[n - 1] / 1e6, tm.wall[n * 999 / 1000] / 1e3, tm.wall[n / 2] / 1e3);
  printf("  thread CPU per call: longest %.3f ms, p99.9 %.2f us, median %.2f us\n",
         tm.cpu[n - 1] / 1e6, tm.cpu[n * 999 / 1000] / 1e3, tm.cpu[n / 2] / 1e3);

  CHECK(gatelog_close(gl, 60000, on_closed, NULL) == 0);
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK(closed);
  CHECK(uv_loop_close(&loop) == 0);
  free(sids);
  free(tm.wall);
  free(tm.cpu);
}

#define TESTS(TEST) \
  TEST(open_and_churn)
CHECK_MAIN(TESTS)
