#include "budget.h"

#include <lauxlib.h>
#include <luajit.h>
#include <stdlib.h>

#include "clock.h"

#define HOOK_EVERY 1000 /* instructions between clock reads */

static void *budget_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
  gl_budget *b = ud;
  size_t old = ptr ? osize : 0;
  if (nsize == 0) {
    free(ptr);
    b->memory -= old;
    return NULL;
  }
  if (b->enforcing && b->memory_max && nsize > old && b->memory + (nsize - old) > b->memory_max) {
    b->out_of_memory = 1;
    return NULL; /* Lua raises "not enough memory" in the call that grew */
  }
  void *p = realloc(ptr, nsize);
  if (p != NULL) b->memory = b->memory - old + nsize;
  return p;
}

lua_State *gl_budget_newstate(gl_budget *b) { return lua_newstate(budget_alloc, b); }

static void budget_hook(lua_State *L, lua_Debug *ar) {
  void *ud;
  lua_getallocf(L, &ud);
  gl_budget *b = ud;
  if (b->deadline_ns == 0 || gl_clock_mono_ns() < b->deadline_ns) return;
  b->expired = 1;
  /* From now on every instruction raises, so that a script catching the
   * error with pcall cannot keep the call alive. */
  lua_sethook(L, budget_hook, LUA_MASKCOUNT, 1);
  lua_getinfo(L, "Sl", ar);
  luaL_error(L, "%s:%d: script budget of %d ms exceeded", ar->short_src, ar->currentline,
             (int)(b->time_ns / 1000000));
}

void gl_budget_arm(lua_State *L, gl_budget *b) {
  if (b->time_ns == 0) return;
  /* Compiled traces do not call hooks: with the JIT off every instruction
   * goes through the interpreter, which does. */
  luaJIT_setmode(L, 0, LUAJIT_MODE_ENGINE | LUAJIT_MODE_OFF);
  lua_sethook(L, budget_hook, LUA_MASKCOUNT, HOOK_EVERY);
}

void gl_budget_begin(lua_State *L, gl_budget *b) {
  (void)L;
  if (b->depth++ > 0) return; /* the outer call's deadline stands */
  b->expired = b->out_of_memory = 0;
  b->enforcing = 1;
  if (b->time_ns) b->deadline_ns = gl_clock_mono_ns() + b->time_ns;
}

int gl_budget_end(lua_State *L, gl_budget *b) {
  if (--b->depth > 0) return 0;
  int kind = b->expired ? GL_BUDGET_TIME : b->out_of_memory ? GL_BUDGET_MEMORY : 0;
  b->deadline_ns = 0;
  b->enforcing = 0;
  if (b->expired) lua_sethook(L, budget_hook, LUA_MASKCOUNT, HOOK_EVERY);
  /* What a runaway call allocated is garbage now: give it back at once. */
  if (b->out_of_memory) lua_gc(L, LUA_GCCOLLECT, 0);
  b->expired = b->out_of_memory = 0;
  return kind;
}
