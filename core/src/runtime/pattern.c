/* string.find, match, gmatch and gsub for script states: Lua 5.1
 * patterns with LuaJIT's results, under the time budget.
 *
 * LuaJIT's own matcher backtracks without bound inside one C call, where
 * no hook runs: string.find(("a"):rep(3000), ("a*"):rep(4) .. "b") takes
 * longer than anyone waits. This one counts its steps (each item tried,
 * each character a repetition or %b scans, each byte gsub appends) and
 * polls the budget every POLL_STEPS, so a match stops with the budget's
 * error like any other script code. Plain searches use memmem, which is
 * linear (LuaJIT's is O(subject x needle)).
 *
 * One difference: a malformed pattern raises when the matcher reaches
 * the malformed part, as in LuaJIT; patterns are not checked ahead. */
#define _GNU_SOURCE /* memmem */
#include "runtime/bounded.h"

#include <lauxlib.h>
#include <stdint.h>
#include <string.h>

#define MAX_CAPTURES 32  /* LUA_MAXCAPTURES */
#define MAX_DEPTH 200    /* LuaJIT's LJ_MAX_XLEVEL: "pattern too complex" */
#define POLL_STEPS 4096
#define CAP_OPEN (-1)
#define CAP_POSITION (-2)

typedef unsigned char uchar;

typedef struct matcher {
  lua_State *L;
  gl_budget *budget;
  const uchar *subject, *end;
  uint64_t steps, next_poll;
  int depth;
  int ncap;
  struct {
    const uchar *at;
    ptrdiff_t len; /* or CAP_OPEN, CAP_POSITION */
  } cap[MAX_CAPTURES];
} matcher;

static void matcher_init(matcher *m, lua_State *L, const char *s, size_t len) {
  m->L = L;
  m->budget = lua_touserdata(L, lua_upvalueindex(1));
  m->subject = (const uchar *)s;
  m->end = m->subject + len;
  m->steps = 0;
  m->next_poll = POLL_STEPS;
}

static void advance(matcher *m, uint64_t steps) {
  m->steps += steps;
  if (m->steps < m->next_poll) return;
  m->next_poll = m->steps + POLL_STEPS;
  if (m->budget) gl_budget_poll(m->L, m->budget);
}

/* ---- one character against one class --------------------------------- */

/* %a, %d, ... as LuaJIT has them: ASCII only, whatever the locale. */
static int in_class(int c, int cl) {
  int r;
  switch (cl | 0x20) {
    case 'a': r = (c | 0x20) >= 'a' && (c | 0x20) <= 'z'; break;
    case 'c': r = c < 32 || c == 127; break;
    case 'd': r = c >= '0' && c <= '9'; break;
    case 'g': r = c > 32 && c < 127; break;
    case 'l': r = c >= 'a' && c <= 'z'; break;
    case 'p': r = c > 32 && c < 127 && !in_class(c, 'w'); break;
    case 's': r = c == ' ' || (c >= '\t' && c <= '\r'); break;
    case 'u': r = c >= 'A' && c <= 'Z'; break;
    case 'w': r = in_class(c, 'a') || in_class(c, 'd'); break;
    case 'x': r = in_class(c, 'd') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f'); break;
    case 'z': r = c == 0; break;
    default: return cl == c; /* %. %% %[ %e ...: the character itself */
  }
  /* Only letters reach here; upper case is the complement. */
  return cl & 0x20 ? r : !r;
}

/* [set] with p at '[' and close at its ']'. */
static int in_set(int c, const uchar *p, const uchar *close) {
  int hit = 1;
  p++;
  if (*p == '^') {
    hit = 0;
    p++;
  }
  for (; p < close; p++) {
    if (*p == '%') {
      p++;
      if (in_class(c, *p)) return hit;
    } else if (p[1] == '-' && p + 2 < close) {
      if (p[0] <= c && c <= p[2]) return hit;
      p += 2;
    } else if (*p == c) {
      return hit;
    }
  }
  return !hit;
}

/* Past the single-character class at p: "%x", "[...]" or one character. */
static const uchar *class_end(matcher *m, const uchar *p) {
  if (*p == '%') {
    if (p[1] == '\0') luaL_error(m->L, "malformed pattern (ends with '%%')");
    return p + 2;
  }
  if (*p != '[') return p + 1;
  p++;
  if (*p == '^') p++;
  /* The first character of a set is itself even if it is ']'. */
  do {
    if (*p == '\0') luaL_error(m->L, "malformed pattern (missing ']')");
    if (*p++ == '%' && *p != '\0') p++;
  } while (*p != ']');
  return p + 1;
}

static int single(const uchar *s, const uchar *end, const uchar *p, const uchar *ep) {
  if (s >= end) return 0;
  switch (*p) {
    case '.': return 1;
    case '%': return in_class(*s, p[1]);
    case '[': return in_set(*s, p, ep - 1);
    default: return *p == *s;
  }
}

/* ---- the matcher -------------------------------------------------------- */

static const uchar *match(matcher *m, const uchar *s, const uchar *p);

/* Item at p repeated as often as it matches, then fewer (greedy). */
static const uchar *repeat_max(matcher *m, const uchar *s, const uchar *p, const uchar *ep) {
  size_t n = 0;
  while (single(s + n, m->end, p, ep)) n++;
  advance(m, n);
  for (;;) {
    const uchar *r = match(m, s + n, ep + 1);
    if (r || n == 0) return r;
    n--;
  }
}

/* Item at p repeated as seldom as the rest allows (lazy). */
static const uchar *repeat_min(matcher *m, const uchar *s, const uchar *p, const uchar *ep) {
  for (;;) {
    const uchar *r = match(m, s, ep + 1);
    if (r) return r;
    if (!single(s, m->end, p, ep)) return NULL;
    s++;
  }
}

static const uchar *capture(matcher *m, const uchar *s, const uchar *p, ptrdiff_t what) {
  if (m->ncap >= MAX_CAPTURES) luaL_error(m->L, "too many captures");
  m->cap[m->ncap].at = s;
  m->cap[m->ncap].len = what;
  m->ncap++;
  const uchar *r = match(m, s, p);
  if (r == NULL) m->ncap--;
  return r;
}

static const uchar *capture_close(matcher *m, const uchar *s, const uchar *p) {
  int l = m->ncap - 1;
  while (l >= 0 && m->cap[l].len != CAP_OPEN) l--;
  if (l < 0) luaL_error(m->L, "invalid pattern capture");
  m->cap[l].len = s - m->cap[l].at;
  const uchar *r = match(m, s, p);
  if (r == NULL) m->cap[l].len = CAP_OPEN;
  return r;
}

/* %bxy at p (p at x). */
static const uchar *balanced(matcher *m, const uchar *s, const uchar *p) {
  if (p[0] == '\0' || p[1] == '\0') luaL_error(m->L, "unbalanced pattern");
  if (s >= m->end || *s != p[0]) return NULL;
  const uchar *start = s;
  int depth = 1;
  while (++s < m->end) {
    if (*s == p[1]) {
      if (--depth == 0) break;
    } else if (*s == p[0]) {
      depth++;
    }
  }
  advance(m, (uint64_t)(s - start));
  return s < m->end ? s + 1 : NULL;
}

/* %1 .. %9: the text of a closed capture again. */
static const uchar *backref(matcher *m, const uchar *s, int digit) {
  int l = digit - '1';
  if (l < 0 || l >= m->ncap || m->cap[l].len == CAP_OPEN) luaL_error(m->L, "invalid capture index");
  ptrdiff_t len = m->cap[l].len;
  if (len < 0 || m->end - s < len || memcmp(m->cap[l].at, s, (size_t)len) != 0) return NULL;
  advance(m, (uint64_t)len);
  return s + len;
}

/* The end of the match of pattern p at s, or NULL. */
static const uchar *match(matcher *m, const uchar *s, const uchar *p) {
  if (++m->depth > MAX_DEPTH) luaL_error(m->L, "pattern too complex");
  /* Items that cannot backtrack go round the loop; the others recurse. */
  for (;;) {
    advance(m, 1);
    if (*p == '\0') break;
    if (*p == '(') {
      s = p[1] == ')' ? capture(m, s, p + 2, CAP_POSITION) : capture(m, s, p + 1, CAP_OPEN);
      break;
    }
    if (*p == ')') {
      s = capture_close(m, s, p + 1);
      break;
    }
    if (*p == '$' && p[1] == '\0') {
      if (s != m->end) s = NULL;
      break;
    }
    if (*p == '%' && p[1] == 'b') {
      if ((s = balanced(m, s, p + 2)) == NULL) break;
      p += 4;
      continue;
    }
    if (*p == '%' && p[1] == 'f') {
      p += 2;
      if (*p != '[') luaL_error(m->L, "missing '[' after '%%f' in pattern");
      const uchar *ep = class_end(m, p);
      int before = s == m->subject ? 0 : s[-1];
      int at = s < m->end ? *s : 0;
      if (in_set(before, p, ep - 1) || !in_set(at, p, ep - 1)) {
        s = NULL;
        break;
      }
      p = ep;
      continue;
    }
    if (*p == '%' && p[1] >= '0' && p[1] <= '9') {
      if ((s = backref(m, s, p[1])) == NULL) break;
      p += 2;
      continue;
    }
    const uchar *ep = class_end(m, p);
    int one = single(s, m->end, p, ep);
    if (*ep == '*') {
      s = repeat_max(m, s, p, ep);
      break;
    }
    if (*ep == '+') {
      s = one ? repeat_max(m, s + 1, p, ep) : NULL;
      break;
    }
    if (*ep == '-') {
      s = repeat_min(m, s, p, ep);
      break;
    }
    if (*ep == '?') {
      const uchar *r = one ? match(m, s + 1, ep + 1) : NULL;
      if (r) {
        s = r;
        break;
      }
      p = ep + 1;
      continue;
    }
    if (!one) {
      s = NULL;
      break;
    }
    s++;
    p = ep;
  }
  m->depth--;
  return s;
}

/* Try p at s: reset the captures of an earlier try first. */
static const uchar *match_at(matcher *m, const uchar *s, const uchar *p) {
  m->ncap = 0;
  m->depth = 0;
  return match(m, s, p);
}

/* ---- results ---------------------------------------------------------- */

/* Capture i, or the whole match s..e for i = 0 when there is none. */
static void push_capture(matcher *m, int i, const uchar *s, const uchar *e) {
  if (i >= m->ncap) {
    if (i != 0) luaL_error(m->L, "invalid capture index");
    lua_pushlstring(m->L, (const char *)s, (size_t)(e - s));
    return;
  }
  ptrdiff_t len = m->cap[i].len;
  if (len == CAP_OPEN) luaL_error(m->L, "unfinished capture");
  if (len == CAP_POSITION) lua_pushinteger(m->L, m->cap[i].at - m->subject + 1);
  else lua_pushlstring(m->L, (const char *)m->cap[i].at, (size_t)len);
}

/* Every capture; with whole (s set), the whole match if there is none. */
static int push_captures(matcher *m, const uchar *s, const uchar *e) {
  int n = m->ncap == 0 && s ? 1 : m->ncap;
  luaL_checkstack(m->L, n, "too many captures");
  for (int i = 0; i < n; i++) push_capture(m, i, s, e);
  return n;
}

static int has_specials(const char *p, size_t len) {
  for (size_t i = 0; i < len; i++)
    if (strchr("^$*+?.([%-", p[i]) && p[i] != '\0') return 1;
  return 0;
}

/* The start offset string.find and match take: init, 1-based, negative
 * from the end, clamped to the subject as LuaJIT clamps it. */
static size_t start_offset(lua_State *L, int idx, size_t len) {
  double d = luaL_optnumber(L, idx, 1);
  if (d != d) d = 0; /* NaN */
  int64_t i = d >= 2147483647.0 ? 2147483647 : d <= -2147483648.0 ? -2147483648 : (int64_t)d;
  if (i < 0) i += (int64_t)len;
  else i--;
  if (i < 0) i = 0;
  return (size_t)i > len ? len : (size_t)i;
}

static int find_aux(lua_State *L, int find) {
  size_t len, plen;
  const char *s = luaL_checklstring(L, 1, &len);
  const char *p = luaL_checklstring(L, 2, &plen);
  size_t init = start_offset(L, 3, len);
  if (find && (lua_toboolean(L, 4) || !has_specials(p, plen))) {
    const char *q = memmem(s + init, len - init, p, plen);
    if (q) {
      lua_pushinteger(L, q - s + 1);
      lua_pushinteger(L, (lua_Integer)(q - s + (ptrdiff_t)plen));
      return 2;
    }
    lua_pushnil(L);
    return 1;
  }
  matcher m;
  matcher_init(&m, L, s, len);
  const uchar *pat = (const uchar *)p;
  int anchored = *pat == '^';
  pat += anchored;
  for (const uchar *at = m.subject + init;; at++) {
    const uchar *e = match_at(&m, at, pat);
    if (e) {
      if (!find) return push_captures(&m, at, e);
      lua_pushinteger(L, at - m.subject + 1);
      lua_pushinteger(L, e - m.subject);
      return push_captures(&m, NULL, NULL) + 2;
    }
    if (anchored || at == m.end) break;
  }
  lua_pushnil(L);
  return 1;
}

static int l_find(lua_State *L) { return find_aux(L, 1); }
static int l_match(lua_State *L) { return find_aux(L, 0); }

/* gmatch's iterator; upvalues: the budget, the subject, the pattern, the
 * offset to go on from. */
static int gmatch_next(lua_State *L) {
  size_t len;
  const char *s = lua_tolstring(L, lua_upvalueindex(2), &len);
  const uchar *pat = (const uchar *)lua_tostring(L, lua_upvalueindex(3));
  size_t from = (size_t)lua_tointeger(L, lua_upvalueindex(4));
  matcher m;
  matcher_init(&m, L, s, len);
  for (const uchar *at = m.subject + (from < len ? from : len); from <= len && at <= m.end; at++) {
    const uchar *e = match_at(&m, at, pat);
    if (e) {
      /* An empty match moves on by one, or it would match there forever. */
      lua_pushinteger(L, e - m.subject + (e == at));
      lua_replace(L, lua_upvalueindex(4));
      return push_captures(&m, at, e);
    }
  }
  return 0;
}

static int l_gmatch(lua_State *L) {
  luaL_checkstring(L, 1);
  luaL_checkstring(L, 2);
  lua_settop(L, 2);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_pushinteger(L, 0);
  lua_pushcclosure(L, gmatch_next, 4);
  return 1;
}

/* gsub's replacement string: %0 the match, %1-%9 the captures, % and
 * anything else that character (a trailing % adds the NUL after it, as
 * LuaJIT does). */
static void add_template(matcher *m, luaL_Buffer *b, const uchar *s, const uchar *e) {
  size_t len;
  const char *t = lua_tolstring(m->L, 3, &len);
  advance(m, len);
  for (size_t i = 0; i < len; i++) {
    if (t[i] != '%') {
      luaL_addchar(b, t[i]);
      continue;
    }
    i++;
    if (t[i] == '0') {
      advance(m, (uint64_t)(e - s));
      luaL_addlstring(b, (const char *)s, (size_t)(e - s));
    } else if (t[i] >= '1' && t[i] <= '9') {
      push_capture(m, t[i] - '1', s, e);
      advance(m, lua_objlen(m->L, -1));
      luaL_addvalue(b);
    } else {
      luaL_addchar(b, t[i]);
    }
  }
}

static void add_replacement(matcher *m, luaL_Buffer *b, const uchar *s, const uchar *e) {
  lua_State *L = m->L;
  int t = lua_type(L, 3);
  if (t == LUA_TSTRING || t == LUA_TNUMBER) {
    add_template(m, b, s, e);
    return;
  }
  if (t == LUA_TFUNCTION) {
    lua_pushvalue(L, 3);
    int n = push_captures(m, s, e);
    lua_call(L, n, 1);
  } else {
    push_capture(m, 0, s, e);
    lua_gettable(L, 3);
  }
  if (!lua_toboolean(L, -1)) {
    lua_pop(L, 1);
    lua_pushlstring(L, (const char *)s, (size_t)(e - s)); /* keep the match */
  } else if (!lua_isstring(L, -1)) {
    luaL_error(L, "invalid replacement value (a %s)", luaL_typename(L, -1));
  }
  advance(m, lua_objlen(L, -1));
  luaL_addvalue(b);
}

static int l_gsub(lua_State *L) {
  size_t len;
  const char *s = luaL_checklstring(L, 1, &len);
  const uchar *pat = (const uchar *)luaL_checkstring(L, 2);
  int t = lua_type(L, 3);
  lua_Integer max = luaL_optinteger(L, 4, (lua_Integer)len + 1);
  if (t != LUA_TNUMBER && t != LUA_TSTRING && t != LUA_TFUNCTION && t != LUA_TTABLE)
    luaL_argerror(L, 3, "string/function/table expected");
  int anchored = *pat == '^';
  pat += anchored;
  matcher m;
  matcher_init(&m, L, s, len);
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  const uchar *at = m.subject;
  lua_Integer n = 0;
  while (n < max) {
    const uchar *e = match_at(&m, at, pat);
    if (e) {
      n++;
      add_replacement(&m, &b, at, e);
    }
    if (e && e > at) at = e;
    else if (at < m.end) luaL_addchar(&b, (char)*at++);
    else break;
    if (anchored) break;
  }
  luaL_addlstring(&b, (const char *)at, (size_t)(m.end - at));
  luaL_pushresult(&b);
  lua_pushinteger(L, n);
  return 2;
}

void gl_bounded_patterns(lua_State *L, int idx, gl_budget *b) {
  static const luaL_Reg fns[] = {
      {"find", l_find}, {"match", l_match}, {"gmatch", l_gmatch}, {"gsub", l_gsub}, {NULL, NULL}};
  idx = idx < 0 ? lua_gettop(L) + idx + 1 : idx;
  for (const luaL_Reg *f = fns; f->name; f++) {
    lua_pushlightuserdata(L, b);
    lua_pushcclosure(L, f->func, 1);
    lua_setfield(L, idx, f->name);
  }
}
