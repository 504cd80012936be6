/* The benchmark's options, its runs, and the table it prints. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

#ifndef GATELOG_SOURCE_DIR
#define GATELOG_SOURCE_DIR "."
#endif

static const char usage[] =
    "usage: gatelog-bench [--quick] [--sessions N] [--runs R] [--open N]\n"
    "                     [--level L] [--compressor zlib|libdeflate]\n"
    "                     [--compress-threads N] [--compress-nice N] [--spool-in DIR]\n"
    "                     [--transports]\n"
    "  --quick       50,000 sessions a run, 3 runs, 200,000 open (under 30 s)\n"
    "  --sessions N  sessions per end-to-end run (default 400,000)\n"
    "  --runs R      runs of each kind; medians are reported (default 5)\n"
    "  --open N      sessions held open for RSS and close (default 1,000,000)\n"
    "  --level L     compression level (default 6)\n"
    "  --compressor  default: libdeflate when built with it, else zlib\n"
    "  --compress-threads N, --compress-nice N: the options of the same name\n"
    "                (defaults: one thread per CPU, nice 10)\n"
    "  --spool-in DIR  where the runs with a spool make it (default /var/tmp)\n"
    "  --transports  only records/s through the file and the nats transports\n"
    "GATELOG_BENCH_REFERENCE=path: run that reference logger (it prints\n"
    "  sessions_per_s=N) in every run too, and print gatelog's ratio to it\n";

int bench_parse(int argc, char **argv, bench_opts *o) {
  memset(o, 0, sizeof(*o));
  o->sessions = 400000;
  o->runs = 5;
  o->open = 1000000;
  o->level = 6;
  o->compress_nice = 10;
  o->spool_parent = "/var/tmp";
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(a, "--quick") == 0) {
      o->quick = 1;
      o->sessions = 50000;
      o->runs = 3;
      o->open = 200000;
    } else if (strcmp(a, "--sessions") == 0 && v) o->sessions = strtoull(v, NULL, 10), i++;
    else if (strcmp(a, "--runs") == 0 && v) o->runs = atoi(v), i++;
    else if (strcmp(a, "--open") == 0 && v) o->open = strtoull(v, NULL, 10), i++;
    else if (strcmp(a, "--level") == 0 && v) o->level = atoi(v), i++;
    else if (strcmp(a, "--spool-in") == 0 && v) o->spool_parent = v, i++;
    else if (strcmp(a, "--compress-nice") == 0 && v) o->compress_nice = atoi(v), i++;
    else if (strcmp(a, "--compress-threads") == 0 && v) o->compress_threads = (unsigned)atoi(v), i++;
    else if (strcmp(a, "--compressor") == 0 && v) {
      o->compressor = strcmp(v, "zlib") == 0 ? GATELOG_COMPRESS_ZLIB : GATELOG_COMPRESS_LIBDEFLATE;
      i++;
    } else if (strcmp(a, "--measure-open") == 0) o->measure_open = 1;
    else if (strcmp(a, "--transports") == 0) o->transports = 1;
    else {
      fputs(usage, stderr);
      return 2;
    }
  }
  if (o->sessions < 1000 || o->runs < 1 || o->open < 1000 || o->runs > 99) {
    fputs(usage, stderr);
    return 2;
  }
  return 0;
}

long rss_bytes(void) {
  long pages = 0, resident = 0;
  FILE *f = fopen("/proc/self/statm", "r");
  if (f == NULL) return 0;
  if (fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
  fclose(f);
  return resident * sysconf(_SC_PAGESIZE);
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof(double), cmp_double);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

typedef struct open_result {
  double per_session, close_s, growth;
  unsigned long long open;
} open_result;

/* The RSS and close figures come from a fresh process of this program. */
static int run_open_child(const char *self, const bench_opts *o, open_result *r) {
  char cmd[4096];
  snprintf(cmd, sizeof(cmd),
           "%s --measure-open --open %llu --level %d --compressor %s --compress-nice %d "
           "--compress-threads %u",
           self, (unsigned long long)o->open, o->level,
           o->compressor == GATELOG_COMPRESS_ZLIB ? "zlib" : "libdeflate", o->compress_nice,
           o->compress_threads);
  FILE *p = popen(cmd, "r");
  if (p == NULL) return -1;
  int got = fscanf(p, "open %llu\nper_session %lf\nclose_s %lf\ngrowth %lf\n", &r->open,
                   &r->per_session, &r->close_s, &r->growth);
  return pclose(p) == 0 && got == 4 ? 0 : -1;
}

static const char *verdict(int met) { return met ? "met" : "NOT MET"; }

/* A fresh spool directory for one run, and its removal: a run that
 * delivers everything leaves only its lock and instance files. */
static int spool_make(const bench_opts *o, char *dir, size_t n) {
  snprintf(dir, n, "%s/gatelog-bench-spool.XXXXXX", o->spool_parent);
  if (mkdtemp(dir) != NULL) return 0;
  fprintf(stderr, "gatelog-bench: cannot make a spool in %s (--spool-in)\n", o->spool_parent);
  return -1;
}

static void spool_remove(const char *dir) {
  char cmd[4200];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
  if (system(cmd) != 0) fprintf(stderr, "gatelog-bench: could not remove %s\n", dir);
}

/* The reference logger's sessions/s for n sessions (GATELOG_BENCH_REFERENCE
 * names a binary that prints sessions_per_s=N; the Go rebuild of
 * ../shared/reference-go takes these arguments); 0 if it failed. */
static double run_reference(const char *path, uint64_t n) {
  char cmd[4200], line[4096];
  snprintf(cmd, sizeof(cmd), "'%s' -mode pairs -n %llu -g 2 -consolidate=false", path,
           (unsigned long long)n);
  FILE *p = popen(cmd, "r");
  if (p == NULL) return 0;
  double v = 0;
  while (fgets(line, sizeof(line), p) != NULL) {
    const char *at = strstr(line, "sessions_per_s=");
    if (at) v = strtod(at + strlen("sessions_per_s="), NULL);
  }
  return pclose(p) == 0 ? v : 0;
}

/* One run each, after the medians: a transport's rate is set by its
 * sink, not by the noise the medians smooth. */
static void print_transports(const bench_opts *o) {
  double file_rps, nats_rps;
  bench_transports(o, &file_rps, &nats_rps);
  printf("%-46s %13.0f /s\n", "records through the file transport (ndjson)", file_rps);
  if (nats_rps > 0)
    printf("%-46s %13.0f /s\n", "records through the nats transport (acked)", nats_rps);
  else
    printf("%-46s %16s\n", "records through the nats transport (acked)", "no nats-server");
}

int bench_report(const bench_opts *o, const char *self) {
  if (o->transports) {
    printf("\ngatelog benchmark: transports, %llu sessions a run, one run each\n\n",
           (unsigned long long)o->sessions);
    print_transports(o);
    return 0;
  }
  const char *with_lua = GATELOG_SOURCE_DIR "/bench/policy.lua";
  const char *plain = GATELOG_SOURCE_DIR "/bench/policy_plain.lua";
  int threads = o->compress_threads ? (int)o->compress_threads : (int)uv_available_parallelism();
  int n = o->runs;
  double tput[99], bound[99], ratio[99], cpu_lua[99], cpu_plain[99], lua_cost[99];
  double loop_lua[99], loop_plain[99], lua_loop_cost[99], tput_spool[99], spool_ratio[99];
  double loop_spool[99], cpu_spool[99];
  double call_max[99], call_p999[99], cb_max[99], open_per[99], close_s[99], growth[99];
  double tput9[99], p999_9[99], ref[99], ref_ratio[99], ref_ratio9[99];
  double worst_call = 0, worst_cb = 0;
  const char *reference = getenv("GATELOG_BENCH_REFERENCE");
  if (reference && !*reference) reference = NULL;
  /* The same traffic at the reference's own compression: zlib level 9. */
  bench_opts o9 = *o;
  o9.level = 9;
  o9.compressor = GATELOG_COMPRESS_ZLIB;
  fprintf(stderr, "gatelog-bench: %d runs of %llu sessions (with and without Lua), then %llu open\n",
          n, (unsigned long long)o->sessions, (unsigned long long)o->open);
  for (int i = 0; i < n; i++) {
    payloads kept = {0};
    run_result a, b, c;
    char spool[4096];
    if (spool_make(o, spool, sizeof(spool)) != 0) return 1;
    /* The same traffic with a spool, doing the same work otherwise (its
     * payloads kept too), first in every other run: what runs second in a
     * pair gains from the first's warm caches and heap. */
    payloads kept_spool = {0};
    if (i % 2) run_traffic(with_lua, o, 1000 + i, &kept_spool, spool, &c);
    run_traffic(with_lua, o, 1000 + i, &kept, NULL, &a);
    if (i % 2 == 0) run_traffic(with_lua, o, 1000 + i, &kept_spool, spool, &c);
    payloads_free(&kept_spool);
    spool_remove(spool);
    run_traffic(plain, o, 1000 + i, NULL, NULL, &b);
    run_result z;
    /* The reference runs first in every other run, as the spool does. */
    if (reference && i % 2) ref[i] = run_reference(reference, o->sessions);
    run_traffic(with_lua, &o9, 1000 + i, NULL, NULL, &z);
    if (reference && i % 2 == 0) ref[i] = run_reference(reference, o->sessions);
    if (reference && ref[i] <= 0) {
      fprintf(stderr, "gatelog-bench: the reference (%s) printed no sessions_per_s\n", reference);
      return 1;
    }
    tput9[i] = o->sessions / z.wall;
    p999_9[i] = z.call_p999_ns / 1e3;
    double t = compression_bound(&kept, o, threads);
    payloads_free(&kept);
    tput[i] = o->sessions / a.wall;
    tput_spool[i] = o->sessions / c.wall;
    spool_ratio[i] = tput_spool[i] / tput[i];
    loop_spool[i] = c.loop_cpu / o->sessions * 1e6;
    cpu_spool[i] = c.cpu / o->sessions * 1e6;
    bound[i] = o->sessions / t;
    ratio[i] = tput[i] / bound[i];
    cpu_lua[i] = a.cpu / o->sessions * 1e6;
    cpu_plain[i] = b.cpu / o->sessions * 1e6;
    lua_cost[i] = cpu_lua[i] / cpu_plain[i] - 1;
    loop_lua[i] = a.loop_cpu / o->sessions * 1e6;
    loop_plain[i] = b.loop_cpu / o->sessions * 1e6;
    /* Filter and enrich run on the loop thread: what they add there, over
     * the whole CPU per session without them. Less noisy than comparing
     * the process totals, whose compression share swings with how the
     * pool threads share the cores. */
    lua_loop_cost[i] = (loop_lua[i] - loop_plain[i]) / cpu_plain[i];
    if (reference) {
      ref_ratio[i] = tput[i] / ref[i];
      ref_ratio9[i] = tput9[i] / ref[i];
    }
    call_max[i] = a.call_max_ns / 1e6;
    call_p999[i] = a.call_p999_ns / 1e3;
    cb_max[i] = a.callback_max_ns / 1e6;
    if (call_max[i] > worst_call) worst_call = call_max[i];
    if (cb_max[i] > worst_cb) worst_cb = cb_max[i];
    open_result r;
    if (i < (o->quick ? 1 : 3)) {
      if (run_open_child(self, o, &r) != 0) {
        fprintf(stderr, "gatelog-bench: the --measure-open child failed\n");
        return 1;
      }
      open_per[i] = r.per_session;
      close_s[i] = r.close_s;
      growth[i] = r.growth;
    }
    char ref_part[64] = "";
    if (reference) snprintf(ref_part, sizeof(ref_part), "; reference %.0f/s", ref[i]);
    fprintf(stderr,
            "  run %d: %.0f sessions/s, bound %.0f (%.0f%%), Lua %+.1f%% CPU (%+.1f%% by the loop "
            "thread); spool on %.0f%%; level 9 %.0f/s%s; longest call %.3f ms (%.40s)\n",
            i + 1, tput[i], bound[i], ratio[i] * 100, lua_cost[i] * 100, lua_loop_cost[i] * 100,
            spool_ratio[i] * 100, tput9[i], ref_part, call_max[i], a.slowest);
  }
  int m = o->quick ? 1 : (n < 3 ? n : 3);
  double r_ratio = median(ratio, n), r_lua = median(lua_loop_cost, n), r_lua_total = median(lua_cost, n);
  double r_cb = median(cb_max, n), r_call = median(call_max, n), r_p999 = median(call_p999, n);
  double r_open = median(open_per, m), r_growth = median(growth, m);
  printf("\ngatelog benchmark: %llu sessions a run, median of %d runs; compressor %s level %d, "
         "%d compression threads at nice %d, %ld CPUs\n\n",
         (unsigned long long)o->sessions, n,
         o->compressor == GATELOG_COMPRESS_ZLIB ? "zlib" : "libdeflate", o->level, threads,
         o->compress_nice, sysconf(_SC_NPROCESSORS_ONLN));
  printf("%-46s %16s %12s %8s\n", "measure", "median", "target", "");
  printf("%-46s %13.0f /s\n", "end-to-end sessions, with filter+enrich", median(tput, n));
  if (reference) {
    printf("%-46s %13.0f /s\n", "reference logger (Go, 2 goroutines, same run)", median(ref, n));
    double rr = median(ref_ratio, n);
    printf("%-46s %15.1fx %12s %8s\n", "  end-to-end / reference", rr, ">= 6x", verdict(rr >= 6));
  }
  printf("%-46s %13.0f /s\n", "end-to-end sessions, zlib level 9", median(tput9, n));
  if (reference) {
    double rr9 = median(ref_ratio9, n);
    printf("%-46s %15.1fx %12s %8s\n", "  level 9 / reference", rr9, ">= 3x", verdict(rr9 >= 3));
  }
  printf("%-46s %13.0f /s\n", "compression bound (same JSON, alone)", median(bound, n));
  printf("%-46s %15.0f%% %12s %8s\n", "  end-to-end / bound", r_ratio * 100, ">= 85%",
         verdict(r_ratio >= 0.85));
  double r_spool = median(spool_ratio, n);
  printf("%-46s %13.0f /s\n", "end-to-end sessions, spool on (same traffic)", median(tput_spool, n));
  printf("%-46s %15.0f%% %12s %8s\n", "  spool on / spool off", r_spool * 100, ">= 90%",
         verdict(r_spool >= 0.9));
  printf("%-46s %14.2f s\n", "CPU per million sessions, with filter+enrich", median(cpu_lua, n));
  printf("%-46s %14.2f s\n", "CPU per million sessions, spool on", median(cpu_spool, n));
  printf("%-46s %14.2f s\n", "CPU per million sessions, no filter/enrich", median(cpu_plain, n));
  double r_loop = median(loop_lua, n);
  printf("%-46s %14.2f s %12s %8s\n", "  of which the loop thread, with filter+enrich", r_loop,
         "<= 1.0 s", verdict(r_loop <= 1.0));
  printf("%-46s %14.2f s\n", "  of which the loop thread, no filter/enrich", median(loop_plain, n));
  printf("%-46s %14.2f s\n", "  of which the loop thread, spool on", median(loop_spool, n));
  printf("%-46s %+15.1f%% %12s %8s\n", "  cost of Lua filter+enrich (loop thread)", r_lua * 100,
         "<= 10%", verdict(r_lua <= 0.10));
  printf("%-46s %+15.1f%%\n", "  (the same from process totals, noisier)", r_lua_total * 100);
  printf("%-46s %13.3f ms %12s %8s\n", "longest gatelog call (wall)", r_call, "<= 1 ms",
         verdict(r_call <= 1));
  printf("%-46s %13.3f ms %12s %8s\n", "longest gatelog callback (wall)", r_cb, "<= 1 ms",
         verdict(r_cb <= 1));
  printf("%-46s %13.2f us %12s %8s\n", "99.9th percentile of a session call", r_p999, "< 5 us",
         verdict(r_p999 < 5));
  double r_p999_9 = median(p999_9, n);
  printf("%-46s %13.2f us %12s %8s\n", "  the same at zlib level 9", r_p999_9, "< 5 us",
         verdict(r_p999_9 < 5));
  printf("%-46s %13.0f B  %12s %8s\n", "RSS per open session", r_open, "<= 128 B",
         verdict(r_open <= 128));
  printf("%-46s %14.2f s\n", "close with those sessions open", median(close_s, m));
  printf("%-46s %15.1f%% %12s %8s\n", "  peak RSS growth during close", r_growth * 100, "<= 25%",
         verdict(r_growth <= 0.25));
  print_transports(o);
  printf("\n(open sessions: %llu; worst single run: call %.3f ms, callback %.3f ms)\n",
         (unsigned long long)o->open, worst_call, worst_cb);
  return 0;
}
