/* Lua values from the fuzzer's bytes: a prefix code, one byte saying what
 * comes, so that a mutation of the bytes is a mutation of the value. */
#include <lua.h>
#include <math.h>
#include <string.h>

#include "fuzz.h"

/* Where ranges and conversions have their edges. */
static const double edges[] = {0,       -0.0,        0.0004,     0.0005,     0.001,   0.5,
                               1,       59.9999,     86400,      31536000,   31536000.001,
                               3600,    3600.0005,   255,        256,        65535,
                               65536,   2147483647,  2147483648, 4294967295, 4294967296,
                               1e12,    1e15,        9007199254740992.0,     1.8446744073709552e19,
                               9.2233720368547758e18,  -9.2233720368547758e18, 1e300,
                               -1,      -0.5,        HUGE_VAL,   -HUGE_VAL,  NAN};

static int nothing(lua_State *L) {
  (void)L;
  return 0;
}

void fz_push_value(lua_State *L, fz_reader *r, const char *const *names, int depth) {
  unsigned kind = fz_byte(r) % 10, n;
  uint64_t bits;
  double d;
  char s[64];
  switch (kind) {
  case 0: lua_pushnil(L); break;
  case 1: lua_pushboolean(L, fz_byte(r) & 1); break;
  case 2: lua_pushnumber(L, (signed char)fz_byte(r)); break;
  case 3:
    bits = fz_u64(r);
    memcpy(&d, &bits, sizeof(d));
    lua_pushnumber(L, d);
    break;
  case 4: lua_pushnumber(L, edges[fz_byte(r) % (sizeof(edges) / sizeof(edges[0]))]); break;
  case 5:
    n = fz_byte(r) % sizeof(s);
    for (unsigned i = 0; i < n; i++) s[i] = (char)fz_byte(r);
    lua_pushlstring(L, s, n);
    break;
  case 6: case 7:
    for (n = 0; names[n]; n++) {
    }
    lua_pushstring(L, names[fz_byte(r) % n]);
    break;
  case 8:
    if (depth <= 0) {
      lua_pushnil(L);
      break;
    }
    n = fz_byte(r) % 8;
    lua_createtable(L, 0, (int)n);
    for (unsigned i = 0; i < n; i++) {
      fz_push_value(L, r, names, depth - 1);
      fz_push_value(L, r, names, depth - 1);
      if (lua_isnil(L, -2) || lua_isnil(L, -1) || (lua_isnumber(L, -2) && isnan(lua_tonumber(L, -2))))
        lua_pop(L, 2); /* not a key, or nothing to set */
      else
        lua_rawset(L, -3);
    }
    break;
  default: lua_pushcfunction(L, nothing); break;
  }
}
