/* Script I/O: what the primitives of gatelog.core (timers, TCP, UDP,
 * HTTP, compression, file appends) hold on the loop, and how the core's
 * close ends it.
 *
 * Every open object is tracked on gatelog_t.ios, the one registry of
 * script I/O, so that the close (at GL_FINISHING) can abandon it: stop
 * it, close its handles, release its Lua references and its policy
 * reference, and never call the script again. Work on the thread pool
 * cannot be stopped: an abandoned job runs on and is freed when it
 * completes (gl_work_begin/end make the close wait for it). Every libuv
 * handle such an object owns counts in gatelog_t.io_open until its
 * close callback has run, and the teardown waits for zero, so that no
 * handle of gatelog outlives gatelog_close.
 *
 * Results that are known at once (a write on a connection the script
 * closed, out of memory) are not given to the callback from inside the
 * call that started the operation: they are deferred to the core's next
 * pump, so a callback always runs on a later turn of the loop. */
#ifndef GATELOG_IO_H
#define GATELOG_IO_H

#include <lua.h>
#include <uv.h>

#include "internal.h"
#include "runtime/runtime.h"

typedef struct gl_io gl_io;
typedef void (*gl_io_abandon_fn)(gl_io *io);

struct gl_io {
  gl_link node; /* in gatelog_t.ios while tracked */
  gatelog_t *gl;
  gl_io_abandon_fn abandon; /* the core is closing: end without callbacks */
};

/* Put io on gl's list; abandon is called at most once, at close, if the
 * object is still tracked then. */
void gl_io_track(gatelog_t *gl, gl_io *io, gl_io_abandon_fn abandon);
/* Take io off the list (it ended on its own). Safe to call twice. */
void gl_io_untrack(gl_io *io);
/* The tracked object of a kind (the abandon function it was tracked
 * with) that match accepts for key, or NULL. */
gl_io *gl_io_find(gatelog_t *gl, gl_io_abandon_fn kind,
                  int (*match)(const gl_io *io, const void *key), const void *key);
/* Abandon every tracked object and every deferred callback (the close,
 * at GL_FINISHING). */
void gl_ios_abandon(gatelog_t *gl);

/* What a script I/O object keeps in its policy's Lua state, as luv's
 * luv_handle_t: the script's object (kept alive while the script may
 * still use it), the callback, and a policy reference that keeps the
 * state open until the callback has run (a reload does not lose it).
 * gl_io_refs_release lets go of all of it; nothing else does. */
typedef struct gl_io_refs {
  gl_runtime *policy; /* NULL once released, or once its state is closing */
  int held;          /* a policy reference is held */
  int self_ref;      /* the script's object, or LUA_NOREF */
  int cb_ref;        /* the callback, or LUA_NOREF */
} gl_io_refs;

/* No Lua references yet; hold: take a policy reference (an operation
 * whose callback must run). */
void gl_io_refs_init(gl_io_refs *r, gl_runtime *p, int hold);
/* Keep the value at idx of L (the calling thread of the policy's state)
 * as the object, or the function there as the callback in place of the
 * one kept before; nil or none at idx keeps no callback. */
void gl_io_refs_set_self(gl_io_refs *r, lua_State *L, int idx);
void gl_io_refs_set_cb(gl_io_refs *r, lua_State *L, int idx);
/* Let go of the callback alone (a read stopped). */
void gl_io_refs_drop_cb(gl_io_refs *r);
/* The state to push the callback's arguments on, or NULL when no
 * callback is to run: there is none, or the core is closing (the script
 * gets no callback once the close has stopped sending). */
lua_State *gl_io_refs_target(const gl_io_refs *r);
/* Call the callback with the nargs values pushed on gl_io_refs_target;
 * keep = 1 keeps it for later calls (a read callback). Does nothing when
 * gl_io_refs_target is NULL (the caller pushed nothing then). */
void gl_io_refs_call(gl_io_refs *r, int nargs, int keep);
/* Call the callback with (true), or with (nil, err) when err is set. */
void gl_io_refs_answer(gl_io_refs *r, const char *err);
/* The same for a libuv error: (nil, "ENAME: message") unless err is 0. */
void gl_io_refs_status(gl_io_refs *r, int err);
/* Let go of all: the registry references, then the policy reference
 * (last: it may close the state). Safe to call again. */
void gl_io_refs_release(gl_io_refs *r);

/* Count a handle just initialized for script I/O, and unref it: script
 * I/O alone does not keep the gateway's loop alive (as gatelog's timers). */
void gl_io_handle_opened(gatelog_t *gl, uv_handle_t *h);
/* From the handle's close callback: uncount it, and let a waiting close
 * go on. */
void gl_io_handle_closed(gatelog_t *gl);

/* Call r's callback with (nil, err) on the core's next pump: the
 * callback and the policy reference (r must hold one) move from r to the
 * deferred call. 0 (also when r has no callback: nothing to call), or
 * UV_ENOMEM (nothing moved). The caller releases r either way. */
int gl_io_defer_error(gl_io_refs *r, const char *err);
/* Run the deferred callbacks (the pump). */
void gl_io_run_deferred(gatelog_t *gl);

/* Bytes a primitive copies out of the script's heap for I/O in flight
 * (data to append, compress, send or write; a response as it arrives):
 * held per core, at most script_memory_max of them, so that a script
 * cannot queue more outside its heap than its heap may hold. 0, or
 * UV_ENOBUFS (nothing is held then). */
int gl_io_hold(gatelog_t *gl, size_t bytes);
void gl_io_unhold(gatelog_t *gl, size_t bytes);

/* Format a libuv error as the primitives report it: "ENAME: message". */
void gl_io_strerror(int err, char *buf, size_t size);
/* Push nil and "ENAME: message" (what a primitive's callback receives on
 * failure). Returns 2. */
int gl_io_push_error(lua_State *L, int err);

/* Raise unless p may start I/O now: not while its chunk runs or its
 * checks run at load (a load that fails must leave nothing behind), not
 * once the core is finishing its close. */
void gl_io_check_usable(lua_State *L, gl_runtime *p);

/* A Lua string argument that must not be empty; raises otherwise. */
const char *gl_io_check_host(lua_State *L, int idx);
/* A port argument 1..65535; raises otherwise. */
int gl_io_check_port(lua_State *L, int idx);

/* file_append.c: append on the thread pool, in call order per path; with
 * max_bytes and keep, rotate the file first if the append would take it
 * past max_bytes (max_bytes = 0: never). On 0 the append owns cb_ref (the
 * callback's registry reference); on UV_ENOMEM the caller still does. */
int gl_file_append(gatelog_t *gl, gl_runtime *p, const char *path, const char *data,
                   size_t len, int cb_ref, uint64_t max_bytes, unsigned keep);
/* The directories file_append may write in: the option file_dirs, or by
 * default the script's and that of $GATELOG_OUTPUT. malloc'd, or NULL. */
char *gl_file_dirs(const char *option, const char *script);

/* The primitives of gatelog.core, each adding its functions to the
 * module table on top of L's stack (policy/core_module.c calls them). */
void gl_prims_timer_install(lua_State *L, gl_runtime *p);
void gl_prims_compress_install(lua_State *L, gl_runtime *p);
void gl_prims_tcp_install(lua_State *L, gl_runtime *p);
void gl_prims_udp_install(lua_State *L, gl_runtime *p);
void gl_prims_http_install(lua_State *L, gl_runtime *p);
void gl_prims_nats_install(lua_State *L, gl_runtime *p);

#endif
