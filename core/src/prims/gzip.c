/* core.gzip(data, cb [, level]) and core.zlib(data, cb [, level]):
 * compress a body on the libuv thread pool (a large batch would hold the
 * loop for milliseconds) and call cb(compressed) or cb(nil, err). gzip is
 * RFC 1952 (Content-Encoding: gzip), zlib RFC 1950. */
#include <lauxlib.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "prims/io.h"
#include "prims/pool.h"
#include "runtime/runtime.h"

enum { FORMAT_ZLIB = 15, FORMAT_GZIP = 15 + 16 }; /* deflateInit2's windowBits */

typedef struct compress_req {
  gl_io io;          /* tracked until done: the close abandons it */
  size_t held;       /* gl_io_hold'd: the input and room for the output */
  uv_work_t work;
  gl_pool_job job;   /* in the script's share of the pool */
  gl_io_refs refs;   /* the callback and the policy */
  int format;
  int level;
  int result;
  unsigned char *out;
  size_t out_len;
  size_t len;
  unsigned char data[];
} compress_req;

static void compress_work(uv_work_t *w) {
  compress_req *r = w->data;
  z_stream z;
  memset(&z, 0, sizeof(z));
  if (deflateInit2(&z, r->level, Z_DEFLATED, r->format, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
    r->result = UV_ENOMEM;
    return;
  }
  /* deflateBound covers the gzip header and trailer too. */
  size_t cap = deflateBound(&z, (uLong)r->len);
  r->out = malloc(cap);
  if (r->out == NULL) {
    deflateEnd(&z);
    r->result = UV_ENOMEM;
    return;
  }
  z.next_in = r->data;
  z.avail_in = (uInt)r->len;
  z.next_out = r->out;
  z.avail_out = (uInt)cap;
  int rc = deflate(&z, Z_FINISH);
  r->out_len = cap - z.avail_out;
  deflateEnd(&z);
  if (rc != Z_STREAM_END) r->result = UV_ENOMEM;
}

static void compress_done(uv_work_t *w, int status) {
  compress_req *r = w->data;
  gatelog_t *gl = r->io.gl;
  gl_pool_done(gl, &r->job);
  gl_io_unhold(gl, r->held);
  gl_work_end(gl);
  gl_io_untrack(&r->io);
  int err = status ? status : r->result;
  /* Abandoned by the close: no callback (no state to push on either). */
  lua_State *L = gl_io_refs_target(&r->refs);
  if (L) {
    if (err) gl_io_push_error(L, err);
    else lua_pushlstring(L, (const char *)r->out, r->out_len);
    gl_io_refs_call(&r->refs, err ? 2 : 1, 0);
  }
  gl_io_refs_release(&r->refs);
  free(r->out);
  free(r);
  gl_schedule_pump(gl); /* a close may be waiting for this work */
}

/* The close: the compression cannot be stopped and runs on; the script
 * hears nothing of it. */
static void abandon(gl_io *io) {
  compress_req *r = GL_CONTAINER(io, compress_req, io);
  gl_io_refs_release(&r->refs);
  if (gl_pool_cancel(io->gl, &r->job)) { /* never started: nothing will complete it */
    gl_work_end(io->gl);
    gl_io_unhold(io->gl, r->held);
    free(r);
  }
}

static int compress_start(gl_pool_job *job) {
  compress_req *r = GL_CONTAINER(job, compress_req, job);
  return uv_queue_work(r->io.gl->loop, &r->work, compress_work, compress_done);
}

static void compress_failed(gl_pool_job *job, int err) {
  compress_req *r = GL_CONTAINER(job, compress_req, job);
  compress_done(&r->work, err);
}

static int start(lua_State *L, int format) {
  gl_runtime *p = lua_touserdata(L, lua_upvalueindex(1));
  size_t len;
  const char *data = luaL_checklstring(L, 1, &len);
  luaL_checktype(L, 2, LUA_TFUNCTION);
  int level = (int)luaL_optinteger(L, 3, 6);
  if (level < 0 || level > 9) return luaL_argerror(L, 3, "level must be from 0 to 9");
  if (len > UINT32_MAX) return luaL_argerror(L, 1, "data larger than 4 GiB");
  gl_io_check_usable(L, p);
  size_t held = 2 * len + 1024;
  if (gl_io_hold(p->gl, held) != 0) return luaL_error(L, "not enough memory for I/O in flight");
  compress_req *r = malloc(sizeof(*r) + len);
  if (r == NULL) {
    gl_io_unhold(p->gl, held);
    return luaL_error(L, "out of memory");
  }
  memset(r, 0, sizeof(*r));
  r->held = held;
  memcpy(r->data, data, len);
  r->len = len;
  r->format = format;
  r->level = level;
  r->work.data = r;
  r->io.gl = p->gl;
  r->job.start = compress_start;
  r->job.failed = compress_failed;
  int err = gl_pool_submit(p->gl, &r->job);
  if (err) {
    gl_io_unhold(p->gl, held);
    free(r);
    return luaL_error(L, "cannot queue compression: %s", uv_strerror(err));
  }
  gl_work_begin(p->gl);
  gl_io_track(p->gl, &r->io, abandon);
  gl_io_refs_init(&r->refs, p, 1);
  gl_io_refs_set_cb(&r->refs, L, 2);
  return 0;
}

static int core_gzip(lua_State *L) { return start(L, FORMAT_GZIP); }
static int core_zlib(lua_State *L) { return start(L, FORMAT_ZLIB); }

void gl_prims_compress_install(lua_State *L, gl_runtime *p) {
  lua_pushlightuserdata(L, p);
  lua_pushcclosure(L, core_gzip, 1);
  lua_setfield(L, -2, "gzip");
  lua_pushlightuserdata(L, p);
  lua_pushcclosure(L, core_zlib, 1);
  lua_setfield(L, -2, "zlib");
}
