/* The compression bound: the same JSON the run produced, compressed with
 * the same compressor and level on as many threads as the libuv pool has,
 * and nothing else. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>
#ifdef GATELOG_HAVE_LIBDEFLATE
#include <libdeflate.h>
#endif

#include "util/base64.h"
#include "bench.h"

typedef struct job {
  char **json;
  size_t *len;
  size_t n;
  atomic_size_t next;
  int level, compressor;
} job;

void payloads_add(payloads *p, const char *data, size_t len) {
  if (p->n == p->cap) {
    p->cap = p->cap ? p->cap * 2 : 256;
    p->data = realloc(p->data, p->cap * sizeof(*p->data));
    p->len = realloc(p->len, p->cap * sizeof(*p->len));
  }
  p->data[p->n] = malloc(len);
  memcpy(p->data[p->n], data, len);
  p->len[p->n++] = len;
}

void payloads_free(payloads *p) {
  for (size_t i = 0; i < p->n; i++) free(p->data[i]);
  free(p->data);
  free(p->len);
  memset(p, 0, sizeof(*p));
}

/* payload -> JSON: base64 then inflate (not timed). */
static char *to_json(const char *payload, size_t len, size_t *out) {
  unsigned char *z = malloc(len);
  long zl = gl_base64_decode(payload, len, z);
  size_t cap = (size_t)zl * 16 + 1024;
  char *json = NULL;
  for (;;) {
    json = realloc(json, cap);
    uLongf n = cap;
    int rc = uncompress((Bytef *)json, &n, z, (uLong)zl);
    if (rc == Z_OK) {
      *out = n;
      break;
    }
    if (rc != Z_BUF_ERROR) {
      fprintf(stderr, "gatelog-bench: a payload did not inflate\n");
      exit(1);
    }
    cap *= 2;
  }
  free(z);
  return json;
}

static void *worker(void *arg) {
  job *j = arg;
#ifdef GATELOG_HAVE_LIBDEFLATE
  struct libdeflate_compressor *c = libdeflate_alloc_compressor(j->level);
#endif
  for (;;) {
    size_t i = atomic_fetch_add(&j->next, 1);
    if (i >= j->n) break;
    unsigned char *z;
    size_t zlen;
#ifdef GATELOG_HAVE_LIBDEFLATE
    if (j->compressor != GATELOG_COMPRESS_ZLIB) {
      size_t cap = libdeflate_zlib_compress_bound(c, j->len[i]);
      z = malloc(cap);
      zlen = libdeflate_zlib_compress(c, j->json[i], j->len[i], z, cap);
    } else
#endif
    {
      uLongf n = compressBound((uLong)j->len[i]);
      z = malloc(n);
      compress2(z, &n, (const Bytef *)j->json[i], (uLong)j->len[i], j->level);
      zlen = n;
    }
    char *b64 = malloc(gl_base64_len(zlen) + 1);
    gl_base64_encode(z, zlen, b64);
    free(b64);
    free(z);
  }
#ifdef GATELOG_HAVE_LIBDEFLATE
  libdeflate_free_compressor(c);
#endif
  return NULL;
}

double compression_bound(const payloads *p, const bench_opts *o, int threads) {
  job j = {malloc(p->n * sizeof(char *)), malloc(p->n * sizeof(size_t)), p->n, 0, o->level,
           o->compressor};
  for (size_t i = 0; i < p->n; i++) j.json[i] = to_json(p->data[i], p->len[i], &j.len[i]);
  pthread_t t[64];
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  for (int i = 0; i < threads; i++) pthread_create(&t[i], NULL, worker, &j);
  for (int i = 0; i < threads; i++) pthread_join(t[i], NULL);
  clock_gettime(CLOCK_MONOTONIC, &b);
  for (size_t i = 0; i < p->n; i++) free(j.json[i]);
  free(j.json);
  free(j.len);
  return (b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9;
}
