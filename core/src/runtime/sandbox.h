/* The environment a sandboxed script runs in: a documented set of globals
 * (README, "The sandbox"), a require that finds Lua modules only in the
 * given directories plus gatelog.core and cjson, and no way to io, os
 * processes, debug, ffi or bytecode. Nothing a script can reach runs as a
 * finalizer, makes a trust decision, or runs a C function unbounded by
 * the budgets (bounded.h). */
#ifndef GATELOG_SANDBOX_H
#define GATELOG_SANDBOX_H

#include <lua.h>

/* Push a new sandbox environment for a script whose modules are searched
 * along `path` (package.path syntax). With untrusted_nojit, every chunk
 * the script loads (its modules, except gatelog's own library files, and
 * what it passes to load) runs in the interpreter, as a time budget
 * needs. Also hardens the state's own libraries (bounded pattern
 * functions and sort, no string.dump, a locked string metatable), so
 * call it once per state, before any script code runs. Returns 0, or -1
 * with an error message pushed. */
int gl_sandbox_push(lua_State *L, const char *path, int untrusted_nojit);

/* Push the sandbox's require (require.c) for the environment at env,
 * caching modules in the table at loaded. */
void gl_require_push(lua_State *L, int env, int loaded, const char *path, int untrusted_nojit);

#endif
