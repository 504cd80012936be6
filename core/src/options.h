/* The options as data (options.def): one descriptor per option, and what
 * reads, checks and stores a value by its descriptor. No Lua header here:
 * internal.h includes this for gl_config. */
#ifndef GATELOG_OPTIONS_H
#define GATELOG_OPTIONS_H

#include <stddef.h>
#include <stdint.h>

#include "gatelog.h"

struct lua_State;

#define GL_YEAR_MS (365ull * 86400 * 1000)

/* The options a script's config table may override, in the core's units. */
#define GL_IF_SCRIPT_SCRIPT(x) x
#define GL_IF_SCRIPT_HOST(x)
typedef struct gl_config {
#define GL_OPTION(field, lua, ctype, type, unit, def, min, max, scope, names, doc) \
  GL_IF_SCRIPT_##scope(ctype field;)
#include "options.def"
} gl_config;

enum gl_opt_type { GL_T_INT, GL_T_BOOL, GL_T_ENUM, GL_T_STR, GL_T_CODE };
enum gl_opt_unit { GL_U_COUNT, GL_U_MS, GL_U_BYTES };
enum gl_opt_scope { GL_S_HOST, GL_S_SCRIPT };
/* How the member is stored. */
enum gl_opt_ctype { GL_C_INT, GL_C_U32, GL_C_U64, GL_C_OTHER };

typedef struct gl_option {
  const char *field; /* in gatelog_options_t */
  const char *lua;   /* in gatelog.new{} and the script's config */
  const char *names; /* GL_T_ENUM: the Lua names of 0, 1, ..., space-separated */
  const char *doc;
  size_t off;        /* in gatelog_options_t */
  size_t cfg_off;    /* in gl_config, if scope is GL_S_SCRIPT */
  enum gl_opt_ctype ctype;
  enum gl_opt_type type;
  enum gl_opt_unit unit;
  enum gl_opt_scope scope;
  int64_t def, min, max; /* in C units */
} gl_option;

extern const gl_option gl_options[];
extern const size_t gl_options_count;

/* The option named `lua` (its Lua name), or NULL. */
const gl_option *gl_option_find(const char *lua);

/* The integer option o in the struct at base + off (a gatelog_options_t
 * or, with cfg_off, a gl_config). */
int64_t gl_option_get(const gl_option *o, const void *base, size_t off);
void gl_option_set(const gl_option *o, void *base, size_t off, int64_t v);

/* 0 if v (C units) is in o's range; else -1 and why ("must be from ..."). */
int gl_option_check(const gl_option *o, int64_t v, char *why, size_t n);

/* The Lua value at idx as option o (not GL_T_STR or GL_T_CODE), in C units:
 * 0, or -1 and why. */
int gl_option_from_lua(struct lua_State *L, int idx, const gl_option *o, int64_t *out, char *why,
                       size_t n);

#endif
