/* TCP forwarding: every accepted connection is one gatelog session, from
 * accept to the moment both directions are closed (or one fails).
 *
 * Each connection has two sides, client and upstream, handled by the same
 * code: what one side reads is written to the other. Bytes are counted
 * when their write completes, so a record says what was delivered, not
 * what was read and then lost with a broken peer. An EOF read from one
 * side becomes a shutdown of the other side's write half (after the
 * writes queued before it), so half-closed exchanges work both ways. */
#include <stdlib.h>
#include <string.h>

#include "util/list.h"
#include "proxy.h"

typedef struct listener {
  uv_tcp_t h;
  proxy *p;
  px_listen_spec *spec;
  gl_link node;
} listener;

struct conn;

typedef struct side {
  uv_tcp_t h;
  struct conn *c;
  int is_client;
  int eof;      /* this side sent EOF: nothing more to read from it */
  int shut;     /* its write half is shut (the other side's EOF reached it) */
  int paused;   /* reading stopped until the other side's queue drains */
  uv_shutdown_t shutdown;
} side;

typedef struct conn {
  side client, upstream;
  uv_connect_t connect;
  uv_timer_t timer;
  listener *l;
  gatelog_sid_t sid;
  int handles;    /* open handles; the conn is freed when it reaches 0 */
  int connected;
  int timed_out;
  int ending;
  gl_link node;
} conn;

typedef struct write_req {
  uv_write_t req;
  side *from;
  size_t len;
  char data[];
} write_req;

typedef struct tcp_state {
  gl_link listeners;
  gl_link conns;
} tcp_state;

static tcp_state *state(proxy *p) {
  if (p->tcp == NULL) {
    tcp_state *s = calloc(1, sizeof(*s));
    if (s == NULL) abort();
    gl_list_init(&s->listeners);
    gl_list_init(&s->conns);
    p->tcp = s;
  }
  return p->tcp;
}

static side *other(side *s) { return s->is_client ? &s->c->upstream : &s->c->client; }

/* The one place where a TCP session ends. `reason` says why: "closed",
 * "error", "refused" or "timeout" becomes the record's endReason
 * ("shutdown" is gatelog_close's own). */
static void end_session(proxy *p, conn *c, const char *reason) {
  if (c->sid == 0) return;
  int err = gatelog_tcp_end_reason(p->gl, c->sid, reason);
  if (err && err != GATELOG_ECLOSED)
    px_log(p, GATELOG_LOG_WARN, "session %016llx: tcp_end: %s", (unsigned long long)c->sid,
           gatelog_strerror(err));
  px_log(p, GATELOG_LOG_DEBUG, "session %016llx ended: %s", (unsigned long long)c->sid, reason);
  c->sid = 0;
}

static void release(conn *c) {
  if (--c->handles == 0) free(c);
}

static void on_side_closed(uv_handle_t *h) { release(((side *)h->data)->c); }
static void on_timer_closed(uv_handle_t *h) { release(h->data); }

static void teardown(conn *c, const char *reason) {
  if (c->ending) return;
  proxy *p = c->l->p;
  c->ending = 1;
  end_session(p, c, reason);
  p->n.tcp_active--;
  gl_list_remove(&c->node);
  /* Pending writes and the connect are cancelled by these closes; their
   * callbacks run before the close callbacks, so c outlives them. */
  uv_close((uv_handle_t *)&c->client.h, on_side_closed);
  uv_close((uv_handle_t *)&c->upstream.h, on_side_closed);
  uv_close((uv_handle_t *)&c->timer, on_timer_closed);
}

static void maybe_done(conn *c) {
  if (c->client.eof && c->upstream.eof && c->client.shut && c->upstream.shut)
    teardown(c, "closed");
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf) {
  (void)h;
  (void)hint;
  /* The write request and its data in one block: what was read is
   * written on without a copy. */
  write_req *w = malloc(sizeof(*w) + PX_READ_SIZE);
  buf->base = w ? w->data : NULL;
  buf->len = w ? PX_READ_SIZE : 0;
}

static write_req *req_of(const uv_buf_t *buf) {
  return buf->base ? (write_req *)(buf->base - offsetof(write_req, data)) : NULL;
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf);

static void on_write(uv_write_t *req, int status) {
  write_req *w = (write_req *)req;
  side *from = w->from;
  conn *c = from->c;
  size_t len = w->len;
  free(w);
  if (c->ending) return;
  if (status < 0) {
    teardown(c, "error");
    return;
  }
  proxy *p = c->l->p;
  uint64_t tx = from->is_client ? len : 0, rx = from->is_client ? 0 : len;
  p->n.bytes_tx += tx;
  p->n.bytes_rx += rx;
  gatelog_add_bytes(p->gl, c->sid, tx, rx);
  side *to = other(from);
  if (from->paused && to->h.write_queue_size <= PX_WRITE_HIGH / 2) {
    from->paused = 0;
    uv_read_start((uv_stream_t *)&from->h, on_alloc, on_read);
  }
}

static void on_shutdown(uv_shutdown_t *req, int status) {
  side *s = req->data;
  if (s->c->ending) return;
  /* A peer that is already gone cannot take the shutdown: its half is
   * closed either way. */
  (void)status;
  s->shut = 1;
  maybe_done(s->c);
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf) {
  side *s = stream->data;
  conn *c = s->c;
  write_req *w = req_of(buf);
  if (nread == 0 || c->ending) {
    free(w);
    return;
  }
  side *to = other(s);
  if (nread == UV_EOF) {
    free(w);
    s->eof = 1;
    uv_read_stop(stream);
    to->shutdown.data = to;
    if (uv_shutdown(&to->shutdown, (uv_stream_t *)&to->h, on_shutdown) != 0) to->shut = 1;
    maybe_done(c);
    return;
  }
  if (nread < 0) {
    free(w);
    teardown(c, "error");
    return;
  }
  w->from = s;
  w->len = (size_t)nread;
  uv_buf_t out = uv_buf_init(w->data, (unsigned)nread);
  if (uv_write(&w->req, (uv_stream_t *)&to->h, &out, 1, on_write) != 0) {
    free(w);
    teardown(c, "error");
    return;
  }
  if (to->h.write_queue_size > PX_WRITE_HIGH) {
    s->paused = 1;
    uv_read_stop(stream);
  }
}

static void on_connect_timeout(uv_timer_t *t) {
  conn *c = t->data;
  c->timed_out = 1;
  /* Closing the upstream handle cancels the connect: on_connect sees
   * UV_ECANCELED and ends the session as timed out. */
  teardown(c, "timeout");
}

static void on_connect(uv_connect_t *req, int status) {
  conn *c = req->data;
  proxy *p = c->l->p;
  if (c->timed_out) {
    p->n.upstream_timeouts++;
    px_log(p, GATELOG_LOG_WARN, "upstream %s:%d: no answer within %.3g s", c->l->spec->up_host,
           c->l->spec->up_port, p->opt.connect_timeout_ms / 1000.0);
    return;
  }
  if (c->ending) return;
  uv_timer_stop(&c->timer);
  if (status < 0) {
    const char *reason = status == UV_ECONNREFUSED ? "refused"
                         : status == UV_ETIMEDOUT  ? "timeout"
                                                   : "error";
    if (status == UV_ECONNREFUSED) p->n.upstream_refused++;
    else if (status == UV_ETIMEDOUT) p->n.upstream_timeouts++;
    else p->n.upstream_errors++;
    px_log(p, GATELOG_LOG_WARN, "upstream %s:%d: %s", c->l->spec->up_host, c->l->spec->up_port,
           uv_strerror(status));
    teardown(c, reason);
    return;
  }
  c->connected = 1;
  uv_tcp_nodelay(&c->client.h, 1);
  uv_tcp_nodelay(&c->upstream.h, 1);
  uv_read_start((uv_stream_t *)&c->client.h, on_alloc, on_read);
  uv_read_start((uv_stream_t *)&c->upstream.h, on_alloc, on_read);
}

static void init_side(conn *c, side *s, uv_loop_t *loop, int is_client) {
  uv_tcp_init(loop, &s->h);
  s->h.data = s;
  s->c = c;
  s->is_client = is_client;
  c->handles++;
}

static void on_accept(uv_stream_t *server, int status) {
  listener *l = server->data;
  proxy *p = l->p;
  if (status < 0) {
    px_log(p, GATELOG_LOG_WARN, "accept: %s", uv_strerror(status));
    return;
  }
  conn *c = calloc(1, sizeof(*c));
  if (c == NULL) return; /* the connection stays in the backlog */
  c->l = l;
  init_side(c, &c->client, p->loop, 1);
  init_side(c, &c->upstream, p->loop, 0);
  uv_timer_init(p->loop, &c->timer);
  c->timer.data = c;
  c->handles++;
  gl_list_push(&state(p)->conns, &c->node);
  p->n.tcp_accepted++;
  p->n.tcp_active++;

  struct sockaddr_storage peer;
  int len = sizeof(peer);
  int err = uv_accept(server, (uv_stream_t *)&c->client.h);
  if (err == 0) err = uv_tcp_getpeername(&c->client.h, (struct sockaddr *)&peer, &len);
  if (err == 0)
    err = gatelog_tcp_start(p->gl, l->spec->resource, (struct sockaddr *)&peer,
                            (struct sockaddr *)&l->spec->upstream, &c->sid);
  if (err) {
    px_log(p, GATELOG_LOG_WARN, "accept: %s", gatelog_strerror(err));
    teardown(c, "error");
    return;
  }
  c->connect.data = c;
  err = uv_tcp_connect(&c->connect, &c->upstream.h, (struct sockaddr *)&l->spec->upstream,
                       on_connect);
  if (err) {
    p->n.upstream_errors++;
    px_log(p, GATELOG_LOG_WARN, "upstream %s:%d: %s", l->spec->up_host, l->spec->up_port,
           uv_strerror(err));
    teardown(c, "error");
    return;
  }
  uv_timer_start(&c->timer, on_connect_timeout, p->opt.connect_timeout_ms, 0);
}

int px_tcp_bind(proxy *p, px_listen_spec *spec, char *err, size_t errlen) {
  listener *l = calloc(1, sizeof(*l));
  if (l == NULL) return UV_ENOMEM;
  l->p = p;
  l->spec = spec;
  uv_tcp_init(p->loop, &l->h);
  l->h.data = l;
  gl_list_push(&state(p)->listeners, &l->node);
  /* libuv reports a port in use at listen, not at bind: do both now. */
  int rc = uv_tcp_bind(&l->h, (struct sockaddr *)&spec->addr, 0);
  if (rc == 0) rc = uv_listen((uv_stream_t *)&l->h, 511, on_accept);
  if (rc) return px_bind_error(spec, rc, err, errlen);
  /* Port 0 asked for any free port: keep the one we got, to log it. */
  int len = sizeof(spec->addr);
  uv_tcp_getsockname(&l->h, (struct sockaddr *)&spec->addr, &len);
  return 0;
}

static void free_listener(uv_handle_t *h) { free(h->data); }

/* Stop accepting and cut every open connection. gatelog_close has already
 * ended their sessions with endReason "shutdown". */
void px_tcp_close(proxy *p) {
  tcp_state *s = state(p);
  while (!gl_list_empty(&s->listeners)) {
    listener *l = GL_CONTAINER(s->listeners.next, listener, node);
    gl_list_remove(&l->node);
    uv_close((uv_handle_t *)&l->h, free_listener);
  }
  while (!gl_list_empty(&s->conns)) teardown(GL_CONTAINER(s->conns.next, conn, node), "shutdown");
  free(s);
  p->tcp = NULL;
}
