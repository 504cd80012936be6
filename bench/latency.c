/* The distribution of the wall time of gatelog calls in a run, for
 * dev/bench --plot: a histogram with fixed, log-spaced buckets (ten a
 * decade from 10 ns to 10 ms), appended to the file named by
 * GATELOG_BENCH_LATENCY, so that the runs' histograms add up bucket by
 * bucket. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench.h"

#define FIRST_DECADE 1 /* 10 ns */
#define DECADES 6      /* to 10 ms */
#define PER_DECADE 10
#define BUCKETS (DECADES * PER_DECADE + 1) /* the last: slower than 10 ms */

void bench_latency_append(const uint32_t *sorted_ns, size_t n) {
  const char *path = getenv("GATELOG_BENCH_LATENCY");
  if (path == NULL || *path == '\0' || n == 0) return;
  FILE *f = fopen(path, "a");
  if (f == NULL) {
    perror(path);
    return;
  }
  size_t at = 0;
  fprintf(f, "# upper_ns calls (%zu calls)\n", n);
  for (int b = 1; b <= BUCKETS; b++) {
    double upper = b < BUCKETS ? pow(10, FIRST_DECADE + (double)b / PER_DECADE) : INFINITY;
    size_t start = at;
    while (at < n && sorted_ns[at] <= upper) at++;
    if (b < BUCKETS)
      fprintf(f, "%.0f %zu\n", upper, at - start);
    else
      fprintf(f, "inf %zu\n", at - start);
  }
  fprintf(f, "\n\n");
  fclose(f);
}
