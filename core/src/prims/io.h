/* Script I/O: what the primitives of gatelog.core (timers, TCP, UDP,
 * HTTP, compression) hold on the loop, and how the core's close ends it.
 *
 * Every open object is tracked on gatelog_t.ios, so that the close (at
 * GL_FINISHING) can abandon it: stop it, close its handles, release its
 * Lua references and its policy reference, and never call the script
 * again. Every libuv handle such an object owns counts in
 * gatelog_t.io_open until its close callback has run, and the teardown
 * waits for zero, so that no handle of gatelog outlives gatelog_close.
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
/* Abandon every tracked object (the close, at GL_FINISHING). */
void gl_ios_abandon(gatelog_t *gl);

/* Count a handle just initialized for script I/O, and unref it: script
 * I/O alone does not keep the gateway's loop alive (as gatelog's timers). */
void gl_io_handle_opened(gatelog_t *gl, uv_handle_t *h);
/* From the handle's close callback: uncount it, and let a waiting close
 * go on. */
void gl_io_handle_closed(gatelog_t *gl);

/* Call the callback at registry ref `cb_ref` of p with (nil, err) on the
 * core's next pump, and release the reference. Holds a policy reference
 * until then. 0, or UV_ENOMEM (nothing was queued; the caller still owns
 * cb_ref). */
int gl_io_defer_error(gl_policy *p, int cb_ref, const char *err);
/* Run the deferred callbacks (the pump). */
void gl_io_run_deferred(gatelog_t *gl);

/* Format a libuv error as the primitives report it: "ENAME: message". */
void gl_io_strerror(int err, char *buf, size_t size);
/* Push nil and "ENAME: message" (what a primitive's callback receives on
 * failure). Returns 2. */
int gl_io_push_error(lua_State *L, int err);

/* Raise unless p may start I/O now: not while its chunk runs or its
 * checks run at load (a load that fails must leave nothing behind), not
 * once the core is finishing its close. */
void gl_io_check_usable(lua_State *L, gl_policy *p);

/* A Lua string argument that must not be empty; raises otherwise. */
const char *gl_io_check_host(lua_State *L, int idx);
/* A port argument 1..65535; raises otherwise. */
int gl_io_check_port(lua_State *L, int idx);

/* The primitives of gatelog.core, each adding its functions to the
 * module table on top of L's stack (lua_core.c calls them). */
void gl_prims_timer_install(lua_State *L, gl_policy *p);
void gl_prims_compress_install(lua_State *L, gl_policy *p);
void gl_prims_tcp_install(lua_State *L, gl_policy *p);
void gl_prims_udp_install(lua_State *L, gl_policy *p);
void gl_prims_http_install(lua_State *L, gl_policy *p);

#endif
