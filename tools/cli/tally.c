#include "tally.h"

#include <stdlib.h>
#include <string.h>

static size_t home(const tally *t, gatelog_sid_t sid) {
  return (size_t)(sid * 0x9e3779b97f4a7c15ull >> 20) & (t->cap - 1);
}

/* The slot of sid, or of the empty slot where it would go. */
static tally_entry *slot(const tally *t, gatelog_sid_t sid) {
  size_t i = home(t, sid);
  while (t->slots[i].used && t->slots[i].sid != sid) i = (i + 1) & (t->cap - 1);
  return &t->slots[i];
}

int tally_fits(const tally *t, gatelog_sid_t sid, uint64_t tx, uint64_t rx, uint64_t max) {
  const tally_entry *e = t->cap ? slot(t, sid) : NULL;
  uint64_t have_tx = e && e->used ? e->tx : 0, have_rx = e && e->used ? e->rx : 0;
  return tx <= max - have_tx && rx <= max - have_rx;
}

static int grow(tally *t) {
  tally old = *t;
  size_t cap = old.cap ? old.cap * 2 : 1024;
  t->slots = calloc(cap, sizeof(*t->slots));
  if (t->slots == NULL) {
    *t = old;
    return UV_ENOMEM;
  }
  t->cap = cap;
  for (size_t i = 0; i < old.cap; i++)
    if (old.slots[i].used) *slot(t, old.slots[i].sid) = old.slots[i];
  free(old.slots);
  return 0;
}

int tally_add(tally *t, gatelog_sid_t sid, uint64_t tx, uint64_t rx) {
  /* At most half full, so that probes stay short. */
  if ((t->count + 1) * 2 > t->cap && grow(t) != 0) return UV_ENOMEM;
  tally_entry *e = slot(t, sid);
  if (!e->used) {
    *e = (tally_entry){sid, 0, 0, 1};
    t->count++;
  }
  e->tx += tx;
  e->rx += rx;
  return 0;
}

void tally_remove(tally *t, gatelog_sid_t sid) {
  if (t->cap == 0) return;
  tally_entry *e = slot(t, sid);
  if (!e->used) return;
  e->used = 0;
  t->count--;
  /* Move back what probed past the hole, so that lookups still find it. */
  size_t hole = (size_t)(e - t->slots), i = hole;
  for (;;) {
    i = (i + 1) & (t->cap - 1);
    if (!t->slots[i].used) return;
    size_t h = home(t, t->slots[i].sid);
    /* It stays if its home lies cyclically in (hole, i]. */
    if (hole < i ? h > hole && h <= i : h > hole || h <= i) continue;
    t->slots[hole] = t->slots[i];
    t->slots[i].used = 0;
    hole = i;
  }
}

void tally_free(tally *t) {
  free(t->slots);
  memset(t, 0, sizeof(*t));
}
