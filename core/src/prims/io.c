#include "prims/io.h"

#include <lauxlib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/policy.h"

typedef struct deferred {
  gl_link node; /* in gatelog_t.deferred */
  gl_policy *policy;
  int cb_ref;
  char err[];
} deferred;

void gl_io_track(gatelog_t *gl, gl_io *io, gl_io_abandon_fn abandon) {
  io->gl = gl;
  io->abandon = abandon;
  gl_list_push(&gl->ios, &io->node);
}

void gl_io_untrack(gl_io *io) {
  if (io->node.next) gl_list_remove(&io->node);
  io->node.next = io->node.prev = NULL;
}

void gl_ios_abandon(gatelog_t *gl) {
  /* An abandon may close others (a request and its connection): take the
   * head each time rather than walking a list that changes under us. */
  while (!gl_list_empty(&gl->ios)) {
    gl_io *io = GL_CONTAINER(gl->ios.next, gl_io, node);
    gl_io_untrack(io);
    io->abandon(io);
  }
  while (!gl_list_empty(&gl->deferred)) {
    deferred *d = GL_CONTAINER(gl->deferred.next, deferred, node);
    gl_list_remove(&d->node);
    gl_policy_unref(d->policy);
    free(d);
  }
}

void gl_io_handle_opened(gatelog_t *gl, uv_handle_t *h) {
  gl->io_open++;
  uv_unref(h);
}

void gl_io_handle_closed(gatelog_t *gl) {
  gl->io_open--;
  gl_schedule_pump(gl);
}

int gl_io_defer_error(gl_policy *p, int cb_ref, const char *err) {
  size_t len = strlen(err);
  deferred *d = malloc(sizeof(*d) + len + 1);
  if (d == NULL) return UV_ENOMEM;
  memcpy(d->err, err, len + 1);
  d->policy = p;
  d->cb_ref = cb_ref;
  gl_policy_ref(p);
  gl_list_push(&p->gl->deferred, &d->node);
  gl_schedule_pump(p->gl);
  return 0;
}

void gl_io_run_deferred(gatelog_t *gl) {
  while (!gl_list_empty(&gl->deferred)) {
    deferred *d = GL_CONTAINER(gl->deferred.next, deferred, node);
    gl_list_remove(&d->node);
    gl_policy_callback(d->policy, d->cb_ref, 0, d->err);
    gl_policy_unref(d->policy);
    free(d);
  }
}

void gl_io_strerror(int err, char *buf, size_t size) {
  snprintf(buf, size, "%s: %s", gatelog_err_name(err), gatelog_strerror(err));
}

int gl_io_push_error(lua_State *L, int err) {
  char why[256];
  gl_io_strerror(err, why, sizeof(why));
  lua_pushnil(L);
  lua_pushstring(L, why);
  return 2;
}

void gl_io_check_usable(lua_State *L, gl_policy *p) {
  if (!p->loaded) luaL_error(L, "I/O cannot start while the script loads; start it from send or a callback");
  if (gl_closing(p->gl)) luaL_error(L, "gatelog is closed");
}

const char *gl_io_check_host(lua_State *L, int idx) {
  size_t len;
  const char *host = luaL_checklstring(L, idx, &len);
  if (len == 0 || len > 255 || strlen(host) != len) luaL_argerror(L, idx, "not a host name or address");
  return host;
}

int gl_io_check_port(lua_State *L, int idx) {
  double port = luaL_checknumber(L, idx);
  if (!(port >= 1 && port <= 65535) || port != floor(port))
    luaL_argerror(L, idx, "port must be an integer from 1 to 65535");
  return (int)port;
}
