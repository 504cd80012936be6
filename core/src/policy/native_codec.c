/* core.native_codec(name, part0, part1, instance_id): the C codec a
 * script's gatelog.codec.native selects (outbox/codecs/codec.h). The
 * policy keeps the last one made: every batch sealed under the policy
 * gets its body built by it on a compression thread, and handle:body(batch)
 * gives that body back (nil when the batch has none of this codec's: read
 * back from the spool, sealed under another codec, or declined), which
 * the Lua side then encodes itself. */
#include <lauxlib.h>
#include <string.h>

#include "outbox/codecs/codec.h"
#include "policy/policy.h"

#define CODEC_MT "gatelog.native_codec"

typedef struct handle {
  gl_codec *codec;
} handle;

static int handle_gc(lua_State *L) {
  handle *h = luaL_checkudata(L, 1, CODEC_MT);
  gl_codec_unref(h->codec);
  h->codec = NULL;
  return 0;
}

static int handle_body(lua_State *L) {
  handle *h = luaL_checkudata(L, 1, CODEC_MT);
  const gl_batch *b = gl_batch_of(L, 2);
  if (b == NULL || h->codec == NULL || b->codec != h->codec || b->body.data == NULL) return 0;
  lua_pushlstring(L, b->body.data, b->body.len);
  return 1;
}

static int handle_name(lua_State *L) {
  handle *h = luaL_checkudata(L, 1, CODEC_MT);
  lua_pushstring(L, h->codec ? gl_codec_name(h->codec) : "?");
  return 1;
}

static int native_codec(lua_State *L) {
  gl_policy *p = lua_touserdata(L, lua_upvalueindex(1));
  const char *name = luaL_checkstring(L, 1);
  int nomem;
  gl_codec *c = gl_codec_new(name, &nomem);
  if (c == NULL) {
    if (nomem) return luaL_error(L, "not enough memory");
    return luaL_error(L, "no C codec '%s' (known: %s)", name, gl_codec_names());
  }
  handle *h = lua_newuserdata(L, sizeof(*h));
  h->codec = c;
  luaL_getmetatable(L, CODEC_MT);
  lua_setmetatable(L, -2);
  int err = 0;
  for (int i = 0; i < 2 && err == 0; i++) {
    size_t len;
    const char *s = luaL_optlstring(L, 2 + i, "", &len);
    err = gl_codec_set_part(c, i, s, len);
  }
  if (err == 0 && !lua_isnoneornil(L, 4)) {
    size_t len;
    const char *s = luaL_checklstring(L, 4, &len);
    err = gl_codec_set_instance(c, s, len);
  }
  if (err) return luaL_error(L, "not enough memory");
  /* The policy holds the newest through the registry: it lives as long as
   * the state, and batches hold references of their own. */
  if (p->codec) luaL_unref(L, LUA_REGISTRYINDEX, p->codec_ref);
  lua_pushvalue(L, -1);
  p->codec_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  p->codec = c;
  return 1;
}

void gl_native_codec_install(lua_State *L, gl_policy *p) {
  static const luaL_Reg methods[] = {{"body", handle_body}, {"name", handle_name}, {NULL, NULL}};
  gl_rt_object_type(L, CODEC_MT, methods, handle_gc, NULL);
  lua_pushlightuserdata(L, p);
  lua_pushcclosure(L, native_codec, 1);
  lua_setfield(L, -2, "native_codec");
}
