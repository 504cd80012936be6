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

int gl_flowdir_init(gl_flowdir *d, uint64_t seed) {
  memset(d, 0, sizeof(*d));
  d->seed = seed;
  for (int i = 0; i < GL_FLOWDIR_SHARDS; i++) {
    int err = uv_mutex_init(&d->shards[i].mu);
    if (err) {
      while (i-- > 0) uv_mutex_destroy(&d->shards[i].mu);
      return err;
    }
  }
  return 0;
}

void gl_flowdir_free(gl_flowdir *d) {
  for (int i = 0; i < GL_FLOWDIR_SHARDS; i++) {
    gl_flowdir_shard *s = &d->shards[i];
    for (uint32_t b = 0; b < s->nbuckets; b++)
      for (gl_flowdir_entry *e = s->buckets[b], *next; e; e = next) {
        next = e->next;
        free(e);
      }
    free(s->buckets);
    uv_mutex_destroy(&s->mu);
  }
}

static gl_flowdir_shard *shard_of(gl_flowdir *d, uint64_t h) {
  return &d->shards[h >> 58]; /* the top bits; buckets use the low ones */
}

static gl_flowdir_entry **find(gl_flowdir_shard *s, uint64_t h, const gl_flow_key *k) {
  if (s->nbuckets == 0) return NULL;
  gl_flowdir_entry **p = &s->buckets[h & (s->nbuckets - 1)];
  for (; *p; p = &(*p)->next)
    if ((*p)->hash == h && memcmp(&(*p)->key, k, sizeof(*k)) == 0) return p;
  return NULL;
}

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
  *s = shard_of(d, *h);
  uv_mutex_lock(&(*s)->mu);
  return find(*s, *h, k);
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
  } else if (s->count >= s->nbuckets && grow(s) != 0) {
    rc = UV_ENOMEM;
  } else {
    gl_flowdir_entry *e = malloc(sizeof(*e));
    if (e == NULL) {
      rc = UV_ENOMEM;
    } else {
      e->hash = h;
      e->sid = fresh;
      e->key = k;
      e->next = s->buckets[h & (s->nbuckets - 1)];
      s->buckets[h & (s->nbuckets - 1)] = e;
      s->count++;
      *sid = fresh;
    }
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
    gl_flowdir_entry *e = *p;
    *p = e->next;
    s->count--;
    free(e);
  }
  uv_mutex_unlock(&s->mu);
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
