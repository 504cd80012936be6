#include "policy/policy.h"

#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/clock.h"
#include "config.h"
#include "util/sha256.h"

static const char *const fn_names[GL_FN_COUNT] = {"filter", "enrich", "send"};

/* Count and log a failed filter or enrich call (its message on the
 * stack). */
static void failed(gl_policy *p, int fn, int budget, const char *what) {
  gatelog_stats_t *st = &p->rt.gl->stats;
  if (fn == GL_FN_FILTER) st->filter_errors++;
  else st->enrich_errors++;
  gl_rt_failed(&p->rt, &p->rl[fn], fn_names[fn], budget, what);
}


/* ---- loading ---------------------------------------------------------- */

static int take_function(gl_policy *p, int idx, int fn, int required) {
  lua_State *L = p->rt.L;
  /* Raw: a returned table's __index would run script code here, outside
   * any protected call and budget. */
  lua_pushstring(L, fn_names[fn]);
  lua_rawget(L, idx);
  if (lua_isnil(L, -1) && !required) {
    lua_pop(L, 1);
    p->fn_ref[fn] = LUA_NOREF;
    return 0;
  }
  if (!lua_isfunction(L, -1)) {
    gl_set_error(p->rt.gl, "%s: '%s' must be a function%s", p->rt.path, fn_names[fn],
                 required ? " (it is required)" : "");
    lua_pop(L, 1);
    return GATELOG_ESCRIPT;
  }
  p->fn_ref[fn] = luaL_ref(L, LUA_REGISTRYINDEX);
  return 0;
}

/* The script's `senders` list (optional): the host senders it calls,
 * kept for gatelog_check_senders. Raw reads, as for the functions. */
static int take_senders(gl_policy *p, int idx) {
  lua_State *L = p->rt.L;
  size_t used = 0;
  int bad = 0;
  lua_pushliteral(L, "senders");
  lua_rawget(L, idx);
  if (!lua_isnil(L, -1) && !lua_istable(L, -1)) bad = 1;
  for (int i = 1; !bad && !lua_isnil(L, -1); i++) {
    lua_rawgeti(L, -1, i);
    size_t len = 0;
    const char *name = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &len) : NULL;
    if (name == NULL) {
      bad = !lua_isnil(L, -1);
      lua_pop(L, 1);
      break;
    }
    if (len == 0 || strlen(name) != len || used + len + 2 > sizeof(p->needs_senders)) bad = 1;
    else memcpy(p->needs_senders + used, name, len + 1);
    used += len + 1;
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  if (bad) {
    gl_set_error(p->rt.gl, "%s: 'senders' must be a list of host sender names (%zu bytes at most)",
                 p->rt.path, sizeof(p->needs_senders) - 2);
    return GATELOG_ESCRIPT;
  }
  return 0;
}

int gl_policy_check_senders(gatelog_t *gl, const gl_policy *p) {
  for (const char *name = p->needs_senders; *name; name += strlen(name) + 1) {
    const gl_sender *s = gl->senders;
    while (s && strcmp(s->name, name) != 0) s = s->next;
    if (s == NULL) {
      gl_set_error(gl, "%s calls the host sender '%s', which this host has not registered",
                   p->rt.path, name);
      return GATELOG_ECONFIG;
    }
  }
  return 0;
}

static int run_record(gl_policy *p, gl_record *r, gl_extras *x, int synthetic);
static void make_record_call(gl_policy *p);

/* x emptied, then holding the fields the gateway set (gatelog_set_attr),
 * which filter sees and enrich may change; r->extras is x if it holds any. */
static void gateway_fields(gl_record *r, gl_extras *x) {
  gl_extras_reset(x);
  r->extras = NULL;
  if (r->attrs == NULL) return;
  if (gl_extras_copy(x, r->attrs) != 0) {
    gl_extras_reset(x);
    return;
  }
  r->extras = x;
}

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
  if (p == NULL) {
    free(src);
    gl_set_error(gl, "out of memory loading %s", path);
    return UV_ENOMEM;
  }
  gl_sha256_hex(src, len, p->sha256);
  p->loaded_ns = gl_clock_real_ns();
  err = gl_rt_open(&p->rt, gl, path);
  if (err == 0) {
    gl_core_module_install(p);
    gl_view_install(p);
    gl_batch_install(p);
    err = gl_rt_run_chunk(&p->rt, src, len);
  }
  free(src);
  if (err) goto fail;
  lua_State *L = p->rt.L;
  err = GATELOG_ESCRIPT;
  if (!lua_istable(L, -1)) {
    gl_set_error(gl, "%s: the script must return a table (it returned %s)", path,
                 luaL_typename(L, -1));
    goto fail;
  }
  int t = lua_gettop(L);
  if ((err = take_function(p, t, GL_FN_SEND, 1)) ||
      (err = take_function(p, t, GL_FN_FILTER, 0)) ||
      (err = take_function(p, t, GL_FN_ENRICH, 0)) || (err = take_senders(p, t)))
    goto fail;
  if ((err = gl_config_apply_table(L, t, cfg, gl))) {
    char why[sizeof(gl->last_error)];
    memcpy(why, gl->last_error, sizeof(why));
    gl_set_error(gl, "%s: %s", path, why);
    goto fail;
  }
  lua_settop(L, 0);
  if ((err = try_synthetic(p))) goto fail;
  make_record_call(p);
  p->rt.loaded = 1;
  lua_gc(L, LUA_GCCOLLECT, 0);
  *out = p;
  return 0;
fail:
  gl_rt_unref(&p->rt);
  return err;
}


/* ---- per-record calls ------------------------------------------------ */

/* Call filter or enrich (fn) with the view at view_idx and the traceback
 * handler at errfunc; returns the pcall status, one result or the error
 * on the stack. */
static int run_fn(gl_policy *p, int fn, int view_idx, int errfunc) {
  lua_State *L = p->rt.L;
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
  lua_State *L = p->rt.L;
  gatelog_t *gl = p->rt.gl;
  int drop_on_error = !synthetic && gl->cfg.on_script_error == GATELOG_DROP;
  int keep = 1, spent = 0, result = 1;
  int base = lua_gettop(L);
  lua_rawgeti(L, LUA_REGISTRYINDEX, p->rt.traceback_ref);
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
  gateway_fields(r, x);
  int outer = p->in_call;
  p->in_call = 1;
  gl_budget_begin(L, &p->rt.budget);
  for (int fn = GL_FN_FILTER; fn <= GL_FN_ENRICH && keep && !spent; fn++) {
    if (p->fn_ref[fn] == LUA_NOREF) continue;
    v->writable = fn == GL_FN_ENRICH;
    if (fn == GL_FN_ENRICH) {
      gateway_fields(r, x);
      r->extras = x;
    }
    if (run_fn(p, fn, base + 2, base + 1) == 0) {
      if (fn == GL_FN_FILTER) keep = lua_toboolean(L, -1);
      lua_pop(L, 1);
      continue;
    }
    /* A spent budget stops the record's script work: enrich does not run. */
    int kind = budget_kind(&p->rt.budget);
    spent = kind != 0;
    if (fn == GL_FN_ENRICH) gateway_fields(r, x);
    if (synthetic) {
      const char *msg = lua_tostring(L, -1);
      gl_set_error(gl, "%s: %s raised on a test record: %.*s", p->rt.path, fn_names[fn],
                   (int)gl_rt_first_line(msg ? msg : "?"), msg ? msg : "?");
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
  gl_budget_end(L, &p->rt.budget);
  p->in_call = outer;
  v->r = NULL; /* a view kept by the script now raises instead of lying */
  lua_settop(L, base);
  return result < 0 ? -1 : keep;
}

/* ---- one protected call per record ------------------------------------ */

/* The usual path: filter then enrich inside one protected call of a C
 * function. An earlier attempt (f3fb3b2, reverted) ran them from a Lua
 * trampoline with xpcall; but once a call passes its deadline the budget's
 * count hook raises on every Lua instruction, the trampoline's own
 * included, so that attempt had the hook look up and exempt the trampoline
 * (a registry lookup and a getinfo per instruction of a spent call), let
 * one stack of Lua frames carry both functions' errors, and gave filter
 * and enrich two different views. A C function is never interrupted by the
 * hook and adds no Lua frame: filter and enrich are called unprotected
 * inside it, the first error ends the call, and `stage` says whose it was.
 * Only after a failed filter whose record is kept (the rare path) does
 * enrich get a protected call of its own, as before.
 *
 * Slots of rec_L's stack, set once at load: */
enum { SLOT_TRACEBACK = 1, SLOT_CALL, SLOT_VIEW, SLOT_FILTER, SLOT_ENRICH, SLOT_TOP = SLOT_ENRICH };

/* The record's enrich may now set fields. */
static void enter_enrich(gl_policy *p) {
  gl_extras *x = &p->rt.gl->extras;
  p->stage = GL_FN_ENRICH;
  p->view->writable = 1;
  gateway_fields(p->view->r, x);
  p->view->r->extras = x;
}

/* Upvalues: filter (or nil), enrich (or nil), the view, the policy. */
static int record_call(lua_State *L) {
  gl_policy *p = lua_touserdata(L, lua_upvalueindex(4));
  if (!lua_isnil(L, lua_upvalueindex(1))) {
    p->stage = GL_FN_FILTER;
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_pushvalue(L, lua_upvalueindex(3));
    lua_call(L, 1, 1);
    if (!lua_toboolean(L, -1)) return 1;
    lua_pop(L, 1);
  }
  if (!lua_isnil(L, lua_upvalueindex(2))) {
    enter_enrich(p);
    lua_pushvalue(L, lua_upvalueindex(2));
    lua_pushvalue(L, lua_upvalueindex(3));
    lua_call(L, 1, 0);
  }
  lua_pushboolean(L, 1);
  return 1;
}

static void make_record_call(gl_policy *p) {
  lua_State *L = p->rt.L;
  if (p->fn_ref[GL_FN_FILTER] == LUA_NOREF && p->fn_ref[GL_FN_ENRICH] == LUA_NOREF) return;
  lua_State *T = lua_newthread(L);
  p->rec_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_rawgeti(T, LUA_REGISTRYINDEX, p->rt.traceback_ref);
  for (int fn = GL_FN_FILTER; fn <= GL_FN_ENRICH; fn++) {
    if (p->fn_ref[fn] == LUA_NOREF) lua_pushnil(T);
    else lua_rawgeti(T, LUA_REGISTRYINDEX, p->fn_ref[fn]);
  }
  lua_rawgeti(T, LUA_REGISTRYINDEX, p->view_ref);
  lua_pushlightuserdata(T, p);
  lua_pushcclosure(T, record_call, 4);
  lua_rawgeti(T, LUA_REGISTRYINDEX, p->view_ref);
  for (int fn = GL_FN_FILTER; fn <= GL_FN_ENRICH; fn++) {
    if (p->fn_ref[fn] == LUA_NOREF) lua_pushnil(T);
    else lua_rawgeti(T, LUA_REGISTRYINDEX, p->fn_ref[fn]);
  }
  p->rec_L = T;
}

/* The error on T's top: counted, logged, popped; what becomes of the
 * record. Returns 0 if it is dropped. */
static int record_failed(gl_policy *p, lua_State *T, int fn, int kind, int drop_on_error) {
  gatelog_t *gl = p->rt.gl;
  if (fn == GL_FN_ENRICH) gateway_fields(p->view->r, &gl->extras);
  lua_xmove(T, p->rt.L, 1); /* where gl_rt_failed reads it */
  failed(p, fn, kind, drop_on_error ? "failed; record dropped"
                      : fn == GL_FN_FILTER ? "failed; record kept"
                                           : "failed; record kept without enrichment");
  lua_pop(p->rt.L, 1);
  if (drop_on_error) gl->stats.records_dropped_on_error++;
  return !drop_on_error;
}

static int run_record_call(gl_policy *p, gl_record *r) {
  lua_State *T = p->rec_L;
  int drop_on_error = p->rt.gl->cfg.on_script_error == GATELOG_DROP;
  p->view->r = r;
  p->view->writable = 0;
  gateway_fields(r, &p->rt.gl->extras);
  p->in_call = 1;
  gl_budget_begin(T, &p->rt.budget);
  lua_pushvalue(T, SLOT_CALL);
  int keep;
  if (lua_pcall(T, 0, 1, SLOT_TRACEBACK) == 0) {
    keep = lua_toboolean(T, -1);
  } else {
    int kind = budget_kind(&p->rt.budget), fn = p->stage;
    keep = record_failed(p, T, fn, kind, drop_on_error);
    /* A kept record whose filter raised is still enriched, unless the
     * budget is spent. */
    if (keep && fn == GL_FN_FILTER && kind == 0 && !lua_isnil(T, SLOT_ENRICH)) {
      enter_enrich(p);
      lua_pushvalue(T, SLOT_ENRICH);
      lua_pushvalue(T, SLOT_VIEW);
      if (lua_pcall(T, 1, 0, SLOT_TRACEBACK) != 0)
        keep = record_failed(p, T, GL_FN_ENRICH, budget_kind(&p->rt.budget), drop_on_error);
    }
  }
  gl_budget_end(p->rt.L, &p->rt.budget);
  p->in_call = 0;
  p->view->r = NULL; /* a view kept by the script now raises instead of lying */
  lua_settop(T, SLOT_TOP);
  return keep;
}

int gl_policy_process(gl_policy *p, gl_record *r) {
  r->extras = NULL;
  if (p->rec_L == NULL) { /* no filter, no enrich */
    if (r->attrs) gateway_fields(r, &p->rt.gl->extras);
    return 1;
  }
  gl_rt_ref(&p->rt); /* a reload from a callback must not close it under us */
  /* A host callback re-entering the core from inside a script call finds
   * the view busy: that record takes the general path, a view of its own. */
  int keep = p->in_call ? run_record(p, r, &p->rt.gl->extras, 0) : run_record_call(p, r);
  gl_rt_unref(&p->rt);
  return keep;
}
