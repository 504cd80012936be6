/* The core's parser of a batch's JSON into batch.records
 * (core/src/policy/records_decode.c), on a Lua state of its own. Its
 * contract: the text is NUL-terminated after its end; on success one
 * table (of `count` preallocated slots) is pushed, on failure nothing.
 * The first byte is the count. */
#include <lauxlib.h>
#include <lua.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "policy/policy.h"

static lua_State *L;
static unsigned runs;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  L = luaL_newstate();
  return L ? 0 : -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size == 0) return 0;
  size_t n = size - 1;
  char *json = malloc(n + 1);
  if (json == NULL) abort();
  memcpy(json, data + 1, n);
  json[n] = '\0';
  int top = lua_gettop(L);
  if (gl_records_decode(L, json, n, data[0]) == 0) {
    FUZZ_ASSERT(lua_gettop(L) == top + 1 && lua_istable(L, -1));
    /* Every record is a table of string keys. */
    for (int i = 1;; i++) {
      lua_rawgeti(L, -1, i);
      if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        break;
      }
      FUZZ_ASSERT(lua_istable(L, -1));
      for (lua_pushnil(L); lua_next(L, -2) != 0; lua_pop(L, 1)) FUZZ_ASSERT(lua_type(L, -2) == LUA_TSTRING);
      lua_pop(L, 1);
    }
    lua_pop(L, 1);
  }
  FUZZ_ASSERT(lua_gettop(L) == top);
  lua_settop(L, 0);
  free(json);
  if (++runs % 1024 == 0) lua_gc(L, LUA_GCCOLLECT, 0);
  return 0;
}
