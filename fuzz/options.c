/* Option and config validation (core/src/options.c, config.c, and the
 * Lua module's gatelog.new{}, lua_module.c). The first byte picks:
 *   % 3 == 0  a gatelog.new{} table made from the bytes: the module
 *             reads and checks every option; the script is a path that
 *             does not exist, so that gatelog_new stops after the checks
 *   % 3 == 1  a script's config table: gl_config_apply_table, then the
 *             checks of gl_config_check, over the default options
 *   % 3 == 2  a gatelog_options_t whose integer members are any 64-bit
 *             values: gl_options_check, then gl_config_check
 * What is accepted must lie within options.def's ranges. */
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "fuzz.h"
#include "options.h"

int luaopen_gatelog(lua_State *L);

/* Every option's Lua name and every enum value's, and a few others. */
static const char *names[128];
static size_t names_count;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  size_t n = 0;
  for (size_t i = 0; i < gl_options_count && n < 100; i++) {
    names[n++] = gl_options[i].lua;
    for (const char *w = gl_options[i].names; w && *w && n < 120;) {
      size_t len = strcspn(w, " ");
      names[n++] = strndup(w, len);
      w += len + (w[len] == ' ');
    }
  }
  names[n++] = "config";
  names[n++] = "";
  names[n] = NULL;
  names_count = n;
  return 0;
}

/* Every option that the struct at base holds in range (cfg: a gl_config). */
static void assert_in_range(const void *base, int cfg) {
  char why[160];
  for (size_t i = 0; i < gl_options_count; i++) {
    const gl_option *d = &gl_options[i];
    if (d->ctype == GL_C_OTHER || (cfg && d->scope != GL_S_SCRIPT)) continue;
    FUZZ_ASSERT(gl_option_check(d, gl_option_get(d, base, cfg ? d->cfg_off : d->off), why, sizeof(why)) == 0);
  }
}

static void lua_new(fz_reader *r) {
  lua_State *L = luaL_newstate();
  if (L == NULL) abort();
  lua_pushcfunction(L, luaopen_gatelog);
  lua_call(L, 0, 1);
  lua_getfield(L, -1, "new");
  lua_createtable(L, 0, 8);
  for (unsigned n = fz_byte(r) % 16; n > 0; n--) {
    if (fz_byte(r) % 4) lua_pushstring(L, names[fz_byte(r) % names_count]); /* mostly a name */
    else fz_push_value(L, r, names, 0);
    fz_push_value(L, r, names, 2);
    if (lua_isnil(L, -2) || (lua_isnumber(L, -2) && lua_tonumber(L, -2) != lua_tonumber(L, -2)))
      lua_pop(L, 2);
    else
      lua_rawset(L, -3);
  }
  /* Whatever the bytes said, no file is read: the checks come first. */
  lua_pushstring(L, "/nonexistent/gatelog-fuzz.lua");
  lua_setfield(L, -2, "script");
  if (lua_pcall(L, 1, LUA_MULTRET, 0) == 0) FUZZ_ASSERT(lua_isnil(L, -3)); /* nil, msg, name */
  lua_close(L);
}

static void script_config(fz_reader *r, gatelog_t *gl) {
  lua_State *L = luaL_newstate();
  if (L == NULL) abort();
  gatelog_options_t o;
  gatelog_options_init(&o);
  gl_config cfg, before;
  gl_config_from_options(&cfg, &o);
  before = cfg;
  lua_createtable(L, 0, 1);
  fz_push_value(L, r, names, 3);
  lua_setfield(L, -2, "config");
  int err = gl_config_apply_table(L, 1, &cfg, gl);
  FUZZ_ASSERT(lua_gettop(L) == 1);
  if (err) FUZZ_ASSERT(memcmp(&cfg, &before, sizeof(cfg)) == 0 && gl->last_error[0]);
  else if (gl_config_check(gl, &cfg, "fuzz") == 0) assert_in_range(&cfg, 1);
  lua_close(L);
}

static void c_options(fz_reader *r, gatelog_t *gl) {
  gatelog_options_t o;
  gatelog_options_init(&o);
  for (size_t i = 0; i < gl_options_count; i++)
    if (gl_options[i].ctype != GL_C_OTHER && fz_byte(r) % 2)
      gl_option_set(&gl_options[i], &o, gl_options[i].off, (int64_t)fz_u64(r));
  if (gl_options_check(gl, &o) != 0) return;
  gl_config cfg;
  gl_config_from_options(&cfg, &o);
  if (gl_config_check(gl, &cfg, "options") != 0) return;
  assert_in_range(&o, 0);
  assert_in_range(&cfg, 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fz_reader r = {data, data + size};
  gatelog_t *gl = calloc(1, sizeof(*gl)); /* where the checks write their reasons */
  if (gl == NULL) abort();
  switch (fz_byte(&r) % 3) {
  case 0: lua_new(&r); break;
  case 1: script_config(&r, gl); break;
  default: c_options(&r, gl); break;
  }
  free(gl);
  return 0;
}
