#include "session/table.h"

#include <stdlib.h>
#include <string.h>
#include <uv.h>

#define CHUNK_SIZE (1u << GL_CHUNK_SHIFT)
#define INDEX_MIN 1024u
#define DRAIN_SLOTS 16u /* old index slots moved per insert while growing */

static uint64_t mix64(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  x ^= x >> 33;
  return x;
}

static uint64_t flow_hash(uint64_t seed, int64_t resource, const uint8_t *src_ip,
                          const uint8_t *dst_ip, uint16_t src_port, uint16_t dst_port,
                          uint8_t src_family, uint8_t dst_family) {
  uint64_t w[7];
  memcpy(&w[0], src_ip, 16);
  memcpy(&w[2], dst_ip, 16);
  w[4] = (uint64_t)src_port << 16 | dst_port;
  w[5] = (uint64_t)src_family << 8 | dst_family;
  w[6] = (uint64_t)resource;
  uint64_t h = seed;
  for (int i = 0; i < 7; i++) h = mix64(h ^ w[i]) + 0x9e3779b97f4a7c15ULL;
  return h;
}

static uint64_t hash_of(const gl_table *t, const gl_index *ix, uint32_t idx) {
  const gl_session *s = gl_table_at(t, idx);
  if (ix == &t->by_sid) return mix64(s->sid);
  return flow_hash(t->seed, s->resource, s->src_ip, s->dst_ip, s->src_port, s->dst_port,
                   s->src_family, s->dst_family);
}

/* ---- open addressing, linear probing ------------------------------------ */

static void slots_put(uint32_t *slots, uint32_t mask, uint64_t h, uint32_t idx) {
  uint32_t i = (uint32_t)h & mask;
  while (slots[i] != 0) i = (i + 1) & mask;
  slots[i] = idx + 1;
}

/* Remove idx from slots if it is there, shifting later members of its
 * probe run back into the hole so that no tombstones build up. */
static int slots_del(const gl_table *t, const gl_index *ix, uint32_t *slots, uint32_t mask,
                     uint32_t idx) {
  uint32_t i = (uint32_t)hash_of(t, ix, idx) & mask;
  while (slots[i] != idx + 1) {
    if (slots[i] == 0) return 0;
    i = (i + 1) & mask;
  }
  uint32_t hole = i;
  for (uint32_t j = (hole + 1) & mask; slots[j] != 0; j = (j + 1) & mask) {
    uint32_t home = (uint32_t)hash_of(t, ix, slots[j] - 1) & mask;
    /* The entry at j may fill the hole only if its home is not in (hole, j]. */
    int between = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
    if (!between) {
      slots[hole] = slots[j];
      hole = j;
    }
  }
  slots[hole] = 0;
  return 1;
}

/* Move whole probe runs of the old array into the new one, at least
 * `budget` slots' worth. A run is moved entirely or not at all, so a
 * lookup in the old array never meets a hole inside its run. */
static void drain(const gl_table *t, gl_index *ix, uint32_t budget) {
  while (ix->old != NULL && budget > 0) {
    uint32_t j = (ix->drain_at + 1) & ix->old_mask, n = 1;
    while (ix->old[j] != 0) {
      uint32_t idx = ix->old[j] - 1;
      slots_put(ix->slots, ix->mask, hash_of(t, ix, idx), idx);
      ix->old[j] = 0;
      ix->old_count--;
      ix->count++;
      j = (j + 1) & ix->old_mask;
      n++;
    }
    ix->drain_at = j; /* empty: the next run starts after it */
    ix->drained += n;
    budget = budget > n ? budget - n : 0;
    if (ix->drained > ix->old_mask) {
      free(ix->old);
      ix->old = NULL;
    }
  }
}

static int index_grow(const gl_table *t, gl_index *ix, uint32_t size) {
  drain(t, ix, UINT32_MAX); /* a growth still draining finishes first */
  uint32_t *slots = calloc(size, sizeof(uint32_t));
  if (slots == NULL) return UV_ENOMEM;
  if (ix->slots != NULL) {
    ix->old = ix->slots;
    ix->old_mask = ix->mask;
    ix->old_count = ix->count;
    ix->drained = 0;
    /* Start at an empty slot (one exists: the load is at most a half). */
    ix->drain_at = 0;
    while (ix->old[ix->drain_at] != 0) ix->drain_at++;
  }
  ix->slots = slots;
  ix->mask = size - 1;
  ix->count = 0;
  return 0;
}

static int index_add(const gl_table *t, gl_index *ix, uint32_t idx) {
  if (ix->slots == NULL || (ix->count + ix->old_count + 1) * 2 > ix->mask + 1) {
    int err = index_grow(t, ix, ix->slots ? (ix->mask + 1) * 2 : INDEX_MIN);
    if (err) return err;
  }
  slots_put(ix->slots, ix->mask, hash_of(t, ix, idx), idx);
  ix->count++;
  drain(t, ix, DRAIN_SLOTS);
  return 0;
}

static void index_del(const gl_table *t, gl_index *ix, uint32_t idx) {
  if (slots_del(t, ix, ix->slots, ix->mask, idx)) ix->count--;
  else if (ix->old && slots_del(t, ix, ix->old, ix->old_mask, idx)) ix->old_count--;
}

static void index_free(gl_index *ix) {
  free(ix->slots);
  free(ix->old);
  memset(ix, 0, sizeof(*ix));
}

static uint32_t pow2_at_least(uint64_t n) {
  uint32_t size = INDEX_MIN;
  while (size < n && size < (1u << 31)) size *= 2;
  return size;
}

/* ---- lists ---------------------------------------------------------------- */

/* The prev/next pair of idx in a list (every kind keeps prev then next). */
static uint32_t *links(const gl_table *t, int list, uint32_t idx) {
  uint32_t c = idx >> GL_CHUNK_SHIFT, o = idx & (CHUNK_SIZE - 1);
  if (list == GL_LIST_LIFE) return &t->life[c][o].prev;
  if (list == GL_LIST_INTERIM) return &t->interim[c][o].prev;
  return &t->chunks[c][o].prev;
}

static void list_append(gl_table *t, int list, uint32_t idx) {
  gl_list *l = &t->lists[list];
  uint32_t *me = links(t, list, idx);
  me[0] = l->tail;
  me[1] = GL_NONE;
  if (l->tail != GL_NONE) links(t, list, l->tail)[1] = idx;
  else l->head = idx;
  l->tail = idx;
  l->count++;
}

static void list_unlink(gl_table *t, int list, uint32_t idx) {
  gl_list *l = &t->lists[list];
  uint32_t *me = links(t, list, idx);
  if (me[0] != GL_NONE) links(t, list, me[0])[1] = me[1];
  else l->head = me[1];
  if (me[1] != GL_NONE) links(t, list, me[1])[0] = me[0];
  else l->tail = me[0];
  l->count--;
}

static void list_to_end(gl_table *t, int list, uint32_t idx) {
  if (t->lists[list].tail == idx) return;
  list_unlink(t, list, idx);
  list_append(t, list, idx);
}

/* ---- the table ------------------------------------------------------------- */

void gl_table_init(gl_table *t, uint64_t seed, int with_interim, int interim_queue,
                   int with_life, uint32_t expected) {
  memset(t, 0, sizeof(*t));
  t->free_head = GL_NONE;
  t->seed = seed;
  t->with_interim = with_interim || interim_queue;
  t->interim_queue = interim_queue;
  t->with_life = with_life;
  for (int l = 0; l < GL_LISTS; l++) t->lists[l].head = t->lists[l].tail = GL_NONE;
  if (expected) {
    /* Sized up front, the indexes never grow below `expected` sessions. */
    index_grow(t, &t->by_sid, pow2_at_least((uint64_t)expected * 2));
    index_grow(t, &t->by_flow, pow2_at_least((uint64_t)expected * 2));
  }
}

void gl_table_free(gl_table *t) {
  for (uint32_t i = 0; i < t->nchunks; i++) {
    free(t->chunks[i]);
    if (t->interim) free(t->interim[i]);
    if (t->life) free(t->life[i]);
  }
  free(t->chunks);
  free(t->interim);
  free(t->life);
  index_free(&t->by_sid);
  index_free(&t->by_flow);
  gl_table_init(t, t->seed, t->with_interim, t->interim_queue, t->with_life, 0);
}

void gl_session_src(const gl_session *s, gl_addr *a) {
  memcpy(a->ip, s->src_ip, 16);
  a->port = s->src_port;
  a->family = s->src_family;
  a->pad = 0;
}

void gl_session_dst(const gl_session *s, gl_addr *a) {
  memcpy(a->ip, s->dst_ip, 16);
  a->port = s->dst_port;
  a->family = s->dst_family;
  a->pad = 0;
}

void gl_session_set_addrs(gl_session *s, const gl_addr *src, const gl_addr *dst) {
  memcpy(s->src_ip, src->ip, 16);
  memcpy(s->dst_ip, dst->ip, 16);
  s->src_port = src->port;
  s->dst_port = dst->port;
  s->src_family = src->family;
  s->dst_family = dst->family;
}

static int grow_chunks(gl_table *t) {
  uint32_t n = t->nchunks;
  gl_session **chunks = realloc(t->chunks, (n + 1) * sizeof(*chunks));
  if (chunks == NULL) return UV_ENOMEM;
  t->chunks = chunks;
  if (t->with_interim) {
    gl_interim **v = realloc(t->interim, (n + 1) * sizeof(*v));
    if (v == NULL) return UV_ENOMEM;
    t->interim = v;
  }
  if (t->with_life) {
    gl_life **v = realloc(t->life, (n + 1) * sizeof(*v));
    if (v == NULL) return UV_ENOMEM;
    t->life = v;
  }
  chunks[n] = malloc(CHUNK_SIZE * sizeof(gl_session));
  void *interim = t->with_interim ? malloc(CHUNK_SIZE * sizeof(gl_interim)) : NULL;
  void *life = t->with_life ? malloc(CHUNK_SIZE * sizeof(gl_life)) : NULL;
  if (chunks[n] == NULL || (t->with_interim && !interim) || (t->with_life && !life)) {
    free(chunks[n]);
    free(interim);
    free(life);
    return UV_ENOMEM;
  }
  if (t->with_interim) t->interim[n] = interim;
  if (t->with_life) t->life[n] = life;
  t->nchunks++;
  return 0;
}

static int alloc_slot(gl_table *t, uint32_t *idx) {
  if (t->free_head != GL_NONE) {
    *idx = t->free_head;
    t->free_head = gl_table_at(t, *idx)->next;
    return 0;
  }
  if (t->used == GL_NONE - 1) return UV_ENOMEM;
  if ((t->used & (CHUNK_SIZE - 1)) == 0 && (t->used >> GL_CHUNK_SHIFT) == t->nchunks) {
    int err = grow_chunks(t);
    if (err) return err;
  }
  *idx = t->used++;
  return 0;
}

int gl_table_insert(gl_table *t, const gl_session *s, uint32_t *out) {
  uint32_t idx;
  int err = alloc_slot(t, &idx);
  if (err) return err;
  *gl_table_at(t, idx) = *s;
  if ((err = index_add(t, &t->by_sid, idx)) != 0) goto fail;
  if (s->proto == GL_PROTO_UDP && (err = index_add(t, &t->by_flow, idx)) != 0) {
    index_del(t, &t->by_sid, idx);
    goto fail;
  }
  list_append(t, s->proto, idx);
  if (t->with_life) list_append(t, GL_LIST_LIFE, idx);
  if (t->with_interim) {
    gl_interim *in = gl_table_interim(t, idx);
    in->seq = 0;
    in->tx_reported = in->rx_reported = 0;
    if (t->interim_queue) list_append(t, GL_LIST_INTERIM, idx);
  }
  t->count++;
  *out = idx;
  return 0;
fail: {
  gl_session *slot = gl_table_at(t, idx);
  memset(slot, 0, sizeof(*slot));
  slot->next = t->free_head;
  t->free_head = idx;
  return err;
}
}

void gl_table_remove(gl_table *t, uint32_t idx) {
  gl_session *s = gl_table_at(t, idx);
  index_del(t, &t->by_sid, idx);
  if (s->proto == GL_PROTO_UDP) index_del(t, &t->by_flow, idx);
  list_unlink(t, s->proto, idx);
  if (t->with_life) list_unlink(t, GL_LIST_LIFE, idx);
  if (t->interim_queue) list_unlink(t, GL_LIST_INTERIM, idx);
  memset(s, 0, sizeof(*s));
  s->next = t->free_head;
  t->free_head = idx;
  t->count--;
}

static uint32_t probe(const gl_table *t, const uint32_t *slots, uint32_t mask, uint64_t h,
                      int (*match)(const gl_session *, const void *), const void *key) {
  for (uint32_t i = (uint32_t)h & mask; slots[i] != 0; i = (i + 1) & mask)
    if (match(gl_table_at(t, slots[i] - 1), key)) return slots[i] - 1;
  return GL_NONE;
}

static uint32_t find(gl_table *t, gl_index *ix, uint64_t h,
                     int (*match)(const gl_session *, const void *), const void *key) {
  if (ix->slots == NULL) return GL_NONE;
  uint32_t idx = probe(t, ix->slots, ix->mask, h, match, key);
  if (idx == GL_NONE && ix->old) idx = probe(t, ix->old, ix->old_mask, h, match, key);
  return idx;
}

static int match_sid(const gl_session *s, const void *key) {
  return s->sid == *(const uint64_t *)key;
}

typedef struct flow_key {
  int64_t resource;
  const gl_addr *src, *dst;
} flow_key;

static int match_flow(const gl_session *s, const void *key) {
  const flow_key *k = key;
  size_t slen = k->src->family == 4 ? 4 : 16, dlen = k->dst->family == 4 ? 4 : 16;
  return s->resource == k->resource && s->src_port == k->src->port &&
         s->dst_port == k->dst->port && s->src_family == k->src->family &&
         s->dst_family == k->dst->family && memcmp(s->src_ip, k->src->ip, slen) == 0 &&
         memcmp(s->dst_ip, k->dst->ip, dlen) == 0;
}

uint32_t gl_table_find_sid(gl_table *t, uint64_t sid) {
  return find(t, &t->by_sid, mix64(sid), match_sid, &sid);
}

uint32_t gl_table_find_flow(gl_table *t, int64_t resource, const gl_addr *src,
                            const gl_addr *dst) {
  flow_key k = {resource, src, dst};
  uint64_t h = flow_hash(t->seed, resource, src->ip, dst->ip, src->port, dst->port,
                         src->family, dst->family);
  return find(t, &t->by_flow, h, match_flow, &k);
}

void gl_table_touch(gl_table *t, uint32_t idx, uint64_t now_mono_ns) {
  gl_session *s = gl_table_at(t, idx);
  s->last_mono_ns = now_mono_ns;
  list_to_end(t, s->proto, idx);
}

void gl_table_requeue_interim(gl_table *t, uint32_t idx) {
  list_to_end(t, GL_LIST_INTERIM, idx);
}

uint32_t gl_table_least_recent_any(const gl_table *t) {
  uint32_t a = t->lists[GL_LIST_TCP].head, b = t->lists[GL_LIST_UDP].head;
  if (a == GL_NONE) return b;
  if (b == GL_NONE) return a;
  return gl_table_at(t, a)->last_mono_ns <= gl_table_at(t, b)->last_mono_ns ? a : b;
}

uint32_t gl_table_next_open(const gl_table *t, uint32_t from) {
  for (uint32_t i = from; i < t->used; i++)
    if (gl_table_at(t, i)->proto != 0) return i;
  return GL_NONE;
}
