/* luaopen_gatelog: drive a gatelog core from Lua, on a libuv loop of its
 * own (busted specs, Lua hosts). Errors come back as
 * nil, "ENAME: message", "ENAME"; misuse (wrong argument types, unknown
 * options) raises. */
#include <lauxlib.h>
#include <lua.h>
#include <stdlib.h>
#include <netinet/in.h>
#include <string.h>
#include <time.h>

#include "gatelog.h"
#include "options.h"
#include "util/addr.h"
#include "util/ids.h"

#define INSTANCE_MT "gatelog.instance"
#define REPLY_MT "gatelog.reply"

typedef struct host_sender {
  struct host_sender *next;
  struct instance *inst;
  int fn_ref;
} host_sender;

typedef struct instance {
  uv_loop_t loop;
  uv_timer_t run_timer;
  gatelog_t *gl;
  lua_State *T;      /* a thread of the host's, for callbacks */
  int thread_ref;
  int log_ref;
  int clock_ref;     /* the clock option, a function returning seconds */
  int end_ref;       /* the on_end option */
  int error_ref;     /* the first error a callback raised, re-raised by run */
  int closed;        /* the close callback ran */
  int finalizing;    /* collected by the GC: no more calls into Lua */
  int loop_closed;
  host_sender *senders;
  gatelog_stats_t final_stats;
} instance;

typedef struct reply {
  gatelog_send_t *req;
} reply;

static instance *check_instance(lua_State *L) {
  return luaL_checkudata(L, 1, INSTANCE_MT);
}

static instance *check_open(lua_State *L) {
  instance *inst = check_instance(L);
  if (inst->gl == NULL) luaL_error(L, "gatelog instance is closed");
  return inst;
}

static int push_error(lua_State *L, int err, const char *detail) {
  lua_pushnil(L);
  if (detail && *detail)
    lua_pushfstring(L, "%s: %s", gatelog_err_name(err), detail);
  else
    lua_pushfstring(L, "%s: %s", gatelog_err_name(err), gatelog_strerror(err));
  lua_pushstring(L, gatelog_err_name(err));
  return 3;
}

/* A callback into the host raised: keep the first error for run(). */
static void callback_failed(instance *inst) {
  lua_State *T = inst->T;
  if (inst->error_ref == LUA_NOREF) inst->error_ref = luaL_ref(T, LUA_REGISTRYINDEX);
  else lua_pop(T, 1);
}

/* ---- options --------------------------------------------------------- */

static void log_to_host(void *data, int level, const char *msg) {
  static const char *const names[] = {"error", "warn", "info", "debug"};
  instance *inst = data;
  lua_State *T = inst->T;
  if (inst->finalizing || inst->log_ref == LUA_NOREF) return;
  lua_rawgeti(T, LUA_REGISTRYINDEX, inst->log_ref);
  lua_pushstring(T, names[level & 3]);
  lua_pushstring(T, msg);
  if (lua_pcall(T, 2, 0, 0) != 0) callback_failed(inst);
}

static uint64_t clock_from_host(void *data) {
  instance *inst = data;
  lua_State *T = inst->T;
  if (inst->finalizing) return 0;
  lua_rawgeti(T, LUA_REGISTRYINDEX, inst->clock_ref);
  if (lua_pcall(T, 0, 1, 0) != 0) {
    callback_failed(inst);
    return 0;
  }
  double secs = lua_tonumber(T, -1);
  lua_pop(T, 1);
  return secs > 0 ? (uint64_t)(secs * 1e9 + 0.5) : 0;
}

static void send_to_host(gatelog_send_t *req, const char *payload, size_t len, void *data);

static void push_sockaddr(lua_State *L, const struct sockaddr *sa) {
  gl_addr a;
  char text[GL_ADDR_STRLEN];
  gl_addr_from_sockaddr(sa, &a);
  lua_pushlstring(L, text, gl_addr_format(&a, text));
}

/* on_end(info): the session's id, resource, protocol, addresses, reason. */
static void end_to_host(void *data, const gatelog_end_info_t *info) {
  instance *inst = data;
  lua_State *T = inst->T;
  char hex[17];
  if (inst->finalizing) return;
  lua_rawgeti(T, LUA_REGISTRYINDEX, inst->end_ref);
  lua_createtable(T, 0, 6);
  gl_hex16(info->sid, hex);
  lua_pushlstring(T, hex, 16);
  lua_setfield(T, -2, "sessionId");
  lua_pushnumber(T, (lua_Number)info->resource_id);
  lua_setfield(T, -2, "resourceId");
  lua_pushstring(T, info->protocol == IPPROTO_UDP ? "udp" : "tcp");
  lua_setfield(T, -2, "protocol");
  push_sockaddr(T, info->src);
  lua_setfield(T, -2, "sourceAddr");
  push_sockaddr(T, info->dst);
  lua_setfield(T, -2, "destAddr");
  lua_pushstring(T, info->reason);
  lua_setfield(T, -2, "endReason");
  if (lua_pcall(T, 1, 0, 0) != 0) callback_failed(inst);
}

/* The options that are the host's functions (options.def's GL_OPTION_CODE). */
static void read_callback(lua_State *L, instance *inst, gatelog_options_t *o, const char *key) {
  if (lua_type(L, -1) != LUA_TFUNCTION) luaL_error(L, "option %s: must be a function", key);
  lua_pushvalue(L, -1);
  if (strcmp(key, "log") == 0) {
    inst->log_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    o->log = log_to_host;
    o->log_data = inst;
  } else if (strcmp(key, "clock") == 0) {
    inst->clock_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    o->clock = clock_from_host;
    o->clock_data = inst;
  } else if (strcmp(key, "on_end") == 0) {
    inst->end_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    o->on_end = end_to_host;
    o->on_end_data = inst;
  } else if (strcmp(key, "send_override") == 0) {
    host_sender *s = calloc(1, sizeof(*s));
    if (s == NULL) luaL_error(L, "out of memory");
    s->inst = inst;
    s->fn_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    s->next = inst->senders;
    inst->senders = s;
    o->send_override = send_to_host;
    o->send_override_data = s;
  } else {
    luaL_error(L, "option %s: not read by lua_module.c", key);
  }
}

/* One plain option (options.def), its value on top of the stack. */
static void read_option(lua_State *L, const gl_option *d, gatelog_options_t *o) {
  char why[160];
  int64_t v;
  if (d->type == GL_T_STR) {
    if (lua_type(L, -1) != LUA_TSTRING) luaL_error(L, "option %s: must be a string", d->lua);
    *(const char **)((char *)o + d->off) = lua_tostring(L, -1);
    return;
  }
  if (gl_option_from_lua(L, -1, d, &v, why, sizeof(why)))
    luaL_error(L, "option %s: %s", d->lua, why);
  gl_option_set(d, o, d->off, v);
}

static void read_options(lua_State *L, instance *inst, gatelog_options_t *o) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_pushnil(L);
  while (lua_next(L, 1) != 0) {
    if (lua_type(L, -2) != LUA_TSTRING) luaL_error(L, "option names must be strings");
    const char *key = lua_tostring(L, -2);
    const gl_option *d = gl_option_find(key);
    if (d == NULL) luaL_error(L, "unknown option '%s'", key);
    if (d->type == GL_T_CODE) read_callback(L, inst, o, key);
    else read_option(L, d, o);
    lua_pop(L, 1);
  }
  if (o->script == NULL) luaL_error(L, "option script is required");
}

/* ---- new / close ------------------------------------------------------- */

static void unref_all(lua_State *L, instance *inst) {
  luaL_unref(L, LUA_REGISTRYINDEX, inst->log_ref);
  luaL_unref(L, LUA_REGISTRYINDEX, inst->clock_ref);
  luaL_unref(L, LUA_REGISTRYINDEX, inst->end_ref);
  luaL_unref(L, LUA_REGISTRYINDEX, inst->error_ref);
  luaL_unref(L, LUA_REGISTRYINDEX, inst->thread_ref);
  inst->log_ref = inst->error_ref = inst->thread_ref = inst->clock_ref = inst->end_ref = LUA_NOREF;
  while (inst->senders) {
    host_sender *s = inst->senders;
    inst->senders = s->next;
    luaL_unref(L, LUA_REGISTRYINDEX, s->fn_ref);
    free(s);
  }
}

static int l_new(lua_State *L) {
  instance *inst = lua_newuserdata(L, sizeof(*inst));
  memset(inst, 0, sizeof(*inst));
  inst->log_ref = inst->error_ref = inst->thread_ref = inst->clock_ref = inst->end_ref = LUA_NOREF;
  inst->closed = inst->loop_closed = 1; /* until the loop exists */
  luaL_getmetatable(L, INSTANCE_MT);
  lua_setmetatable(L, -2);
  int ud = lua_gettop(L);
  gatelog_options_t o;
  gatelog_options_init(&o);
  read_options(L, inst, &o);
  inst->T = lua_newthread(L);
  inst->thread_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  int err = uv_loop_init(&inst->loop);
  if (err) return push_error(L, err, "cannot create a loop");
  inst->loop_closed = 0;
  uv_timer_init(&inst->loop, &inst->run_timer);
  inst->run_timer.data = inst;
  err = gatelog_new(&inst->loop, &o, &inst->gl);
  if (err) {
    lua_pushnil(L);
    lua_pushfstring(L, "%s: %s", gatelog_err_name(err), gatelog_last_error(NULL));
    lua_pushstring(L, gatelog_err_name(err));
    return 3; /* the userdata is collected and frees the loop */
  }
  inst->closed = 0;
  lua_pushvalue(L, ud);
  return 1;
}

static void on_closed(gatelog_t *gl, void *data) {
  instance *inst = data;
  gatelog_stats(gl, &inst->final_stats);
  inst->closed = 1;
}

static void stop_loop(uv_timer_t *t) { uv_stop(t->loop); }

/* Close the core (if open), wait for it, and close the loop. */
static void shut_down(instance *inst, uint32_t drain_ms) {
  if (inst->gl && gatelog_close(inst->gl, drain_ms, on_closed, inst) == 0) {
    while (!inst->closed)
      if (uv_run(&inst->loop, UV_RUN_ONCE) == 0 && !inst->closed) break;
  }
  inst->gl = NULL;
  if (!inst->loop_closed) {
    uv_close((uv_handle_t *)&inst->run_timer, NULL);
    uv_run(&inst->loop, UV_RUN_DEFAULT);
    inst->loop_closed = uv_loop_close(&inst->loop) == 0 ? 1 : -1;
  }
}

static void push_stats(lua_State *L, const gatelog_stats_t *st);

static int raise_callback_error(lua_State *L, instance *inst) {
  if (inst->error_ref == LUA_NOREF) return 0;
  lua_rawgeti(L, LUA_REGISTRYINDEX, inst->error_ref);
  luaL_unref(L, LUA_REGISTRYINDEX, inst->error_ref);
  inst->error_ref = LUA_NOREF;
  return lua_error(L);
}

static int l_close(lua_State *L) {
  instance *inst = check_instance(L);
  double secs = luaL_optnumber(L, 2, 5.0);
  if (inst->gl == NULL) return push_error(L, GATELOG_ECLOSED, NULL);
  shut_down(inst, (uint32_t)(secs * 1000 + 0.5));
  raise_callback_error(L, inst);
  push_stats(L, &inst->final_stats);
  lua_pushboolean(L, inst->loop_closed == 1);
  return 2;
}

static int l_gc(lua_State *L) {
  instance *inst = check_instance(L);
  inst->finalizing = 1;
  shut_down(inst, 0);
  unref_all(L, inst);
  return 0;
}

static int l_run(lua_State *L) {
  instance *inst = check_open(L);
  double secs = luaL_checknumber(L, 2);
  uv_timer_start(&inst->run_timer, stop_loop, (uint64_t)(secs * 1000 + 0.5), 0);
  uv_run(&inst->loop, UV_RUN_DEFAULT);
  uv_timer_stop(&inst->run_timer);
  return raise_callback_error(L, inst);
}

/* ---- sessions ------------------------------------------------------------ */

static int check_addr(lua_State *L, int idx, struct sockaddr_storage *ss) {
  size_t len;
  const char *s = luaL_checklstring(L, idx, &len);
  gl_addr a;
  if (gl_addr_parse(s, len, &a) != 0) return -1;
  gl_addr_to_sockaddr(&a, ss);
  return 0;
}

static int check_sid(lua_State *L, int idx, gatelog_sid_t *sid) {
  size_t len;
  luaL_checktype(L, idx, LUA_TSTRING); /* a number is not a session id */
  const char *s = lua_tolstring(L, idx, &len);
  return gl_parse_hex16(s, len, sid);
}

static int push_sid(lua_State *L, gatelog_sid_t sid) {
  char hex[17];
  gl_hex16(sid, hex);
  lua_pushlstring(L, hex, 16);
  return 1;
}

typedef int (*start_fn)(gatelog_t *, int64_t, const struct sockaddr *, const struct sockaddr *,
                        gatelog_sid_t *);

static int start(lua_State *L, start_fn fn) {
  instance *inst = check_open(L);
  int64_t resource = (int64_t)luaL_checknumber(L, 2);
  struct sockaddr_storage src, dst;
  if (check_addr(L, 3, &src) != 0)
    return push_error(L, UV_EINVAL, lua_pushfstring(L, "bad source address '%s'", lua_tostring(L, 3)));
  if (check_addr(L, 4, &dst) != 0)
    return push_error(L, UV_EINVAL, lua_pushfstring(L, "bad destination address '%s'", lua_tostring(L, 4)));
  gatelog_sid_t sid;
  int err = fn(inst->gl, resource, (struct sockaddr *)&src, (struct sockaddr *)&dst, &sid);
  if (err) return push_error(L, err, NULL);
  return push_sid(L, sid);
}

static int l_tcp_start(lua_State *L) { return start(L, gatelog_tcp_start); }
static int l_udp_track(lua_State *L) { return start(L, gatelog_udp_track); }

static int result(lua_State *L, instance *inst, int err) {
  if (err) return push_error(L, err, err == GATELOG_ESCRIPT || err == GATELOG_ECONFIG
                                         ? gatelog_last_error(inst->gl) : NULL);
  lua_pushboolean(L, 1);
  return 1;
}

static int end_by(lua_State *L, int (*fn)(gatelog_t *, gatelog_sid_t)) {
  instance *inst = check_open(L);
  gatelog_sid_t sid;
  if (check_sid(L, 2, &sid) != 0) return push_error(L, UV_EINVAL, "a session id is 16 hex digits");
  return result(L, inst, fn(inst->gl, sid));
}

/* tcp_end(sid [, reason]) and udp_end(sid [, reason]) */
static int end_with(lua_State *L, int (*plain)(gatelog_t *, gatelog_sid_t),
                    int (*with_reason)(gatelog_t *, gatelog_sid_t, const char *)) {
  if (lua_isnoneornil(L, 3)) return end_by(L, plain);
  instance *inst = check_open(L);
  const char *reason = luaL_checkstring(L, 3);
  gatelog_sid_t sid;
  if (check_sid(L, 2, &sid) != 0) return push_error(L, UV_EINVAL, "a session id is 16 hex digits");
  return result(L, inst, with_reason(inst->gl, sid, reason));
}

static int l_tcp_end(lua_State *L) { return end_with(L, gatelog_tcp_end, gatelog_tcp_end_reason); }
static int l_udp_end(lua_State *L) { return end_with(L, gatelog_udp_end, gatelog_udp_end_reason); }

static uint64_t check_count(lua_State *L, int idx) {
  double v = luaL_checknumber(L, idx);
  if (!(v >= 0 && v < 1.8e19)) luaL_argerror(L, idx, "byte counts are non-negative");
  return (uint64_t)v;
}

static int l_add_bytes(lua_State *L) {
  instance *inst = check_open(L);
  gatelog_sid_t sid;
  uint64_t tx = check_count(L, 3), rx = check_count(L, 4);
  if (check_sid(L, 2, &sid) != 0) return push_error(L, UV_EINVAL, "a session id is 16 hex digits");
  return result(L, inst, gatelog_add_bytes(inst->gl, sid, tx, rx));
}

static int l_expire(lua_State *L) {
  instance *inst = check_open(L);
  int n = gatelog_expire(inst->gl);
  if (n < 0) return push_error(L, n, NULL);
  lua_pushinteger(L, n);
  return 1;
}

static int l_flush(lua_State *L) {
  instance *inst = check_open(L);
  return result(L, inst, gatelog_flush(inst->gl));
}

static int l_check_senders(lua_State *L) {
  instance *inst = check_open(L);
  return result(L, inst, gatelog_check_senders(inst->gl));
}

static int l_reload(lua_State *L) {
  instance *inst = check_open(L);
  return result(L, inst, gatelog_reload(inst->gl));
}

static int l_script_info(lua_State *L) {
  instance *inst = check_open(L);
  gatelog_script_info_t info;
  gatelog_script_info(inst->gl, &info);
  lua_createtable(L, 0, 4);
  lua_pushstring(L, info.path);
  lua_setfield(L, -2, "path");
  lua_pushstring(L, info.sha256);
  lua_setfield(L, -2, "sha256");
  lua_pushnumber(L, (lua_Number)info.loaded_ns / 1e9);
  lua_setfield(L, -2, "loaded_at");
  lua_pushstring(L, info.last_reload_error);
  lua_setfield(L, -2, "last_reload_error");
  return 1;
}

static int l_last_error(lua_State *L) {
  instance *inst = check_open(L);
  lua_pushstring(L, gatelog_last_error(inst->gl));
  return 1;
}

/* ---- stats ----------------------------------------------------------- */

#define STAT(name) {#name, offsetof(gatelog_stats_t, name)}
static const struct {
  const char *name;
  size_t off;
} stat_fields[] = {
    STAT(tcp_started),      STAT(tcp_ended),        STAT(udp_started),
    STAT(udp_ended),        STAT(tcp_open),         STAT(udp_open),
    STAT(ended_closed),     STAT(ended_idle),       STAT(ended_shutdown),
    STAT(ended_evicted),    STAT(ended_max_lifetime), STAT(ended_other),
    STAT(sessions_refused), STAT(records_interim),  STAT(records_start),
    STAT(callbacks),        STAT(callback_max_ns),
    STAT(records_kept),     STAT(records_filtered), STAT(script_errors),
    STAT(filter_errors),    STAT(enrich_errors),    STAT(send_errors),
    STAT(batches_sealed),   STAT(batches_sent),     STAT(batches_failed),
    STAT(batches_retried),  STAT(batches_dropped),  STAT(records_sent),
    STAT(records_dropped),  STAT(bytes_json),       STAT(bytes_compressed),
    STAT(records_queued),   STAT(batches_queued),   STAT(batches_inflight),
    STAT(lost_on_close),    STAT(done_ignored),     STAT(callback_errors),
    STAT(budget_exceeded),  STAT(memory_exceeded),  STAT(records_dropped_on_error),
    STAT(sends_timed_out), STAT(sends_raised_after_io),  STAT(reloads),          STAT(reload_failures),
    STAT(script_loaded_ns), STAT(script_memory),    STAT(script_states),
    STAT(batches_rejected), STAT(records_rejected), STAT(bytes_queued),
    STAT(records_retrying), STAT(retry_wait_ms), STAT(bytes_saturated),
    STAT(spool_bytes),      STAT(spool_batches),    STAT(batches_recovered),
    STAT(records_recovered), STAT(spool_corrupt),   STAT(spool_write_errors),
    STAT(spooled_on_close),
    STAT(nats_published),   STAT(nats_acked),       STAT(nats_duplicates),
    STAT(nats_reconnects),  STAT(nats_errors),
};

static void push_stats(lua_State *L, const gatelog_stats_t *st) {
  size_t n = sizeof(stat_fields) / sizeof(stat_fields[0]);
  lua_createtable(L, 0, (int)n);
  for (size_t i = 0; i < n; i++) {
    uint64_t v;
    memcpy(&v, (const char *)st + stat_fields[i].off, sizeof(v));
    lua_pushnumber(L, (lua_Number)v);
    lua_setfield(L, -2, stat_fields[i].name);
  }
}

static int l_stats(lua_State *L) {
  instance *inst = check_open(L);
  gatelog_stats_t st;
  gatelog_stats(inst->gl, &st);
  push_stats(L, &st);
  return 1;
}

/* ---- senders ----------------------------------------------------------- */

static int l_reply(lua_State *L) {
  reply *r = lua_touserdata(L, lua_upvalueindex(1));
  if (r->req == NULL) {
    lua_pushboolean(L, 0);
    return 1;
  }
  int ok = lua_toboolean(L, 1);
  const char *err = ok ? NULL : luaL_optstring(L, 2, "sender failed");
  gatelog_send_t *req = r->req;
  r->req = NULL;
  gatelog_send_done(req, ok ? 0 : UV_EIO, err);
  lua_pushboolean(L, 1);
  return 1;
}

static int reply_gc(lua_State *L) {
  reply *r = lua_touserdata(L, 1);
  if (r->req) gatelog_send_done(r->req, UV_ECANCELED, "the reply was dropped unanswered");
  r->req = NULL;
  return 0;
}

static void send_to_host(gatelog_send_t *req, const char *payload, size_t len, void *data) {
  host_sender *s = data;
  instance *inst = s->inst;
  lua_State *T = inst->T;
  if (inst->finalizing) {
    gatelog_send_done(req, UV_ECANCELED, "the Lua host is shutting down");
    return;
  }
  lua_rawgeti(T, LUA_REGISTRYINDEX, s->fn_ref);
  lua_pushlstring(T, payload, len);
  reply *r = lua_newuserdata(T, sizeof(*r));
  r->req = req;
  luaL_getmetatable(T, REPLY_MT);
  lua_setmetatable(T, -2);
  lua_pushcclosure(T, l_reply, 1);
  if (lua_pcall(T, 2, 0, 0) != 0) callback_failed(inst);
}

static int l_register_sender(lua_State *L) {
  instance *inst = check_open(L);
  const char *name = luaL_checkstring(L, 2);
  luaL_checktype(L, 3, LUA_TFUNCTION);
  host_sender *s = calloc(1, sizeof(*s));
  if (s == NULL) return luaL_error(L, "out of memory");
  s->inst = inst;
  int err = gatelog_register_sender(inst->gl, name, send_to_host, s);
  if (err) {
    free(s);
    return push_error(L, err, NULL);
  }
  lua_pushvalue(L, 3);
  s->fn_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  s->next = inst->senders;
  inst->senders = s;
  lua_pushboolean(L, 1);
  return 1;
}

/* ---- module ------------------------------------------------------------ */

/* Wall-clock seconds, as the records' timestamps are taken. */
static int l_now(lua_State *L) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  lua_pushnumber(L, (lua_Number)ts.tv_sec + ts.tv_nsec / 1e9);
  return 1;
}

static int l_strerror(lua_State *L) {
  int err = (int)luaL_checkinteger(L, 1);
  lua_pushstring(L, gatelog_strerror(err));
  return 1;
}

__attribute__((visibility("default"))) int luaopen_gatelog(lua_State *L) {
  static const luaL_Reg methods[] = {
      {"tcp_start", l_tcp_start}, {"tcp_end", l_tcp_end},   {"udp_track", l_udp_track},
      {"udp_end", l_udp_end},     {"add_bytes", l_add_bytes}, {"flush", l_flush},
      {"reload", l_reload},       {"run", l_run},           {"stats", l_stats},
      {"close", l_close},         {"last_error", l_last_error},
      {"script_info", l_script_info}, {"expire", l_expire},
      {"register_sender", l_register_sender}, {"check_senders", l_check_senders}, {NULL, NULL}};
  luaL_newmetatable(L, INSTANCE_MT);
  lua_newtable(L);
  luaL_register(L, NULL, methods);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, l_gc);
  lua_setfield(L, -2, "__gc");
  lua_pop(L, 1);
  luaL_newmetatable(L, REPLY_MT);
  lua_pushcfunction(L, reply_gc);
  lua_setfield(L, -2, "__gc");
  lua_pop(L, 1);

  lua_newtable(L);
  lua_pushcfunction(L, l_new);
  lua_setfield(L, -2, "new");
  lua_pushcfunction(L, l_now);
  lua_setfield(L, -2, "now");
  lua_pushcfunction(L, l_strerror);
  lua_setfield(L, -2, "strerror");
  lua_pushfstring(L, "%d.%d.%d", GATELOG_VERSION_MAJOR, GATELOG_VERSION_MINOR,
                  GATELOG_VERSION_PATCH);
  lua_setfield(L, -2, "version");
  return 1;
}
