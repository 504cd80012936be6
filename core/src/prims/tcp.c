/* core.tcp: a TCP client for scripts, on the core's loop.
 *
 *   core.tcp.connect(host, port, cb [, { timeout = s }])  cb(conn) | cb(nil, err)
 *   conn:write(data [, cb])   cb(true) | cb(nil, err) once the data is written
 *   conn:read(cb)             cb(chunk) per chunk; cb(nil, "EOF") | cb(nil, err) ends it
 *   conn:read_stop()
 *   conn:close()              pending writes get cb(nil, "ECANCELED: ...")
 *
 * The name is resolved with uv_getaddrinfo (on the thread pool); each
 * address is tried in turn until one connects or the timeout (default
 * 10 s) passes. An open connection holds no policy reference of its own:
 * when its policy's state is closed (an old script after a reload, once
 * its sends are answered) the connection is closed with it. A connect or
 * write in progress does hold one, so its callback always runs.
 *
 * With { tls = {...} } (prims/tls.h has the settings) the connection is
 * TLS: once TCP connects, the context is made on the thread pool (it
 * reads the CA and certificate files), the handshake runs over memory
 * BIOs on this loop, and cb gets the connection when it completed, or
 * (nil, "TLS: ...") saying why not (a certificate that does not verify,
 * a name that does not match) within the same timeout. Reading then runs
 * all along (TLS has its own messages); plaintext with no read callback
 * set is dropped. */
#include <lauxlib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prims/io.h"
#include "prims/pool.h"
#include "prims/tls.h"
#include "runtime/runtime.h"

#define CONN_MT "gatelog.tcp"
#define READ_CHUNK 65536
#define CONNECT_TIMEOUT_MS 10000

enum { RESOLVING, CONNECTING, OPEN, CLOSED };

typedef struct conn {
  gl_io io;
  uv_tcp_t tcp;
  uv_timer_t timer;          /* the connect timeout */
  gl_resolve resolve;        /* in the script's share of the pool */
  uv_connect_t connect_req;
  struct addrinfo *addrs, *next_addr;
  int state;
  int holds;                 /* handles open + a resolution in flight */
  int retrying;              /* the tcp handle closes to try the next address */
  int last_err;
  gl_io_refs refs;           /* the Lua object while open, the read callback
                                while reading; no policy reference */
  gl_io_refs connect;        /* the connect callback and a policy reference,
                                until it ran */
  struct conn **ud;          /* the Lua object's pointer to us */
  char *rbuf;
  /* TLS, when asked for */
  gl_tls_conf *tls_conf;
  gl_tls_ctx *tls_ctx;       /* made on the pool */
  gl_tls *tls;               /* the session, from the handshake on */
  uv_work_t ctx_work;
  gl_pool_job ctx_job;
  int ctx_pending;           /* the context job is queued or running */
  char *pbuf;                /* plaintext read */
  char host[256];            /* the name connected to: TLS verifies it */
  char tls_err[512];
} conn;

typedef struct write_req {
  uv_write_t req;
  gl_io_refs refs;           /* the callback, if any, and the policy */
  gatelog_t *gl;
  size_t len;                /* gl_io_hold'd */
  char data[];
} write_req;

static void release(conn *c) {
  if (--c->holds > 0) return;
  if (c->addrs) uv_freeaddrinfo(c->addrs);
  gl_tls_free(c->tls);
  if (c->tls_ctx) gl_tls_ctx_free(c->tls_ctx);
  gl_tls_conf_free(c->tls_conf);
  free(c->rbuf);
  free(c->pbuf);
  free(c);
}

static void on_handle_closed(uv_handle_t *h);
static void try_next(conn *c);

static void on_tcp_closed(uv_handle_t *h) {
  conn *c = h->data;
  gatelog_t *gl = c->io.gl;
  if (c->retrying && c->state == CONNECTING) {
    /* A failed connect leaves the socket unusable: the next address gets
     * a new one. */
    c->retrying = 0;
    gl_io_handle_closed(gl);
    uv_tcp_init(gl->loop, &c->tcp);
    gl_io_handle_opened(gl, (uv_handle_t *)&c->tcp);
    try_next(c);
    return;
  }
  on_handle_closed(h);
}

static void on_handle_closed(uv_handle_t *h) {
  conn *c = h->data;
  gatelog_t *gl = c->io.gl;
  release(c);
  gl_io_handle_closed(gl);
}

/* Close the handles and forget the Lua side (the connect, if still in
 * progress, is its caller's to end). */
static void shut(conn *c) {
  if (c->state == CLOSED) return;
  /* A resolution still queued is cancelled; one running completes and
   * finds the connection closed. */
  if (c->state == RESOLVING && gl_resolve_cancel(c->io.gl, &c->resolve)) {
    /* It never started: nothing will call on_resolved. */
    gl_work_end(c->io.gl);
    c->holds--; /* the handles still hold it */
    gl_schedule_pump(c->io.gl);
  }
  if (c->ctx_pending && gl_pool_cancel(c->io.gl, &c->ctx_job)) {
    /* The TLS context job never started: nothing will complete it. */
    c->ctx_pending = 0;
    gl_work_end(c->io.gl);
    c->holds--;
    gl_schedule_pump(c->io.gl);
  }
  c->state = CLOSED;
  gl_io_untrack(&c->io);
  /* Closing already when a failed connect makes way for the next address. */
  if (!uv_is_closing((uv_handle_t *)&c->tcp)) uv_close((uv_handle_t *)&c->tcp, on_tcp_closed);
  uv_close((uv_handle_t *)&c->timer, on_handle_closed);
  if (c->ud) *c->ud = NULL;
  c->ud = NULL;
  gl_io_refs_release(&c->refs);
}

/* The connect ended: hand the script its connection or the error (why,
 * if set, says it in words: a TLS failure). The connect's policy
 * reference is dropped last. */
static void connect_ended(conn *c, int err, const char *why) {
  lua_State *L = gl_io_refs_target(&c->connect);
  uv_timer_stop(&c->timer);
  if (err == 0) {
    c->state = OPEN;
    if (L) lua_rawgeti(L, LUA_REGISTRYINDEX, c->refs.self_ref);
  } else {
    shut(c);
    if (L && why) {
      lua_pushnil(L);
      lua_pushstring(L, why);
    } else if (L) {
      gl_io_push_error(L, err);
    }
  }
  gl_io_refs_call(&c->connect, err ? 2 : 1, 0);
  gl_io_refs_release(&c->connect);
}

static void connect_finished(conn *c, int err) { connect_ended(c, err, NULL); }

static void tls_start(conn *c);

static void on_connect(uv_connect_t *req, int status) {
  conn *c = req->data;
  if (c->state != CONNECTING) return; /* closed or timed out meanwhile */
  if (status == 0) {
    if (c->tls_conf) tls_start(c);
    else connect_finished(c, 0);
    return;
  }
  c->last_err = status;
  c->retrying = 1;
  uv_close((uv_handle_t *)&c->tcp, on_tcp_closed);
}

static void try_next(conn *c) {
  while (c->next_addr) {
    struct addrinfo *ai = c->next_addr;
    c->next_addr = ai->ai_next;
    c->connect_req.data = c;
    int err = uv_tcp_connect(&c->connect_req, &c->tcp, ai->ai_addr, on_connect);
    if (err == 0) return;
    c->last_err = err;
  }
  connect_finished(c, c->last_err ? c->last_err : UV_EADDRNOTAVAIL);
}

/* A pool job of c's (a resolution, a TLS context) ended: 1 if the
 * connect goes on (c still in state), else 0 (c was closed meanwhile and
 * is released). */
static int job_ended(conn *c, int state) {
  gatelog_t *gl = c->io.gl;
  gl_work_end(gl);
  if (c->state != state) {
    release(c);
    gl_schedule_pump(gl);
    return 0;
  }
  c->holds--; /* the handles still hold it */
  return 1;
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res) {
  conn *c = req->data;
  gl_resolve_done(c->io.gl, &c->resolve);
  c->addrs = res;
  if (!job_ended(c, RESOLVING)) return;
  if (status) {
    connect_finished(c, status);
    return;
  }
  c->state = CONNECTING;
  c->next_addr = res;
  try_next(c);
}

static void on_timeout(uv_timer_t *t) {
  conn *c = t->data;
  if (c->state < OPEN) connect_finished(c, UV_ETIMEDOUT);
}

/* The core is closing: no callback runs any more. */
static void abandon(gl_io *io) {
  conn *c = GL_CONTAINER(io, conn, io);
  shut(c);
  gl_io_refs_release(&c->connect); /* released already if it ran */
}

static conn *check_conn(lua_State *L) {
  conn **ud = luaL_checkudata(L, 1, CONN_MT);
  if (*ud == NULL || (*ud)->state != OPEN) luaL_error(L, "the connection is closed");
  return *ud;
}

static int core_connect(lua_State *L) {
  gl_runtime *p = lua_touserdata(L, lua_upvalueindex(1));
  const char *host = gl_io_check_host(L, 1);
  int port = gl_io_check_port(L, 2);
  luaL_checktype(L, 3, LUA_TFUNCTION);
  uint64_t timeout_ms = CONNECT_TIMEOUT_MS;
  if (!lua_isnoneornil(L, 4)) {
    luaL_checktype(L, 4, LUA_TTABLE);
    lua_getfield(L, 4, "timeout");
    if (!lua_isnil(L, -1)) {
      double s = lua_type(L, -1) == LUA_TNUMBER ? lua_tonumber(L, -1) : -1;
      if (!(s > 0 && s <= 3600)) return luaL_argerror(L, 4, "timeout must be from 0 to 3600 seconds");
      timeout_ms = (uint64_t)ceil(s * 1000);
    }
    lua_pop(L, 1);
  }
  gl_io_check_usable(L, p);
  gl_tls_conf *tls = NULL;
  if (!lua_isnoneornil(L, 4)) {
    lua_getfield(L, 4, "tls");
    tls = gl_tls_conf_from_lua(L, lua_gettop(L)); /* raises on a bad field */
    lua_pop(L, 1);
  }
  gatelog_t *gl = p->gl;
  conn **ud = lua_newuserdata(L, sizeof(*ud));
  *ud = NULL;
  luaL_getmetatable(L, CONN_MT);
  lua_setmetatable(L, -2);
  conn *c = calloc(1, sizeof(*c));
  if (c == NULL) {
    gl_tls_conf_free(tls);
    return luaL_error(L, "out of memory");
  }
  c->tls_conf = tls;
  snprintf(c->host, sizeof(c->host), "%s", host);
  c->resolve.gai.data = c;
  int err = gl_resolve_start(gl, &c->resolve, host, port, SOCK_STREAM, on_resolved);
  if (err) {
    gl_tls_conf_free(tls);
    free(c);
    return luaL_error(L, "tcp.connect: %s", uv_strerror(err));
  }
  gl_work_begin(gl);
  c->holds = 3; /* the resolution, the tcp handle, the timer */
  uv_tcp_init(gl->loop, &c->tcp);
  uv_timer_init(gl->loop, &c->timer);
  c->tcp.data = c->timer.data = c;
  gl_io_handle_opened(gl, (uv_handle_t *)&c->tcp);
  gl_io_handle_opened(gl, (uv_handle_t *)&c->timer);
  uv_timer_start(&c->timer, on_timeout, timeout_ms, 0);
  gl_io_track(gl, &c->io, abandon);
  c->state = RESOLVING;
  c->ud = ud;
  *ud = c;
  gl_io_refs_init(&c->refs, p, 0);
  gl_io_refs_set_self(&c->refs, L, -1);
  gl_io_refs_init(&c->connect, p, 1);
  gl_io_refs_set_cb(&c->connect, L, 3);
  return 0;
}

static void free_write(write_req *w) {
  gl_io_unhold(w->gl, w->len);
  free(w);
}

static void on_written(uv_write_t *req, int status) {
  write_req *w = req->data;
  gl_io_refs_status(&w->refs, status);
  gl_io_refs_release(&w->refs);
  free_write(w);
}


/* Write len bytes of w (its data, gl and len set). With L (a script's
 * write) its callback, at 3 on L, answers it, holding the policy until
 * then; without, nobody hears of it (TLS's own messages). */
static void start_write(conn *c, write_req *w, size_t len, lua_State *L) {
  gl_io_refs_init(&w->refs, c->refs.policy, L != NULL);
  if (L) gl_io_refs_set_cb(&w->refs, L, 3);
  w->req.data = w;
  uv_buf_t buf = uv_buf_init(w->data, (unsigned)len);
  int err = uv_write(&w->req, (uv_stream_t *)&c->tcp, &buf, 1, on_written);
  if (err) {
    /* The connection broke (EPIPE after the peer reset it): say so on a
     * later turn, as an asynchronous failure would. */
    char why[256];
    gl_io_strerror(err, why, sizeof(why));
    if (L) gl_io_defer_error(&w->refs, why); /* out of memory: no callback then */
    gl_io_refs_release(&w->refs);             /* what the deferral did not take */
    free_write(w);
  }
}

/* ---- TLS ------------------------------------------------------------- */

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf);
static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

/* Write the ciphertext the session has waiting. With L (a script's
 * write, its callback at 3) the write's callback answers for it; without,
 * it is the session's own (handshake, alerts, tickets), answered to none.
 * Returns 0 (a write from Lua: nothing to return). */
static int tls_send(lua_State *L, conn *c) {
  size_t len = gl_tls_pending(c->tls);
  if (len == 0 && L == NULL) return 0;
  if (L && gl_io_hold(c->io.gl, len) != 0) return luaL_error(L, "not enough memory for I/O in flight");
  write_req *w = malloc(sizeof(*w) + len);
  if (w == NULL) {
    if (L) gl_io_unhold(c->io.gl, len);
    if (L) return luaL_error(L, "out of memory");
    return 0; /* the handshake stalls and times out, saying so */
  }
  w->gl = c->io.gl;
  w->len = L ? len : 0;
  start_write(c, w, gl_tls_take(c->tls, w->data, len), L);
  return 0;
}

/* The connect fails with why (kept in the connection: it may be
 * tls_err already). */
static void tls_failed(conn *c, const char *why) {
  if (why != c->tls_err) {
    size_t n = strlen(why);
    if (n >= sizeof(c->tls_err)) n = sizeof(c->tls_err) - 1;
    memcpy(c->tls_err, why, n);
    c->tls_err[n] = '\0';
  }
  connect_ended(c, UV_EPROTO, c->tls_err);
}

/* One step of the handshake, after the session was made or the peer
 * answered. */
static void tls_step(conn *c) {
  char why[256];
  int rc = gl_tls_handshake(c->tls, why, sizeof(why));
  tls_send(NULL, c);
  if (rc < 0) tls_failed(c, why);
  else if (rc == 1) connect_finished(c, 0);
}

static void ctx_work(uv_work_t *w) {
  conn *c = w->data;
  c->tls_ctx = gl_tls_ctx_new(c->tls_conf, c->tls_err, sizeof(c->tls_err));
}

static void ctx_done(uv_work_t *w, int status) {
  conn *c = w->data;
  gl_pool_done(c->io.gl, &c->ctx_job);
  c->ctx_pending = 0;
  if (!job_ended(c, CONNECTING)) return; /* closed or timed out meanwhile */
  if (status) {
    connect_finished(c, status);
    return;
  }
  if (c->tls_ctx == NULL) {
    tls_failed(c, c->tls_err);
    return;
  }
  char why[256];
  c->tls = gl_tls_new(c->tls_ctx, c->tls_conf, c->host, why, sizeof(why));
  if (c->tls == NULL) {
    tls_failed(c, why);
    return;
  }
  int err = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
  if (err) {
    connect_finished(c, err);
    return;
  }
  tls_step(c);
}

static int ctx_start(gl_pool_job *job) {
  conn *c = GL_CONTAINER(job, conn, ctx_job);
  return uv_queue_work(c->io.gl->loop, &c->ctx_work, ctx_work, ctx_done);
}

static void ctx_failed(gl_pool_job *job, int err) {
  conn *c = GL_CONTAINER(job, conn, ctx_job);
  ctx_done(&c->ctx_work, err);
}

/* TCP connected: make the context on the pool, then shake hands. */
static void tls_start(conn *c) {
  gatelog_t *gl = c->io.gl;
  c->ctx_work.data = c;
  c->ctx_job.start = ctx_start;
  c->ctx_job.failed = ctx_failed;
  c->holds++;
  c->ctx_pending = 1;
  gl_work_begin(gl);
  int err = gl_pool_submit(gl, &c->ctx_job);
  if (err) {
    c->ctx_pending = 0;
    gl_work_end(gl);
    c->holds--;
    connect_finished(c, err);
  }
}

/* The read callback gets (nil, why) and reading ends. */
static void end_reading(conn *c, const char *why) {
  uv_read_stop((uv_stream_t *)&c->tcp);
  lua_State *L = gl_io_refs_target(&c->refs);
  if (L == NULL) return;
  lua_pushnil(L);
  lua_pushstring(L, why);
  gl_io_refs_call(&c->refs, 2, 0);
}

static void tls_on_read(conn *c, ssize_t nread) {
  char why[256];
  if (c->state == CLOSED) return;
  if (nread < 0) {
    if (nread == UV_EOF) snprintf(why, sizeof(why), "EOF");
    else gl_io_strerror((int)nread, why, sizeof(why));
    if (c->state == CONNECTING) {
      char msg[512];
      snprintf(msg, sizeof(msg), "TLS: %.200s closed the connection during the handshake (%.200s)",
               c->host, why);
      tls_failed(c, msg);
    } else {
      end_reading(c, why);
    }
    return;
  }
  if (gl_tls_feed(c->tls, c->rbuf, (size_t)nread) != 0) {
    if (c->state == CONNECTING) tls_failed(c, "TLS: out of memory");
    else end_reading(c, "ENOMEM: out of memory");
    return;
  }
  if (c->state == CONNECTING) {
    tls_step(c);
    if (c->state != OPEN) return;
  }
  if (c->pbuf == NULL && (c->pbuf = malloc(READ_CHUNK)) == NULL) return;
  /* The callback may close the connection: checked after each call. */
  while (c->state == OPEN) {
    int n = gl_tls_read(c->tls, c->pbuf, READ_CHUNK, why, sizeof(why));
    if (n == 0) break;
    if (n < 0) {
      tls_send(NULL, c);
      end_reading(c, why);
      return;
    }
    lua_State *L = gl_io_refs_target(&c->refs);
    if (L == NULL) continue; /* nobody reads: dropped */
    lua_pushlstring(L, c->pbuf, (size_t)n);
    gl_io_refs_call(&c->refs, 1, 1);
  }
  if (c->state == OPEN) tls_send(NULL, c);
}

static int conn_write(lua_State *L) {
  conn *c = check_conn(L);
  size_t len;
  const char *data = luaL_checklstring(L, 2, &len);
  if (!lua_isnoneornil(L, 3)) luaL_checktype(L, 3, LUA_TFUNCTION);
  gl_io_check_usable(L, c->refs.policy);
  if (c->tls) {
    /* What goes out is the ciphertext (with any protocol message the
     * session had waiting); the callback runs once it is written. */
    char why[256];
    if (gl_tls_write(c->tls, data, len, why, sizeof(why)) != 0) return luaL_error(L, "%s", why);
    return tls_send(L, c);
  }
  if (gl_io_hold(c->io.gl, len) != 0) return luaL_error(L, "not enough memory for I/O in flight");
  write_req *w = malloc(sizeof(*w) + len);
  if (w == NULL) {
    gl_io_unhold(c->io.gl, len);
    return luaL_error(L, "out of memory");
  }
  w->gl = c->io.gl;
  w->len = len;
  memcpy(w->data, data, len);
  start_write(c, w, len, L);
  return 0;
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf) {
  conn *c = h->data;
  (void)hint;
  if (c->rbuf == NULL) c->rbuf = malloc(READ_CHUNK);
  *buf = uv_buf_init(c->rbuf, c->rbuf ? READ_CHUNK : 0);
}

static void tls_on_read(conn *c, ssize_t nread);

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  conn *c = s->data;
  (void)buf;
  if (c->tls && nread != 0) {
    tls_on_read(c, nread);
    return;
  }
  if (nread == 0 || c->state != OPEN) return;
  lua_State *L = gl_io_refs_target(&c->refs);
  if (L == NULL) return; /* not reading */
  if (nread > 0) {
    lua_pushlstring(L, c->rbuf, (size_t)nread);
    gl_io_refs_call(&c->refs, 1, 1);
    return;
  }
  /* EOF or an error ends the reading; the connection stays for close(). */
  uv_read_stop(s);
  lua_pushnil(L);
  if (nread == UV_EOF) {
    lua_pushliteral(L, "EOF");
  } else {
    char why[256];
    gl_io_strerror((int)nread, why, sizeof(why));
    lua_pushstring(L, why);
  }
  gl_io_refs_call(&c->refs, 2, 0);
}

static int conn_read(lua_State *L) {
  conn *c = check_conn(L);
  luaL_checktype(L, 2, LUA_TFUNCTION);
  gl_io_check_usable(L, c->refs.policy);
  int err = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
  if (err && err != UV_EALREADY) return luaL_error(L, "read: %s", uv_strerror(err));
  gl_io_refs_set_cb(&c->refs, L, 2);
  return 0;
}

static int conn_read_stop(lua_State *L) {
  conn *c = check_conn(L);
  if (c->tls == NULL) uv_read_stop((uv_stream_t *)&c->tcp); /* TLS reads on: it has its own messages */
  gl_io_refs_drop_cb(&c->refs);
  return 0;
}

/* conn:close() -> true, or false if it was closed already. */
static int conn_close(lua_State *L) {
  conn **ud = luaL_checkudata(L, 1, CONN_MT);
  if (*ud == NULL) {
    lua_pushboolean(L, 0);
    return 1;
  }
  shut(*ud);
  lua_pushboolean(L, 1);
  return 1;
}

/* Collected: the policy's state is closing (an open connection is kept
 * alive by its registry reference otherwise). */
static int conn_gc(lua_State *L) {
  conn **ud = luaL_checkudata(L, 1, CONN_MT);
  if (*ud) {
    conn *c = *ud;
    c->refs.policy = NULL; /* nothing to release: the registry goes with the state */
    shut(c);
  }
  return 0;
}

static int conn_tostring(lua_State *L) {
  conn **ud = luaL_checkudata(L, 1, CONN_MT);
  lua_pushstring(L, *ud ? "gatelog.tcp (open)" : "gatelog.tcp (closed)");
  return 1;
}

void gl_prims_tcp_install(lua_State *L, gl_runtime *p) {
  static const luaL_Reg methods[] = {{"write", conn_write},
                                     {"read", conn_read},
                                     {"read_stop", conn_read_stop},
                                     {"close", conn_close},
                                     {NULL, NULL}};
  gl_rt_object_type(L, CONN_MT, methods, conn_gc, conn_tostring);
  lua_createtable(L, 0, 1);
  lua_pushlightuserdata(L, p);
  lua_pushcclosure(L, core_connect, 1);
  lua_setfield(L, -2, "connect");
  lua_setfield(L, -2, "tcp");
}
