#include "runtime/sandbox.h"

#include <lauxlib.h>
#include <string.h>

#include "runtime/bounded.h"
#include "runtime/budget.h"

/* Runs with the state's full library, before any script code: what it
 * reads, it reads from tables the script cannot reach or has not had a
 * chance to change, and the functions it leaves behind keep their own
 * locals (never a global a script could replace). Returns the script's
 * environment and the module cache that require (require.c) starts
 * from. */
static const char builder[] =
    "local untrusted_nojit, lj_find = ...\n"
    "local G, pairs, ipairs, select, tostring, error = _G, pairs, ipairs, select, tostring, error\n"
    "local type, bounded_find = type, string.find\n"
    "-- A plain search for a short needle stays LuaJIT's own, which the JIT\n"
    "-- compiles (at most 32 comparisons a byte); the rest is bounded.\n"
    "string.find = function(s, p, init, plain)\n"
    "  if plain and type(s) == 'string' and type(p) == 'string' and #p <= 32 then\n"
    "    return lj_find(s, p, init, true)\n"
    "  end\n"
    "  return bounded_find(s, p, init, plain)\n"
    "end\n"
    "local concat, collect, load_ = table.concat, collectgarbage, load\n"
    "-- Under a time budget the script's code runs in the interpreter (a\n"
    "-- compiled loop never reaches the budget's hook).\n"
    "local jit_off = untrusted_nojit and jit and jit.off or function() end\n"
    "local env = {}\n"
    "for _, k in ipairs({ 'assert', 'error', 'ipairs', 'next', 'pairs', 'pcall', 'select',\n"
    "    'tonumber', 'tostring', 'type', 'unpack', 'rawequal', 'rawget', 'rawset',\n"
    "    'setmetatable', '_VERSION' }) do\n"
    "  env[k] = G[k]\n"
    "end\n"
    "local function copy(t)\n"
    "  local c = {}\n"
    "  for k, v in pairs(t) do c[k] = v end\n"
    "  return c\n"
    "end\n"
    "env.string, env.table, env.math = copy(string), copy(table), copy(math)\n"
    "env.coroutine, env.bit = copy(coroutine), copy(bit)\n"
    "env.os = { time = os.time, clock = os.clock, date = os.date, difftime = os.difftime,\n"
    "           getenv = os.getenv }\n"
    "local gc_ok = { count = true, collect = true, step = true }\n"
    "env.collectgarbage = function(opt, arg)\n"
    "  opt = opt or 'collect'\n"
    "  if not gc_ok[opt] then error(\"collectgarbage('\" .. tostring(opt) .. \"') is not allowed\", 2) end\n"
    "  return collect(opt, arg)\n"
    "end\n"
    "local core = require('gatelog.core')\n"
    "local log = core.log\n"
    "env.print = function(...)\n"
    "  local parts = {}\n"
    "  for i = 1, select('#', ...) do parts[i] = tostring((select(i, ...))) end\n"
    "  log('info', concat(parts, '\\t'))\n"
    "end\n"
    "local function sandbox_load(chunk, name, mode, e)\n"
    "  local f, err = load_(chunk, name, 't', e or env)\n"
    "  if f then jit_off(f, true) end\n"
    "  return f, err\n"
    "end\n"
    "env.load = sandbox_load\n"
    "env.loadstring = function(s, name) return sandbox_load(s, name) end\n"
    "env._G = env\n"
    "local loaded = { ['gatelog.core'] = core, cjson = require('cjson'),\n"
    "  ['cjson.safe'] = require('cjson.safe'), string = env.string, table = env.table,\n"
    "  math = env.math, os = env.os, coroutine = env.coroutine, bit = env.bit }\n"
    "return env, loaded\n";

/* xpcall's message handler, wrapped: upvalues the script's handler and
 * the budget. A handler runs where the error was raised, before the
 * stack unwinds; when the budget's hook raised it, hooks are still off
 * there, and a handler that loops would never stop. So once the budget
 * is spent the error passes through untouched and no script code runs. */
static int xpcall_handler(lua_State *L) {
  gl_budget *b = lua_touserdata(L, lua_upvalueindex(2));
  if (b && b->expired) return 1;
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, lua_gettop(L) - 1, 1);
  return 1;
}

/* xpcall(f, handler, ...) as LuaJIT's, through xpcall_handler. */
static int sandbox_xpcall(lua_State *L) {
  luaL_checkany(L, 2);
  int n = lua_gettop(L);
  lua_pushvalue(L, 2);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_pushcclosure(L, xpcall_handler, 2);
  lua_replace(L, 2);
  lua_pushvalue(L, 1);
  lua_insert(L, 3); /* handler, f, args... */
  int status = lua_pcall(L, n - 2, LUA_MULTRET, 2);
  lua_pushboolean(L, status == 0);
  lua_replace(L, 2);
  return lua_gettop(L) - 1;
}

/* getmetatable for tables only: a userdata's metatable (gatelog's objects)
 * would let a script set a __gc, which runs with hooks off, at any
 * collection and in lua_close. Others give their __metatable field. */
static int sandbox_getmetatable(lua_State *L) {
  luaL_checkany(L, 1);
  if (!lua_getmetatable(L, 1)) return 0;
  lua_pushliteral(L, "__metatable");
  lua_rawget(L, -2);
  if (!lua_isnil(L, -1) || lua_type(L, 1) != LUA_TTABLE) return 1;
  lua_pop(L, 1);
  return 1;
}

/* The state's own string and table libraries, before any copy is made:
 * bounded functions, no string.dump, and a locked string metatable (its
 * __index is the real string table: a script that reached it could change
 * string methods under gatelog's own code). */
static void harden_libraries(lua_State *L, gl_budget *b) {
  lua_getglobal(L, "string");
  lua_getfield(L, -1, "find"); /* LuaJIT's, for the builder */
  lua_insert(L, -2);
  gl_bounded_patterns(L, -1, b);
  lua_pushnil(L);
  lua_setfield(L, -2, "dump");
  lua_pop(L, 1);
  lua_getglobal(L, "table");
  gl_bounded_sort(L, -1, b);
  lua_pop(L, 1);
  lua_pushliteral(L, "");
  lua_getmetatable(L, -1);
  lua_pushliteral(L, "string");
  lua_setfield(L, -2, "__metatable");
  lua_pop(L, 2);
  /* LuaJIT's find is left on the stack. */
}

static int build(lua_State *L) {
  const char *path = lua_tostring(L, 1);
  int untrusted_nojit = lua_toboolean(L, 2);
  gl_budget *b = gl_budget_of(L);
  harden_libraries(L, b);
  if (luaL_loadbuffer(L, builder, sizeof(builder) - 1, "=gatelog.sandbox") != 0) lua_error(L);
  lua_pushboolean(L, untrusted_nojit);
  lua_pushvalue(L, -3);
  lua_call(L, 2, 2); /* env, loaded */
  int env = lua_gettop(L) - 1;
  lua_pushlightuserdata(L, b);
  lua_pushcclosure(L, sandbox_xpcall, 1);
  lua_setfield(L, env, "xpcall");
  lua_pushcfunction(L, sandbox_getmetatable);
  lua_setfield(L, env, "getmetatable");
  gl_require_push(L, env, env + 1, path, untrusted_nojit);
  lua_setfield(L, env, "require");
  lua_pop(L, 1);
  return 1;
}

int gl_sandbox_push(lua_State *L, const char *path, int untrusted_nojit) {
  lua_pushcfunction(L, build);
  lua_pushstring(L, path);
  lua_pushboolean(L, untrusted_nojit);
  return lua_pcall(L, 2, 1, 0) == 0 ? 0 : -1;
}
