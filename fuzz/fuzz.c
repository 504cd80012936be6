/* What every target shares (fuzz.h). */
#include <stdio.h>
#include <stdlib.h>

#include "fuzz.h"

void fuzz_fail(const char *file, int line, const char *what) {
  fprintf(stderr, "%s:%d: invariant does not hold: %s\n", file, line, what);
  abort();
}

unsigned fz_byte(fz_reader *r) { return r->p < r->end ? *r->p++ : 0; }

uint64_t fz_u64(fz_reader *r) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v = v << 8 | fz_byte(r);
  return v;
}
