#include "runtime/runtime.h"

#include <lauxlib.h>
#include <lualib.h>
#include <luajit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/sandbox.h"
#include "util/buf.h"
#include "util/file.h"

#ifndef GATELOG_LUA_DIR
#define GATELOG_LUA_DIR "/usr/local/share/lua/5.1"
#endif

#define LOAD_BUDGET_NS 1000000000ull /* running the chunk itself: a second */
#define SCRIPT_MAX_BYTES (16u << 20)

static int traceback(lua_State *L) {
  const char *msg = lua_tostring(L, 1);
  if (msg == NULL) msg = luaL_typename(L, 1);
  luaL_traceback(L, L, msg, 1);
  return 1;
}

void gl_rt_object_type(lua_State *L, const char *name, const luaL_Reg *methods, lua_CFunction gc,
                       lua_CFunction tostring) {
  if (luaL_newmetatable(L, name)) {
    lua_newtable(L);
    luaL_register(L, NULL, methods);
    lua_setfield(L, -2, "__index");
    if (gc) {
      lua_pushcfunction(L, gc);
      lua_setfield(L, -2, "__gc");
    }
    if (tostring) {
      lua_pushcfunction(L, tostring);
      lua_setfield(L, -2, "__tostring");
    }
    lua_pushstring(L, name);
    lua_setfield(L, -2, "__metatable");
  }
  lua_pop(L, 1);
}

size_t gl_rt_first_line(const char *msg) {
  const char *nl = strchr(msg, '\n');
  return nl ? (size_t)(nl - msg) : strlen(msg);
}

int gl_read_script(const char *path, char **data, size_t *len) {
  /* A FIFO or a device would block the loop thread: regular files only. */
  return gl_file_read_regular(path, SCRIPT_MAX_BYTES, data, len);
}

/* package.path for the script: lua_path, the script's directory, the
 * lua/ directory beside it (the source tree), ../../lua/5.1 from it (an
 * install: share/gatelog/scripts beside share/lua/5.1, under whatever
 * prefix it was copied to), the configured install's lua directory (and,
 * without the sandbox, LuaJIT's own). So the ready scripts run from either
 * without a lua_path; a module's trust is decided by its content, not by
 * where it was found. */
static char *search_path(gatelog_t *gl, const char *path, const char *system) {
  gl_buf b = {0};
  const char *slash = strrchr(path, '/');
  if (gl->lua_path && *gl->lua_path) gl_buf_printf(&b, "%s;", gl->lua_path);
  if (slash) {
    int dl = (int)(slash - path);
    gl_buf_printf(&b, "%.*s/?.lua;%.*s/?/init.lua;", dl, path, dl, path);
    gl_buf_printf(&b, "%.*s/../lua/?.lua;%.*s/../lua/?/init.lua;", dl, path, dl, path);
    gl_buf_printf(&b, "%.*s/../../lua/5.1/?.lua;%.*s/../../lua/5.1/?/init.lua;", dl, path, dl, path);
  } else {
    gl_buf_printf(&b, "./?.lua;./?/init.lua;../lua/?.lua;../lua/?/init.lua;");
  }
  gl_buf_printf(&b, "%s/?.lua;%s/?/init.lua", GATELOG_LUA_DIR, GATELOG_LUA_DIR);
  if (system) gl_buf_printf(&b, ";%s", system);
  return b.data;
}

int gl_rt_open(gl_runtime *rt, gatelog_t *gl, const char *path) {
  rt->gl = gl;
  rt->refs = 1;
  rt->budget.time_ns = gl->opts.script_budget_ms * 1000000ull;
  rt->budget.memory_max = gl->opts.script_memory_max;
  if ((rt->path = strdup(path)) == NULL || (rt->L = gl_budget_newstate(&rt->budget)) == NULL) {
    gl_set_error(gl, "out of memory creating the Lua state for %s", path);
    return UV_ENOMEM;
  }
  lua_State *L = rt->L;
  gl->stats.script_states++;
  luaL_openlibs(L);
  lua_pushcfunction(L, traceback);
  rt->traceback_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_getglobal(L, "package");
  lua_getfield(L, -1, "path");
  char *spath = search_path(gl, path, gl->opts.sandbox ? NULL : lua_tostring(L, -1));
  lua_pop(L, 1);
  lua_pushstring(L, spath ? spath : "");
  lua_setfield(L, -2, "path");
  lua_pop(L, 1);
  free(spath);
  return 0;
}

void gl_rt_unref(gl_runtime *rt) {
  if (--rt->refs > 0) return;
  gl_budget_release(&rt->budget);
  if (rt->L) {
    lua_close(rt->L);
    rt->gl->stats.script_states--;
  }
  free(rt->path);
  free(rt); /* the owner: rt is its first member */
}

int gl_rt_run_chunk(gl_runtime *rt, const char *src, size_t len) {
  gatelog_t *gl = rt->gl;
  lua_State *L = rt->L;
  int sandbox = gl->opts.sandbox;
  if (sandbox && len > 0 && src[0] == LUA_SIGNATURE[0]) {
    gl_set_error(gl, "%s: precompiled bytecode is not loaded in the sandbox", rt->path);
    return GATELOG_ESCRIPT;
  }
  int env = 0;
  if (sandbox) {
    lua_getglobal(L, "package");
    lua_getfield(L, -1, "path");
    int failed = gl_sandbox_push(L, lua_tostring(L, -1), rt->budget.time_ns != 0);
    lua_replace(L, -3);
    lua_pop(L, 1);
    if (failed) {
      gl_set_error(gl, "%s: building the sandbox failed: %s", rt->path, lua_tostring(L, -1));
      return GATELOG_ESCRIPT;
    }
    env = lua_gettop(L);
  }
  /* Without the sandbox, what the script loads is not seen: the whole
   * state runs in the interpreter then. */
  gl_budget_arm(L, &rt->budget, !sandbox);
  char chunkname[1024];
  snprintf(chunkname, sizeof(chunkname), "@%s", rt->path);
  if (luaL_loadbuffer(L, src, len, chunkname) != 0) {
    gl_set_error(gl, "cannot load %s", lua_tostring(L, -1));
    return GATELOG_ESCRIPT;
  }
  /* The script's own functions (all of its prototypes) never compile. */
  if (rt->budget.time_ns) luaJIT_setmode(L, -1, LUAJIT_MODE_ALLFUNC | LUAJIT_MODE_OFF);
  if (env) {
    lua_pushvalue(L, env);
    lua_setfenv(L, -2);
  }
  uint64_t budget = rt->budget.time_ns;
  if (budget) rt->budget.time_ns = LOAD_BUDGET_NS;
  int status = gl_rt_call(rt, 0, 1, NULL);
  rt->budget.time_ns = budget;
  if (status != 0) {
    const char *msg = lua_tostring(L, -1);
    gl_set_error(gl, "%s raised while loading: %.*s", rt->path, (int)gl_rt_first_line(msg), msg);
    return GATELOG_ESCRIPT;
  }
  return 0;
}

int gl_rt_call(gl_runtime *rt, int nargs, int nresults, int *budget) {
  lua_State *L = rt->L;
  int base = lua_gettop(L) - nargs;
  lua_rawgeti(L, LUA_REGISTRYINDEX, rt->traceback_ref);
  lua_insert(L, base);
  gl_budget_begin(L, &rt->budget);
  int status = lua_pcall(L, nargs, nresults, base);
  int kind = gl_budget_end(L, &rt->budget);
  lua_remove(L, base);
  if (budget) *budget = kind;
  return status;
}

void gl_rt_failed(gl_runtime *rt, gl_ratelimit *rl, const char *fn, int budget, const char *what) {
  gatelog_t *gl = rt->gl;
  gatelog_stats_t *st = &gl->stats;
  const char *msg = lua_tostring(rt->L, -1);
  if (msg == NULL) msg = "(error object is not a string)";
  st->script_errors++;
  if (budget == GL_BUDGET_TIME) st->budget_exceeded++;
  else if (budget == GL_BUDGET_MEMORY) st->memory_exceeded++;
  uint64_t held;
  if (!gl_ratelimit_allow(rl, gl_now_ms(gl), &held)) return;
  char more[64] = "";
  if (held) snprintf(more, sizeof(more), " (%llu more since the last line)", (unsigned long long)held);
  gl_log(gl, GATELOG_LOG_ERROR, "policy %s %s (script %s): %.*s%s", fn, what, rt->path,
         (int)gl_rt_first_line(msg), msg, more);
  gl_log(gl, GATELOG_LOG_DEBUG, "policy %s traceback: %s", fn, msg);
}

void gl_rt_invoke(gl_runtime *rt, int ref, int nargs, int keep) {
  lua_State *L = rt->L;
  int budget;
  gl_rt_ref(rt);
  lua_rawgeti(L, LUA_REGISTRYINDEX, ref);
  lua_insert(L, -(nargs + 1));
  if (!keep) luaL_unref(L, LUA_REGISTRYINDEX, ref);
  if (gl_rt_call(rt, nargs, 0, &budget) != 0) {
    rt->gl->stats.callback_errors++;
    gl_rt_failed(rt, &rt->rl_callback, "callback", budget, "raised");
    lua_pop(L, 1);
  }
  gl_rt_unref(rt);
}

void gl_rt_callback(gl_runtime *rt, int ref, int ok, const char *err) {
  lua_State *L = rt->L;
  int nargs = 1;
  if (ok) {
    lua_pushboolean(L, 1);
  } else {
    lua_pushnil(L);
    lua_pushstring(L, err ? err : "failed");
    nargs = 2;
  }
  gl_rt_invoke(rt, ref, nargs, 0);
}
