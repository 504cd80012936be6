#include "flowmap.h"

#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

/* Only the family, port and address take part: the rest of a sockaddr
 * (padding, flow info) is not the flow's identity. */
static size_t key_bytes(const struct sockaddr *a, const void **p) {
  if (a->sa_family == AF_INET6) {
    *p = &((const struct sockaddr_in6 *)a)->sin6_addr;
    return 16;
  }
  *p = &((const struct sockaddr_in *)a)->sin_addr;
  return 4;
}

static uint16_t port_of(const struct sockaddr *a) {
  return a->sa_family == AF_INET6 ? ((const struct sockaddr_in6 *)a)->sin6_port
                                  : ((const struct sockaddr_in *)a)->sin_port;
}

static uint64_t hash(const void *owner, const struct sockaddr *a) {
  const void *p;
  size_t n = key_bytes(a, &p);
  uint64_t h = 1469598103934665603ull ^ (uint64_t)(uintptr_t)owner; /* FNV-1a */
  for (size_t i = 0; i < n; i++) h = (h ^ ((const unsigned char *)p)[i]) * 1099511628211ull;
  h = (h ^ port_of(a)) * 1099511628211ull;
  return h ^ (h >> 29);
}

static int same(const px_flowkey *k, const void *owner, const struct sockaddr *a) {
  const struct sockaddr *b = (const struct sockaddr *)&k->addr;
  if (k->owner != owner || b->sa_family != a->sa_family || port_of(a) != port_of(b)) return 0;
  const void *pa, *pb;
  size_t n = key_bytes(a, &pa);
  key_bytes(b, &pb);
  return memcmp(pa, pb, n) == 0;
}

void px_flowkey_set(px_flowkey *key, const void *owner, const struct sockaddr *addr) {
  memset(&key->addr, 0, sizeof(key->addr));
  memcpy(&key->addr, addr,
         addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in));
  key->owner = owner;
  key->next = NULL;
}

px_flowkey *px_flowmap_find(const px_flowmap *m, const void *owner, const struct sockaddr *addr) {
  if (m->nbuckets == 0) return NULL;
  px_flowkey *k = m->buckets[hash(owner, addr) & (m->nbuckets - 1)];
  while (k && !same(k, owner, addr)) k = k->next;
  return k;
}

static int grow(px_flowmap *m) {
  size_t n = m->nbuckets ? m->nbuckets * 2 : 64;
  px_flowkey **b = calloc(n, sizeof(*b));
  if (b == NULL) return UV_ENOMEM;
  for (size_t i = 0; i < m->nbuckets; i++) {
    while (m->buckets[i]) {
      px_flowkey *k = m->buckets[i];
      m->buckets[i] = k->next;
      size_t j = hash(k->owner, (struct sockaddr *)&k->addr) & (n - 1);
      k->next = b[j];
      b[j] = k;
    }
  }
  free(m->buckets);
  m->buckets = b;
  m->nbuckets = n;
  return 0;
}

int px_flowmap_insert(px_flowmap *m, px_flowkey *key) {
  if (m->count >= m->nbuckets && grow(m) != 0 && m->nbuckets == 0) return UV_ENOMEM;
  size_t j = hash(key->owner, (struct sockaddr *)&key->addr) & (m->nbuckets - 1);
  key->next = m->buckets[j];
  m->buckets[j] = key;
  m->count++;
  return 0;
}

void px_flowmap_remove(px_flowmap *m, px_flowkey *key) {
  px_flowkey **pp = &m->buckets[hash(key->owner, (struct sockaddr *)&key->addr) & (m->nbuckets - 1)];
  while (*pp && *pp != key) pp = &(*pp)->next;
  if (*pp) {
    *pp = key->next;
    m->count--;
  }
}

void px_flowmap_free(px_flowmap *m) {
  free(m->buckets);
  m->buckets = NULL;
  m->nbuckets = m->count = 0;
}
