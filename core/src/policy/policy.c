#include "policy/policy.h"

#include <errno.h>
#include <lauxlib.h>
#include <lualib.h>
#include <luajit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/clock.h"
#include "config.h"
#include "runtime/sandbox.h"
#include "util/sha256.h"

#ifndef GATELOG_LUA_DIR
#define GATELOG_LUA_DIR "/usr/local/share/gatelog/lua"
#endif

#define LOAD_BUDGET_NS 1000000000ull /* running the chunk itself: a second */
#define SCRIPT_MAX_BYTES (16u << 20)

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

static void count_error(gl_policy *p, int fn, int budget) {
  gatelog_stats_t *st = &p->gl->stats;
  st->script_errors++;
  if (fn == GL_FN_FILTER) st->filter_errors++;
  else if (fn == GL_FN_ENRICH) st->enrich_errors++;
  else if (fn == GL_FN_SEND) st->send_errors++;
  else st->callback_errors++;
  if (budget == GL_BUDGET_TIME) st->budget_exceeded++;
  else if (budget == GL_BUDGET_MEMORY) st->memory_exceeded++;
}

/* Count and log a failed call of fn whose message is on the stack; a line
 * goes out once a second per function at most, saying how many it held. */
static void failed(gl_policy *p, int fn, int budget, const char *what) {
  gatelog_t *gl = p->gl;
  const char *msg = lua_tostring(p->L, -1);
  if (msg == NULL) msg = "(error object is not a string)";
  count_error(p, fn, budget);
  uint64_t held;
  if (!gl_ratelimit_allow(&p->rl[fn], gl_now_ms(gl), &held)) return;
  char more[64] = "";
  if (held) snprintf(more, sizeof(more), " (%llu more since the last line)", (unsigned long long)held);
  gl_log(gl, GATELOG_LOG_ERROR, "policy %s %s (script %s): %.*s%s", fn_names[fn], what, p->path,
         (int)first_line(msg), msg, more);
  gl_log(gl, GATELOG_LOG_DEBUG, "policy %s traceback: %s", fn_names[fn], msg);
}

/* pcall the function and nargs arguments on top of the stack with the
 * traceback handler, under the time and memory budget. On error the
 * message is left on the stack and *budget says whether a budget stopped
 * the call. */
static int call(gl_policy *p, int nargs, int nresults, int *budget) {
  lua_State *L = p->L;
  int base = lua_gettop(L) - nargs;
  lua_rawgeti(L, LUA_REGISTRYINDEX, p->traceback_ref);
  lua_insert(L, base);
  gl_budget_begin(L, &p->budget);
  int status = lua_pcall(L, nargs, nresults, base);
  int kind = gl_budget_end(L, &p->budget);
  lua_remove(L, base);
  if (budget) *budget = kind;
  return status;
}

/* ---- loading ---------------------------------------------------------- */

int gl_read_script(const char *path, char **data, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (f == NULL) return -errno;
  gl_buf b = {0};
  char chunk[8192];
  size_t n;
  int err = 0;
  while (err == 0 && (n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
    err = gl_buf_append(&b, chunk, n);
    if (err == 0 && b.len > SCRIPT_MAX_BYTES) err = UV_EFBIG;
  }
  if (err == 0 && ferror(f)) err = UV_EIO;
  fclose(f);
  if (err == 0 && b.data == NULL) err = gl_buf_append(&b, "", 0);
  if (err) {
    gl_buf_free(&b);
    return err;
  }
  *data = b.data;
  *len = b.len;
  return 0;
}

/* package.path for the script: lua_path, the script's directory, the
 * installed lua/ directory (and, without the sandbox, LuaJIT's own). */
static char *search_path(gatelog_t *gl, const char *path, const char *system) {
  gl_buf b = {0};
  const char *slash = strrchr(path, '/');
  if (gl->lua_path && *gl->lua_path) gl_buf_printf(&b, "%s;", gl->lua_path);
  if (slash) {
    int dl = (int)(slash - path);
    gl_buf_printf(&b, "%.*s/?.lua;%.*s/?/init.lua;", dl, path, dl, path);
  } else {
    gl_buf_printf(&b, "./?.lua;./?/init.lua;");
  }
  gl_buf_printf(&b, "%s/?.lua;%s/?/init.lua", GATELOG_LUA_DIR, GATELOG_LUA_DIR);
  if (system) gl_buf_printf(&b, ";%s", system);
  return b.data;
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
  gl_budget_release(&p->budget);
  if (p->L) {
    lua_close(p->L);
    p->gl->stats.script_states--;
  }
  free(p->path);
  free(p);
}

/* Set up the state's libraries, then load and run the script's chunk,
 * leaving what it returned on the stack. */
static int run_chunk(gl_policy *p, const char *src, size_t len) {
  gatelog_t *gl = p->gl;
  lua_State *L = p->L;
  int sandbox = gl->opts.sandbox;
  if (sandbox && len > 0 && src[0] == LUA_SIGNATURE[0]) {
    gl_set_error(gl, "%s: precompiled bytecode is not loaded in the sandbox", p->path);
    return GATELOG_ESCRIPT;
  }
  luaL_openlibs(L);
  lua_pushcfunction(L, traceback);
  p->traceback_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_getglobal(L, "package");
  lua_getfield(L, -1, "path");
  char *path = search_path(gl, p->path, sandbox ? NULL : lua_tostring(L, -1));
  lua_pop(L, 1);
  lua_pushstring(L, path ? path : "");
  lua_setfield(L, -2, "path");
  lua_pop(L, 1);
  gl_core_module_install(p);
  gl_view_install(p);
  gl_batch_install(p);
  int env = 0;
  if (sandbox) {
    if (gl_sandbox_push(L, path ? path : "", p->budget.time_ns != 0) != 0) {
      gl_set_error(gl, "%s: building the sandbox failed: %s", p->path, lua_tostring(L, -1));
      free(path);
      return GATELOG_ESCRIPT;
    }
    env = lua_gettop(L);
  }
  free(path);
  /* Without the sandbox, what the script loads is not seen: the whole
   * state runs in the interpreter then. */
  gl_budget_arm(L, &p->budget, !sandbox);
  char chunkname[1024];
  snprintf(chunkname, sizeof(chunkname), "@%s", p->path);
  if (luaL_loadbuffer(L, src, len, chunkname) != 0) {
    gl_set_error(gl, "cannot load %s", lua_tostring(L, -1));
    return GATELOG_ESCRIPT;
  }
  /* The script's own functions (all of its prototypes) never compile. */
  if (p->budget.time_ns) luaJIT_setmode(L, -1, LUAJIT_MODE_ALLFUNC | LUAJIT_MODE_OFF);
  if (env) {
    lua_pushvalue(L, env);
    lua_setfenv(L, -2);
  }
  uint64_t budget = p->budget.time_ns;
  if (budget) p->budget.time_ns = LOAD_BUDGET_NS;
  int status = call(p, 0, 1, NULL);
  p->budget.time_ns = budget;
  if (status != 0) {
    gl_set_error(gl, "%s raised while loading: %.*s", p->path,
                 (int)first_line(lua_tostring(L, -1)), lua_tostring(L, -1));
    return GATELOG_ESCRIPT;
  }
  return 0;
}

static int run_record(gl_policy *p, gl_record *r, gl_extras *x, int synthetic);

/* Run filter and enrich once on a made-up record: a script whose
 * functions raise on every record fails here rather than in production. */
static int try_synthetic(gl_policy *p) {
  gl_record r;
  gl_extras x = {0};
  memset(&r, 0, sizeof(r));
  r.sid = 0x0123456789abcdefull;
  r.resource = 0;
  r.proto = GL_PROTO_TCP;
  r.end_reason = "closed";
  r.final = 1;
  r.seq = 1;
  gl_addr_parse("192.0.2.1:40000", 15, &r.src);
  gl_addr_parse("198.51.100.1:443", 16, &r.dst);
  r.ended_ns = gl_clock_real_ns();
  r.started_ns = r.ended_ns - 1000000000ull;
  r.bytes_tx = r.delta_tx = 1000;
  r.bytes_rx = r.delta_rx = 2000;
  int err = run_record(p, &r, &x, 1) < 0 ? GATELOG_ESCRIPT : 0;
  gl_extras_free(&x);
  return err;
}

int gl_policy_load(gatelog_t *gl, const char *path, gl_config *cfg, gl_policy **out) {
  *out = NULL;
  char *src = NULL;
  size_t len = 0;
  int err = gl_read_script(path, &src, &len);
  if (err) {
    gl_set_error(gl, "cannot read %s: %s", path, uv_strerror(err));
    return GATELOG_ESCRIPT;
  }
  gl_policy *p = calloc(1, sizeof(*p));
  if (p == NULL || (p->path = strdup(path)) == NULL) {
    free(p);
    free(src);
    gl_set_error(gl, "out of memory loading %s", path);
    return UV_ENOMEM;
  }
  p->gl = gl;
  p->refs = 1;
  p->budget.time_ns = gl->opts.script_budget_ms * 1000000ull;
  p->budget.memory_max = gl->opts.script_memory_max;
  gl_sha256_hex(src, len, p->sha256);
  p->loaded_ns = gl_clock_real_ns();
  p->L = gl_budget_newstate(&p->budget);
  if (p->L == NULL) {
    free(src);
    policy_free(p);
    gl_set_error(gl, "out of memory creating the Lua state for %s", path);
    return UV_ENOMEM;
  }
  lua_State *L = p->L;
  gl->stats.script_states++;
  err = run_chunk(p, src, len);
  free(src);
  if (err) goto fail;
  err = GATELOG_ESCRIPT;
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
  if ((err = gl_config_apply_table(L, t, cfg, gl))) {
    char why[sizeof(gl->last_error)];
    memcpy(why, gl->last_error, sizeof(why));
    gl_set_error(gl, "%s: %s", path, why);
    goto fail;
  }
  lua_settop(L, 0);
  if ((err = try_synthetic(p))) goto fail;
  p->loaded = 1;
  lua_gc(L, LUA_GCCOLLECT, 0);
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

/* Call filter or enrich (fn) with the view at view_idx and the traceback
 * handler at errfunc; returns the pcall status, one result or the error
 * on the stack. */
static int run_fn(gl_policy *p, int fn, int view_idx, int errfunc) {
  lua_State *L = p->L;
  lua_rawgeti(L, LUA_REGISTRYINDEX, p->fn_ref[fn]);
  lua_pushvalue(L, view_idx);
  return lua_pcall(L, 1, 1, errfunc);
}

static int budget_kind(const gl_budget *b) {
  return b->expired ? GL_BUDGET_TIME : b->out_of_memory ? GL_BUDGET_MEMORY : 0;
}

/* Filter then enrich for one record: one view, one traceback handler and
 * one budget window for both, pushed once (this runs for every record).
 * A failure of a real record is counted and logged and the record follows
 * on_script_error; a failure of the synthetic one sets the load error.
 * Returns 1 (keep), 0 (drop), or -1 (the synthetic record failed). */
static int run_record(gl_policy *p, gl_record *r, gl_extras *x, int synthetic) {
  lua_State *L = p->L;
  gatelog_t *gl = p->gl;
  int drop_on_error = !synthetic && gl->cfg.on_script_error == GATELOG_DROP;
  int keep = 1, spent = 0, result = 1;
  int base = lua_gettop(L);
  lua_rawgeti(L, LUA_REGISTRYINDEX, p->traceback_ref);
  gl_view *v;
  if (p->in_call) {
    /* A host callback re-entered the core from inside a script call: the
     * shared view is busy, so this record gets a view of its own. */
    v = gl_view_new(L, &p->fields);
  } else {
    lua_rawgeti(L, LUA_REGISTRYINDEX, p->view_ref);
    v = p->view;
  }
  v->r = r;
  r->extras = NULL;
  int outer = p->in_call;
  p->in_call = 1;
  gl_budget_begin(L, &p->budget);
  for (int fn = GL_FN_FILTER; fn <= GL_FN_ENRICH && keep && !spent; fn++) {
    if (p->fn_ref[fn] == LUA_NOREF) continue;
    v->writable = fn == GL_FN_ENRICH;
    if (fn == GL_FN_ENRICH) {
      gl_extras_reset(x);
      r->extras = x;
    }
    if (run_fn(p, fn, base + 2, base + 1) == 0) {
      if (fn == GL_FN_FILTER) keep = lua_toboolean(L, -1);
      lua_pop(L, 1);
      continue;
    }
    /* A spent budget stops the record's script work: enrich does not run. */
    int kind = budget_kind(&p->budget);
    spent = kind != 0;
    if (fn == GL_FN_ENRICH) {
      gl_extras_reset(x);
      r->extras = NULL;
    }
    if (synthetic) {
      const char *msg = lua_tostring(L, -1);
      gl_set_error(gl, "%s: %s raised on a test record: %.*s", p->path, fn_names[fn],
                   (int)first_line(msg ? msg : "?"), msg ? msg : "?");
      result = -1;
      break;
    }
    failed(p, fn, kind, drop_on_error ? "failed; record dropped"
                        : fn == GL_FN_FILTER ? "failed; record kept"
                                             : "failed; record kept without enrichment");
    lua_pop(L, 1);
    if (drop_on_error) {
      keep = 0;
      gl->stats.records_dropped_on_error++;
    }
  }
  gl_budget_end(L, &p->budget);
  p->in_call = outer;
  v->r = NULL; /* a view kept by the script now raises instead of lying */
  lua_settop(L, base);
  return result < 0 ? -1 : keep;
}

int gl_policy_process(gl_policy *p, gl_record *r) {
  r->extras = NULL;
  if (p->fn_ref[GL_FN_FILTER] == LUA_NOREF && p->fn_ref[GL_FN_ENRICH] == LUA_NOREF) return 1;
  gl_policy_ref(p); /* a reload from a callback must not close it under us */
  int keep = run_record(p, r, &p->gl->extras, 0);
  gl_policy_unref(p);
  return keep;
}

int gl_policy_send(gl_policy *p, gl_batch *b, gl_send *s, char **err) {
  lua_State *L = p->L;
  int budget, status;
  gl_policy_ref(p);
  lua_rawgeti(L, LUA_REGISTRYINDEX, p->fn_ref[GL_FN_SEND]);
  gl_batch_push(p, b, s);
  status = call(p, 2, 0, &budget);
  if (status != 0) {
    const char *msg = lua_tostring(L, -1);
    failed(p, GL_FN_SEND, budget, "failed; batch will be retried");
    *err = msg ? strndup(msg, first_line(msg)) : strdup("send raised");
    lua_pop(L, 1);
  }
  gl_policy_unref(p);
  return status ? -1 : 0;
}

void gl_policy_invoke(gl_policy *p, int ref, int nargs, int keep) {
  lua_State *L = p->L;
  int budget;
  gl_policy_ref(p);
  lua_rawgeti(L, LUA_REGISTRYINDEX, ref);
  lua_insert(L, -(nargs + 1));
  if (!keep) luaL_unref(L, LUA_REGISTRYINDEX, ref);
  if (call(p, nargs, 0, &budget) != 0) {
    failed(p, GL_FN_CALLBACK, budget, "raised");
    lua_pop(L, 1);
  }
  gl_policy_unref(p);
}

void gl_policy_callback(gl_policy *p, int ref, int ok, const char *err) {
  lua_State *L = p->L;
  int nargs = 1;
  if (ok) {
    lua_pushboolean(L, 1);
  } else {
    lua_pushnil(L);
    lua_pushstring(L, err ? err : "failed");
    nargs = 2;
  }
  gl_policy_invoke(p, ref, nargs, 0);
}
