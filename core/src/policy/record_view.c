/* The record view that filter and enrich receive, and the lazy fields of
 * the batch table that send receives. One view serves every record: the
 * core binds it to a record for the length of a call, so no Lua table is
 * built per record. */
#include <lauxlib.h>
#include <math.h>
#include <string.h>

#include "util/ids.h"
#include "policy/policy.h"
#include "util/timefmt.h"

#define VIEW_MT "gatelog.record"

enum field {
  F_NONE = 0,
  F_SESSION_ID,
  F_RESOURCE_ID,
  F_PROTOCOL,
  F_SOURCE_ADDR,
  F_DEST_ADDR,
  F_STARTED_AT,
  F_ENDED_AT,
  F_BYTES_TX,
  F_BYTES_RX,
  F_SOURCE_IP,
  F_SOURCE_PORT,
  F_DEST_IP,
  F_DEST_PORT,
  F_END_REASON,
  F_FINAL,
  F_SEQ,
  F_DELTA_TX,
  F_DELTA_RX
};

static const char *const field_names[] = {
    NULL,        "sessionId", "resourceId", "protocol", "sourceAddr",
    "destAddr",  "startedAt", "endedAt",    "bytesTx",  "bytesRx",
    "sourceIp",  "sourcePort", "destIp",    "destPort", "endReason",
    "final",     "seq",       "deltaTx",    "deltaRx"};

static unsigned slot_of(const char *name) {
  return (unsigned)(((uintptr_t)name >> 4) ^ ((uintptr_t)name >> 10)) & (GL_FIELD_SLOTS - 1);
}

/* The field a key names, by the address of its interned string. */
static enum field field_of(const gl_view *v, const char *key) {
  for (unsigned i = slot_of(key);; i = (i + 1) & (GL_FIELD_SLOTS - 1)) {
    if (v->fields->name[i] == key) return (enum field)v->fields->field[i];
    if (v->fields->name[i] == NULL) return F_NONE;
  }
}

static gl_record *bound(lua_State *L, gl_view *v) {
  if (v->r == NULL)
    luaL_error(L, "a record view is valid only during the filter or enrich call it was given to");
  return v->r;
}

static void push_addr(lua_State *L, const gl_addr *a, int with_port) {
  char text[GL_ADDR_STRLEN];
  size_t n = with_port ? gl_addr_format(a, text) : gl_addr_format_ip(a, text);
  lua_pushlstring(L, text, n);
}

static int view_index(lua_State *L) {
  gl_view *v = lua_touserdata(L, 1);
  gl_record *r = bound(L, v);
  if (lua_type(L, 2) != LUA_TSTRING) return 0;
  gl_extras *x = r->extras;
  char buf[GL_TIME_STRLEN];
  switch (field_of(v, lua_tostring(L, 2))) {
    case F_SESSION_ID:
      gl_hex16(r->sid, buf);
      lua_pushlstring(L, buf, 16);
      break;
    case F_RESOURCE_ID: lua_pushnumber(L, (lua_Number)r->resource); break;
    case F_PROTOCOL: lua_pushstring(L, gl_proto_name(r->proto)); break;
    case F_SOURCE_ADDR:
      if (x && x->src_set) lua_pushlstring(L, gl_extras_str(x, x->src_off), x->src_len);
      else push_addr(L, &r->src, 1);
      break;
    case F_DEST_ADDR:
      if (x && x->dst_set) lua_pushlstring(L, gl_extras_str(x, x->dst_off), x->dst_len);
      else push_addr(L, &r->dst, 1);
      break;
    case F_STARTED_AT: lua_pushlstring(L, buf, gl_fmt_time_nano(r->started_ns, buf)); break;
    case F_ENDED_AT:
      if (r->is_start) return 0;
      lua_pushlstring(L, buf, gl_fmt_time_nano(r->ended_ns, buf));
      break;
    case F_BYTES_TX: lua_pushnumber(L, (lua_Number)r->bytes_tx); break;
    case F_BYTES_RX: lua_pushnumber(L, (lua_Number)r->bytes_rx); break;
    case F_SOURCE_IP: push_addr(L, &r->src, 0); break;
    case F_SOURCE_PORT: lua_pushinteger(L, r->src.port); break;
    case F_DEST_IP: push_addr(L, &r->dst, 0); break;
    case F_DEST_PORT: lua_pushinteger(L, r->dst.port); break;
    case F_END_REASON:
      if (!r->final) return 0;
      lua_pushstring(L, r->end_reason);
      break;
    case F_FINAL: lua_pushboolean(L, r->final); break;
    case F_SEQ: lua_pushnumber(L, r->seq); break;
    case F_DELTA_TX: lua_pushnumber(L, (lua_Number)r->delta_tx); break;
    case F_DELTA_RX: lua_pushnumber(L, (lua_Number)r->delta_rx); break;
    case F_NONE: {
      size_t len;
      const char *key = lua_tolstring(L, 2, &len);
      gl_extra *e = x ? gl_extras_find(x, key, len) : NULL;
      if (e == NULL) return 0;
      if (e->type == GL_EXTRA_STRING) lua_pushlstring(L, gl_extras_str(x, e->str_off), e->str_len);
      else if (e->type == GL_EXTRA_BOOLEAN) lua_pushboolean(L, e->num != 0);
      else lua_pushnumber(L, e->num);
      break;
    }
  }
  return 1;
}

static int view_newindex(lua_State *L) {
  gl_view *v = lua_touserdata(L, 1);
  gl_record *r = bound(L, v);
  if (!v->writable) return luaL_error(L, "records are read-only in filter; set fields in enrich");
  if (lua_type(L, 2) != LUA_TSTRING) return luaL_error(L, "record field names must be strings");
  size_t klen, len;
  const char *key = lua_tolstring(L, 2, &klen);
  enum field f = field_of(v, key);
  int err = 0;
  if (f == F_SOURCE_ADDR || f == F_DEST_ADDR) {
    if (lua_type(L, 3) != LUA_TSTRING) return luaL_error(L, "%s must be set to a string", key);
    const char *s = lua_tolstring(L, 3, &len);
    err = gl_extras_set_addr(r->extras, f == F_DEST_ADDR, s, len);
  } else if (f != F_NONE) {
    return luaL_error(L, "record field '%s' is read-only", key);
  } else {
    switch (lua_type(L, 3)) {
      case LUA_TNIL: gl_extras_unset(r->extras, key, klen); break;
      case LUA_TBOOLEAN:
        err = gl_extras_set_number(r->extras, key, klen, lua_toboolean(L, 3), GL_EXTRA_BOOLEAN);
        break;
      case LUA_TNUMBER: {
        double d = lua_tonumber(L, 3);
        if (!isfinite(d)) return luaL_error(L, "field '%s': JSON has no NaN or infinity", key);
        err = gl_extras_set_number(r->extras, key, klen, d, GL_EXTRA_NUMBER);
        break;
      }
      case LUA_TSTRING: {
        const char *s = lua_tolstring(L, 3, &len);
        err = gl_extras_set_string(r->extras, key, klen, s, len);
        break;
      }
      default:
        return luaL_error(L, "field '%s' must be a string, number or boolean (got %s)", key,
                          luaL_typename(L, 3));
    }
  }
  if (err) return luaL_error(L, "out of memory setting field '%s'", key);
  return 0;
}

static int view_tostring(lua_State *L) {
  gl_view *v = lua_touserdata(L, 1);
  char hex[17];
  if (v->r == NULL) {
    lua_pushliteral(L, "gatelog.record (unbound)");
  } else {
    gl_hex16(v->r->sid, hex);
    lua_pushfstring(L, "gatelog.record %s", hex);
  }
  return 1;
}

gl_view *gl_view_new(lua_State *L, const gl_field_map *fields) {
  gl_view *v = lua_newuserdata(L, sizeof(*v));
  v->r = NULL;
  v->writable = 0;
  v->fields = fields;
  luaL_getmetatable(L, VIEW_MT);
  lua_setmetatable(L, -2);
  return v;
}

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

/* b.json, from the batch while its send is not settled yet. */
static void push_json(lua_State *L) {
  lua_rawgeti(L, 1, -2);
  const gl_batch_handle *h = lua_touserdata(L, -1);
  const gl_batch *b = h ? gl_outbox_by_ticket(h->gl, h->ticket) : NULL;
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

void gl_view_install(gl_policy *p) {
  lua_State *L = p->L;
  luaL_newmetatable(L, VIEW_MT);
  /* The names stay alive (so their addresses stay valid) in this table. */
  lua_createtable(L, F_DELTA_RX, 0);
  memset(&p->fields, 0, sizeof(p->fields));
  for (int f = F_SESSION_ID; f <= F_DELTA_RX; f++) {
    lua_pushstring(L, field_names[f]);
    const char *name = lua_tostring(L, -1);
    unsigned i = slot_of(name);
    while (p->fields.name[i] != NULL) i = (i + 1) & (GL_FIELD_SLOTS - 1);
    p->fields.name[i] = name;
    p->fields.field[i] = f;
    lua_rawseti(L, -2, f);
  }
  lua_setfield(L, -2, "names");
  lua_pushcfunction(L, view_index);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, view_newindex);
  lua_setfield(L, -2, "__newindex");
  lua_pushcfunction(L, view_tostring);
  lua_setfield(L, -2, "__tostring");
  lua_pushliteral(L, "gatelog.record");
  lua_setfield(L, -2, "__metatable");
  lua_pop(L, 1);

  p->view = gl_view_new(L, &p->fields);
  p->view_ref = luaL_ref(L, LUA_REGISTRYINDEX);

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
