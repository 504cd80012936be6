#include "idmap.h"

#include <stdlib.h>
#include <string.h>

static size_t bucket(const idmap *m, const char *id) {
  uint64_t h = 1469598103934665603ull; /* FNV-1a */
  for (; *id; id++) h = (h ^ (unsigned char)*id) * 1099511628211ull;
  return h & (m->nbuckets - 1);
}

id_entry **idmap_find(idmap *m, const char *id) {
  if (m->nbuckets == 0) return NULL;
  id_entry **pp = &m->buckets[bucket(m, id)];
  while (*pp && strcmp((*pp)->id, id) != 0) pp = &(*pp)->next;
  return *pp ? pp : NULL;
}

static int grow(idmap *m) {
  size_t old = m->nbuckets, n = old ? old * 2 : 1024;
  id_entry **b = calloc(n, sizeof(*b)), **prev = m->buckets;
  if (b == NULL) return -1;
  m->buckets = b;
  m->nbuckets = n;
  for (size_t i = 0; i < old; i++)
    while (prev[i]) {
      id_entry *e = prev[i];
      size_t j = bucket(m, e->id);
      prev[i] = e->next;
      e->next = b[j];
      b[j] = e;
    }
  free(prev);
  return 0;
}

id_entry *idmap_add(idmap *m, const char *id) {
  if (m->count >= m->nbuckets && grow(m) != 0) return NULL;
  id_entry *e = calloc(1, sizeof(*e));
  if (e == NULL || (e->id = strdup(id)) == NULL) {
    free(e);
    return NULL;
  }
  size_t i = bucket(m, id);
  e->next = m->buckets[i];
  m->buckets[i] = e;
  m->count++;
  return e;
}

void idmap_remove(idmap *m, id_entry **link) {
  id_entry *e = *link;
  *link = e->next;
  free(e->id);
  free(e);
  m->count--;
}

void idmap_free(idmap *m) {
  for (size_t i = 0; i < m->nbuckets; i++)
    while (m->buckets[i]) idmap_remove(m, &m->buckets[i]);
  free(m->buckets);
  memset(m, 0, sizeof(*m));
}
