/* The record view that filter and enrich receive. One view serves every
 * record: the core binds it to a record for the length of a call, so no
 * Lua table is built per record. */
#include <lauxlib.h>
#include <math.h>
#include <string.h>

#include "util/ids.h"
#include "util/json.h"
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

/* Raise unless the record's fields may grow by this set: within
 * enrich_max_bytes (upvalue 1), and with the bytes copied into C counted
 * with the Lua heap against script_memory_max. which: the address field
 * set, or -1. */
static void check_room(lua_State *L, gl_extras *x, int which, const char *key, size_t klen,
                       size_t vsize) {
  size_t max = (size_t)lua_tonumber(L, lua_upvalueindex(1));
  size_t after = gl_extras_size_after(x, which, key, klen, vsize);
  if (after > max)
    luaL_error(L, "field '%s': the record's fields would take %d bytes, more than enrich_max_bytes "
               "(%d)", which < 0 ? key : which ? "destAddr" : "sourceAddr", (int)after, (int)max);
  if (gl_budget_charge(gl_budget_of(L), gl_extras_memory(x) + klen + vsize + 2) != 0)
    luaL_error(L, "not enough memory");
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
    check_room(L, r->extras, f == F_DEST_ADDR, key, 0, len);
    err = gl_extras_set_addr(r->extras, f == F_DEST_ADDR, s, len);
  } else if (f != F_NONE) {
    return luaL_error(L, "record field '%s' is read-only", key);
  } else {
    /* JSON writes invalid UTF-8 as U+FFFD: two such names would be one
     * key twice. (Not quoted: its bytes would go into the log.) */
    if (!gl_json_utf8_valid(key, klen)) return luaL_error(L, "a field name is not valid UTF-8");
    int t = lua_type(L, 3);
    if (t == LUA_TBOOLEAN || t == LUA_TNUMBER || t == LUA_TSTRING)
      check_room(L, r->extras, -1, key, klen, t == LUA_TSTRING ? lua_objlen(L, 3) : GL_EXTRA_SCALAR_SIZE);
    switch (t) {
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

void gl_view_install(gl_policy *p) {
  lua_State *L = p->rt.L;
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
  lua_pushnumber(L, p->rt.gl->opts.enrich_max_bytes);
  lua_pushcclosure(L, view_newindex, 1);
  lua_setfield(L, -2, "__newindex");
  lua_pushcfunction(L, view_tostring);
  lua_setfield(L, -2, "__tostring");
  lua_pushliteral(L, "gatelog.record");
  lua_setfield(L, -2, "__metatable");
  lua_pop(L, 1);

  p->view = gl_view_new(L, &p->fields);
  p->view_ref = luaL_ref(L, LUA_REGISTRYINDEX);
}
