/* gatelog-bench: drives the core through the public C API on its own loop,
 * as a gateway does, and prints what issue 6's targets ask for: end-to-end
 * throughput against the compression bound measured in the same run, the
 * cost of Lua filter and enrich, loop stalls, RSS per open session and the
 * close of a large table. Medians of several runs.
 *
 *   gatelog-bench [--quick] [--sessions N] [--runs R] [--open N]
 *                 [--level L] [--compressor zlib|libdeflate]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

#ifndef GATELOG_SOURCE_DIR
#define GATELOG_SOURCE_DIR "."
#endif

#define WINDOW 1000 /* sessions open at once while the traffic runs */
#define OPS_PER_TICK 400

typedef struct driver {
  uv_loop_t loop;
  gatelog_t *gl;
  workload w;
  session_plan slots[WINDOW];
  uint64_t target, started, completed;
  uv_idle_t tick;
  uv_idle_t answer; /* runs only while sends wait for their answer */
  uv_check_t done;
  gatelog_send_t **pending;
  size_t npending, cap_pending;
  payloads *keep; /* where payloads go, for the bound (NULL: discard) */
  uint32_t *lat;  /* wall ns of every gatelog call */
  size_t nlat, cap_lat;
  const char *slowest; /* the call that took longest */
  uint32_t slow_ns;
  int flushed, closed;
} driver;

static uint64_t now_ns(clockid_t id) {
  struct timespec ts;
  clock_gettime(id, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

double cpu_seconds(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static void *grow(void *p, size_t *cap, size_t need, size_t size) {
  if (need <= *cap) return p;
  size_t n = *cap ? *cap * 2 : 1024;
  while (n < need) n *= 2;
  void *q = realloc(p, n * size);
  if (q == NULL) {
    fprintf(stderr, "gatelog-bench: out of memory\n");
    exit(1);
  }
  *cap = n;
  return q;
}

/* Time one gatelog call and keep its wall time. */
#define TIMED(d, call)                                                   \
  do {                                                                   \
    uint64_t t0_ = now_ns(CLOCK_MONOTONIC);                              \
    int err_ = (call);                                                   \
    uint32_t took_ = (uint32_t)(now_ns(CLOCK_MONOTONIC) - t0_);          \
    (d)->lat = grow((d)->lat, &(d)->cap_lat, (d)->nlat + 1, sizeof(uint32_t)); \
    if ((d)->nlat == 0 || took_ > (d)->slow_ns) (d)->slow_ns = took_, (d)->slowest = #call; \
    (d)->lat[(d)->nlat++] = took_;                                       \
    if (err_) {                                                          \
      fprintf(stderr, "gatelog-bench: %s: %s\n", #call, gatelog_strerror(err_)); \
      exit(1);                                                           \
    }                                                                    \
  } while (0)

static void on_answer(uv_idle_t *h);

/* The sender completes asynchronously: answered on a later loop turn. */
static void bench_send(gatelog_send_t *req, const char *payload, size_t len, void *data) {
  driver *d = data;
  if (d->keep) payloads_add(d->keep, payload, len);
  d->pending = grow(d->pending, &d->cap_pending, d->npending + 1, sizeof(*d->pending));
  d->pending[d->npending++] = req;
  uv_idle_start(&d->answer, on_answer);
}

static void on_answer(uv_idle_t *h) {
  driver *d = h->data;
  uv_idle_stop(h);
  for (size_t i = 0; i < d->npending; i++) gatelog_send_done(d->pending[i], 0, NULL);
  d->npending = 0;
}

/* After the traffic: flush, then stop once every kept record is sent. */
static void on_traffic_done(uv_check_t *h) {
  driver *d = h->data;
  if (d->completed < d->target) return;
  gatelog_stats_t st;
  gatelog_stats(d->gl, &st);
  if (!d->flushed) {
    TIMED(d, gatelog_flush(d->gl));
    d->flushed = 1;
  } else if (st.records_sent == st.records_kept) {
    uv_stop(&d->loop);
  }
}

static void step(driver *d, session_plan *p) {
  if (p->sid == 0) {
    if (d->started == d->target) return;
    workload_next(&d->w, p);
    if (p->udp)
      TIMED(d, gatelog_udp_track(d->gl, p->resource, (struct sockaddr *)&p->src,
                                 (struct sockaddr *)&p->dst, &p->sid));
    else
      TIMED(d, gatelog_tcp_start(d->gl, p->resource, (struct sockaddr *)&p->src,
                                 (struct sockaddr *)&p->dst, &p->sid));
    d->started++;
    return;
  }
  if (p->steps > 0) {
    p->steps--;
    gatelog_sid_t again;
    if (p->udp)
      TIMED(d, gatelog_udp_track(d->gl, p->resource, (struct sockaddr *)&p->src,
                                 (struct sockaddr *)&p->dst, &again));
    TIMED(d, gatelog_add_bytes(d->gl, p->sid, workload_bytes(&d->w), workload_bytes(&d->w)));
    return;
  }
  if (p->udp) TIMED(d, gatelog_udp_end(d->gl, p->sid));
  else TIMED(d, gatelog_tcp_end(d->gl, p->sid));
  p->sid = 0;
  d->completed++;
}

static void on_tick(uv_idle_t *h) {
  driver *d = h->data;
  for (int i = 0; i < OPS_PER_TICK && d->completed < d->target; i++)
    step(d, &d->slots[workload_rand(&d->w) % WINDOW]);
  if (d->completed == d->target) uv_idle_stop(h);
}

static void on_closed(gatelog_t *gl, void *data) {
  (void)gl;
  ((driver *)data)->closed = 1;
}

static gatelog_t *start_core(driver *d, const char *script, const bench_opts *o, uint32_t queue_max,
                             const char *spool_dir) {
  gatelog_options_t opts;
  gatelog_options_init(&opts);
  opts.script = script;
  opts.access_log = 0;
  opts.compression_level = o->level;
  opts.compressor = o->compressor;
  opts.compress_nice = o->compress_nice;
  opts.compress_threads = o->compress_threads;
  opts.queue_max_records = queue_max;
  opts.spool_dir = spool_dir;
  gatelog_t *gl;
  if (gatelog_new(&d->loop, &opts, &gl) != 0 ||
      gatelog_register_sender(gl, "bench", bench_send, d) != 0) {
    fprintf(stderr, "gatelog-bench: %s\n", gatelog_last_error(NULL));
    exit(1);
  }
  return gl;
}

static void finish_core(driver *d) {
  gatelog_close(d->gl, 600000, on_closed, d);
  while (!d->closed) uv_run(&d->loop, UV_RUN_ONCE);
  uv_close((uv_handle_t *)&d->tick, NULL);
  uv_close((uv_handle_t *)&d->answer, NULL);
  uv_close((uv_handle_t *)&d->done, NULL);
  uv_run(&d->loop, UV_RUN_DEFAULT);
  uv_loop_close(&d->loop);
  free(d->pending);
}

static int cmp_u32(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return x < y ? -1 : x > y;
}

void run_traffic(const char *script, const bench_opts *o, uint64_t seed, payloads *keep,
                 const char *spool_dir, run_result *r) {
  driver *d = calloc(1, sizeof(*d));
  uv_loop_init(&d->loop);
  workload_init(&d->w, seed);
  d->target = o->sessions;
  d->keep = keep;
  d->gl = start_core(d, script, o, 1u << 30, spool_dir);
  uv_idle_init(&d->loop, &d->tick);
  uv_idle_init(&d->loop, &d->answer);
  uv_check_init(&d->loop, &d->done);
  d->tick.data = d->answer.data = d->done.data = d;
  double cpu0 = cpu_seconds();
  uint64_t loop0 = now_ns(CLOCK_THREAD_CPUTIME_ID);
  uint64_t t0 = now_ns(CLOCK_MONOTONIC);
  uv_idle_start(&d->tick, on_tick);
  uv_check_start(&d->done, on_traffic_done);
  uv_run(&d->loop, UV_RUN_DEFAULT);
  r->wall = (now_ns(CLOCK_MONOTONIC) - t0) / 1e9;
  r->cpu = cpu_seconds() - cpu0;
  r->loop_cpu = (now_ns(CLOCK_THREAD_CPUTIME_ID) - loop0) / 1e9;
  gatelog_stats_t st;
  gatelog_stats(d->gl, &st);
  r->records = st.records_sent;
  r->callback_max_ns = st.callback_max_ns;
  qsort(d->lat, d->nlat, sizeof(uint32_t), cmp_u32);
  r->call_max_ns = d->lat[d->nlat - 1];
  r->slowest = d->slowest;
  r->call_p999_ns = d->lat[d->nlat * 999 / 1000];
  /* The run with Lua and no spool is the one the figures' calls come from. */
  if (keep != NULL && spool_dir == NULL) bench_latency_append(d->lat, d->nlat);
  finish_core(d);
  free(d->lat);
  free(d);
}

/* With `open` sessions open: RSS per session, then the close. Run in a
 * process of its own (--measure-open), so that nothing else the benchmark
 * allocated counts. */
static int measure_open(const bench_opts *o) {
  driver *d = calloc(1, sizeof(*d));
  uv_loop_init(&d->loop);
  workload_init(&d->w, 42);
  d->gl = start_core(d, GATELOG_SOURCE_DIR "/bench/policy_plain.lua", o, 500, NULL);
  uv_idle_init(&d->loop, &d->answer);
  uv_idle_init(&d->loop, &d->tick);
  uv_check_init(&d->loop, &d->done);
  d->answer.data = d;
  uv_run(&d->loop, UV_RUN_NOWAIT);
  long before = rss_bytes();
  for (uint64_t i = 0; i < o->open; i++) {
    session_plan p;
    workload_next(&d->w, &p);
    int err = p.udp ? gatelog_udp_track(d->gl, p.resource, (struct sockaddr *)&p.src,
                                        (struct sockaddr *)&p.dst, &p.sid)
                    : gatelog_tcp_start(d->gl, p.resource, (struct sockaddr *)&p.src,
                                        (struct sockaddr *)&p.dst, &p.sid);
    if (err) return 1;
  }
  long with_open = rss_bytes();
  gatelog_stats_t st;
  gatelog_stats(d->gl, &st);
  /* Close, sampling RSS on every loop turn for its peak. */
  uint64_t t0 = now_ns(CLOCK_MONOTONIC);
  long peak = with_open;
  gatelog_close(d->gl, 600000, on_closed, d);
  while (!d->closed) {
    uv_run(&d->loop, UV_RUN_ONCE);
    long now = rss_bytes();
    if (now > peak) peak = now;
  }
  double close_s = (now_ns(CLOCK_MONOTONIC) - t0) / 1e9;
  printf("open %llu\nper_session %.1f\nclose_s %.3f\ngrowth %.4f\n",
         (unsigned long long)(st.tcp_open + st.udp_open),
         (double)(with_open - before) / (double)o->open, close_s,
         (double)(peak - with_open) / (double)with_open);
  uv_close((uv_handle_t *)&d->tick, NULL);
  uv_close((uv_handle_t *)&d->answer, NULL);
  uv_close((uv_handle_t *)&d->done, NULL);
  uv_run(&d->loop, UV_RUN_DEFAULT);
  return 0;
}

int main(int argc, char **argv) {
  bench_opts o;
  if (bench_parse(argc, argv, &o) != 0) return 2;
  if (o.measure_open) return measure_open(&o);
  return bench_report(&o, argv[0]);
}
