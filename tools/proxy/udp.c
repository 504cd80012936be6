/* UDP forwarding. A flow is a client address seen on a listener; it gets
 * a socket of its own toward the upstream (bound to an ephemeral port and
 * connected, so the kernel hands it only the upstream's replies), and the
 * replies go back to the client from the listener's socket. Every
 * datagram is forwarded as one; bytes are counted when a send completes.
 *
 * How a flow ends: gatelog ends idle UDP sessions itself, after
 * udp_idle_timeout (which the script's config may change, and which only
 * the core knows), and says so through its on_end callback: then the
 * flow's upstream socket is closed. A datagram that arrives later starts
 * a new flow and a new session. */
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "flowmap.h"
#include "util/list.h"
#include "proxy.h"

typedef struct ulistener {
  uv_udp_t h;
  proxy *p;
  px_listen_spec *spec;
  gl_link node;
} ulistener;

typedef struct flow {
  px_flowkey key; /* the listener and the client's address */
  uv_udp_t up;
  ulistener *l;
  gatelog_sid_t sid;
  int pending;   /* replies in flight on the listener's socket */
  int closed;    /* removed from the map, upstream socket closing */
  int up_closed; /* its close callback ran */
  gl_link node;
} flow;

typedef struct send_req {
  uv_udp_send_t req;
  flow *f;
  int to_client;
  size_t len;
  char data[];
} send_req;

typedef struct udp_state {
  gl_link listeners, flows;
  px_flowmap map;
  char buf[65536]; /* every datagram is copied out of it in its callback */
} udp_state;

static udp_state *state(proxy *p) {
  if (p->udp == NULL) {
    udp_state *s = calloc(1, sizeof(*s));
    if (s == NULL) abort();
    gl_list_init(&s->listeners);
    gl_list_init(&s->flows);
    p->udp = s;
  }
  return p->udp;
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf) {
  (void)hint;
  udp_state *s = ((proxy *)h->loop->data)->udp;
  *buf = uv_buf_init(s->buf, sizeof(s->buf));
}

static void maybe_free(flow *f) {
  if (f->up_closed && f->pending == 0) free(f);
}

static void on_flow_closed(uv_handle_t *h) {
  flow *f = h->data;
  f->up_closed = 1;
  maybe_free(f);
}

static void close_flow(proxy *p, flow *f) {
  if (f->closed) return;
  f->closed = 1;
  px_flowmap_remove(&state(p)->map, &f->key);
  gl_list_remove(&f->node);
  p->n.udp_flows_active--;
  uv_close((uv_handle_t *)&f->up, on_flow_closed);
}

/* Count delivered bytes on the flow's session; one that gatelog has
 * already ended (idle) is followed by a new one. */
static void count(proxy *p, flow *f, uint64_t tx, uint64_t rx) {
  p->n.bytes_tx += tx;
  p->n.bytes_rx += rx;
  int err = gatelog_add_bytes(p->gl, f->sid, tx, rx);
  if (err == GATELOG_ENOSESSION &&
      gatelog_udp_track(p->gl, f->l->spec->resource, (struct sockaddr *)&f->key.addr,
                        (struct sockaddr *)&f->l->spec->upstream, &f->sid) == 0)
    gatelog_add_bytes(p->gl, f->sid, tx, rx);
}

static void on_sent(uv_udp_send_t *req, int status) {
  send_req *r = (send_req *)req;
  flow *f = r->f;
  if (status == 0 && !f->closed) {
    proxy *p = f->l->p;
    count(p, f, r->to_client ? 0 : r->len, r->to_client ? r->len : 0);
  }
  if (r->to_client) f->pending--;
  free(r);
  maybe_free(f);
}

static void forward(proxy *p, flow *f, uv_udp_t *via, const struct sockaddr *to,
                    const char *data, size_t len, int to_client) {
  /* A peer that sends faster than the other can take is UDP's problem,
   * not the proxy's memory: past the limit, datagrams are dropped. */
  if (via->send_queue_size > PX_WRITE_HIGH) {
    p->n.udp_dropped++;
    return;
  }
  send_req *r = malloc(sizeof(*r) + len);
  if (r == NULL) {
    p->n.udp_dropped++;
    return;
  }
  memcpy(r->data, data, len);
  r->f = f;
  r->to_client = to_client;
  r->len = len;
  uv_buf_t b = uv_buf_init(r->data, (unsigned)len);
  int err = uv_udp_send(&r->req, via, &b, 1, to, on_sent);
  if (err) {
    free(r);
    p->n.udp_dropped++;
    px_log(p, GATELOG_LOG_DEBUG, "udp send: %s", uv_strerror(err));
    return;
  }
  if (to_client) f->pending++;
}

static void on_upstream_datagram(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf,
                                 const struct sockaddr *addr, unsigned flags) {
  flow *f = h->data;
  proxy *p = f->l->p;
  if (nread < 0) {
    /* A connected UDP socket reports the upstream's ICMP errors here. */
    p->n.upstream_errors++;
    px_log(p, GATELOG_LOG_DEBUG, "udp upstream %s:%d: %s", f->l->spec->up_host,
           f->l->spec->up_port, uv_strerror((int)nread));
    return;
  }
  if (addr == NULL || f->closed || (flags & UV_UDP_PARTIAL)) return;
  forward(p, f, &f->l->h, (struct sockaddr *)&f->key.addr, buf->base, (size_t)nread, 1);
}

static flow *open_flow(proxy *p, ulistener *l, const struct sockaddr *client) {
  flow *f = calloc(1, sizeof(*f));
  if (f == NULL) return NULL;
  f->l = l;
  px_flowkey_set(&f->key, l, client);
  uv_udp_init(p->loop, &f->up);
  f->up.data = f;
  struct sockaddr_storage any;
  memset(&any, 0, sizeof(any));
  any.ss_family = l->spec->upstream.ss_family;
  int err = uv_udp_bind(&f->up, (struct sockaddr *)&any, 0);
  if (err == 0) err = uv_udp_connect(&f->up, (struct sockaddr *)&l->spec->upstream);
  if (err == 0) err = uv_udp_recv_start(&f->up, on_alloc, on_upstream_datagram);
  if (err == 0) err = px_flowmap_insert(&state(p)->map, &f->key);
  if (err) {
    p->n.upstream_errors++;
    px_log(p, GATELOG_LOG_WARN, "udp upstream %s:%d: %s", l->spec->up_host, l->spec->up_port,
           uv_strerror(err));
    f->closed = 1;
    uv_close((uv_handle_t *)&f->up, on_flow_closed);
    return NULL;
  }
  gl_list_push(&state(p)->flows, &f->node);
  p->n.udp_flows_opened++;
  p->n.udp_flows_active++;
  return f;
}

static void on_client_datagram(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf,
                               const struct sockaddr *addr, unsigned flags) {
  ulistener *l = h->data;
  proxy *p = l->p;
  if (nread < 0) {
    px_log(p, GATELOG_LOG_DEBUG, "udp listener: %s", uv_strerror((int)nread));
    return;
  }
  if (addr == NULL || p->stopping) return;
  if (flags & UV_UDP_PARTIAL) { /* larger than any UDP payload: cannot happen */
    p->n.udp_dropped++;
    return;
  }
  px_flowkey *k = px_flowmap_find(&state(p)->map, l, addr);
  flow *f = k ? GL_CONTAINER(k, flow, key) : open_flow(p, l, addr);
  if (f == NULL) return;
  int err = gatelog_udp_track(p->gl, l->spec->resource, addr,
                              (struct sockaddr *)&l->spec->upstream, &f->sid);
  if (err) px_log(p, GATELOG_LOG_WARN, "udp_track: %s", gatelog_strerror(err));
  forward(p, f, &f->up, NULL, buf->base, (size_t)nread, 0);
}

static int same_endpoint(const struct sockaddr *a, const struct sockaddr_storage *b) {
  if (a->sa_family != b->ss_family) return 0;
  if (a->sa_family == AF_INET) {
    const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
    return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
  }
  const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
  return x->sin6_port == y->sin6_port && memcmp(&x->sin6_addr, &y->sin6_addr, 16) == 0;
}

void px_udp_session_ended(proxy *p, const gatelog_end_info_t *info) {
  if (p->udp == NULL || info->protocol != IPPROTO_UDP) return;
  udp_state *s = p->udp;
  for (gl_link *n = s->listeners.next; n != &s->listeners; n = n->next) {
    ulistener *l = GL_CONTAINER(n, ulistener, node);
    if (l->spec->resource != info->resource_id || !same_endpoint(info->dst, &l->spec->upstream))
      continue;
    px_flowkey *k = px_flowmap_find(&s->map, l, info->src);
    flow *f = k ? GL_CONTAINER(k, flow, key) : NULL;
    if (f == NULL || f->sid != info->sid) continue;
    px_log(p, GATELOG_LOG_DEBUG, "udp flow of session %016llx ended: %s",
           (unsigned long long)f->sid, info->reason);
    close_flow(p, f);
    return;
  }
}

int px_udp_bind(proxy *p, px_listen_spec *spec, char *err, size_t errlen) {
  ulistener *l = calloc(1, sizeof(*l));
  if (l == NULL) return UV_ENOMEM;
  l->p = p;
  l->spec = spec;
  uv_udp_init(p->loop, &l->h);
  l->h.data = l;
  gl_list_push(&state(p)->listeners, &l->node);
  int rc = uv_udp_bind(&l->h, (struct sockaddr *)&spec->addr, 0);
  if (rc) return px_bind_error(spec, rc, err, errlen);
  int len = sizeof(spec->addr);
  uv_udp_getsockname(&l->h, (struct sockaddr *)&spec->addr, &len);
  return 0;
}

void px_udp_start(proxy *p) {
  udp_state *s = state(p);
  for (gl_link *n = s->listeners.next; n != &s->listeners; n = n->next)
    uv_udp_recv_start(&GL_CONTAINER(n, ulistener, node)->h, on_alloc, on_client_datagram);
}

static void free_handle_data(uv_handle_t *h) { free(h->data); }


void px_udp_close(proxy *p) {
  udp_state *s = state(p);
  while (!gl_list_empty(&s->flows)) close_flow(p, GL_CONTAINER(s->flows.next, flow, node));
  while (!gl_list_empty(&s->listeners)) {
    ulistener *l = GL_CONTAINER(s->listeners.next, ulistener, node);
    gl_list_remove(&l->node);
    uv_close((uv_handle_t *)&l->h, free_handle_data);
  }
  px_flowmap_free(&s->map);
  free(s);
  p->udp = NULL;
}
