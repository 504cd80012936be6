/* core.udp.send(host, port, data [, cb]): send datagrams on the core's
 * loop. data is one string (one datagram) or an array of strings (one
 * datagram each, in order: one resolution and one socket for a batch of
 * syslog records). cb(true) once all are sent, or cb(nil, err) at the
 * first failure. "Sent" is all UDP can say: nothing tells whether a
 * datagram arrived. */
#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prims/io.h"
#include "prims/pool.h"
#include "runtime/runtime.h"

#define DATAGRAM_MAX 65507 /* the largest UDP payload over IPv4 */

typedef struct udp_op {
  gl_io io;
  uv_udp_t udp;
  gl_resolve resolve;  /* in the script's share of the pool */
  gl_io_refs refs;     /* the callback, if any, and the policy */
  int resolving;
  int finished;        /* the callback ran (or will not) */
  int holds;           /* the handle + the resolution in flight */
  int err;
  size_t held;         /* gl_io_hold'd: the datagrams' copy */
  uint32_t count, sent;
  uv_udp_send_t *reqs;
  uv_buf_t *bufs;
  char *data;
} udp_op;

static void release(udp_op *op) {
  if (--op->holds > 0) return;
  gl_io_unhold(op->io.gl, op->held);
  free(op->reqs);
  free(op->bufs);
  free(op->data);
  free(op);
}

static void on_closed(uv_handle_t *h) {
  udp_op *op = h->data;
  gatelog_t *gl = op->io.gl;
  release(op);
  gl_io_handle_closed(gl);
}

/* Report once, close the socket, drop the policy reference last. */
static void finish(udp_op *op, int err) {
  if (op->finished) return;
  op->finished = 1;
  gl_io_untrack(&op->io);
  if (op->resolving && gl_resolve_cancel(op->io.gl, &op->resolve)) {
    /* It never started: nothing will call on_resolved. */
    op->resolving = 0;
    op->holds--; /* the handle still holds it */
    gl_work_end(op->io.gl);
    gl_schedule_pump(op->io.gl);
  }
  uv_close((uv_handle_t *)&op->udp, on_closed);
  gl_io_refs_status(&op->refs, err);
  gl_io_refs_release(&op->refs);
}

static void on_sent(uv_udp_send_t *req, int status) {
  udp_op *op = req->data;
  if (op->finished) return;
  if (status) {
    finish(op, status);
    return;
  }
  if (++op->sent == op->count) finish(op, 0);
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res) {
  udp_op *op = req->data;
  gatelog_t *gl = op->io.gl;
  gl_resolve_done(gl, &op->resolve);
  gl_work_end(gl);
  op->resolving = 0;
  if (op->finished) {
    if (res) uv_freeaddrinfo(res);
    release(op);
    gl_schedule_pump(gl);
    return;
  }
  op->holds--; /* the handle still holds it */
  if (status) {
    finish(op, status);
    return;
  }
  for (uint32_t i = 0; i < op->count; i++) {
    op->reqs[i].data = op;
    int err = uv_udp_send(&op->reqs[i], &op->udp, &op->bufs[i], 1, res->ai_addr, on_sent);
    if (err) {
      /* The ones queued before are cancelled by the close. */
      uv_freeaddrinfo(res);
      finish(op, err);
      return;
    }
  }
  uv_freeaddrinfo(res);
  if (op->count == 0) finish(op, 0);
}

/* The core is closing: released first, the callback does not run. */
static void abandon(gl_io *io) {
  udp_op *op = GL_CONTAINER(io, udp_op, io);
  gl_io_refs_release(&op->refs);
  finish(op, UV_ECANCELED);
}

/* The datagrams of argument idx: their count and total size; raises on
 * anything that is not a string or an array of strings that fit. */
static uint32_t check_datagrams(lua_State *L, int idx, size_t *total) {
  *total = 0;
  if (lua_type(L, idx) == LUA_TSTRING) {
    *total = lua_objlen(L, idx);
    if (*total > DATAGRAM_MAX) luaL_argerror(L, idx, "datagram larger than 65507 bytes");
    return 1;
  }
  if (lua_type(L, idx) != LUA_TTABLE) luaL_typerror(L, idx, "string or array of strings");
  size_t n = lua_objlen(L, idx);
  if (n > 100000) luaL_argerror(L, idx, "more than 100000 datagrams");
  for (size_t i = 1; i <= n; i++) {
    lua_rawgeti(L, idx, (int)i);
    if (lua_type(L, -1) != LUA_TSTRING) luaL_argerror(L, idx, "every datagram must be a string");
    size_t len = lua_objlen(L, -1);
    if (len > DATAGRAM_MAX) luaL_argerror(L, idx, "datagram larger than 65507 bytes");
    *total += len;
    lua_pop(L, 1);
  }
  return (uint32_t)n;
}

static int core_udp_send(lua_State *L) {
  gl_runtime *p = lua_touserdata(L, lua_upvalueindex(1));
  const char *host = gl_io_check_host(L, 1);
  int port = gl_io_check_port(L, 2);
  size_t total;
  uint32_t count = check_datagrams(L, 3, &total);
  if (!lua_isnoneornil(L, 4)) luaL_checktype(L, 4, LUA_TFUNCTION);
  gl_io_check_usable(L, p);
  gatelog_t *gl = p->gl;
  if (gl_io_hold(gl, total) != 0) return luaL_error(L, "not enough memory for I/O in flight");
  udp_op *op = calloc(1, sizeof(*op));
  if (op) {
    op->reqs = calloc(count ? count : 1, sizeof(*op->reqs));
    op->bufs = calloc(count ? count : 1, sizeof(*op->bufs));
    op->data = malloc(total ? total : 1);
  }
  if (op == NULL || op->reqs == NULL || op->bufs == NULL || op->data == NULL) {
    if (op) free(op->reqs), free(op->bufs), free(op->data);
    free(op);
    gl_io_unhold(gl, total);
    return luaL_error(L, "out of memory");
  }
  size_t off = 0;
  for (uint32_t i = 0; i < count; i++) {
    size_t len;
    const char *d;
    if (lua_type(L, 3) == LUA_TSTRING) {
      d = lua_tolstring(L, 3, &len);
    } else {
      lua_rawgeti(L, 3, (int)i + 1);
      d = lua_tolstring(L, -1, &len);
      lua_pop(L, 1); /* still referenced by the table */
    }
    memcpy(op->data + off, d, len);
    op->bufs[i] = uv_buf_init(op->data + off, (unsigned)len);
    off += len;
  }
  op->count = count;
  op->held = total;
  op->resolve.gai.data = op;
  op->io.gl = gl;
  int err = gl_resolve_start(gl, &op->resolve, host, port, SOCK_DGRAM, on_resolved);
  if (err) {
    free(op->reqs), free(op->bufs), free(op->data), free(op);
    gl_io_unhold(gl, total);
    return luaL_error(L, "udp.send: %s", uv_strerror(err));
  }
  gl_work_begin(gl);
  op->resolving = 1;
  op->holds = 2;
  uv_udp_init(gl->loop, &op->udp);
  op->udp.data = op;
  gl_io_handle_opened(gl, (uv_handle_t *)&op->udp);
  gl_io_track(gl, &op->io, abandon);
  gl_io_refs_init(&op->refs, p, 1);
  gl_io_refs_set_cb(&op->refs, L, 4);
  return 0;
}

void gl_prims_udp_install(lua_State *L, gl_runtime *p) {
  lua_createtable(L, 0, 1);
  lua_pushlightuserdata(L, p);
  lua_pushcclosure(L, core_udp_send, 1);
  lua_setfield(L, -2, "send");
  lua_setfield(L, -2, "udp");
}
