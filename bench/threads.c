/* gatelog-bench-threads: a core on its own thread driven by 1, 2, 4 and 8
 * producer threads (issue 15). Each thread runs its share of TCP sessions
 * (start, add_bytes, end) through its own producer; the run ends when
 * gatelog_stop_thread returns, every record compressed and answered by a
 * host sender that answers at once. Prints, per thread count, the median
 * of the runs: sessions/s (wall), CPU per session (the whole process,
 * compression included) and the 99.9th percentile of a producer call.
 *
 *   gatelog-bench-threads [--sessions N] [--runs R] [--threads 1,2,4,8]
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "gatelog.h"

#ifndef GATELOG_SOURCE_DIR
#define GATELOG_SOURCE_DIR "."
#endif

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static double cpu_s(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static void answer(gatelog_send_t *req, const char *payload, size_t len, void *data) {
  (void)payload, (void)len, (void)data;
  gatelog_send_done(req, 0, NULL);
}

typedef struct worker {
  gatelog_t *gl;
  int index;
  uint64_t sessions;
  uint32_t *lat; /* ns of each call */
  uint64_t nlat;
  int errors;
} worker;

static void record(worker *w, uint64_t t0) {
  uint64_t d = now_ns() - t0;
  w->lat[w->nlat++] = d > UINT32_MAX ? UINT32_MAX : (uint32_t)d;
}

static void run_worker(void *arg) {
  worker *w = arg;
  gatelog_producer_t *p;
  if (gatelog_producer_new(w->gl, &p) != 0) {
    w->errors++;
    return;
  }
  struct sockaddr_in src, dst;
  memset(&src, 0, sizeof(src));
  memset(&dst, 0, sizeof(dst));
  src.sin_family = dst.sin_family = AF_INET;
  dst.sin_addr.s_addr = htonl(0x0a000005);
  dst.sin_port = htons(443);
  for (uint64_t i = 0; i < w->sessions; i++) {
    src.sin_addr.s_addr = htonl(0xcb007100u + (uint32_t)((i * 7919 + (uint64_t)w->index) & 0xffff));
    src.sin_port = htons((uint16_t)(32768 + (i & 0x7fff)));
    gatelog_sid_t sid;
    uint64_t t0 = now_ns();
    int err = gatelog_p_tcp_start(p, (int64_t)(i % 200), (struct sockaddr *)&src,
                                  (struct sockaddr *)&dst, &sid);
    record(w, t0);
    t0 = now_ns();
    if (err == 0) err = gatelog_p_add_bytes(p, sid, 1000 + i % 5000, 20000 + i % 70000);
    record(w, t0);
    t0 = now_ns();
    if (err == 0) err = gatelog_p_tcp_end(p, sid);
    record(w, t0);
    if (err) w->errors++;
  }
  gatelog_producer_free(p);
}

static int cmp_u32(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return x < y ? -1 : x > y;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

typedef struct result {
  double per_s, cpu_us, p999_ns;
  uint64_t records;
} result;

static int run(int threads, uint64_t sessions, result *out) {
  gatelog_options_t o;
  gatelog_options_init(&o);
  o.script = GATELOG_SOURCE_DIR "/bench/policy_plain.lua";
  o.access_log = 0;
  o.send_override = answer;
  o.producer_full = GATELOG_FULL_WAIT;
  o.producer_wait_ms = 60000;
  double c0 = cpu_s();
  uint64_t t0 = now_ns();
  gatelog_t *gl;
  int err = gatelog_start_thread(&o, &gl);
  if (err) {
    fprintf(stderr, "gatelog_start_thread: %s: %s\n", gatelog_err_name(err), gatelog_last_error(NULL));
    return err;
  }
  worker *w = calloc((size_t)threads, sizeof(*w));
  uv_thread_t *tid = calloc((size_t)threads, sizeof(*tid));
  for (int i = 0; i < threads; i++) {
    w[i] = (worker){gl, i, sessions / (uint64_t)threads, NULL, 0, 0};
    w[i].lat = malloc(w[i].sessions * 3 * sizeof(uint32_t));
    uv_thread_create(&tid[i], run_worker, &w[i]);
  }
  for (int i = 0; i < threads; i++) uv_thread_join(&tid[i]);
  gatelog_stats_t st;
  gatelog_flush(gl);
  gatelog_stats(gl, &st);
  /* The close drains: every record compressed and answered. */
  gatelog_stop_thread(gl, 600000);
  uint64_t wall = now_ns() - t0;
  double cpu = cpu_s() - c0;
  uint64_t n = 0, done = 0;
  int errors = 0;
  for (int i = 0; i < threads; i++) n += w[i].nlat, errors += w[i].errors, done += w[i].sessions;
  uint32_t *all = malloc(n * sizeof(uint32_t));
  for (int i = 0, k = 0; i < threads; i++) {
    memcpy(all + k, w[i].lat, w[i].nlat * sizeof(uint32_t));
    k += (int)w[i].nlat;
    free(w[i].lat);
  }
  qsort(all, n, sizeof(uint32_t), cmp_u32);
  out->per_s = (double)done / (wall / 1e9);
  out->cpu_us = cpu / (double)done * 1e6;
  out->p999_ns = n ? all[(size_t)((double)(n - 1) * 0.999)] : 0;
  out->records = done;
  free(all);
  free(w);
  free(tid);
  if (errors) fprintf(stderr, "%d calls failed\n", errors);
  return errors ? -1 : 0;
}

int main(int argc, char **argv) {
  uint64_t sessions = 400000;
  int runs = 3;
  char threads_arg[64] = "1,2,4,8";
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--sessions") == 0 && i + 1 < argc) sessions = strtoull(argv[++i], NULL, 10);
    else if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc) runs = atoi(argv[++i]);
    else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) snprintf(threads_arg, sizeof(threads_arg), "%s", argv[++i]);
    else {
      fprintf(stderr, "usage: %s [--sessions N] [--runs R] [--threads 1,2,4,8]\n", argv[0]);
      return 2;
    }
  }
  if (runs < 1 || runs > 99 || sessions < 8) return 2;
  printf("gatelog threaded core: %llu sessions per run (start, add_bytes, end), median of %d runs\n",
         (unsigned long long)sessions, runs);
  printf("%-8s %14s %16s %14s\n", "threads", "sessions/s", "cpu/session us", "call p99.9 us");
  for (char *tok = strtok(threads_arg, ","); tok; tok = strtok(NULL, ",")) {
    int t = atoi(tok);
    if (t < 1 || t > 64) return 2;
    double per_s[99], cpu[99], p999[99];
    for (int r = 0; r < runs; r++) {
      result res;
      if (run(t, sessions, &res) != 0) return 1;
      per_s[r] = res.per_s, cpu[r] = res.cpu_us, p999[r] = res.p999_ns;
    }
    qsort(per_s, (size_t)runs, sizeof(double), cmp_double);
    qsort(cpu, (size_t)runs, sizeof(double), cmp_double);
    qsort(p999, (size_t)runs, sizeof(double), cmp_double);
    printf("c-%-6d %14.0f %16.2f %14.2f\n", t, per_s[runs / 2], cpu[runs / 2], p999[runs / 2] / 1000);
    fflush(stdout);
  }
  return 0;
}
