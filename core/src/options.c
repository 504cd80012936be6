/* The options as data: the descriptors made from options.def, the
 * defaults, and reading, checking and storing one value by its
 * descriptor, for the C options, the script's config and gatelog.new{}. */
#include "options.h"

#include <inttypes.h>
#include <lua.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CTYPE(ctype) \
  _Generic((ctype)0, int: GL_C_INT, uint32_t: GL_C_U32, uint64_t: GL_C_U64, default: GL_C_OTHER)
#define CFG_OFF_SCRIPT(field) offsetof(gl_config, field)
#define CFG_OFF_HOST(field) 0

/* options.def names each member's type: it must be the header's, and one
 * that gl_option_get can read. */
#define GL_OPTION(field, lua, ctype, type, unit, def, min, max, scope, names, doc)        \
  _Static_assert(_Generic(((gatelog_options_t *)0)->field, ctype: 1, default: 0),         \
                 #field ": options.def and gatelog.h disagree on its type");              \
  _Static_assert(GL_T_##type == GL_T_STR || CTYPE(ctype) != GL_C_OTHER,                   \
                 #field ": a type gl_option_get cannot read");
#include "options.def"

const gl_option gl_options[] = {
#define GL_OPTION(field, lua, ctype, type, unit, def, min, max, scope, names, doc)         \
  {#field, lua, names, doc, offsetof(gatelog_options_t, field), CFG_OFF_##scope(field),    \
   CTYPE(ctype), GL_T_##type, GL_U_##unit, GL_S_##scope, def, min, max},
#define GL_OPTION_CODE(field, lua, doc)                                                   \
  {#field, lua, NULL, doc, 0, 0, GL_C_OTHER, GL_T_CODE, GL_U_COUNT, GL_S_HOST, 0, 0, 0},
#include "options.def"
};
const size_t gl_options_count = sizeof(gl_options) / sizeof(gl_options[0]);

void gatelog_options_init(gatelog_options_t *opts) {
  memset(opts, 0, sizeof(*opts));
  for (size_t i = 0; i < gl_options_count; i++)
    if (gl_options[i].ctype != GL_C_OTHER)
      gl_option_set(&gl_options[i], opts, gl_options[i].off, gl_options[i].def);
}

const gl_option *gl_option_find(const char *lua) {
  for (size_t i = 0; i < gl_options_count; i++)
    if (strcmp(gl_options[i].lua, lua) == 0) return &gl_options[i];
  return NULL;
}

int64_t gl_option_get(const gl_option *o, const void *base, size_t off) {
  const char *p = (const char *)base + off;
  switch (o->ctype) {
  case GL_C_INT: return *(const int *)p;
  case GL_C_U32: return *(const uint32_t *)p;
  case GL_C_U64: /* far out of every range either way */
    return *(const uint64_t *)p > INT64_MAX ? INT64_MAX : (int64_t)*(const uint64_t *)p;
  default: return 0;
  }
}

void gl_option_set(const gl_option *o, void *base, size_t off, int64_t v) {
  char *p = (char *)base + off;
  switch (o->ctype) {
  case GL_C_INT: *(int *)p = (int)v; break;
  case GL_C_U32: *(uint32_t *)p = (uint32_t)v; break;
  case GL_C_U64: *(uint64_t *)p = (uint64_t)v; break;
  default: break;
  }
}

/* The index of word s in the space-separated names, or -1. */
static int name_index(const char *names, const char *s) {
  size_t len = strlen(s);
  for (int i = 0; *names; i++) {
    size_t w = strcspn(names, " ");
    if (w == len && memcmp(names, s, len) == 0) return i;
    names += w + (names[w] == ' ');
  }
  return -1;
}

/* 'must be "a", "b" or "c"'. */
static void names_reason(const char *names, char *why, size_t n) {
  size_t used = (size_t)snprintf(why, n, "must be");
  for (const char *p = names; *p && used < n;) {
    size_t w = strcspn(p, " ");
    const char *sep = p == names ? " " : p[w] ? ", " : " or ";
    used += (size_t)snprintf(why + used, n - used, "%s\"%.*s\"", sep, (int)w, p);
    p += w + (p[w] == ' ');
  }
}

/* A bound in C units, as the header documents it. */
static void c_bound(const gl_option *o, int64_t v, char *b, size_t n) {
  if (o->unit == GL_U_MS && v > 0 && v % 86400000 == 0)
    snprintf(b, n, "%" PRId64 " days", v / 86400000);
  else
    snprintf(b, n, "%" PRId64 "%s", v,
             o->unit == GL_U_MS ? " ms" : o->unit == GL_U_BYTES ? " bytes" : "");
}

int gl_option_check(const gl_option *o, int64_t v, char *why, size_t n) {
  char lo[32], hi[32];
  /* C booleans are any int (nonzero is on); strings and code are the
   * caller's. */
  if (o->type != GL_T_INT && o->type != GL_T_ENUM) return 0;
  if (v >= o->min && v <= o->max) return 0;
  c_bound(o, o->min, lo, sizeof(lo));
  c_bound(o, o->max, hi, sizeof(hi));
  snprintf(why, n, "must be from %s to %s%s%s%s", lo, hi, o->type == GL_T_ENUM ? " (" : "",
           o->type == GL_T_ENUM ? o->names : "", o->type == GL_T_ENUM ? ")" : "");
  return -1;
}

/* A Lua number as option o: seconds for milliseconds, rounded to the
 * nearest; else an integer. Its range is checked before rounding. */
static int from_number(const gl_option *o, double v, int64_t *out) {
  double scale = o->unit == GL_U_MS ? 1000 : 1;
  if (!(v >= o->min / scale && v <= o->max / scale)) return -1;
  if (o->unit == GL_U_MS) *out = llround(v * 1000);
  else if (v != floor(v)) return -1;
  else *out = (int64_t)v;
  return 0;
}

int gl_option_from_lua(lua_State *L, int idx, const gl_option *o, int64_t *out, char *why,
                       size_t n) {
  int i;
  switch (o->type) {
  case GL_T_BOOL:
    if (lua_isboolean(L, idx)) {
      *out = lua_toboolean(L, idx);
      return 0;
    }
    snprintf(why, n, "must be a boolean");
    return -1;
  case GL_T_ENUM:
    if (lua_type(L, idx) == LUA_TSTRING && (i = name_index(o->names, lua_tostring(L, idx))) >= 0) {
      *out = i;
      return 0;
    }
    names_reason(o->names, why, n);
    return -1;
  default:
    if (lua_type(L, idx) == LUA_TNUMBER && from_number(o, lua_tonumber(L, idx), out) == 0)
      return 0;
    if (o->unit == GL_U_MS)
      snprintf(why, n, "must be a number from %.15g to %.15g", o->min / 1000.0, o->max / 1000.0);
    else
      snprintf(why, n, "must be an integer from %" PRId64 " to %" PRId64, o->min, o->max);
    return -1;
  }
}

/* A value written as text, as gatelog.new{} would take it: seconds for
 * milliseconds, "on"/"off" (or true/false, 1/0) for booleans, the Lua
 * names of enums. */
static int from_text(const gl_option *o, const char *s, int64_t *out, char *why, size_t n) {
  if (o->type == GL_T_BOOL) {
    int on = !strcmp(s, "on") || !strcmp(s, "true") || !strcmp(s, "1");
    int off = !strcmp(s, "off") || !strcmp(s, "false") || !strcmp(s, "0");
    if (on || off) {
      *out = on;
      return 0;
    }
    snprintf(why, n, "must be on or off");
    return -1;
  }
  if (o->type == GL_T_ENUM) {
    int i = name_index(o->names, s);
    if (i >= 0) {
      *out = i;
      return 0;
    }
    names_reason(o->names, why, n);
    return -1;
  }
  char *end;
  double v = strtod(s, &end);
  if (*s && *end == '\0' && from_number(o, v, out) == 0) return 0;
  if (o->unit == GL_U_MS)
    snprintf(why, n, "must be a number of seconds from %.15g to %.15g", o->min / 1000.0,
             o->max / 1000.0);
  else
    snprintf(why, n, "must be an integer from %" PRId64 " to %" PRId64, o->min, o->max);
  return -1;
}

int gatelog_options_set(gatelog_options_t *opts, const char *name, const char *value, char *why,
                        size_t why_len) {
  char scratch[1];
  if (why == NULL || why_len == 0) why = scratch, why_len = sizeof(scratch);
  if (opts == NULL || name == NULL || value == NULL) {
    snprintf(why, why_len, "NULL argument");
    return UV_EINVAL;
  }
  const gl_option *o = gl_option_find(name);
  if (o == NULL || o->type == GL_T_CODE || strcmp(name, "script") == 0) {
    snprintf(why, why_len, "%s: no such option", name);
    return UV_EINVAL;
  }
  if (o->type == GL_T_STR) {
    *(const char **)((char *)opts + o->off) = value;
    return 0;
  }
  int64_t v;
  char reason[160];
  if (from_text(o, value, &v, reason, sizeof(reason)) != 0) {
    snprintf(why, why_len, "%s %s: %s", name, value, reason);
    return GATELOG_ECONFIG;
  }
  gl_option_set(o, opts, o->off, v);
  return 0;
}
