#include "prims/io.h"

#include <assert.h>
#include <lauxlib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/runtime.h"

typedef struct deferred {
  gl_link node; /* in gatelog_t.deferred */
  gl_io_refs refs;
  char err[];
} deferred;

void gl_io_track(gatelog_t *gl, gl_io *io, gl_io_abandon_fn abandon) {
  io->gl = gl;
  io->abandon = abandon;
  gl_list_push(&gl->ios, &io->node);
}

void gl_io_untrack(gl_io *io) {
  if (io->node.next) gl_list_remove(&io->node);
  io->node.next = io->node.prev = NULL;
}

gl_io *gl_io_find(gatelog_t *gl, gl_io_abandon_fn kind,
                  int (*match)(const gl_io *io, const void *key), const void *key) {
  for (gl_link *l = gl->ios.next; l != &gl->ios; l = l->next) {
    gl_io *io = GL_CONTAINER(l, gl_io, node);
    if (io->abandon == kind && match(io, key)) return io;
  }
  return NULL;
}

void gl_ios_abandon(gatelog_t *gl) {
  /* An abandon may close others (a request and its connection): take the
   * head each time rather than walking a list that changes under us. */
  while (!gl_list_empty(&gl->ios)) {
    gl_io *io = GL_CONTAINER(gl->ios.next, gl_io, node);
    gl_io_untrack(io);
    io->abandon(io);
  }
  while (!gl_list_empty(&gl->deferred)) {
    deferred *d = GL_CONTAINER(gl->deferred.next, deferred, node);
    gl_list_remove(&d->node);
    gl_io_refs_release(&d->refs);
    free(d);
  }
}

void gl_io_handle_opened(gatelog_t *gl, uv_handle_t *h) {
  gl->io_open++;
  uv_unref(h);
}

void gl_io_handle_closed(gatelog_t *gl) {
  gl->io_open--;
  gl_schedule_pump(gl);
}

/* ---- the Lua references of an object ---------------------------------- */

void gl_io_refs_init(gl_io_refs *r, gl_runtime *p, int hold) {
  r->policy = p;
  r->held = hold;
  r->self_ref = r->cb_ref = LUA_NOREF;
  if (hold) {
    gl_rt_ref(p);
    p->io_started++;
  }
}

/* Replace the registry reference *ref by one to the value at idx. */
static void keep_value(lua_State *L, int *ref, int idx) {
  luaL_unref(L, LUA_REGISTRYINDEX, *ref);
  *ref = LUA_NOREF;
  if (lua_isnoneornil(L, idx)) return;
  lua_pushvalue(L, idx);
  *ref = luaL_ref(L, LUA_REGISTRYINDEX);
}

void gl_io_refs_set_self(gl_io_refs *r, lua_State *L, int idx) { keep_value(L, &r->self_ref, idx); }

void gl_io_refs_set_cb(gl_io_refs *r, lua_State *L, int idx) { keep_value(L, &r->cb_ref, idx); }

void gl_io_refs_drop_cb(gl_io_refs *r) {
  if (r->policy) luaL_unref(r->policy->L, LUA_REGISTRYINDEX, r->cb_ref);
  r->cb_ref = LUA_NOREF;
}

lua_State *gl_io_refs_target(const gl_io_refs *r) {
  if (r->policy == NULL || r->cb_ref == LUA_NOREF || gl_closing(r->policy->gl)) return NULL;
  return r->policy->L;
}

void gl_io_refs_call(gl_io_refs *r, int nargs, int keep) {
  if (gl_io_refs_target(r) == NULL) return;
  int ref = r->cb_ref;
  /* Forgotten before the call, which releases it: the callback may set
   * another (a read started again), and r is not touched afterwards. */
  if (!keep) r->cb_ref = LUA_NOREF;
  gl_rt_invoke(r->policy, ref, nargs, keep);
}

void gl_io_refs_answer(gl_io_refs *r, const char *err) {
  lua_State *L = gl_io_refs_target(r);
  if (L == NULL) return;
  if (err) {
    lua_pushnil(L);
    lua_pushstring(L, err);
  } else {
    lua_pushboolean(L, 1);
  }
  gl_io_refs_call(r, err ? 2 : 1, 0);
}

void gl_io_refs_status(gl_io_refs *r, int err) {
  char why[256];
  if (err) gl_io_strerror(err, why, sizeof(why));
  gl_io_refs_answer(r, err ? why : NULL);
}

void gl_io_refs_release(gl_io_refs *r) {
  gl_runtime *p = r->policy;
  int held = r->held;
  /* No policy: released already, or its state is closing (a __gc), where
   * the registry goes with the state. */
  assert(p != NULL || !held);
  if (p) {
    luaL_unref(p->L, LUA_REGISTRYINDEX, r->self_ref);
    luaL_unref(p->L, LUA_REGISTRYINDEX, r->cb_ref);
  }
  gl_io_refs_init(r, NULL, 0);
  if (held) gl_rt_unref(p);
}

/* ---- results known at once ------------------------------------------- */

int gl_io_defer_error(gl_io_refs *r, const char *err) {
  assert(r->held);
  if (r->cb_ref == LUA_NOREF) return 0;
  size_t len = strlen(err);
  deferred *d = malloc(sizeof(*d) + len + 1);
  if (d == NULL) return UV_ENOMEM;
  memcpy(d->err, err, len + 1);
  d->refs = *r;
  gl_io_refs_init(r, NULL, 0); /* moved: r holds nothing now */
  gl_list_push(&d->refs.policy->gl->deferred, &d->node);
  gl_schedule_pump(d->refs.policy->gl);
  return 0;
}

void gl_io_run_deferred(gatelog_t *gl) {
  while (!gl_list_empty(&gl->deferred)) {
    deferred *d = GL_CONTAINER(gl->deferred.next, deferred, node);
    gl_list_remove(&d->node);
    gl_io_refs_answer(&d->refs, d->err);
    gl_io_refs_release(&d->refs);
    free(d);
  }
}

int gl_io_hold(gatelog_t *gl, size_t bytes) {
  uint64_t max = gl->opts.script_memory_max;
  if (max && (bytes > max || gl->io_held > max - bytes)) return UV_ENOBUFS;
  gl->io_held += bytes;
  return 0;
}

void gl_io_unhold(gatelog_t *gl, size_t bytes) {
  assert(gl->io_held >= bytes);
  gl->io_held -= bytes;
}

void gl_io_strerror(int err, char *buf, size_t size) {
  snprintf(buf, size, "%s: %s", gatelog_err_name(err), gatelog_strerror(err));
}

int gl_io_push_error(lua_State *L, int err) {
  char why[256];
  gl_io_strerror(err, why, sizeof(why));
  lua_pushnil(L);
  lua_pushstring(L, why);
  return 2;
}

void gl_io_check_usable(lua_State *L, gl_runtime *p) {
  if (!p->loaded) luaL_error(L, "I/O cannot start while the script loads; start it from send or a callback");
  if (gl_closing(p->gl)) luaL_error(L, "gatelog is closed");
}

const char *gl_io_check_host(lua_State *L, int idx) {
  size_t len;
  const char *host = luaL_checklstring(L, idx, &len);
  if (len == 0 || len > 255 || strlen(host) != len) luaL_argerror(L, idx, "not a host name or address");
  return host;
}

int gl_io_check_port(lua_State *L, int idx) {
  double port = luaL_checknumber(L, idx);
  if (!(port >= 1 && port <= 65535) || port != floor(port))
    luaL_argerror(L, idx, "port must be an integer from 1 to 65535");
  return (int)port;
}
