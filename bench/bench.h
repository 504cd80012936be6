/* What the benchmark's files share. */
#ifndef GATELOG_BENCH_H
#define GATELOG_BENCH_H

#include <stddef.h>
#include <stdint.h>

#include "gatelog.h"
#include "workload.h"

typedef struct bench_opts {
  uint64_t sessions; /* per end-to-end run */
  int runs;
  uint64_t open;     /* sessions held open for the RSS and close figures */
  int level;
  int compressor;
  int compress_nice;
  unsigned compress_threads;
  int quick;
  int transports;    /* only the transports' records/s */
  int measure_open;  /* internal: be the child that measures `open` */
  const char *spool_parent; /* where the spool runs make their spool */
} bench_opts;

typedef struct run_result {
  double wall, cpu;  /* seconds */
  double loop_cpu;   /* seconds of the loop thread alone */
  uint64_t records;
  uint64_t call_max_ns, call_p999_ns, callback_max_ns;
  const char *slowest; /* the call that took call_max_ns */
} run_result;

/* Batch payloads a run sent, kept for the compression bound. */
typedef struct payloads {
  char **data;
  size_t *len;
  size_t n, cap;
} payloads;

void payloads_add(payloads *p, const char *data, size_t len);
void payloads_free(payloads *p);

int bench_parse(int argc, char **argv, bench_opts *o);
int bench_report(const bench_opts *o, const char *self);
/* One end-to-end run; with spool_dir, the core writes every batch to a
 * spool there. */
void run_traffic(const char *script, const bench_opts *o, uint64_t seed, payloads *keep,
                 const char *spool_dir, run_result *r);
/* Seconds to compress (and base64) the JSON of every payload, as the pool
 * does, with `threads` threads. */
double compression_bound(const payloads *p, const bench_opts *o, int threads);
double cpu_seconds(void);
/* Records/s through the file transport and through the nats transport to
 * a local nats-server (0 when there is none), same traffic
 * (bench/transports.c). */
void bench_transports(const bench_opts *o, double *file_rps, double *nats_rps);
/* With GATELOG_BENCH_LATENCY set: append the histogram of a run's call
 * times (sorted, ns) to that file (bench/latency.c). */
void bench_latency_append(const uint32_t *sorted_ns, size_t n);
long rss_bytes(void);

#endif
