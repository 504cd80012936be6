/* send(batch, done): the call, the batch that send receives, and done.
 *
 * The batch is a userdata with a locked metatable: its fixed fields, the
 * record boundaries and what is built only when a script reads it (b.json,
 * b.ndjson, b.records) live in its environment table, which no script can
 * reach, and b.json comes from the send request while it is unsettled.
 * done is bound to the same object, so both go through the request. */
#include <lauxlib.h>
#include <stdlib.h>
#include <string.h>

#include "outbox/send.h"
#include "policy/policy.h"
#include "util/ids.h"

#define BATCH_MT "gatelog.batch"
#define ENV 3           /* __index's stack: the batch, the key, its environment */
#define KEY_ENDS 0      /* record end offsets in json, uint32 each */
#define KEY_REASONS (-1) /* each record's endReason, '\n' after each */

typedef struct batch_obj {
  gl_send *send; /* a reference, until the object is collected */
} batch_obj;

static void push_field(lua_State *L, const char *key);

/* b.json, from the batch while its send is not settled yet. */
static void push_json(lua_State *L) {
  const batch_obj *o = lua_touserdata(L, 1);
  const gl_batch *b = o->send ? gl_send_batch(o->send) : NULL;
  if (b == NULL) luaL_error(L, "batch.json can be read only until the send is answered");
  lua_pushlstring(L, b->json.data, b->json.len);
}

/* b.ndjson: the records one a line, built from b.json and the record
 * boundaries (checked against it: they come from the core, but a read
 * never trusts an offset). */
static void push_ndjson(lua_State *L) {
  size_t jlen, elen;
  push_field(L, "json");
  const char *json = lua_tolstring(L, -1, &jlen);
  lua_rawgeti(L, ENV, KEY_ENDS);
  const char *ends = lua_tolstring(L, -1, &elen);
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  size_t start = 1; /* past '[' */
  for (size_t i = 0; json && ends && i < elen / sizeof(uint32_t); i++) {
    uint32_t end;
    memcpy(&end, ends + i * sizeof(uint32_t), sizeof(end));
    if (end < start || end > jlen) luaL_error(L, "batch: record boundaries do not fit its JSON");
    luaL_addlstring(&b, json + start, end - start);
    luaL_addchar(&b, '\n');
    start = end + 1; /* past ',' */
  }
  luaL_pushresult(&b);
}

/* b.records: the records as Lua tables, for codecs other than the
 * default: what b.json holds, plus endReason for a session's last record
 * and, where interim records are off, final = true. */
static void push_records(lua_State *L) {
  size_t json_len;
  push_field(L, "json");
  const char *json_text = lua_tolstring(L, -1, &json_len);
  lua_getfield(L, ENV, "count");
  int count = (int)lua_tointeger(L, -1);
  lua_pop(L, 1);
  if (json_text == NULL || gl_records_decode(L, json_text, json_len, count) != 0) {
    lua_pushvalue(L, lua_upvalueindex(1)); /* cjson.decode */
    lua_pushvalue(L, -2);
    lua_call(L, 1, 1);
  }
  lua_remove(L, -2);
  int recs = lua_gettop(L);
  size_t len;
  lua_rawgeti(L, ENV, KEY_REASONS);
  const char *reasons = lua_tolstring(L, -1, &len);
  const char *p = reasons, *end = reasons ? reasons + len : NULL;
  for (int i = 1; p && p < end; i++) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    if (nl == NULL) break;
    lua_rawgeti(L, recs, i);
    if (lua_istable(L, -1)) {
      if (nl > p) {
        lua_pushlstring(L, p, (size_t)(nl - p));
        lua_setfield(L, -2, "endReason");
      }
      lua_getfield(L, -1, "final");
      if (lua_isnil(L, -1)) {
        lua_pushboolean(L, 1);
        lua_setfield(L, -3, "final");
      }
      lua_pop(L, 1);
    }
    lua_pop(L, 1);
    p = nl + 1;
  }
  /* The core escapes every string it writes; with no backslash in the
   * batch, no string of these records needs escaping at all, and codecs
   * may skip that work (gatelog/json.lua reads this mark). */
  if (json_text && memchr(json_text, '\\', json_len) == NULL) {
    lua_createtable(L, 0, 1);
    lua_pushboolean(L, 1);
    lua_setfield(L, -2, "json_safe");
    lua_setmetatable(L, recs);
  }
  lua_settop(L, recs);
}

/* Push the field key of the batch at 1 (environment at ENV): from the
 * environment, else built now and kept there. */
static void push_field(lua_State *L, const char *key) {
  lua_getfield(L, ENV, key);
  if (!lua_isnil(L, -1)) return;
  lua_pop(L, 1);
  if (strcmp(key, "json") == 0) push_json(L);
  else if (strcmp(key, "ndjson") == 0) push_ndjson(L);
  else if (strcmp(key, "records") == 0) push_records(L);
  else {
    lua_pushnil(L);
    return;
  }
  lua_pushvalue(L, -1);
  lua_setfield(L, ENV, key);
}

static int batch_index(lua_State *L) {
  luaL_checkudata(L, 1, BATCH_MT);
  if (lua_type(L, 2) != LUA_TSTRING) return 0;
  lua_settop(L, 2);
  lua_getfenv(L, 1);
  push_field(L, lua_tostring(L, 2));
  return 1;
}

const gl_batch *gl_batch_of(lua_State *L, int idx) {
  const batch_obj *o = luaL_testudata(L, idx, BATCH_MT);
  return o && o->send ? gl_send_batch(o->send) : NULL;
}

static int batch_newindex(lua_State *L) {
  return luaL_error(L, "batch is read-only (set fields on a table of your own)");
}

static int batch_tostring(lua_State *L) {
  luaL_checkudata(L, 1, BATCH_MT);
  lua_getfenv(L, 1);
  lua_getfield(L, -1, "id");
  lua_pushfstring(L, "gatelog.batch %s", lua_tostring(L, -1));
  return 1;
}

static int batch_gc(lua_State *L) {
  batch_obj *o = lua_touserdata(L, 1);
  if (o->send) gl_send_unref(o->send);
  o->send = NULL;
  return 0;
}

/* done(ok, err, how): how = { permanent = true } drops the batch (the
 * sink refused it for good); how = { retry_after = seconds } makes the next
 * retry wait at least that long. A bad `how` raises at once. */
static void read_how(lua_State *L, gl_answer_how *how) {
  if (lua_isnoneornil(L, 3)) return;
  if (!lua_istable(L, 3)) luaL_error(L, "done: argument 3 must be a table (got %s)", luaL_typename(L, 3));
  lua_getfield(L, 3, "permanent");
  if (!lua_isnil(L, -1) && !lua_isboolean(L, -1)) luaL_error(L, "done: permanent must be a boolean");
  how->permanent = lua_toboolean(L, -1);
  lua_getfield(L, 3, "retry_after");
  if (!lua_isnil(L, -1)) {
    double s = lua_type(L, -1) == LUA_TNUMBER ? lua_tonumber(L, -1) : -1;
    if (!(s >= 0 && s <= GL_RETRY_AFTER_MAX_S))
      luaL_error(L, "done: retry_after must be a number of seconds from 0 to 86400");
    how->retry_after_ms = (uint64_t)(s * 1000 + 0.5);
  }
  lua_pop(L, 2);
}

static int done(lua_State *L) {
  const batch_obj *o = lua_touserdata(L, lua_upvalueindex(1));
  int ok = lua_toboolean(L, 1);
  const char *err = NULL;
  gl_answer_how how = {0, 0};
  if (!ok) {
    if (lua_isnoneornil(L, 2)) err = "send reported failure";
    else if (lua_type(L, 2) == LUA_TSTRING || lua_type(L, 2) == LUA_TNUMBER) err = lua_tostring(L, 2);
    else err = luaL_typename(L, 2);
    read_how(L, &how);
  }
  if (o->send) gl_send_answer(o->send, ok, err, &how);
  return 0;
}

static void push_batch(gl_policy *p, gl_batch *b, gl_send *s) {
  lua_State *L = p->rt.L;
  char id[17];
  batch_obj *o = lua_newuserdata(L, sizeof(*o));
  o->send = s;
  gl_send_ref(s);
  lua_rawgeti(L, LUA_REGISTRYINDEX, p->batch_mt_ref);
  lua_setmetatable(L, -2);
  lua_createtable(L, 2, 8);
  lua_pushlstring(L, b->payload, b->payload_len);
  lua_setfield(L, -2, "payload");
  lua_pushinteger(L, (lua_Integer)b->count);
  lua_setfield(L, -2, "count");
  lua_pushinteger(L, (lua_Integer)b->attempt);
  lua_setfield(L, -2, "attempt");
  gl_hex16(b->id, id);
  lua_pushlstring(L, id, 16);
  lua_setfield(L, -2, "id");
  /* For dedupe keys: sessionIds are unique per instance, not per fleet. */
  lua_pushstring(L, b->instance ? b->instance : p->rt.gl->instance_id);
  lua_setfield(L, -2, "instance_id");
  if (b->recovered) {
    lua_pushboolean(L, 1);
    lua_setfield(L, -2, "recovered");
  }
  /* Record boundaries, so that b.ndjson can be built only when asked for. */
  lua_pushlstring(L, (const char *)b->ends, b->count * sizeof(uint32_t));
  lua_rawseti(L, -2, KEY_ENDS);
  lua_pushlstring(L, b->reasons.data ? b->reasons.data : "", b->reasons.len);
  lua_rawseti(L, -2, KEY_REASONS);
  lua_setfenv(L, -2);
}

/* done, bound to the batch on top of the stack (left in place). */
static void push_done(lua_State *L) {
  lua_pushvalue(L, -1);
  lua_pushcclosure(L, done, 1);
}

int gl_policy_send(gl_policy *p, gl_batch *b, gl_send *s, char **err) {
  lua_State *L = p->rt.L;
  int budget, status;
  gl_rt_ref(&p->rt);
  lua_rawgeti(L, LUA_REGISTRYINDEX, p->fn_ref[GL_FN_SEND]);
  push_batch(p, b, s);
  push_done(L);
  status = gl_rt_call(&p->rt, 2, 0, &budget);
  if (status != 0) {
    const char *msg = lua_tostring(L, -1);
    p->rt.gl->stats.send_errors++;
    gl_rt_failed(&p->rt, &p->rl[GL_FN_SEND], "send", budget, "failed; batch will be retried");
    *err = msg ? strndup(msg, gl_rt_first_line(msg)) : strdup("send raised");
    lua_pop(L, 1);
  }
  gl_rt_unref(&p->rt);
  return status ? -1 : 0;
}

void gl_batch_install(gl_policy *p) {
  lua_State *L = p->rt.L;
  luaL_newmetatable(L, BATCH_MT);
  lua_getglobal(L, "require");
  lua_pushliteral(L, "cjson");
  if (lua_pcall(L, 1, 1, 0) == 0) lua_getfield(L, -1, "decode");
  else lua_pushnil(L); /* without cjson, reading b.records raises */
  lua_remove(L, -2);
  lua_pushcclosure(L, batch_index, 1);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, batch_newindex);
  lua_setfield(L, -2, "__newindex");
  lua_pushcfunction(L, batch_tostring);
  lua_setfield(L, -2, "__tostring");
  lua_pushcfunction(L, batch_gc);
  lua_setfield(L, -2, "__gc");
  lua_pushliteral(L, BATCH_MT);
  lua_setfield(L, -2, "__metatable");
  p->batch_mt_ref = luaL_ref(L, LUA_REGISTRYINDEX);
}
