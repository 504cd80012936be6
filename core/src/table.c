#include "table.h"

#include <stdlib.h>
#include <string.h>
#include <uv.h>

#define CHUNK_SHIFT 12
#define CHUNK_SIZE (1u << CHUNK_SHIFT)
#define INDEX_MIN 1024u

static uint64_t mix64(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  x ^= x >> 33;
  return x;
}

static uint64_t sid_hash(uint64_t sid) { return mix64(sid); }

static uint64_t flow_hash(uint64_t seed, int64_t resource, const gl_addr *src,
                          const gl_addr *dst) {
  uint64_t w[8];
  memcpy(&w[0], src->ip, 16);
  memcpy(&w[2], dst->ip, 16);
  w[4] = (uint64_t)src->port << 16 | dst->port;
  w[5] = (uint64_t)src->family << 8 | dst->family;
  w[6] = (uint64_t)resource;
  uint64_t h = seed;
  for (int i = 0; i < 7; i++) h = mix64(h ^ w[i]) + 0x9e3779b97f4a7c15ULL;
  return h;
}

static int same_addr(const gl_addr *a, const gl_addr *b) {
  return a->family == b->family && a->port == b->port &&
         memcmp(a->ip, b->ip, a->family == 4 ? 4 : 16) == 0;
}

static uint64_t hash_of(const gl_table *t, const gl_index *ix, uint32_t idx) {
  const gl_session *s = gl_table_at(t, idx);
  if (ix == &t->by_sid) return sid_hash(s->sid);
  return flow_hash(t->seed, s->resource, &s->src, &s->dst);
}

static void index_put(const gl_table *t, gl_index *ix, uint32_t idx) {
  uint32_t i = (uint32_t)hash_of(t, ix, idx) & ix->mask;
  while (ix->slots[i] != 0) i = (i + 1) & ix->mask;
  ix->slots[i] = idx + 1;
  ix->count++;
}

/* Keep the load at most one half, so that probe runs stay short. */
static int index_reserve(const gl_table *t, gl_index *ix) {
  if (ix->slots != NULL && (ix->count + 1) * 2 <= ix->mask + 1) return 0;
  uint32_t size = ix->slots ? (ix->mask + 1) * 2 : INDEX_MIN;
  uint32_t *old = ix->slots;
  uint32_t old_size = ix->slots ? ix->mask + 1 : 0;
  uint32_t *slots = calloc(size, sizeof(uint32_t));
  if (slots == NULL) return UV_ENOMEM;
  ix->slots = slots;
  ix->mask = size - 1;
  ix->count = 0;
  for (uint32_t i = 0; i < old_size; i++)
    if (old[i] != 0) index_put(t, ix, old[i] - 1);
  free(old);
  return 0;
}

/* Remove by shifting later members of the probe run back into the hole,
 * so that no tombstones accumulate under churn. */
static void index_del(const gl_table *t, gl_index *ix, uint32_t idx) {
  uint32_t i = (uint32_t)hash_of(t, ix, idx) & ix->mask;
  while (ix->slots[i] != idx + 1) i = (i + 1) & ix->mask;
  uint32_t hole = i;
  for (uint32_t j = (hole + 1) & ix->mask; ix->slots[j] != 0; j = (j + 1) & ix->mask) {
    uint32_t home = (uint32_t)hash_of(t, ix, ix->slots[j] - 1) & ix->mask;
    /* The entry at j may fill the hole only if its home is not in (hole, j]. */
    int home_between = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
    if (!home_between) {
      ix->slots[hole] = ix->slots[j];
      hole = j;
    }
  }
  ix->slots[hole] = 0;
  ix->count--;
}

void gl_table_init(gl_table *t, uint64_t seed) {
  memset(t, 0, sizeof(*t));
  t->free_head = GL_NONE;
  t->seed = seed;
  for (int p = 0; p < 3; p++) t->lists[p].head = t->lists[p].tail = GL_NONE;
}

void gl_table_free(gl_table *t) {
  for (uint32_t i = 0; i < t->nchunks; i++) free(t->chunks[i]);
  free(t->chunks);
  free(t->by_sid.slots);
  free(t->by_flow.slots);
  gl_table_init(t, t->seed);
}

static void list_append(gl_table *t, uint32_t idx) {
  gl_session *s = gl_table_at(t, idx);
  gl_activity_list *l = &t->lists[s->proto];
  s->next = GL_NONE;
  s->prev = l->tail;
  if (l->tail != GL_NONE) gl_table_at(t, l->tail)->next = idx;
  else l->head = idx;
  l->tail = idx;
  l->count++;
}

static void list_unlink(gl_table *t, uint32_t idx) {
  gl_session *s = gl_table_at(t, idx);
  gl_activity_list *l = &t->lists[s->proto];
  if (s->prev != GL_NONE) gl_table_at(t, s->prev)->next = s->next;
  else l->head = s->next;
  if (s->next != GL_NONE) gl_table_at(t, s->next)->prev = s->prev;
  else l->tail = s->prev;
  l->count--;
}

static int alloc_slot(gl_table *t, uint32_t *idx) {
  if (t->free_head != GL_NONE) {
    *idx = t->free_head;
    t->free_head = gl_table_at(t, *idx)->next;
    return 0;
  }
  if (t->used == GL_NONE - 1) return UV_ENOMEM;
  if ((t->used & (CHUNK_SIZE - 1)) == 0) {
    uint32_t n = t->used >> CHUNK_SHIFT;
    if (n == t->nchunks) {
      gl_session **chunks = realloc(t->chunks, (n + 1) * sizeof(*chunks));
      if (chunks == NULL) return UV_ENOMEM;
      t->chunks = chunks;
      chunks[n] = calloc(CHUNK_SIZE, sizeof(gl_session));
      if (chunks[n] == NULL) return UV_ENOMEM;
      t->nchunks++;
    }
  }
  *idx = t->used++;
  return 0;
}

int gl_table_insert(gl_table *t, const gl_session *s, uint32_t *out) {
  int err = index_reserve(t, &t->by_sid);
  if (err == 0 && s->proto == GL_PROTO_UDP) err = index_reserve(t, &t->by_flow);
  if (err) return err;
  uint32_t idx;
  err = alloc_slot(t, &idx);
  if (err) return err;
  *gl_table_at(t, idx) = *s;
  index_put(t, &t->by_sid, idx);
  if (s->proto == GL_PROTO_UDP) index_put(t, &t->by_flow, idx);
  list_append(t, idx);
  t->count++;
  *out = idx;
  return 0;
}

void gl_table_remove(gl_table *t, uint32_t idx) {
  gl_session *s = gl_table_at(t, idx);
  index_del(t, &t->by_sid, idx);
  if (s->proto == GL_PROTO_UDP) index_del(t, &t->by_flow, idx);
  list_unlink(t, idx);
  memset(s, 0, sizeof(*s));
  s->next = t->free_head;
  t->free_head = idx;
  t->count--;
}

uint32_t gl_table_find_sid(const gl_table *t, uint64_t sid) {
  const gl_index *ix = &t->by_sid;
  if (ix->slots == NULL) return GL_NONE;
  for (uint32_t i = (uint32_t)sid_hash(sid) & ix->mask; ix->slots[i] != 0;
       i = (i + 1) & ix->mask) {
    uint32_t idx = ix->slots[i] - 1;
    if (gl_table_at(t, idx)->sid == sid) return idx;
  }
  return GL_NONE;
}

uint32_t gl_table_find_flow(const gl_table *t, int64_t resource,
                            const gl_addr *src, const gl_addr *dst) {
  const gl_index *ix = &t->by_flow;
  if (ix->slots == NULL) return GL_NONE;
  uint64_t h = flow_hash(t->seed, resource, src, dst);
  for (uint32_t i = (uint32_t)h & ix->mask; ix->slots[i] != 0; i = (i + 1) & ix->mask) {
    uint32_t idx = ix->slots[i] - 1;
    const gl_session *s = gl_table_at(t, idx);
    if (s->resource == resource && same_addr(&s->src, src) && same_addr(&s->dst, dst))
      return idx;
  }
  return GL_NONE;
}

void gl_table_touch(gl_table *t, uint32_t idx, uint64_t now_mono_ns) {
  gl_session *s = gl_table_at(t, idx);
  s->last_mono_ns = now_mono_ns;
  if (t->lists[s->proto].tail == idx) return;
  list_unlink(t, idx);
  list_append(t, idx);
}

uint32_t gl_table_next_open(const gl_table *t, uint32_t from) {
  for (uint32_t i = from; i < t->used; i++)
    if (gl_table_at(t, i)->proto != 0) return i;
  return GL_NONE;
}
