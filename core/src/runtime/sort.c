/* table.sort for script states, under the time budget. LuaJIT's sort
 * runs in one C call: without a comparator (which is Lua code, and
 * stops) it sorts a table of millions in seconds where no hook runs.
 * This one is a heapsort (no worst case, no recursion, and an
 * inconsistent comparator cannot make it read out of bounds) that polls
 * the budget every POLL_COMPARES comparisons. Like LuaJIT's, it is not
 * stable. */
#include "runtime/bounded.h"

#include <lauxlib.h>

#define POLL_COMPARES 256

typedef struct sorter {
  lua_State *L;
  gl_budget *budget;
  int has_cmp;
  unsigned compares;
} sorter;

/* a < b for the values at stack indices a and b (both negative). */
static int less(sorter *st, int a, int b) {
  lua_State *L = st->L;
  if (++st->compares % POLL_COMPARES == 0 && st->budget) gl_budget_poll(L, st->budget);
  if (!st->has_cmp) return lua_lessthan(L, a, b);
  lua_pushvalue(L, 2);
  lua_pushvalue(L, a - 1);
  lua_pushvalue(L, b - 2);
  lua_call(L, 2, 1);
  int r = lua_toboolean(L, -1);
  lua_pop(L, 1);
  return r;
}

/* Move t[i] down the max-heap t[1..n] to where it belongs. */
static void sift_down(sorter *st, size_t i, size_t n) {
  lua_State *L = st->L;
  lua_rawgeti(L, 1, (int)i); /* the value that moves */
  for (size_t c; (c = 2 * i) <= n; i = c) {
    lua_rawgeti(L, 1, (int)c);
    if (c < n) {
      lua_rawgeti(L, 1, (int)c + 1);
      if (less(st, -2, -1)) {
        c++;
        lua_remove(L, -2);
      } else {
        lua_pop(L, 1);
      }
    }
    if (!less(st, -2, -1)) {
      lua_pop(L, 1);
      break;
    }
    lua_rawseti(L, 1, (int)i); /* the larger child moves up */
  }
  lua_rawseti(L, 1, (int)i);
}

static int l_sort(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  sorter st = {L, lua_touserdata(L, lua_upvalueindex(1)), !lua_isnoneornil(L, 2), 0};
  if (st.has_cmp) luaL_checktype(L, 2, LUA_TFUNCTION);
  lua_settop(L, 2);
  size_t n = lua_objlen(L, 1);
  if (n > 0x7fffffff) luaL_argerror(L, 1, "array too big");
  luaL_checkstack(L, 8, "table.sort");
  for (size_t i = n / 2; i >= 1; i--) sift_down(&st, i, n);
  for (size_t last = n; last > 1; last--) {
    /* The largest goes last; what was last sifts down from the top. */
    lua_rawgeti(L, 1, 1);
    lua_rawgeti(L, 1, (int)last);
    lua_rawseti(L, 1, 1);
    lua_rawseti(L, 1, (int)last);
    sift_down(&st, 1, last - 1);
  }
  return 0;
}

void gl_bounded_sort(lua_State *L, int idx, gl_budget *b) {
  idx = idx < 0 ? lua_gettop(L) + idx + 1 : idx;
  lua_pushlightuserdata(L, b);
  lua_pushcclosure(L, l_sort, 1);
  lua_setfield(L, idx, "sort");
}
