/* The runtime: one Lua state running one script, and the only ways into
 * it — safe calls under the budget, with a traceback, counted and logged
 * when they fail. It knows nothing of records, batches or sends (the
 * policy builds those on top), as Redis's script.c knows nothing of Lua's
 * particulars in script_lua.c.
 *
 * A runtime is reference-counted: the core holds its current one, and
 * whatever will call back into a state (a batch in flight, a host send, a
 * socket, a timer) holds one too, so a state is closed only when nothing
 * refers to it any more. It is the first member of its owner (the policy),
 * which is freed with it. */
#ifndef GATELOG_RUNTIME_H
#define GATELOG_RUNTIME_H

#include <lauxlib.h>
#include <lua.h>

#include "internal.h"
#include "runtime/budget.h"

typedef struct gl_runtime {
  lua_State *L;
  gatelog_t *gl;
  int refs;
  int traceback_ref;
  int loaded;           /* it passed every check of its load: I/O may start */
  gl_budget budget;
  gl_ratelimit rl_callback;
  uint64_t io_started;  /* asynchronous operations started with a callback */
  char *path;           /* the script's */
} gl_runtime;

/* Set up rt (zeroed by the caller, inside its owner) for the script at
 * path: a state with the standard libraries, the traceback handler and
 * package.path. One reference. 0 or UV_ENOMEM (reason in gl's last error;
 * call gl_rt_unref to free what was made). */
int gl_rt_open(gl_runtime *rt, gatelog_t *gl, const char *path);

static inline void gl_rt_ref(gl_runtime *rt) { rt->refs++; }
/* Drop a reference; the last one closes the state and frees the owner. */
void gl_rt_unref(gl_runtime *rt);

/* Load and run the script's source (the sandbox around it unless the
 * options turned it off), leaving what it returned on the stack. 0, or
 * GATELOG_ESCRIPT with the reason in gl's last error. */
int gl_rt_run_chunk(gl_runtime *rt, const char *src, size_t len);

/* pcall the function and nargs arguments on top of the stack with the
 * traceback handler, under the time and memory budget. On error the
 * message is left on the stack and *budget (if not NULL) says whether a
 * budget stopped the call (GL_BUDGET_TIME, GL_BUDGET_MEMORY) or not (0). */
int gl_rt_call(gl_runtime *rt, int nargs, int nresults, int *budget);

/* Count a failed call whose message is on the stack (script_errors and
 * the budget's counters), and log it at most once a second per limiter
 * rl, saying how many lines it held back. fn names the script's function;
 * what says what became of the work. */
void gl_rt_failed(gl_runtime *rt, gl_ratelimit *rl, const char *fn, int budget, const char *what);

/* The first line of a message (a traceback's): what a log line shows. */
size_t gl_rt_first_line(const char *msg);

/* Register the metatable `name` of an object scripts hold, once per state:
 * `methods` as __index, `gc` and `tostring` when not NULL, and locked
 * (__metatable) so that a script can neither change the methods nor give
 * the object a __gc of its own, which the collector would run. */
void gl_rt_object_type(lua_State *L, const char *name, const luaL_Reg *methods, lua_CFunction gc,
                       lua_CFunction tostring);

/* Run the callback held at registry `ref` with the `nargs` values the
 * caller pushed on rt->L, under the budget; errors are caught, counted
 * (callback_errors) and logged. keep = 0 releases the reference; keep = 1
 * keeps it for later calls (a read callback). The state may be closed by
 * the time this returns (the last reference to an old runtime went). */
void gl_rt_invoke(gl_runtime *rt, int ref, int nargs, int keep);
/* gl_rt_invoke with (true), or with (nil, err). */
void gl_rt_callback(gl_runtime *rt, int ref, int ok, const char *err);

/* Read a script file: 0 with a malloc'd buffer, or a negative UV error. */
int gl_read_script(const char *path, char **data, size_t *len);

#endif
