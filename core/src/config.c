#include "config.h"

#include "options.h"

void gl_config_from_options(gl_config *c, const gatelog_options_t *o) {
  for (size_t i = 0; i < gl_options_count; i++) {
    const gl_option *d = &gl_options[i];
    if (d->scope == GL_S_SCRIPT) gl_option_set(d, c, d->cfg_off, gl_option_get(d, o, d->off));
  }
}

/* The ranges options.def gives: with `cfg`, of the options in the
 * gl_config at base; else of the others, in the gatelog_options_t. */
static int check_ranges(gatelog_t *gl, const void *base, int cfg, const char *where) {
  char why[160];
  for (size_t i = 0; i < gl_options_count; i++) {
    const gl_option *d = &gl_options[i];
    if ((d->scope == GL_S_SCRIPT) != cfg) continue;
    if (gl_option_check(d, gl_option_get(d, base, cfg ? d->cfg_off : d->off), why, sizeof(why))) {
      gl_set_error(gl, "%s: %s %s", where, d->field, why);
      return GATELOG_ECONFIG;
    }
  }
  return 0;
}

int gl_options_check(gatelog_t *gl, const gatelog_options_t *o) {
  return check_ranges(gl, o, 0, "options");
}

int gl_config_check(gatelog_t *gl, const gl_config *c, const char *where) {
  int err = check_ranges(gl, c, 1, where);
  if (err) return err;
  if (c->queue_max_records < c->batch_max_records) {
    gl_set_error(gl, "%s: queue_max_records must be at least batch_max_records", where);
    return GATELOG_ECONFIG;
  }
  if (!gl_deflate_have(c->compressor)) {
    gl_set_error(gl, "%s: compressor: this build has no libdeflate (GATELOG_LIBDEFLATE=OFF or not found)",
                 where);
    return GATELOG_ECONFIG;
  }
  return 0;
}

/* One key of the script's config table, its value on top of the stack. */
static int key(lua_State *L, const char *k, gl_config *cfg, gatelog_t *gl) {
  const gl_option *d = gl_option_find(k);
  char why[160];
  int64_t v;
  if (d == NULL || d->scope != GL_S_SCRIPT) {
    gl_set_error(gl, "config: unknown key '%s'", k);
    return GATELOG_ECONFIG;
  }
  if (gl_option_from_lua(L, -1, d, &v, why, sizeof(why))) {
    gl_set_error(gl, "config.%s: %s", k, why);
    return GATELOG_ECONFIG;
  }
  gl_option_set(d, cfg, d->cfg_off, v);
  return 0;
}

int gl_config_apply_table(lua_State *L, int idx, gl_config *cfg, gatelog_t *gl) {
  /* Raw, as every read of what the script returned: no metamethod runs. */
  lua_pushliteral(L, "config");
  lua_rawget(L, idx);
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    return 0;
  }
  if (!lua_istable(L, -1)) {
    lua_pop(L, 1);
    gl_set_error(gl, "config: must be a table");
    return GATELOG_ECONFIG;
  }
  gl_config next = *cfg;
  lua_pushnil(L);
  while (lua_next(L, -2) != 0) {
    if (lua_type(L, -2) != LUA_TSTRING) {
      lua_pop(L, 3);
      gl_set_error(gl, "config: keys must be strings");
      return GATELOG_ECONFIG;
    }
    int err = key(L, lua_tostring(L, -2), &next, gl);
    lua_pop(L, 1);
    if (err) {
      lua_pop(L, 2);
      return err;
    }
  }
  lua_pop(L, 1);
  *cfg = next;
  return 0;
}
