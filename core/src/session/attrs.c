/* A chained hash of session id -> its fields, each set one allocation of
 * "key\0value\0" pairs, rebuilt when a field is set (the gateway sets a
 * few fields per session, not a stream of them). */
#include "session/attrs.h"

#include <stdlib.h>
#include <string.h>
#include <uv.h>

struct gl_attr_set {
  gl_attr_set *next;
  uint64_t sid;
  uint32_t n;   /* pairs */
  size_t len;   /* bytes of data */
  char data[];
};

static uint32_t bucket_of(const gl_attrs *a, uint64_t sid) {
  /* Session ids are random already. */
  return (uint32_t)(sid ^ (sid >> 32)) & (a->nbuckets - 1);
}

void gl_attrs_free(gl_attrs *a) {
  for (uint32_t i = 0; i < a->nbuckets; i++)
    for (gl_attr_set *s = a->buckets[i], *next; s; s = next) {
      next = s->next;
      free(s);
    }
  free(a->buckets);
  memset(a, 0, sizeof(*a));
}

static gl_attr_set **slot_of(const gl_attrs *a, uint64_t sid) {
  if (a->nbuckets == 0) return NULL;
  gl_attr_set **p = &a->buckets[bucket_of(a, sid)];
  while (*p && (*p)->sid != sid) p = &(*p)->next;
  return p;
}

const gl_attr_set *gl_attrs_get(const gl_attrs *a, uint64_t sid) {
  gl_attr_set **p = slot_of(a, sid);
  return p ? *p : NULL;
}

void gl_attrs_drop(gl_attrs *a, uint64_t sid) {
  gl_attr_set **p = slot_of(a, sid);
  if (p == NULL || *p == NULL) return;
  gl_attr_set *s = *p;
  *p = s->next;
  free(s);
  a->count--;
}

static int grow(gl_attrs *a) {
  uint32_t n = a->nbuckets ? a->nbuckets * 2 : 64;
  gl_attr_set **b = calloc(n, sizeof(*b));
  if (b == NULL) return UV_ENOMEM;
  gl_attrs old = *a;
  a->buckets = b;
  a->nbuckets = n;
  for (uint32_t i = 0; i < old.nbuckets; i++)
    for (gl_attr_set *s = old.buckets[i], *next; s; s = next) {
      next = s->next;
      gl_attr_set **head = &a->buckets[bucket_of(a, s->sid)];
      s->next = *head;
      *head = s;
    }
  free(old.buckets);
  return 0;
}

/* The pair at *pos: its key and value; *pos moves past it. */
static void pair_at(const gl_attr_set *s, size_t *pos, const char **k, size_t *kl, const char **v,
                    size_t *vl) {
  *k = s->data + *pos;
  *kl = strlen(*k);
  *v = *k + *kl + 1;
  *vl = strlen(*v);
  *pos += *kl + *vl + 2;
}

int gl_attrs_set(gl_attrs *a, uint64_t sid, const char *key, size_t klen, const char *value,
                 size_t vlen) {
  if (a->count >= a->nbuckets && grow(a) != 0) return UV_ENOMEM;
  gl_attr_set **p = slot_of(a, sid), *old = *p;
  size_t keep = 0; /* bytes of the old pairs that stay */
  uint32_t n = 0;
  if (old) {
    size_t pos = 0;
    for (uint32_t i = 0; i < old->n; i++) {
      const char *k, *v;
      size_t kl, vl;
      pair_at(old, &pos, &k, &kl, &v, &vl);
      if (kl != klen || memcmp(k, key, klen) != 0) keep += kl + vl + 2, n++;
    }
    if (n >= GL_ATTRS_PER_SESSION) return UV_ENOSPC;
  }
  gl_attr_set *s = malloc(sizeof(*s) + keep + klen + vlen + 2);
  if (s == NULL) return UV_ENOMEM;
  s->sid = sid;
  s->n = n + 1;
  s->len = 0;
  if (old) {
    size_t pos = 0;
    for (uint32_t i = 0; i < old->n; i++) {
      size_t start = pos;
      const char *k, *v;
      size_t kl, vl;
      pair_at(old, &pos, &k, &kl, &v, &vl);
      if (kl == klen && memcmp(k, key, klen) == 0) continue;
      memcpy(s->data + s->len, old->data + start, pos - start);
      s->len += pos - start;
    }
  }
  memcpy(s->data + s->len, key, klen);
  s->data[s->len + klen] = '\0';
  memcpy(s->data + s->len + klen + 1, value, vlen);
  s->data[s->len + klen + 1 + vlen] = '\0';
  s->len += klen + vlen + 2;
  if (old) {
    s->next = old->next;
    free(old);
  } else {
    s->next = NULL;
    a->count++;
  }
  *p = s;
  return 0;
}

int gl_attrs_to_extras(const gl_attr_set *set, gl_extras *x) {
  size_t pos = 0;
  for (uint32_t i = 0; i < set->n; i++) {
    const char *k, *v;
    size_t kl, vl;
    pair_at(set, &pos, &k, &kl, &v, &vl);
    if (gl_extras_set_string(x, k, kl, v, vl) != 0) return UV_ENOMEM;
  }
  return 0;
}

int gl_attr_valid(const char *key, size_t n, size_t vlen) {
  static const char *const standard[] = {
      "sessionId", "resourceId", "protocol", "sourceAddr", "destAddr", "startedAt",
      "endedAt", "bytesTx", "bytesRx", "sourceIp", "sourcePort", "destIp", "destPort",
      "endReason", "final", "seq", "deltaTx", "deltaRx"};
  if (n == 0 || n > GL_ATTR_KEY_MAX || vlen > GL_ATTR_VALUE_MAX) return 0;
  for (size_t i = 0; i < n; i++) {
    char c = key[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'))
      return 0;
  }
  for (size_t i = 0; i < sizeof(standard) / sizeof(standard[0]); i++)
    if (strcmp(key, standard[i]) == 0) return 0;
  return 1;
}
