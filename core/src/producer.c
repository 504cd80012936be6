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

#include "internal.h"
#include "util/clock.h"
#include "util/spsc.h"

#define DRAIN_PER_PRODUCER 4096 /* events per producer per wake-up: the loop's other work goes on */
#define WAIT_NAP_NS 20000       /* a full queue under producer_full = wait: sleep this between looks */

enum ev_kind { EV_TCP_START = 1, EV_UDP_TRACK, EV_TCP_END, EV_UDP_END, EV_BYTES, EV_ATTR };

/* One call, as the loop will apply it. */
typedef struct gl_event {
  uint64_t sid;
  uint8_t kind;
  uint8_t with_reason;
  union {
    gl_flow_key flow;            /* starts and tracks */
    struct { uint64_t tx, rx; } bytes;
    char reason[65];             /* ends with the gateway's endReason */
    char *attr;                  /* "key\0value\0", malloc'd: freed when applied */
  } u;
} gl_event;

/* An event whose session the loop did not know when it came: its start
 * may still wait in another producer's queue (a session's calls made on
 * different threads, one after the other). */
typedef struct parked {
  gl_event event;
  uint64_t pass; /* h->passes when it was parked */
} parked;

/* A parked session: its events are tried again together, once a pass has
 * gone by since the last of them was parked. */
typedef struct parked_sid {
  uint64_t sid;
  uint64_t last_pass;
} parked_sid;

typedef struct gl_hub {
  uv_mutex_t mu;                 /* the list, core_gone, the retired counts */
  gl_link producers;
  gatelog_t *core;               /* NULL once the core is gone (under mu) */
  _Atomic int refs;              /* the core, and each producer */
  _Atomic int closing;           /* gatelog_close started: calls fail */
  _Atomic int wake_pending;      /* the loop was woken and has not drained yet */
  gl_flowdir flows;
  uint32_t queue_size;
  int full_policy;
  uint64_t wait_ns;
  uint64_t id_seed;              /* mixes producer ids with the core's */
  /* Loop thread only: */
  gatelog_producer_t **snapshot;
  size_t snapshot_cap;
  uint64_t events, drains, failed;
  uint64_t passes;               /* complete passes over the queues */
  parked *parked;                /* events held back, in arrival order */
  size_t nparked, parked_cap;
  parked_sid *parked_sids;       /* their ids: an open-addressing table */
  size_t sids_cap;               /* a power of two, > 2 * nparked */
  /* Counts of producers freed (under mu). */
  uint64_t retired_full, retired_waits;
  uint64_t open;
} gl_hub;

struct gatelog_producer_s {
  gl_link node;                  /* in hub->producers */
  gl_hub *hub;
  gl_spsc queue;
  gl_ids ids;                    /* this thread's ids */
  _Atomic int busy;              /* inside a call that may push */
  _Atomic int freed;             /* the owner is done: the loop frees it once drained */
  _Atomic uint64_t full, waits;  /* refused for a full queue; waited for room */
};

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

static int apply(gatelog_t *gl, const gl_event *e) {
  const char *reason = e->with_reason ? e->u.reason : "closed";
  switch (e->kind) {
  case EV_TCP_START: return gl_session_start_as(gl, e->u.flow.resource, &e->u.flow.src, &e->u.flow.dst, e->sid);
  case EV_UDP_TRACK: return gl_session_track_as(gl, &e->u.flow, e->sid);
  case EV_TCP_END: return gatelog_tcp_end_reason(gl, e->sid, reason);
  case EV_UDP_END: return gatelog_udp_end_reason(gl, e->sid, reason);
  case EV_BYTES: return gatelog_add_bytes(gl, e->sid, e->u.bytes.tx, e->u.bytes.rx);
  case EV_ATTR: return gatelog_set_attr(gl, e->sid, e->u.attr, e->u.attr + strlen(e->u.attr) + 1);
  default: return UV_EINVAL;
  }
}

/* An event is done with (applied, failed for good): what it holds goes. */
static void release(gl_event *e) {
  if (e->kind == EV_ATTR) free(e->u.attr);
}

/* ---- the order of a session's events across producers -------------------
 * A session's calls may come from several producers (Go's goroutines move
 * between threads; a gateway may hand a connection to another thread): a
 * call made after another, on whatever thread, is applied after it. The
 * loop visits the queues one after the other, so an add_bytes or end can
 * arrive before its start, or an end before an add_bytes called before
 * it. So an end is always parked, and so is an add_bytes whose session is
 * unknown or has parked events; a parked session is tried again once a
 * whole pass over the queues has begun and ended after its last event
 * was parked: by then every call made before them has arrived. */

static size_t sid_slot(const gl_hub *h, uint64_t sid) {
  size_t i = (size_t)((sid * 0x9e3779b97f4a7c15ull) >> 20) & (h->sids_cap - 1);
  while (h->parked_sids[i].sid != 0 && h->parked_sids[i].sid != sid) i = (i + 1) & (h->sids_cap - 1);
  return i;
}

static parked_sid *parked_of(const gl_hub *h, uint64_t sid) {
  if (h->nparked == 0) return NULL;
  parked_sid *ps = &h->parked_sids[sid_slot(h, sid)];
  return ps->sid == sid ? ps : NULL;
}

static void note(gl_hub *h, uint64_t sid, uint64_t pass) {
  parked_sid *ps = &h->parked_sids[sid_slot(h, sid)];
  ps->sid = sid;
  if (pass >= ps->last_pass) ps->last_pass = pass;
}

/* The table of parked ids, made again from the list (after it shrank or grew). */
static int index_parked(gl_hub *h) {
  size_t cap = 64;
  while (cap <= 2 * h->nparked) cap <<= 1;
  if (cap != h->sids_cap) {
    parked_sid *a = malloc(cap * sizeof(*a));
    if (a == NULL) return UV_ENOMEM;
    free(h->parked_sids);
    h->parked_sids = a;
    h->sids_cap = cap;
  }
  memset(h->parked_sids, 0, h->sids_cap * sizeof(parked_sid));
  for (size_t i = 0; i < h->nparked; i++) note(h, h->parked[i].event.sid, h->parked[i].pass);
  return 0;
}

/* 0, or UV_ENOMEM (the event is then counted as failed). */
static int park(gl_hub *h, const gl_event *e) {
  if (h->nparked == h->parked_cap) {
    size_t cap = h->parked_cap ? h->parked_cap * 2 : 64;
    parked *a = realloc(h->parked, cap * sizeof(*a));
    if (a == NULL) return UV_ENOMEM;
    h->parked = a;
    h->parked_cap = cap;
  }
  h->parked[h->nparked++] = (parked){*e, h->passes};
  if (2 * h->nparked >= h->sids_cap) return index_parked(h);
  note(h, e->sid, h->passes);
  return 0;
}

/* Events that belong after their session's start: a field set
 * (gatelog_p_set_attr) is ordered as bytes are. */
static int before_end(int kind) { return kind == EV_BYTES || kind == EV_ATTR; }
static int later_event(const gl_event *e) {
  return before_end(e->kind) || e->kind == EV_TCP_END || e->kind == EV_UDP_END;
}

/* Apply one event as it comes off a queue. */
static void take(gatelog_t *gl, const gl_event *e) {
  gl_hub *h = gl->hub;
  h->events++;
  if (later_event(e) && (!before_end(e->kind) || parked_of(h, e->sid))) {
    if (park(h, e) != 0) {
      release((gl_event *)e);
      h->failed++;
    }
    return;
  }
  int err = apply(gl, e);
  if (err == GATELOG_ENOSESSION && later_event(e) && park(h, e) == 0) return;
  release((gl_event *)e);
  if (err) h->failed++;
}

/* Try again the parked sessions a whole pass has gone by since (all of
 * them with `all`: the close, when no call can still be on its way). Two
 * producers' events of one session arrive in either order: its bytes are
 * applied before its end, as they must have been called. */
static void retry_parked(gatelog_t *gl, int all) {
  gl_hub *h = gl->hub;
  if (h->nparked == 0) return;
  for (int ends = 0; ends <= 1; ends++)
    for (size_t i = 0; i < h->nparked; i++) {
      parked *pk = &h->parked[i];
      if (before_end(pk->event.kind) == ends || pk->event.kind == 0) continue;
      if (!all && parked_of(h, pk->event.sid)->last_pass + 2 > h->passes) continue;
      if (apply(gl, &pk->event) != 0) h->failed++;
      release(&pk->event);
      pk->event.kind = 0; /* done */
    }
  size_t kept = 0;
  for (size_t i = 0; i < h->nparked; i++)
    if (h->parked[i].event.kind != 0) h->parked[kept++] = h->parked[i];
  if (kept == h->nparked) return;
  h->nparked = kept;
  if (index_parked(h) != 0) { /* no memory for the table: give up on them */
    for (size_t i = 0; i < h->nparked; i++) release(&h->parked[i].event);
    h->failed += h->nparked;
    h->nparked = 0;
  }
}

/* Take up to `limit` events of p; 1 if some are left. */
static int drain_one(gatelog_t *gl, gatelog_producer_t *p, uint64_t limit) {
  gl_event *e;
  while ((e = gl_spsc_peek(&p->queue)) != NULL) {
    if (limit-- == 0) return 1;
    take(gl, e);
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
    retry_parked(gl, 0);
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
  retry_parked(gl, 0);
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
  retry_parked(gl, 1);
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
  return push(p, e, kind, sid);
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
