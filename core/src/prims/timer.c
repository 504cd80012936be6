/* core.timer(seconds, fn): call fn once, seconds from now, on the loop.
 * Returns a handle whose :stop() cancels it. An armed timer holds its
 * policy (a reload does not lose it) and its own handle object (a timer
 * the script does not keep still fires). */
#include <lauxlib.h>
#include <math.h>
#include <stdlib.h>

#include "prims/io.h"
#include "runtime/runtime.h"

#define TIMER_MT "gatelog.timer"
#define TIMER_MAX_S (365.0 * 86400)

typedef struct script_timer {
  gl_io io;
  uv_timer_t handle;
  gl_io_refs refs;          /* fn, the Lua handle and the policy, while armed */
  struct script_timer **ud; /* the Lua handle's pointer to us */
} script_timer;

static void on_closed(uv_handle_t *h) {
  script_timer *t = h->data;
  gatelog_t *gl = t->io.gl;
  free(t);
  gl_io_handle_closed(gl);
}

/* Disarm: detach from the Lua handle and close. The references go with
 * the caller's gl_io_refs_release, after any last call. */
static void disarm(script_timer *t) {
  gl_io_untrack(&t->io);
  uv_close((uv_handle_t *)&t->handle, on_closed);
  *t->ud = NULL;
}

static void on_fire(uv_timer_t *h) {
  script_timer *t = h->data;
  disarm(t);
  gl_io_refs_call(&t->refs, 0, 0);
  gl_io_refs_release(&t->refs);
}

/* Stopped by the script, or abandoned by the close: fn never runs. */
static void stop(script_timer *t) {
  disarm(t);
  gl_io_refs_release(&t->refs);
}

static void abandon(gl_io *io) { stop(GL_CONTAINER(io, script_timer, io)); }

static int core_timer(lua_State *L) {
  gl_runtime *p = lua_touserdata(L, lua_upvalueindex(1));
  double secs = luaL_checknumber(L, 1);
  luaL_checktype(L, 2, LUA_TFUNCTION);
  if (!(secs >= 0 && secs <= TIMER_MAX_S)) return luaL_argerror(L, 1, "seconds must be from 0 to 365 days");
  gl_io_check_usable(L, p);
  script_timer **ud = lua_newuserdata(L, sizeof(*ud));
  *ud = NULL;
  luaL_getmetatable(L, TIMER_MT);
  lua_setmetatable(L, -2);
  script_timer *t = calloc(1, sizeof(*t));
  if (t == NULL) return luaL_error(L, "out of memory");
  uv_timer_init(p->gl->loop, &t->handle);
  t->handle.data = t;
  gl_io_handle_opened(p->gl, (uv_handle_t *)&t->handle);
  gl_io_track(p->gl, &t->io, abandon);
  t->ud = ud;
  *ud = t;
  gl_io_refs_init(&t->refs, p, 1);
  gl_io_refs_set_cb(&t->refs, L, 2);
  gl_io_refs_set_self(&t->refs, L, -1);
  uv_timer_start(&t->handle, on_fire, (uint64_t)llround(secs * 1000), 0);
  return 1;
}

/* timer:stop() -> true if it was armed (fn will not run), false if it
 * had fired or was stopped already. */
static int timer_stop(lua_State *L) {
  script_timer **ud = luaL_checkudata(L, 1, TIMER_MT);
  script_timer *t = *ud;
  if (t == NULL) {
    lua_pushboolean(L, 0);
    return 1;
  }
  stop(t);
  lua_pushboolean(L, 1);
  return 1;
}

void gl_prims_timer_install(lua_State *L, gl_runtime *p) {
  static const luaL_Reg methods[] = {{"stop", timer_stop}, {NULL, NULL}};
  gl_rt_object_type(L, TIMER_MT, methods, NULL, NULL);
  lua_pushlightuserdata(L, p);
  lua_pushcclosure(L, core_timer, 1);
  lua_setfield(L, -2, "timer");
}
