#include "config.h"

#include <math.h>
#include <string.h>

#define YEAR_MS (365ull * 86400 * 1000)

void gl_config_from_options(gl_config *c, const gatelog_options_t *o) {
  c->flush_interval_ms = o->flush_interval_ms;
  c->batch_max_records = o->batch_max_records;
  c->queue_max_records = o->queue_max_records;
  c->udp_idle_timeout_ms = o->udp_idle_timeout_ms;
  c->compression_level = o->compression_level;
  c->max_inflight = o->max_inflight;
  c->access_log = o->access_log;
  c->log_level = o->log_level;
  c->on_script_error = o->on_script_error;
  c->send_timeout_ms = o->send_timeout_ms;
  c->watch = o->watch;
  c->compressor = o->compressor;
  c->active_timeout_ms = o->active_timeout_ms;
  c->log_start = o->log_start;
  c->tcp_idle_timeout_ms = o->tcp_idle_timeout_ms;
  c->max_lifetime_ms = o->max_lifetime_ms;
  c->max_sessions = o->max_sessions;
  c->table_full = o->table_full;
}

int gl_config_check(gatelog_t *gl, const gl_config *c, const char *where) {
  const char *bad = NULL;
  if (c->flush_interval_ms < 1 || c->flush_interval_ms > YEAR_MS)
    bad = "flush interval must be from 1 ms to 365 days";
  else if (c->batch_max_records < 1) bad = "batch_max_records must be at least 1";
  else if (c->queue_max_records < c->batch_max_records)
    bad = "queue_max_records must be at least batch_max_records";
  else if (c->udp_idle_timeout_ms < 1 || c->udp_idle_timeout_ms > YEAR_MS)
    bad = "udp idle timeout must be from 1 ms to 365 days";
  else if (c->compression_level < 0 || c->compression_level > 9)
    bad = "compression_level must be from 0 to 9";
  else if (c->max_inflight < 1) bad = "max_inflight must be at least 1";
  else if (c->log_level < GATELOG_LOG_ERROR || c->log_level > GATELOG_LOG_DEBUG)
    bad = "log_level must be from GATELOG_LOG_ERROR to GATELOG_LOG_DEBUG";
  else if (c->on_script_error != GATELOG_KEEP && c->on_script_error != GATELOG_DROP)
    bad = "on_script_error must be GATELOG_KEEP or GATELOG_DROP";
  else if (c->send_timeout_ms < 1 || c->send_timeout_ms > YEAR_MS)
    bad = "send timeout must be from 1 ms to 365 days";
  else if (c->active_timeout_ms > YEAR_MS || c->tcp_idle_timeout_ms > YEAR_MS ||
           c->max_lifetime_ms > YEAR_MS)
    bad = "active, TCP idle and lifetime timeouts must be at most 365 days";
  else if (c->table_full != GATELOG_EVICT && c->table_full != GATELOG_REFUSE)
    bad = "table_full must be GATELOG_EVICT or GATELOG_REFUSE";
  else if (c->compressor < GATELOG_COMPRESS_AUTO || c->compressor > GATELOG_COMPRESS_LIBDEFLATE)
    bad = "compressor must be GATELOG_COMPRESS_AUTO, _ZLIB or _LIBDEFLATE";
  else if (!gl_deflate_have(c->compressor))
    bad = "compressor: this build has no libdeflate (GATELOG_LIBDEFLATE=OFF or not found)";
  if (bad == NULL) return 0;
  gl_set_error(gl, "%s: %s", where, bad);
  return GATELOG_ECONFIG;
}

static int number(lua_State *L, const char *key, double lo, double hi, int integer,
                  double *out, gatelog_t *gl) {
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

static int boolean(lua_State *L, const char *key, int *out, gatelog_t *gl) {
  if (!lua_isboolean(L, -1)) {
    gl_set_error(gl, "config.%s: must be a boolean", key);
    return GATELOG_ECONFIG;
  }
  *out = lua_toboolean(L, -1);
  return 0;
}

static int key(lua_State *L, const char *k, gl_config *cfg, gatelog_t *gl) {
  double v;
  int err;
  if (strcmp(k, "flush_interval") == 0) {
    if ((err = number(L, k, 0.001, 86400 * 365, 0, &v, gl))) return err;
    cfg->flush_interval_ms = (uint64_t)llround(v * 1000);
  } else if (strcmp(k, "batch_max") == 0) {
    if ((err = number(L, k, 1, 1000000, 1, &v, gl))) return err;
    cfg->batch_max_records = (uint32_t)v;
  } else if (strcmp(k, "queue_max") == 0) {
    if ((err = number(L, k, 1, 1e9, 1, &v, gl))) return err;
    cfg->queue_max_records = (uint32_t)v;
  } else if (strcmp(k, "udp_idle_timeout") == 0) {
    if ((err = number(L, k, 0.001, 86400 * 365, 0, &v, gl))) return err;
    cfg->udp_idle_timeout_ms = (uint64_t)llround(v * 1000);
  } else if (strcmp(k, "compression_level") == 0) {
    if ((err = number(L, k, 0, 9, 1, &v, gl))) return err;
    cfg->compression_level = (int)v;
  } else if (strcmp(k, "max_inflight") == 0) {
    if ((err = number(L, k, 1, 1024, 1, &v, gl))) return err;
    cfg->max_inflight = (uint32_t)v;
  } else if (strcmp(k, "send_timeout") == 0) {
    if ((err = number(L, k, 0.001, 86400 * 365, 0, &v, gl))) return err;
    cfg->send_timeout_ms = (uint64_t)llround(v * 1000);
  } else if (strcmp(k, "active_timeout") == 0) {
    if ((err = number(L, k, 0, 86400 * 365, 0, &v, gl))) return err;
    cfg->active_timeout_ms = (uint64_t)llround(v * 1000);
  } else if (strcmp(k, "tcp_idle_timeout") == 0) {
    if ((err = number(L, k, 0, 86400 * 365, 0, &v, gl))) return err;
    cfg->tcp_idle_timeout_ms = (uint64_t)llround(v * 1000);
  } else if (strcmp(k, "max_lifetime") == 0) {
    if ((err = number(L, k, 0, 86400 * 365, 0, &v, gl))) return err;
    cfg->max_lifetime_ms = (uint64_t)llround(v * 1000);
  } else if (strcmp(k, "max_sessions") == 0) {
    if ((err = number(L, k, 0, 1e9, 1, &v, gl))) return err;
    cfg->max_sessions = (uint32_t)v;
  } else if (strcmp(k, "log_start") == 0) {
    return boolean(L, k, &cfg->log_start, gl);
  } else if (strcmp(k, "table_full") == 0) {
    const char *s = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "";
    if (strcmp(s, "evict") == 0) cfg->table_full = GATELOG_EVICT;
    else if (strcmp(s, "refuse") == 0) cfg->table_full = GATELOG_REFUSE;
    else {
      gl_set_error(gl, "config.table_full: must be \"evict\" or \"refuse\"");
      return GATELOG_ECONFIG;
    }
  } else if (strcmp(k, "compressor") == 0) {
    const char *s = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "";
    if (strcmp(s, "auto") == 0) cfg->compressor = GATELOG_COMPRESS_AUTO;
    else if (strcmp(s, "zlib") == 0) cfg->compressor = GATELOG_COMPRESS_ZLIB;
    else if (strcmp(s, "libdeflate") == 0) cfg->compressor = GATELOG_COMPRESS_LIBDEFLATE;
    else {
      gl_set_error(gl, "config.compressor: must be \"auto\", \"zlib\" or \"libdeflate\"");
      return GATELOG_ECONFIG;
    }
  } else if (strcmp(k, "access_log") == 0) {
    return boolean(L, k, &cfg->access_log, gl);
  } else if (strcmp(k, "watch") == 0) {
    return boolean(L, k, &cfg->watch, gl);
  } else if (strcmp(k, "on_script_error") == 0) {
    const char *s = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "";
    if (strcmp(s, "keep") == 0) cfg->on_script_error = GATELOG_KEEP;
    else if (strcmp(s, "drop") == 0) cfg->on_script_error = GATELOG_DROP;
    else {
      gl_set_error(gl, "config.on_script_error: must be \"keep\" or \"drop\"");
      return GATELOG_ECONFIG;
    }
  } else {
    gl_set_error(gl, "config: unknown key '%s'", k);
    return GATELOG_ECONFIG;
  }
  return 0;
}

int gl_config_apply_table(lua_State *L, int idx, gl_config *cfg, gatelog_t *gl) {
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
