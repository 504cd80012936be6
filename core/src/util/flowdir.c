#include "util/flowdir.h"

#include <stdlib.h>
#include <string.h>

struct gl_flowdir_entry {
  gl_flowdir_entry *next;
  uint64_t hash;
  uint64_t sid;
  gl_flow_key key;
};

/* Keys are compared by their bytes: make every byte defined. */
static void canonical(const gl_flow_key *k, gl_flow_key *out) {
  memset(out, 0, sizeof(*out));
  out->resource = k->resource;
  memcpy(out->src.ip, k->src.ip, 16);
  memcpy(out->dst.ip, k->dst.ip, 16);
  out->src.port = k->src.port;
  out->dst.port = k->dst.port;
  out->src.family = k->src.family;
  out->dst.family = k->dst.family;
}

/* 64-bit words mixed as in splitmix64's finalizer, seeded. */
static uint64_t mix(uint64_t h) {
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ull;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebull;
  return h ^ (h >> 31);
}

static uint64_t hash_key(const gl_flowdir *d, const gl_flow_key *k) {
  uint64_t words[sizeof(gl_flow_key) / 8 + 1] = {0};
  memcpy(words, k, sizeof(*k));
  uint64_t h = d->seed;
  for (size_t i = 0; i < sizeof(words) / 8; i++) h = mix(h ^ words[i]);
  return h;
}

static int shards_init(gl_flowdir_shard *shards) {
  for (int i = 0; i < GL_FLOWDIR_SHARDS; i++) {
    int err = uv_mutex_init(&shards[i].mu);
    if (err) {
      while (i-- > 0) uv_mutex_destroy(&shards[i].mu);
      return err;
    }
  }
  return 0;
}

static void shards_free(gl_flowdir_shard *shards) {
  for (int i = 0; i < GL_FLOWDIR_SHARDS; i++) {
    gl_flowdir_shard *s = &shards[i];
    for (uint32_t b = 0; b < s->nbuckets; b++)
      for (gl_flowdir_entry *e = s->buckets[b], *next; e; e = next) {
        next = e->next;
        free(e);
      }
    free(s->buckets);
    uv_mutex_destroy(&s->mu);
  }
}

int gl_flowdir_init(gl_flowdir *d, uint64_t seed) {
  memset(d, 0, sizeof(*d));
  d->seed = seed;
  int err = shards_init(d->shards);
  if (err == 0 && (err = shards_init(d->by_sid)) != 0) {
    for (int i = 0; i < GL_FLOWDIR_SHARDS; i++) uv_mutex_destroy(&d->shards[i].mu);
  }
  return err;
}

void gl_flowdir_free(gl_flowdir *d) {
  shards_free(d->shards);
  shards_free(d->by_sid);
}

static gl_flowdir_shard *shard_of(gl_flowdir_shard *shards, uint64_t h) {
  return &shards[h >> 58]; /* the top bits; buckets use the low ones */
}

static gl_flowdir_entry **find(gl_flowdir_shard *s, uint64_t h, const gl_flow_key *k) {
  if (s->nbuckets == 0) return NULL;
  gl_flowdir_entry **p = &s->buckets[h & (s->nbuckets - 1)];
  for (; *p; p = &(*p)->next)
    if ((*p)->hash == h && memcmp(&(*p)->key, k, sizeof(*k)) == 0) return p;
  return NULL;
}

static gl_flowdir_entry **find_sid(gl_flowdir_shard *s, uint64_t h, uint64_t sid) {
  if (s->nbuckets == 0) return NULL;
  gl_flowdir_entry **p = &s->buckets[h & (s->nbuckets - 1)];
  for (; *p; p = &(*p)->next)
    if ((*p)->sid == sid) return p;
  return NULL;
}

static uint64_t hash_sid(const gl_flowdir *d, uint64_t sid) { return mix(d->seed ^ mix(sid)); }

/* Double the buckets of a shard (its own flows only, under its lock). */
static int grow(gl_flowdir_shard *s) {
  uint32_t n = s->nbuckets ? s->nbuckets * 2 : 16;
  gl_flowdir_entry **b = calloc(n, sizeof(*b));
  if (b == NULL) return UV_ENOMEM;
  for (uint32_t i = 0; i < s->nbuckets; i++)
    for (gl_flowdir_entry *e = s->buckets[i], *next; e; e = next) {
      next = e->next;
      e->next = b[e->hash & (n - 1)];
      b[e->hash & (n - 1)] = e;
    }
  free(s->buckets);
  s->buckets = b;
  s->nbuckets = n;
  return 0;
}

/* The key made canonical, its shard locked, and where it is (or NULL).
 * The caller unlocks the shard. */
static gl_flowdir_entry **lookup(gl_flowdir *d, const gl_flow_key *key, gl_flow_key *k,
                                 uint64_t *h, gl_flowdir_shard **s) {
  canonical(key, k);
  *h = hash_key(d, k);
  *s = shard_of(d->shards, *h);
  uv_mutex_lock(&(*s)->mu);
  return find(*s, *h, k);
}

/* A new entry at the head of its bucket in s (locked), or UV_ENOMEM. */
static int insert(gl_flowdir_shard *s, uint64_t h, uint64_t sid, const gl_flow_key *k) {
  if (s->count >= s->nbuckets && grow(s) != 0) return UV_ENOMEM;
  gl_flowdir_entry *e = malloc(sizeof(*e));
  if (e == NULL) return UV_ENOMEM;
  e->hash = h;
  e->sid = sid;
  e->key = *k;
  e->next = s->buckets[h & (s->nbuckets - 1)];
  s->buckets[h & (s->nbuckets - 1)] = e;
  s->count++;
  return 0;
}

static void unlink_entry(gl_flowdir_shard *s, gl_flowdir_entry **p) {
  gl_flowdir_entry *e = *p;
  *p = e->next;
  s->count--;
  free(e);
}

/* The id's entry in the index by id: added (0, or UV_ENOMEM) or removed.
 * Called with the flow's shard locked, so the two never disagree for long
 * enough that a flow is found by one and not the other. */
static int index_sid(gl_flowdir *d, uint64_t sid, const gl_flow_key *k, int add) {
  uint64_t h = hash_sid(d, sid);
  gl_flowdir_shard *s = shard_of(d->by_sid, h);
  uv_mutex_lock(&s->mu);
  int err = 0;
  gl_flowdir_entry **p = find_sid(s, h, sid);
  if (add && p == NULL) err = insert(s, h, sid, k);
  if (!add && p) unlink_entry(s, p);
  uv_mutex_unlock(&s->mu);
  return err;
}

int gl_flowdir_claim(gl_flowdir *d, const gl_flow_key *key, uint64_t fresh, uint64_t *sid) {
  gl_flow_key k;
  uint64_t h;
  gl_flowdir_shard *s;
  gl_flowdir_entry **p = lookup(d, key, &k, &h, &s);
  int rc = 1;
  if (p) {
    *sid = (*p)->sid;
    rc = 0;
  } else if (index_sid(d, fresh, &k, 1) != 0) {
    rc = UV_ENOMEM;
  } else if (insert(s, h, fresh, &k) != 0) {
    index_sid(d, fresh, &k, 0);
    rc = UV_ENOMEM;
  } else {
    *sid = fresh;
  }
  uv_mutex_unlock(&s->mu);
  return rc;
}

uint64_t gl_flowdir_get(gl_flowdir *d, const gl_flow_key *key) {
  gl_flow_key k;
  uint64_t h;
  gl_flowdir_shard *s;
  gl_flowdir_entry **p = lookup(d, key, &k, &h, &s);
  uint64_t sid = p ? (*p)->sid : 0;
  uv_mutex_unlock(&s->mu);
  return sid;
}

void gl_flowdir_remove(gl_flowdir *d, const gl_flow_key *key, uint64_t sid) {
  gl_flow_key k;
  uint64_t h;
  gl_flowdir_shard *s;
  gl_flowdir_entry **p = lookup(d, key, &k, &h, &s);
  if (p && (*p)->sid == sid) {
    unlink_entry(s, p);
    index_sid(d, sid, &k, 0);
  }
  uv_mutex_unlock(&s->mu);
}

int gl_flowdir_forget(gl_flowdir *d, uint64_t sid) {
  uint64_t h = hash_sid(d, sid);
  gl_flowdir_shard *s = shard_of(d->by_sid, h);
  uv_mutex_lock(&s->mu);
  gl_flowdir_entry **p = find_sid(s, h, sid);
  int found = p != NULL;
  gl_flow_key k;
  if (found) k = (*p)->key;
  uv_mutex_unlock(&s->mu);
  if (!found) return 0;
  /* Unlocked in between: the flow may have gone or have a newer id since,
   * and remove forgets it only if it still has this one. */
  gl_flowdir_remove(d, &k, sid);
  return 1;
}

uint64_t gl_flowdir_count(gl_flowdir *d) {
  uint64_t n = 0;
  for (int i = 0; i < GL_FLOWDIR_SHARDS; i++) {
    uv_mutex_lock(&d->shards[i].mu);
    n += d->shards[i].count;
    uv_mutex_unlock(&d->shards[i].mu);
  }
  return n;
}
