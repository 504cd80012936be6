/* The batch that send receives, and its done: a table with the batch's
 * fixed fields, fields built only when a script reads them (b.json,
 * b.ndjson, b.records), and a handle on the send request that b.json and
 * done go through. */
#include <lauxlib.h>
#include <string.h>

#include "outbox/send.h"
#include "policy/policy.h"
#include "util/ids.h"

#define SEND_MT "gatelog.send"

/* b.ndjson: the records one a line, built from b.json and the record
 * boundaries. */
static void push_ndjson(lua_State *L) {
  size_t jlen, elen;
  lua_getfield(L, 1, "json");
  const char *json = lua_tolstring(L, -1, &jlen);
  lua_rawgeti(L, 1, 0);
  const char *ends = lua_tolstring(L, -1, &elen);
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  size_t start = 1; /* past '[' */
  for (size_t i = 0; json && ends && i < elen / sizeof(uint32_t); i++) {
    uint32_t end;
    memcpy(&end, ends + i * sizeof(uint32_t), sizeof(end));
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
  lua_getfield(L, 1, "json");
  const char *json_text = lua_tolstring(L, -1, &json_len);
  lua_getfield(L, 1, "count");
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
  lua_rawgeti(L, 1, -1);
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

/* The send behind the batch table at idx, or NULL if [-2] is not one. */
static gl_send *send_of(lua_State *L, int idx) {
  lua_rawgeti(L, idx, -2);
  gl_send **h = lua_touserdata(L, -1);
  if (h && lua_getmetatable(L, -1)) {
    luaL_getmetatable(L, SEND_MT);
    if (!lua_rawequal(L, -1, -2)) h = NULL;
    lua_pop(L, 2);
  } else {
    h = NULL;
  }
  lua_pop(L, 1);
  return h ? *h : NULL;
}

/* b.json, from the batch while its send is not settled yet. */
static void push_json(lua_State *L) {
  gl_send *s = send_of(L, 1);
  const gl_batch *b = s ? gl_send_batch(s) : NULL;
  if (b == NULL) luaL_error(L, "batch.json can be read only until the send is answered");
  lua_pushlstring(L, b->json.data, b->json.len);
}

/* Fields of the batch table built only when a script reads them, then
 * kept in the table. */
static int batch_index(lua_State *L) {
  const char *key = lua_type(L, 2) == LUA_TSTRING ? lua_tostring(L, 2) : "";
  if (strcmp(key, "json") == 0) push_json(L);
  else if (strcmp(key, "ndjson") == 0) push_ndjson(L);
  else if (strcmp(key, "records") == 0) push_records(L);
  else return 0;
  lua_pushvalue(L, -1);
  lua_setfield(L, 1, key);
  return 1;
}

/* done(ok, err, how): how = { permanent = true } drops the batch (the
 * sink refused it for good); how = { retry_after = seconds } makes the next
 * retry wait at least that long. A bad `how` raises at once. */
static void read_how(lua_State *L, gl_answer_how *how) {
  if (lua_isnoneornil(L, 3)) return;
  luaL_checktype(L, 3, LUA_TTABLE);
  lua_getfield(L, 3, "permanent");
  if (!lua_isnil(L, -1) && !lua_isboolean(L, -1)) luaL_argerror(L, 3, "permanent must be a boolean");
  how->permanent = lua_toboolean(L, -1);
  lua_getfield(L, 3, "retry_after");
  if (!lua_isnil(L, -1)) {
    double s = lua_type(L, -1) == LUA_TNUMBER ? lua_tonumber(L, -1) : -1;
    if (!(s >= 0 && s <= GL_RETRY_AFTER_MAX_S))
      luaL_argerror(L, 3, "retry_after must be a number of seconds from 0 to 86400");
    how->retry_after_ms = (uint64_t)(s * 1000 + 0.5);
  }
  lua_pop(L, 2);
}

static int done(lua_State *L) {
  gl_send *s = *(gl_send **)lua_touserdata(L, lua_upvalueindex(1));
  int ok = lua_toboolean(L, 1);
  const char *err = NULL;
  gl_answer_how how = {0, 0};
  if (!ok) {
    if (lua_isnoneornil(L, 2)) err = "send reported failure";
    else if (lua_type(L, 2) == LUA_TSTRING || lua_type(L, 2) == LUA_TNUMBER) err = lua_tostring(L, 2);
    else err = luaL_typename(L, 2);
    read_how(L, &how);
  }
  gl_send_answer(s, ok, err, &how);
  return 0;
}

static int send_gc(lua_State *L) {
  gl_send **h = lua_touserdata(L, 1);
  if (*h) gl_send_unref(*h);
  *h = NULL;
  return 0;
}

void gl_batch_push(gl_policy *p, gl_batch *b, gl_send *s) {
  lua_State *L = p->L;
  char id[17];
  lua_createtable(L, 0, 8);
  lua_pushlstring(L, b->payload, b->payload_len);
  lua_setfield(L, -2, "payload");
  /* One handle on the send serves b.json (copied into Lua only if the
   * script reads it) and done. */
  gl_send **h = lua_newuserdata(L, sizeof(*h));
  *h = s;
  gl_send_ref(s);
  luaL_getmetatable(L, SEND_MT);
  lua_setmetatable(L, -2);
  lua_pushvalue(L, -1);
  lua_rawseti(L, -3, -2);
  lua_insert(L, -2); /* the handle under the table, for done */
  lua_pushinteger(L, (lua_Integer)b->count);
  lua_setfield(L, -2, "count");
  lua_pushinteger(L, (lua_Integer)b->attempt);
  lua_setfield(L, -2, "attempt");
  gl_hex16(b->id, id);
  lua_pushlstring(L, id, 16);
  lua_setfield(L, -2, "id");
  /* For dedupe keys: sessionIds are unique per instance, not per fleet. */
  lua_pushstring(L, b->instance ? b->instance : p->gl->instance_id);
  lua_setfield(L, -2, "instance_id");
  if (b->recovered) {
    lua_pushboolean(L, 1);
    lua_setfield(L, -2, "recovered");
  }
  /* Record boundaries, so that b.ndjson can be built only when asked for. */
  lua_pushlstring(L, (const char *)b->ends, b->count * sizeof(uint32_t));
  lua_rawseti(L, -2, 0);
  lua_pushlstring(L, b->reasons.data ? b->reasons.data : "", b->reasons.len);
  lua_rawseti(L, -2, -1);
  lua_rawgeti(L, LUA_REGISTRYINDEX, p->batch_mt_ref);
  lua_setmetatable(L, -2);
  lua_insert(L, -2); /* the table, then the handle */
  lua_pushcclosure(L, done, 1);
}

void gl_batch_install(gl_policy *p) {
  lua_State *L = p->L;
  luaL_newmetatable(L, SEND_MT);
  lua_pushcfunction(L, send_gc);
  lua_setfield(L, -2, "__gc");
  lua_pushliteral(L, SEND_MT);
  lua_setfield(L, -2, "__metatable");
  lua_pop(L, 1);

  lua_createtable(L, 0, 1);
  lua_getglobal(L, "require");
  lua_pushliteral(L, "cjson");
  if (lua_pcall(L, 1, 1, 0) == 0) lua_getfield(L, -1, "decode");
  else lua_pushnil(L); /* without cjson, reading b.records raises */
  lua_remove(L, -2);
  lua_pushcclosure(L, batch_index, 1);
  lua_setfield(L, -2, "__index");
  p->batch_mt_ref = luaL_ref(L, LUA_REGISTRYINDEX);
}
