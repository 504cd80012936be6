/* require("gatelog.core"): what the core gives a policy script. Every
 * function checks its arguments at once and raises on misuse; results of
 * asynchronous work come to a callback as (true) or (nil, "ENAME: why").
 * The I/O primitives (timer, tcp, udp, http, gzip, zlib, nats) live in files of
 * their own, installed below. */
#include <lauxlib.h>
#include <stdlib.h>
#include <string.h>

#include "util/clock.h"
#include "outbox/send.h"
#include "prims/io.h"
#include "policy/policy.h"

static gl_policy *policy_of(lua_State *L) {
  return lua_touserdata(L, lua_upvalueindex(1));
}

static int core_file_append(lua_State *L) {
  gl_policy *p = policy_of(L);
  size_t plen, dlen;
  const char *path = luaL_checklstring(L, 1, &plen);
  const char *data = luaL_checklstring(L, 2, &dlen);
  luaL_checktype(L, 3, LUA_TFUNCTION);
  if (plen == 0 || strlen(path) != plen) return luaL_argerror(L, 1, "not a usable path");
  /* Optional rotation: { max_bytes = n, keep = k }. */
  uint64_t max_bytes = 0;
  unsigned keep = 0;
  if (!lua_isnoneornil(L, 4)) {
    luaL_checktype(L, 4, LUA_TTABLE);
    lua_getfield(L, 4, "max_bytes");
    lua_getfield(L, 4, "keep");
    double mb = lua_type(L, -2) == LUA_TNUMBER ? lua_tonumber(L, -2) : -1;
    double k = lua_isnil(L, -1) ? 5 : lua_type(L, -1) == LUA_TNUMBER ? lua_tonumber(L, -1) : -1;
    if (!(mb >= 1 && mb <= 1e15)) return luaL_argerror(L, 4, "max_bytes must be a number of bytes from 1");
    if (!(k >= 1 && k <= 1000) || k != (unsigned)k) return luaL_argerror(L, 4, "keep must be an integer from 1 to 1000");
    if (strcmp(path, "-") == 0) return luaL_argerror(L, 4, "standard output cannot be rotated");
    max_bytes = (uint64_t)mb;
    keep = (unsigned)k;
    lua_pop(L, 2);
  }
  /* Not while the chunk or its checks run: a load that fails must leave
   * no append behind holding its state. */
  gl_io_check_usable(L, &p->rt);
  lua_pushvalue(L, 3);
  int ref = luaL_ref(L, LUA_REGISTRYINDEX);
  int err = gl_file_append(p->rt.gl, &p->rt, path, data, dlen, ref, max_bytes, keep);
  if (err) {
    luaL_unref(L, LUA_REGISTRYINDEX, ref);
    return luaL_error(L, "file_append: %s", gatelog_strerror(err));
  }
  return 0;
}

static int core_log(lua_State *L) {
  static const char *const levels[] = {"error", "warn", "info", "debug", NULL};
  int level = luaL_checkoption(L, 1, NULL, levels);
  const char *msg = luaL_checkstring(L, 2);
  gl_log(policy_of(L)->rt.gl, level, "script: %s", msg);
  return 0;
}

static int core_now(lua_State *L) {
  lua_pushnumber(L, (lua_Number)gl_now_real(policy_of(L)->rt.gl) / 1e9);
  return 1;
}

static int core_hostname(lua_State *L) {
  char name[UV_MAXHOSTNAMESIZE];
  size_t len = sizeof(name);
  int err = uv_os_gethostname(name, &len);
  if (err) {
    lua_pushnil(L);
    lua_pushfstring(L, "%s: %s", uv_err_name(err), uv_strerror(err));
    return 2;
  }
  lua_pushlstring(L, name, len);
  return 1;
}

static void sender_complete(gatelog_send_t *req, int ok, const char *err) {
  gl_policy *p = req->owner;
  req->owner = NULL;
  gl_io_unhold(req->gl, req->len);
  gl_rt_callback(&p->rt, req->cb_ref, ok, err);
  gl_policy_unref(p);
}

static void sender_release(gatelog_send_t *req) {
  if (req->owner == NULL) return; /* completed: released there */
  gl_io_unhold(req->gl, req->len);
  gl_policy_unref(req->owner);
  req->owner = NULL;
}

/* core.senders[name](payload, cb): hand payload to the host's sender. */
static int sender_call(lua_State *L) {
  gl_policy *p = policy_of(L);
  gl_sender *s = lua_touserdata(L, lua_upvalueindex(2));
  size_t len;
  const char *payload = luaL_checklstring(L, 1, &len);
  luaL_checktype(L, 2, LUA_TFUNCTION);
  gatelog_t *gl = p->rt.gl;
  gl_io_check_usable(L, &p->rt);
  /* The copy counts with the script's other I/O in flight. */
  if (gl_io_hold(gl, len) != 0)
    return luaL_error(L, "core.senders.%s: more bytes in flight than script_memory_max", s->name);
  gatelog_send_t *req = gl_host_send_new(gl, payload, len);
  if (req == NULL) {
    gl_io_unhold(gl, len);
    return luaL_error(L, "out of memory");
  }
  req->complete = sender_complete;
  req->release = sender_release;
  req->owner = p;
  gl_policy_ref(p);
  p->rt.io_started++;
  lua_pushvalue(L, 2);
  req->cb_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  gl_host_send_call(req, s->fn, s->data);
  return 0;
}

int gl_policy_add_sender(gl_policy *p, gl_sender *s) {
  lua_State *L = p->rt.L;
  lua_rawgeti(L, LUA_REGISTRYINDEX, p->senders_ref);
  lua_pushlightuserdata(L, p);
  lua_pushlightuserdata(L, s);
  lua_pushcclosure(L, sender_call, 2);
  lua_setfield(L, -2, s->name);
  lua_pop(L, 1);
  return 0;
}

static int open_core(lua_State *L) {
  gl_policy *p = policy_of(L);
  static const luaL_Reg fns[] = {{"file_append", core_file_append},
                                 {"log", core_log},
                                 {"now", core_now},
                                 {"hostname", core_hostname},
                                 {NULL, NULL}};
  lua_createtable(L, 0, 6);
  for (const luaL_Reg *f = fns; f->name; f++) {
    lua_pushlightuserdata(L, p);
    lua_pushcclosure(L, f->func, 1);
    lua_setfield(L, -2, f->name);
  }
  lua_rawgeti(L, LUA_REGISTRYINDEX, p->senders_ref);
  lua_setfield(L, -2, "senders");
  /* Asynchronous I/O on the core's loop (io.h). */
  gl_prims_timer_install(L, &p->rt);
  gl_prims_compress_install(L, &p->rt);
  gl_prims_tcp_install(L, &p->rt);
  gl_prims_udp_install(L, &p->rt);
  gl_prims_http_install(L, &p->rt);
  gl_native_codec_install(L, p);
  gl_prims_nats_install(L, &p->rt);
  return 1;
}

void gl_core_module_install(gl_policy *p) {
  lua_State *L = p->rt.L;
  lua_newtable(L);
  p->senders_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  for (gl_sender *s = p->rt.gl->senders; s; s = s->next) gl_policy_add_sender(p, s);
  lua_getglobal(L, "package");
  lua_getfield(L, -1, "preload");
  lua_pushlightuserdata(L, p);
  lua_pushcclosure(L, open_core, 1);
  lua_setfield(L, -2, "gatelog.core");
  lua_pop(L, 2);
}
