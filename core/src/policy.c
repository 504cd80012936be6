#include "policy.h"

#include <lauxlib.h>
#include <lualib.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>


#ifndef GATELOG_LUA_DIR
#define GATELOG_LUA_DIR "/usr/local/share/gatelog/lua"
#endif

static const char *const fn_names[GL_FN_COUNT] = {"filter", "enrich", "send", "callback"};

static int traceback(lua_State *L) {
  const char *msg = lua_tostring(L, 1);
  if (msg == NULL) msg = luaL_typename(L, 1);
  luaL_traceback(L, L, msg, 1);
  return 1;
}

/* The first line of a message with traceback: what a log line shows. */
static size_t first_line(const char *msg) {
  const char *nl = strchr(msg, '\n');
  return nl ? (size_t)(nl - msg) : strlen(msg);
}

void gl_policy_report(gl_policy *p, int fn, const char *what, const char *msg) {
  gatelog_t *gl = p->gl;
  uint64_t suppressed;
  if (!gl_ratelimit_allow(&p->rl[fn], gl_now_ms(gl), &suppressed)) return;
  gl_log(gl, GATELOG_LOG_ERROR, "policy %s %s (script %s): %.*s%s", fn_names[fn], what,
         p->path, (int)first_line(msg), msg,
         suppressed ? " (and more errors, held back for a second)" : "");
  gl_log(gl, GATELOG_LOG_DEBUG, "policy %s traceback: %s", fn_names[fn], msg);
}

static void count_error(gl_policy *p, int fn) {
  gatelog_stats_t *st = &p->gl->stats;
  st->script_errors++;
  if (fn == GL_FN_FILTER) st->filter_errors++;
  else if (fn == GL_FN_ENRICH) st->enrich_errors++;
  else if (fn == GL_FN_SEND) st->send_errors++;
}

/* pcall the function and nargs arguments on top of the stack with the
 * traceback handler. On error the message is left on the stack. */
static int call(gl_policy *p, int nargs, int nresults) {
  lua_State *L = p->L;
  int base = lua_gettop(L) - nargs;
  lua_rawgeti(L, LUA_REGISTRYINDEX, p->traceback_ref);
  lua_insert(L, base);
  int status = lua_pcall(L, nargs, nresults, base);
  lua_remove(L, base);
  return status;
}

/* ---- config ---------------------------------------------------------- */

static int config_number(lua_State *L, const char *key, double lo, double hi,
                         int integer, double *out, gatelog_t *gl) {
  if (lua_type(L, -1) != LUA_TNUMBER) goto bad;
  double v = lua_tonumber(L, -1);
  if (!(v >= lo && v <= hi) || (integer && v != floor(v))) goto bad;
  *out = v;
  return 0;
bad:
  gl_set_error(gl, "config.%s: must be %s from %g to %g", key,
               integer ? "an integer" : "a number", lo, hi);
  return GATELOG_ECONFIG;
}

static int config_key(lua_State *L, const char *key, gl_config *cfg, gatelog_t *gl) {
  double v;
  int err;
  if (strcmp(key, "flush_interval") == 0) {
    if ((err = config_number(L, key, 0.001, 86400 * 365, 0, &v, gl))) return err;
    cfg->flush_interval_ms = (uint64_t)llround(v * 1000);
  } else if (strcmp(key, "batch_max") == 0) {
    if ((err = config_number(L, key, 1, 1000000, 1, &v, gl))) return err;
    cfg->batch_max_records = (uint32_t)v;
  } else if (strcmp(key, "queue_max") == 0) {
    if ((err = config_number(L, key, 1, 1e9, 1, &v, gl))) return err;
    cfg->queue_max_records = (uint32_t)v;
  } else if (strcmp(key, "udp_idle_timeout") == 0) {
    if ((err = config_number(L, key, 0.001, 86400 * 365, 0, &v, gl))) return err;
    cfg->udp_idle_timeout_ms = (uint64_t)llround(v * 1000);
  } else if (strcmp(key, "compression_level") == 0) {
    if ((err = config_number(L, key, 0, 9, 1, &v, gl))) return err;
    cfg->compression_level = (int)v;
  } else if (strcmp(key, "max_inflight") == 0) {
    if ((err = config_number(L, key, 1, 1024, 1, &v, gl))) return err;
    cfg->max_inflight = (uint32_t)v;
  } else if (strcmp(key, "access_log") == 0) {
    if (!lua_isboolean(L, -1)) {
      gl_set_error(gl, "config.access_log: must be a boolean");
      return GATELOG_ECONFIG;
    }
    cfg->access_log = lua_toboolean(L, -1);
  } else {
    gl_set_error(gl, "config: unknown key '%s'", key);
    return GATELOG_ECONFIG;
  }
  return 0;
}

static int apply_config(lua_State *L, int idx, gl_config *cfg, gatelog_t *gl) {
  lua_getfield(L, idx, "config");
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
    int err = config_key(L, lua_tostring(L, -2), &next, gl);
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

/* ---- loading ---------------------------------------------------------- */

static void set_package_path(lua_State *L, gatelog_t *gl, const char *path) {
  gl_buf b = {0};
  const char *slash = strrchr(path, '/');
  if (gl->lua_path && *gl->lua_path) gl_buf_printf(&b, "%s;", gl->lua_path);
  if (slash) {
    int dl = (int)(slash - path);
    gl_buf_printf(&b, "%.*s/?.lua;%.*s/?/init.lua;", dl, path, dl, path);
  } else {
    gl_buf_printf(&b, "./?.lua;./?/init.lua;");
  }
  gl_buf_printf(&b, "%s/?.lua;%s/?/init.lua;", GATELOG_LUA_DIR, GATELOG_LUA_DIR);
  lua_getglobal(L, "package");
  lua_getfield(L, -1, "path");
  gl_buf_printf(&b, "%s", lua_tostring(L, -1));
  lua_pop(L, 1);
  if (b.data) {
    lua_pushlstring(L, b.data, b.len);
    lua_setfield(L, -2, "path");
  }
  lua_pop(L, 1);
  gl_buf_free(&b);
}

static int take_function(gl_policy *p, int idx, int fn, int required) {
  lua_State *L = p->L;
  lua_getfield(L, idx, fn_names[fn]);
  if (lua_isnil(L, -1) && !required) {
    lua_pop(L, 1);
    p->fn_ref[fn] = LUA_NOREF;
    return 0;
  }
  if (!lua_isfunction(L, -1)) {
    gl_set_error(p->gl, "%s: '%s' must be a function%s", p->path, fn_names[fn],
                 required ? " (it is required)" : "");
    lua_pop(L, 1);
    return GATELOG_ESCRIPT;
  }
  p->fn_ref[fn] = luaL_ref(L, LUA_REGISTRYINDEX);
  return 0;
}

static void policy_free(gl_policy *p) {
  if (p->L) lua_close(p->L);
  free(p->path);
  free(p);
}

int gl_policy_load(gatelog_t *gl, const char *path, gl_config *cfg, gl_policy **out) {
  *out = NULL;
  gl_policy *p = calloc(1, sizeof(*p));
  if (p == NULL || (p->path = strdup(path)) == NULL) {
    free(p);
    gl_set_error(gl, "out of memory loading %s", path);
    return UV_ENOMEM;
  }
  p->gl = gl;
  p->refs = 1;
  p->L = luaL_newstate();
  if (p->L == NULL) {
    policy_free(p);
    gl_set_error(gl, "out of memory creating the Lua state for %s", path);
    return UV_ENOMEM;
  }
  lua_State *L = p->L;
  luaL_openlibs(L);
  lua_pushcfunction(L, traceback);
  p->traceback_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  set_package_path(L, gl, path);
  gl_core_module_install(p);
  gl_view_install(p);

  int err = GATELOG_ESCRIPT;
  if (luaL_loadfile(L, path) != 0) {
    gl_set_error(gl, "cannot load %s: %s", path, lua_tostring(L, -1));
    goto fail;
  }
  if (call(p, 0, 1) != 0) {
    gl_set_error(gl, "%s raised while loading: %s", path, lua_tostring(L, -1));
    goto fail;
  }
  if (!lua_istable(L, -1)) {
    gl_set_error(gl, "%s: the script must return a table (it returned %s)", path,
                 luaL_typename(L, -1));
    goto fail;
  }
  int t = lua_gettop(L);
  if ((err = take_function(p, t, GL_FN_SEND, 1)) ||
      (err = take_function(p, t, GL_FN_FILTER, 0)) ||
      (err = take_function(p, t, GL_FN_ENRICH, 0)))
    goto fail;
  if ((err = apply_config(L, t, cfg, gl))) {
    char why[sizeof(gl->last_error)];
    memcpy(why, gl->last_error, sizeof(why));
    gl_set_error(gl, "%s: %s", path, why);
    goto fail;
  }
  lua_settop(L, 0);
  *out = p;
  return 0;
fail:
  policy_free(p);
  return err;
}

void gl_policy_unref(gl_policy *p) {
  if (--p->refs == 0) policy_free(p);
}

/* ---- per-record calls ------------------------------------------------ */

/* Call filter or enrich with the record view; returns the pcall status and
 * leaves one result (or the error) on the stack. */
static int call_with_view(gl_policy *p, int fn, gl_record *r, int writable) {
  lua_State *L = p->L;
  gl_view *v;
  if (p->in_call) {
    /* A host callback re-entered the core from inside a script call: the
     * shared view is busy, so this call gets a view of its own. */
    v = gl_view_new(L);
  } else {
    lua_rawgeti(L, LUA_REGISTRYINDEX, p->view_ref);
    v = p->view;
  }
  v->r = r;
  v->writable = writable;
  lua_rawgeti(L, LUA_REGISTRYINDEX, p->fn_ref[fn]);
  lua_pushvalue(L, -2);
  int outer = p->in_call;
  p->in_call = 1;
  int status = call(p, 1, 1);
  p->in_call = outer;
  v->r = NULL; /* a view kept by the script now raises instead of lying */
  lua_remove(L, -2);
  return status;
}

int gl_policy_process(gl_policy *p, gl_record *r) {
  lua_State *L = p->L;
  gatelog_t *gl = p->gl;
  r->extras = NULL;
  if (p->fn_ref[GL_FN_FILTER] != LUA_NOREF) {
    if (call_with_view(p, GL_FN_FILTER, r, 0) != 0) {
      count_error(p, GL_FN_FILTER);
      gl_policy_report(p, GL_FN_FILTER, "raised; record kept", lua_tostring(L, -1));
    } else if (!lua_toboolean(L, -1)) {
      lua_pop(L, 1);
      return 0;
    }
    lua_pop(L, 1);
  }
  if (p->fn_ref[GL_FN_ENRICH] != LUA_NOREF) {
    gl_extras_reset(&gl->extras);
    r->extras = &gl->extras;
    if (call_with_view(p, GL_FN_ENRICH, r, 1) != 0) {
      count_error(p, GL_FN_ENRICH);
      gl_policy_report(p, GL_FN_ENRICH, "raised; record kept without enrichment",
                       lua_tostring(L, -1));
      gl_extras_reset(&gl->extras);
      r->extras = NULL;
    }
    lua_pop(L, 1);
  }
  return 1;
}

/* ---- send ---------------------------------------------------------------- */

static int done(lua_State *L) {
  gatelog_t *gl = lua_touserdata(L, lua_upvalueindex(1));
  uint64_t ticket = (uint64_t)lua_tonumber(L, lua_upvalueindex(2));
  int ok = lua_toboolean(L, 1);
  const char *err = NULL;
  if (!ok) {
    if (lua_isnoneornil(L, 2)) err = "send reported failure";
    else if (lua_type(L, 2) == LUA_TSTRING || lua_type(L, 2) == LUA_TNUMBER) err = lua_tostring(L, 2);
    else err = luaL_typename(L, 2);
  }
  gl_outbox_answer(gl, ticket, ok, err);
  return 0;
}

static void push_batch(gl_policy *p, gl_batch *b) {
  lua_State *L = p->L;
  char id[17];
  lua_createtable(L, 0, 6);
  lua_pushlstring(L, b->payload, b->payload_len);
  lua_setfield(L, -2, "payload");
  lua_pushlstring(L, b->json.data, b->json.len);
  lua_setfield(L, -2, "json");
  lua_pushinteger(L, (lua_Integer)b->count);
  lua_setfield(L, -2, "count");
  lua_pushinteger(L, (lua_Integer)b->attempt);
  lua_setfield(L, -2, "attempt");
  gl_hex16(b->id, id);
  lua_pushlstring(L, id, 16);
  lua_setfield(L, -2, "id");
  /* Record boundaries, so that b.ndjson can be built only when asked for. */
  lua_pushlstring(L, (const char *)b->ends, b->count * sizeof(uint32_t));
  lua_rawseti(L, -2, 0);
  lua_rawgeti(L, LUA_REGISTRYINDEX, p->batch_mt_ref);
  lua_setmetatable(L, -2);
}

int gl_policy_send(gl_policy *p, gl_batch *b, char **err) {
  lua_State *L = p->L;
  lua_rawgeti(L, LUA_REGISTRYINDEX, p->fn_ref[GL_FN_SEND]);
  push_batch(p, b);
  lua_pushlightuserdata(L, p->gl);
  lua_pushnumber(L, (lua_Number)b->ticket);
  lua_pushcclosure(L, done, 2);
  if (call(p, 2, 0) == 0) return 0;
  const char *msg = lua_tostring(L, -1);
  count_error(p, GL_FN_SEND);
  gl_policy_report(p, GL_FN_SEND, "raised; batch will be retried", msg);
  *err = strndup(msg, first_line(msg));
  lua_pop(L, 1);
  return -1;
}

void gl_policy_callback(gl_policy *p, int ref, int ok, const char *err) {
  lua_State *L = p->L;
  lua_rawgeti(L, LUA_REGISTRYINDEX, ref);
  luaL_unref(L, LUA_REGISTRYINDEX, ref);
  int nargs = 1;
  if (ok) {
    lua_pushboolean(L, 1);
  } else {
    lua_pushnil(L);
    lua_pushstring(L, err ? err : "failed");
    nargs = 2;
  }
  if (call(p, nargs, 0) != 0) {
    count_error(p, GL_FN_CALLBACK);
    gl_policy_report(p, GL_FN_CALLBACK, "raised", lua_tostring(L, -1));
    lua_pop(L, 1);
  }
}

