/* A bounded single-producer, single-consumer ring of fixed-size slots,
 * lock-free: one thread pushes, one other thread pops. Each side owns its
 * index and keeps a cached copy of the other's, so that a push or pop
 * touches the shared cache line of the other side only when its cached
 * copy says the ring is full (or empty). No gatelog type here. */
#ifndef GATELOG_SPSC_H
#define GATELOG_SPSC_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define GL_CACHE_LINE 64

typedef struct gl_spsc {
  /* The producer's line. */
  _Alignas(GL_CACHE_LINE) _Atomic uint64_t tail; /* next slot to write */
  uint64_t head_seen;                             /* the consumer's head, cached */
  /* The consumer's line. */
  _Alignas(GL_CACHE_LINE) _Atomic uint64_t head; /* next slot to read */
  uint64_t tail_seen;
  /* Read-only after init. */
  _Alignas(GL_CACHE_LINE) unsigned char *slots;
  uint64_t mask;
  size_t slot_size;
} gl_spsc;

/* Room for `capacity` slots (rounded up to a power of two, at least 2) of
 * `slot_size` bytes. 0 or UV_ENOMEM. */
int gl_spsc_init(gl_spsc *q, uint64_t capacity, size_t slot_size);
void gl_spsc_free(gl_spsc *q);

/* Producer: the slot to fill next, or NULL if the ring is full. Fill it,
 * then gl_spsc_commit publishes it. */
static inline void *gl_spsc_slot(gl_spsc *q) {
  uint64_t tail = atomic_load_explicit(&q->tail, memory_order_relaxed);
  if (tail - q->head_seen > q->mask) {
    q->head_seen = atomic_load_explicit(&q->head, memory_order_acquire);
    if (tail - q->head_seen > q->mask) return NULL;
  }
  return q->slots + (tail & q->mask) * q->slot_size;
}

static inline void gl_spsc_commit(gl_spsc *q) {
  uint64_t tail = atomic_load_explicit(&q->tail, memory_order_relaxed);
  atomic_store_explicit(&q->tail, tail + 1, memory_order_release);
}

/* Consumer: the oldest slot, or NULL if the ring is empty. It stays
 * valid (and unchanged) until gl_spsc_release. */
static inline void *gl_spsc_peek(gl_spsc *q) {
  uint64_t head = atomic_load_explicit(&q->head, memory_order_relaxed);
  if (head == q->tail_seen) {
    q->tail_seen = atomic_load_explicit(&q->tail, memory_order_acquire);
    if (head == q->tail_seen) return NULL;
  }
  return q->slots + (head & q->mask) * q->slot_size;
}

static inline void gl_spsc_release(gl_spsc *q) {
  uint64_t head = atomic_load_explicit(&q->head, memory_order_relaxed);
  atomic_store_explicit(&q->head, head + 1, memory_order_release);
}

/* Consumer or any thread at rest: slots waiting (a snapshot). */
static inline uint64_t gl_spsc_count(gl_spsc *q) {
  return atomic_load_explicit(&q->tail, memory_order_acquire) -
         atomic_load_explicit(&q->head, memory_order_acquire);
}

#endif
