/* Producers: per-thread handles that report sessions to a core whose loop
 * runs on another thread. Each producer owns a bounded lock-free queue of
 * events (util/spsc.h): its thread pushes, the loop pops. Session ids are
 * drawn on the producer's thread; a UDP flow's id comes from the flow
 * directory (util/flowdir.h), so that a flow has one id whichever thread
 * sees it first. The loop is woken once per drain (an atomic flag in front
 * of uv_async_send), and drains every queue in one callback.
 *
 * The hub is what producers hold: it outlives the core, so that a
 * producer can be freed (or called, getting GATELOG_ECLOSED) after the
 * core has closed; the last of the core and its producers frees it. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "producer.h"
#include "util/clock.h"

#define DRAIN_PER_PRODUCER 4096 /* events per producer per wake-up: the loop's other work goes on */
#define WAIT_NAP_NS 20000       /* a full queue under producer_full = wait: sleep this between looks */

/* ---- the hub ------------------------------------------------------------ */

static void hub_unref(gl_hub *h) {
  if (atomic_fetch_sub(&h->refs, 1) != 1) return;
  gl_flowdir_free(&h->flows);
  uv_mutex_destroy(&h->mu);
  free(h->snapshot);
  free(h->parked);
  free(h->parked_sids);
  free(h);
}

int gl_hub_new(gatelog_t *gl) {
  gl_hub *h = calloc(1, sizeof(*h));
  if (h == NULL) return UV_ENOMEM;
  uint64_t seed;
  int err = gl_ids_next(&gl->ids, &seed);
  if (err == 0) err = uv_mutex_init(&h->mu);
  if (err == 0 && (err = gl_flowdir_init(&h->flows, seed)) != 0) uv_mutex_destroy(&h->mu);
  if (err) {
    free(h);
    return err;
  }
  gl_list_init(&h->producers);
  h->core = gl;
  h->refs = 1;
  h->queue_size = gl->opts.producer_queue;
  h->full_policy = gl->opts.producer_full;
  h->wait_ns = gl->opts.producer_wait_ms * 1000000;
  gl->hub = h;
  gl->flows = &h->flows;
  return 0;
}

static void producer_destroy(gatelog_producer_t *p) {
  gl_hub *h = p->hub;
  h->retired_full += atomic_load(&p->full);
  h->retired_waits += atomic_load(&p->waits);
  h->open--;
  gl_list_remove(&p->node);
  gl_spsc_free(&p->queue);
  free(p);
}

/* Wake the loop unless a wake-up is already on its way. */
static void wake(gl_hub *h) {
  if (atomic_exchange(&h->wake_pending, 1) == 0) uv_async_send(&h->core->hub_wake);
}

/* ---- the loop side ------------------------------------------------------ */

/* Take up to `limit` events of p; 1 if some are left. */
static int drain_one(gatelog_t *gl, gatelog_producer_t *p, uint64_t limit) {
  gl_event *e;
  while ((e = gl_spsc_peek(&p->queue)) != NULL) {
    if (limit-- == 0) return 1;
    gl_order_take(gl, e);
    gl_spsc_release(&p->queue);
  }
  return 0;
}

/* The producers now, in the loop's own array: only the loop frees them
 * while the core lives, so they stay valid outside the lock. */
static size_t snapshot(gl_hub *h) {
  size_t n = 0;
  uv_mutex_lock(&h->mu);
  for (gl_link *l = h->producers.next; l != &h->producers; l = l->next) {
    if (n == h->snapshot_cap) {
      size_t cap = h->snapshot_cap ? h->snapshot_cap * 2 : 16;
      gatelog_producer_t **a = realloc(h->snapshot, cap * sizeof(*a));
      if (a == NULL) break; /* the rest at the next wake-up */
      h->snapshot = a;
      h->snapshot_cap = cap;
    }
    h->snapshot[n++] = GL_CONTAINER(l, gatelog_producer_t, node);
  }
  uv_mutex_unlock(&h->mu);
  return n;
}

/* Free the producers whose owners are done and whose queues are empty. */
static void reap(gl_hub *h, size_t n) {
  uv_mutex_lock(&h->mu);
  for (size_t i = 0; i < n; i++) {
    gatelog_producer_t *p = h->snapshot[i];
    if (atomic_load(&p->freed) && gl_spsc_count(&p->queue) == 0) {
      producer_destroy(p);
      hub_unref(h); /* never the last ref: the core holds one */
    }
  }
  uv_mutex_unlock(&h->mu);
}

static void on_wake(uv_async_t *a) {
  gatelog_t *gl = a->data;
  gl_hub *h = gl->hub;
  uint64_t t0 = gl_cb_begin();
  /* Cleared before draining: a push after this point wakes us again. */
  atomic_exchange(&h->wake_pending, 0);
  size_t n = snapshot(h);
  int more = 0;
  if (gl->phase == GL_OPEN) {
    h->drains++;
    /* With events parked, each queue is taken to its end as seen now, so
     * that this pass completes and they can be tried again. */
    int whole = h->nparked > 0;
    for (size_t i = 0; i < n; i++) {
      gatelog_producer_t *p = h->snapshot[i];
      more |= drain_one(gl, p, whole ? gl_spsc_count(&p->queue) : DRAIN_PER_PRODUCER);
    }
    if (!more || whole) h->passes++;
    gl_order_retry(gl, 0);
  }
  reap(h, n);
  if (more || h->nparked) wake(h);
  gl_cb_end(gl, t0);
}

void gl_hub_sync(gatelog_t *gl) {
  gl_hub *h = gl->hub;
  if (gl->phase != GL_OPEN) return;
  size_t n = snapshot(h);
  /* Two whole passes: the second began after every call made before this
   * one had arrived, so what they parked can be applied. */
  for (int pass = 0; pass < 2; pass++) {
    for (size_t i = 0; i < n; i++) drain_one(gl, h->snapshot[i], gl_spsc_count(&h->snapshot[i]->queue));
    h->passes++;
  }
  gl_order_retry(gl, 0);
  if (h->nparked) wake(h);
}

void gl_hub_wake_init(gatelog_t *gl) {
  uv_async_init(gl->loop, &gl->hub_wake, on_wake);
  gl->hub_wake.data = gl;
  uv_unref((uv_handle_t *)&gl->hub_wake);
  gl->handles_open++;
}

void gl_hub_close(gatelog_t *gl) {
  gl_hub *h = gl->hub;
  atomic_store(&h->closing, 1);
  /* A call that saw closing unset may still be pushing: wait for it,
   * draining meanwhile (it may be waiting for room). After this no
   * event can come in; the queues are empty. */
  size_t n = snapshot(h);
  for (size_t i = 0; i < n; i++) {
    gatelog_producer_t *p = h->snapshot[i];
    while (atomic_load(&p->busy)) drain_one(gl, p, UINT64_MAX);
    drain_one(gl, p, UINT64_MAX);
  }
  gl_order_retry(gl, 1);
  reap(h, n);
}

void gl_hub_detach(gatelog_t *gl) {
  gl_hub *h = gl->hub;
  if (h == NULL) return;
  uv_mutex_lock(&h->mu);
  h->core = NULL;
  for (gl_link *l = h->producers.next, *next; l != &h->producers; l = next) {
    next = l->next;
    gatelog_producer_t *p = GL_CONTAINER(l, gatelog_producer_t, node);
    if (atomic_load(&p->freed)) {
      producer_destroy(p);
      atomic_fetch_sub(&h->refs, 1); /* the core's ref still holds it */
    }
  }
  uv_mutex_unlock(&h->mu);
  gl->hub = NULL;
  gl->flows = NULL;
  hub_unref(h);
}

void gl_hub_stats(gatelog_t *gl, gatelog_stats_t *out) {
  gl_hub *h = gl->hub;
  if (h == NULL) return;
  out->producer_events = h->events;
  out->producer_drains = h->drains;
  out->producer_failed = h->failed;
  uv_mutex_lock(&h->mu);
  uint64_t full = h->retired_full, waits = h->retired_waits;
  for (gl_link *l = h->producers.next; l != &h->producers; l = l->next) {
    gatelog_producer_t *p = GL_CONTAINER(l, gatelog_producer_t, node);
    full += atomic_load_explicit(&p->full, memory_order_relaxed);
    waits += atomic_load_explicit(&p->waits, memory_order_relaxed);
  }
  out->producers_open = h->open;
  uv_mutex_unlock(&h->mu);
  out->producer_full = full;
  out->producer_waits = waits;
}

/* ---- the producer's side ------------------------------------------------- */

int gatelog_producer_new(gatelog_t *gl, gatelog_producer_t **out) {
  if (out) *out = NULL;
  if (gl == NULL || out == NULL) return UV_EINVAL;
  gl_hub *h = gl->hub;
  if (atomic_load(&h->closing)) return GATELOG_ECLOSED;
  gatelog_producer_t *p = calloc(1, sizeof(*p));
  if (p == NULL) return UV_ENOMEM;
  if (gl_spsc_init(&p->queue, h->queue_size, sizeof(gl_event)) != 0) {
    free(p);
    return UV_ENOMEM;
  }
  p->hub = h;
  uv_mutex_lock(&h->mu);
  int closed = h->core == NULL || atomic_load(&h->closing);
  if (!closed) {
    gl_list_push(&h->producers, &p->node);
    h->open++;
    atomic_fetch_add(&h->refs, 1);
  }
  uv_mutex_unlock(&h->mu);
  if (closed) {
    gl_spsc_free(&p->queue);
    free(p);
    return GATELOG_ECLOSED;
  }
  *out = p;
  return 0;
}

void gatelog_producer_free(gatelog_producer_t *p) {
  if (p == NULL) return;
  gl_hub *h = p->hub;
  uv_mutex_lock(&h->mu);
  if (h->core == NULL) {
    /* The core is gone: nothing will drain the queue (its events were
     * counted as lost by the close, or never pushed). */
    producer_destroy(p);
    uv_mutex_unlock(&h->mu);
    hub_unref(h);
    return;
  }
  /* The loop applies what is queued, then frees it. */
  atomic_store(&p->freed, 1);
  wake(h);
  uv_mutex_unlock(&h->mu);
}

/* A slot for one event, by the full-queue policy, or NULL with *err. The
 * caller holds p->busy. */
static gl_event *slot(gatelog_producer_t *p, int *err) {
  gl_hub *h = p->hub;
  gl_event *e = gl_spsc_slot(&p->queue);
  if (e) return e;
  if (h->full_policy == GATELOG_FULL_WAIT && h->wait_ns > 0) {
    uint64_t until = gl_clock_mono_ns() + h->wait_ns;
    atomic_fetch_add_explicit(&p->waits, 1, memory_order_relaxed);
    do {
      if (atomic_load(&h->closing)) {
        *err = GATELOG_ECLOSED;
        return NULL;
      }
      wake(h);
      struct timespec nap = {0, WAIT_NAP_NS};
      nanosleep(&nap, NULL);
      if ((e = gl_spsc_slot(&p->queue)) != NULL) return e;
    } while (gl_clock_mono_ns() < until);
  }
  atomic_fetch_add_explicit(&p->full, 1, memory_order_relaxed);
  *err = GATELOG_EAGAIN;
  return NULL;
}

/* Enter a call: 0, or GATELOG_ECLOSED once the close has begun. The
 * close waits for busy producers (gl_hub_close), so an event pushed after
 * a successful enter is always drained. */
static int enter(gatelog_producer_t *p) {
  atomic_store(&p->busy, 1);
  if (atomic_load(&p->hub->closing)) {
    atomic_store(&p->busy, 0);
    return GATELOG_ECLOSED;
  }
  return 0;
}

static void leave(gatelog_producer_t *p) { atomic_store_explicit(&p->busy, 0, memory_order_release); }

/* Enter a call and take a slot: the slot, or NULL with *err (and the
 * call left). */
static gl_event *begin(gatelog_producer_t *p, int *err) {
  if ((*err = enter(p)) != 0) return NULL;
  gl_event *e = slot(p, err);
  if (e == NULL) leave(p);
  return e;
}

/* A call that took a slot and then failed: the slot stays unused. */
static int abandon(gatelog_producer_t *p, int err) {
  leave(p);
  return err;
}

/* Fill the slot's common part, publish it, wake the loop. */
static int push(gatelog_producer_t *p, gl_event *e, int kind, uint64_t sid) {
  e->kind = (uint8_t)kind;
  e->sid = sid;
  gl_spsc_commit(&p->queue);
  wake(p->hub);
  leave(p);
  return 0;
}

static int flow_of(gatelog_producer_t *p, int64_t resource, const struct sockaddr *src,
                   const struct sockaddr *dst, gatelog_sid_t *sid, gl_flow_key *k) {
  if (p == NULL || sid == NULL) return UV_EINVAL;
  memset(k, 0, sizeof(*k));
  k->resource = resource;
  int err = gl_addr_from_sockaddr(src, &k->src);
  if (err == 0) err = gl_addr_from_sockaddr(dst, &k->dst);
  return err;
}

int gatelog_p_tcp_start(gatelog_producer_t *p, int64_t resource_id, const struct sockaddr *src,
                        const struct sockaddr *dst, gatelog_sid_t *sid) {
  gl_flow_key k;
  int err = flow_of(p, resource_id, src, dst, sid, &k);
  gl_event *e = err ? NULL : begin(p, &err);
  if (e == NULL) return err;
  uint64_t id;
  if ((err = gl_ids_next(&p->ids, &id)) != 0) return abandon(p, err);
  e->u.flow = k;
  *sid = id;
  return push(p, e, EV_TCP_START, id);
}

int gatelog_p_udp_track(gatelog_producer_t *p, int64_t resource_id, const struct sockaddr *src,
                        const struct sockaddr *dst, gatelog_sid_t *sid) {
  gl_flow_key k;
  int err = flow_of(p, resource_id, src, dst, sid, &k);
  /* The slot first: a claim whose event is refused would leave the flow
   * an id that nothing starts. */
  gl_event *e = err ? NULL : begin(p, &err);
  if (e == NULL) return err;
  uint64_t fresh, id;
  if ((err = gl_ids_next(&p->ids, &fresh)) != 0) return abandon(p, err);
  if ((err = gl_flowdir_claim(&p->hub->flows, &k, fresh, &id)) < 0) return abandon(p, err);
  e->claimed = err == 1;
  e->u.flow = k;
  *sid = id;
  return push(p, e, EV_UDP_TRACK, id);
}

static int end(gatelog_producer_t *p, gatelog_sid_t sid, int kind, const char *reason) {
  if (p == NULL) return UV_EINVAL;
  size_t len = 0;
  if (reason) {
    len = strlen(reason);
    if (len == 0 || len > 64) return UV_EINVAL;
    for (size_t i = 0; i < len; i++)
      if ((unsigned char)reason[i] < 0x20 || reason[i] == 0x7f) return UV_EINVAL;
  }
  if (sid == 0) return GATELOG_ENOSESSION;
  int err;
  gl_event *e = begin(p, &err);
  if (e == NULL) return err;
  e->with_reason = reason != NULL;
  if (reason) memcpy(e->u.reason, reason, len + 1);
  if ((err = push(p, e, kind, sid)) != 0) return err;
  /* The flow is forgotten now, not when the loop applies the end: a track
   * of it called after this end is a new session (a client that reuses
   * its port at once), whichever thread calls it. */
  if (kind == EV_UDP_END) gl_flowdir_forget(&p->hub->flows, sid);
  return 0;
}

int gatelog_p_tcp_end(gatelog_producer_t *p, gatelog_sid_t sid) { return end(p, sid, EV_TCP_END, NULL); }
int gatelog_p_udp_end(gatelog_producer_t *p, gatelog_sid_t sid) { return end(p, sid, EV_UDP_END, NULL); }

int gatelog_p_tcp_end_reason(gatelog_producer_t *p, gatelog_sid_t sid, const char *reason) {
  return reason ? end(p, sid, EV_TCP_END, reason) : UV_EINVAL;
}

int gatelog_p_udp_end_reason(gatelog_producer_t *p, gatelog_sid_t sid, const char *reason) {
  return reason ? end(p, sid, EV_UDP_END, reason) : UV_EINVAL;
}

int gatelog_p_add_bytes(gatelog_producer_t *p, gatelog_sid_t sid, uint64_t tx, uint64_t rx) {
  if (p == NULL) return UV_EINVAL;
  if (sid == 0) return GATELOG_ENOSESSION;
  int err;
  gl_event *e = begin(p, &err);
  if (e == NULL) return err;
  e->u.bytes.tx = tx;
  e->u.bytes.rx = rx;
  return push(p, e, EV_BYTES, sid);
}

int gatelog_p_set_attr(gatelog_producer_t *p, gatelog_sid_t sid, const char *key,
                       const char *value) {
  if (p == NULL || key == NULL || value == NULL) return UV_EINVAL;
  size_t klen = strlen(key), vlen = strlen(value);
  if (!gl_attr_valid(key, klen, vlen)) return UV_EINVAL;
  if (sid == 0) return GATELOG_ENOSESSION;
  char *kv = malloc(klen + vlen + 2);
  if (kv == NULL) return UV_ENOMEM;
  memcpy(kv, key, klen + 1);
  memcpy(kv + klen + 1, value, vlen + 1);
  int err;
  gl_event *e = begin(p, &err);
  if (e == NULL) {
    free(kv);
    return err;
  }
  e->u.attr = kv;
  return push(p, e, EV_ATTR, sid);
}
