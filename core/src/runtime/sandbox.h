/* The environment a sandboxed script runs in: a documented set of globals
 * (README, "The sandbox"), a require that finds Lua modules only in the
 * given directories plus gatelog.core and cjson, and no way to io, os
 * processes, debug, ffi or bytecode. */
#ifndef GATELOG_SANDBOX_H
#define GATELOG_SANDBOX_H

#include <lua.h>

/* Push a new sandbox environment for a script whose modules are searched
 * along `path` (package.path syntax). With untrusted_nojit, every chunk
 * the script loads (its modules, except gatelog's own gatelog.*, and what
 * it passes to load) runs in the interpreter, as a time budget needs.
 * Also removes string.dump from the state (reachable through the string
 * metatable otherwise). Returns 0, or -1 with an error message pushed. */
int gl_sandbox_push(lua_State *L, const char *path, int untrusted_nojit);

#endif
