#include "util/spsc.h"

#include <stdlib.h>
#include <uv.h>

int gl_spsc_init(gl_spsc *q, uint64_t capacity, size_t slot_size) {
  uint64_t n = 2;
  while (n < capacity) n <<= 1;
  memset(q, 0, sizeof(*q));
  q->slots = calloc(n, slot_size);
  if (q->slots == NULL) return UV_ENOMEM;
  q->mask = n - 1;
  q->slot_size = slot_size;
  return 0;
}

void gl_spsc_free(gl_spsc *q) {
  free(q->slots);
  q->slots = NULL;
}
