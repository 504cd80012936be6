/* Whole-batch compression, on a compression thread: zlib, or libdeflate when
 * the build has it (the same zlib format, RFC 1950, written faster and
 * smaller), then base64. libdeflate's compressors are costly to set up,
 * so finished ones wait in a small shared pool for the next batch. */
#include <stdlib.h>
#include <zlib.h>

#include "util/base64.h"
#include "internal.h"

#ifdef GATELOG_HAVE_LIBDEFLATE
#include <libdeflate.h>

#define POOL_MAX 16

static uv_mutex_t pool_lock;
static uv_once_t pool_once = UV_ONCE_INIT;
static struct libdeflate_compressor *pool[POOL_MAX];
static int pool_level[POOL_MAX];
static int pool_n;

static void pool_init(void) { uv_mutex_init(&pool_lock); }

static struct libdeflate_compressor *take(int level) {
  struct libdeflate_compressor *c = NULL;
  uv_once(&pool_once, pool_init);
  uv_mutex_lock(&pool_lock);
  for (int i = pool_n - 1; i >= 0; i--) {
    if (pool_level[i] != level) continue;
    c = pool[i];
    pool[i] = pool[pool_n - 1];
    pool_level[i] = pool_level[pool_n - 1];
    pool_n--;
    break;
  }
  uv_mutex_unlock(&pool_lock);
  return c ? c : libdeflate_alloc_compressor(level);
}

static void give_back(struct libdeflate_compressor *c, int level) {
  uv_mutex_lock(&pool_lock);
  if (pool_n < POOL_MAX) {
    pool[pool_n] = c;
    pool_level[pool_n++] = level;
    c = NULL;
  }
  uv_mutex_unlock(&pool_lock);
  libdeflate_free_compressor(c);
}

static size_t with_libdeflate(gl_batch *b, unsigned char **out) {
  struct libdeflate_compressor *c = take(b->level);
  if (c == NULL) return 0;
  size_t cap = libdeflate_zlib_compress_bound(c, b->json.len);
  size_t n = 0;
  if ((*out = malloc(cap)) != NULL) n = libdeflate_zlib_compress(c, b->json.data, b->json.len, *out, cap);
  give_back(c, b->level);
  return n;
}
#endif

int gl_deflate_have(int compressor) {
#ifdef GATELOG_HAVE_LIBDEFLATE
  (void)compressor;
  return 1;
#else
  return compressor != GATELOG_COMPRESS_LIBDEFLATE;
#endif
}

static size_t with_zlib(gl_batch *b, unsigned char **out) {
  uLongf n = compressBound((uLong)b->json.len);
  if ((*out = malloc(n)) == NULL) return 0;
  if (compress2(*out, &n, (const Bytef *)b->json.data, (uLong)b->json.len, b->level) != Z_OK) return 0;
  return n;
}

void gl_deflate_batch(gl_batch *b) {
  unsigned char *z = NULL;
  size_t zlen;
#ifdef GATELOG_HAVE_LIBDEFLATE
  if (b->compressor != GATELOG_COMPRESS_ZLIB) zlen = with_libdeflate(b, &z);
  else
#endif
    zlen = with_zlib(b, &z);
  if (zlen == 0 || (b->payload = malloc(gl_base64_len(zlen) + 1)) == NULL) {
    free(z);
    b->work_err = UV_ENOMEM;
    return;
  }
  b->payload_len = gl_base64_len(zlen);
  gl_base64_encode(z, zlen, b->payload);
  b->payload[b->payload_len] = '\0';
  b->zlib_len = zlen;
  /* The spool stores the zlib stream itself; its thread frees it. */
  if (b->gl->spool) b->zlib = z;
  else free(z);
}
