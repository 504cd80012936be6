/* batch.records without a general JSON parser: the batch's JSON is the
 * core's own (json.c, record.c), an array of flat objects whose values
 * are strings, numbers and booleans, so a parser for exactly that can
 * build each record's table at its final size in one go. cjson builds
 * the same tables but grows each one key by key, rehashing as it goes;
 * for codecs, which read every record of every batch, that was most of
 * the cost of batch.records. Anything outside that shape is refused, and
 * the caller falls back to cjson. */
#include <lauxlib.h>
#include <stdlib.h>
#include <string.h>

#include "policy/policy.h"

#define RECORD_KEYS_HINT 16 /* the standard keys and a few enrichment keys */

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

static int hex4(const char *p, const char *end, unsigned *out) {
  if (end - p < 4) return -1;
  unsigned v = 0;
  for (int i = 0; i < 4; i++) {
    int h = hexval(p[i]);
    if (h < 0) return -1;
    v = v << 4 | (unsigned)h;
  }
  *out = v;
  return 0;
}

static void add_utf8(luaL_Buffer *b, unsigned cp) {
  if (cp < 0x80) {
    luaL_addchar(b, (char)cp);
  } else if (cp < 0x800) {
    luaL_addchar(b, (char)(0xC0 | cp >> 6));
    luaL_addchar(b, (char)(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    luaL_addchar(b, (char)(0xE0 | cp >> 12));
    luaL_addchar(b, (char)(0x80 | (cp >> 6 & 0x3F)));
    luaL_addchar(b, (char)(0x80 | (cp & 0x3F)));
  } else {
    luaL_addchar(b, (char)(0xF0 | cp >> 18));
    luaL_addchar(b, (char)(0x80 | (cp >> 12 & 0x3F)));
    luaL_addchar(b, (char)(0x80 | (cp >> 6 & 0x3F)));
    luaL_addchar(b, (char)(0x80 | (cp & 0x3F)));
  }
}

/* Push the string starting at *pp (at its opening quote); *pp moves past
 * the closing one. -1 on a malformed string. */
static int push_string(lua_State *L, const char **pp, const char *end) {
  const char *p = *pp + 1, *start = p;
  while (p < end && *p != '"' && *p != '\\') p++;
  if (p < end && *p == '"') { /* nothing escaped: the common case */
    lua_pushlstring(L, start, (size_t)(p - start));
    *pp = p + 1;
    return 0;
  }
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  luaL_addlstring(&b, start, (size_t)(p - start));
  while (p < end && *p != '"') {
    if (*p != '\\') {
      luaL_addchar(&b, *p++);
      continue;
    }
    if (++p >= end) return -1;
    char c = *p++;
    unsigned cp;
    switch (c) {
      case '"': case '\\': case '/': luaL_addchar(&b, c); break;
      case 'b': luaL_addchar(&b, '\b'); break;
      case 'f': luaL_addchar(&b, '\f'); break;
      case 'n': luaL_addchar(&b, '\n'); break;
      case 'r': luaL_addchar(&b, '\r'); break;
      case 't': luaL_addchar(&b, '\t'); break;
      case 'u':
        if (hex4(p, end, &cp) != 0) return -1;
        p += 4;
        if (cp >= 0xD800 && cp < 0xDC00) { /* a surrogate pair */
          unsigned lo;
          if (end - p < 6 || p[0] != '\\' || p[1] != 'u' || hex4(p + 2, end, &lo) != 0 ||
              lo < 0xDC00 || lo > 0xDFFF)
            return -1;
          p += 6;
          cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        }
        add_utf8(&b, cp);
        break;
      default: return -1;
    }
  }
  if (p >= end) return -1;
  luaL_pushresult(&b);
  *pp = p + 1;
  return 0;
}

static int push_value(lua_State *L, const char **pp, const char *end) {
  const char *p = *pp;
  if (*p == '"') return push_string(L, pp, end);
  if (end - p >= 4 && memcmp(p, "true", 4) == 0) {
    lua_pushboolean(L, 1);
    *pp = p + 4;
    return 0;
  }
  if (end - p >= 5 && memcmp(p, "false", 5) == 0) {
    lua_pushboolean(L, 0);
    *pp = p + 5;
    return 0;
  }
  /* A number: the text ends at ',' or '}', so strtod stops there (the
   * buffer is NUL-terminated after the closing ']'). */
  char *e;
  double v = strtod(p, &e);
  if (e == p || e > end) return -1;
  lua_pushnumber(L, v);
  *pp = e;
  return 0;
}

int gl_records_decode(lua_State *L, const char *json, size_t len, int count) {
  const char *p = json, *end = json + len;
  int base = lua_gettop(L);
  if (len < 2 || *p++ != '[') return -1;
  lua_createtable(L, count, 0);
  for (int i = 1; p < end && *p != ']'; i++) {
    if (i > 1 && *p++ != ',') goto bad;
    if (p >= end || *p++ != '{') goto bad;
    lua_createtable(L, 0, RECORD_KEYS_HINT);
    for (int first = 1; p < end && *p != '}'; first = 0) {
      if (!first && *p++ != ',') goto bad;
      if (p >= end || *p != '"' || push_string(L, &p, end) != 0) goto bad;
      if (p >= end || *p++ != ':' || p >= end || push_value(L, &p, end) != 0) goto bad;
      lua_rawset(L, -3);
    }
    if (p >= end) goto bad;
    p++; /* '}' */
    lua_rawseti(L, -2, i);
  }
  if (p >= end || *p != ']') goto bad;
  return 0;
bad:
  lua_settop(L, base);
  return -1;
}
