/* The settings in force: the host's options, overridden by the script's
 * config table, checked as a whole. options.def gives every option's
 * range and Lua name. */
#ifndef GATELOG_CONFIG_H
#define GATELOG_CONFIG_H

#include <lua.h>

#include "internal.h"

void gl_config_from_options(gl_config *c, const gatelog_options_t *o);

/* The ranges of the options a script cannot override: 0, or
 * GATELOG_ECONFIG with the reason in gl's last error. */
int gl_options_check(gatelog_t *gl, const gatelog_options_t *o);

/* The ranges, then what holds between fields: 0 or GATELOG_ECONFIG with
 * the reason (prefixed by `where`) in gl's last error. */
int gl_config_check(gatelog_t *gl, const gl_config *c, const char *where);

/* Apply the `config` field of the table at idx (if any) over *cfg. 0, or
 * GATELOG_ECONFIG naming the key, with *cfg untouched. */
int gl_config_apply_table(lua_State *L, int idx, gl_config *cfg, gatelog_t *gl);

#endif
