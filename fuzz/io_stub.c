/* The script target's I/O (script.c): a fuzzed script must not reach the
 * network or the machine's files (core.file_append renames what it can
 * reach: issue 12, item 7). The core's objects are built for it without
 * prims/tcp.c, udp.c, http.c and nats.c, whose functions become these raising
 * stand-ins, and with prims/file_append.c's entry renamed
 * gl_file_append_real, called here with the path confined to one
 * directory of the fuzzer's. */
#include <lauxlib.h>
#include <stdio.h>
#include <string.h>

#include "fuzz_io.h"
#include "prims/io.h"

int gl_file_append_real(gatelog_t *gl, gl_runtime *p, const char *path, const char *data,
                        size_t len, int cb_ref, uint64_t max_bytes, unsigned keep);

char fuzz_io_dir[256];

static int no_network(lua_State *L) { return luaL_error(L, "no network in the fuzzer"); }

static void stand_in(lua_State *L, const char *module, const char *fn) {
  lua_createtable(L, 0, 1);
  lua_pushcfunction(L, no_network);
  lua_setfield(L, -2, fn);
  lua_setfield(L, -2, module);
}

void gl_prims_tcp_install(lua_State *L, gl_runtime *p) {
  (void)p;
  stand_in(L, "tcp", "connect");
}

void gl_prims_udp_install(lua_State *L, gl_runtime *p) {
  (void)p;
  stand_in(L, "udp", "send");
}

void gl_prims_http_install(lua_State *L, gl_runtime *p) {
  (void)p;
  stand_in(L, "http", "request");
}

void gl_prims_nats_install(lua_State *L, gl_runtime *p) {
  (void)p;
  stand_in(L, "nats", "connect");
}

/* The path's characters that are safe in a file name, in fuzz_io_dir. */
int gl_file_append(gatelog_t *gl, gl_runtime *p, const char *path, const char *data, size_t len,
                   int cb_ref, uint64_t max_bytes, unsigned keep) {
  char name[48], confined[512];
  size_t n = 0;
  for (const char *c = path; *c && n < sizeof(name) - 1; c++)
    name[n++] = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
                        *c == '-' || *c == '_'
                    ? *c
                    : '_';
  name[n] = '\0';
  snprintf(confined, sizeof(confined), "%s/%s", fuzz_io_dir, n ? name : "_");
  return gl_file_append_real(gl, p, confined, data, len, cb_ref, max_bytes, keep);
}
