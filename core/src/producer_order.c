/* The order of a session's events when they come through several
 * producers (see the comment below); the apply of one event. */
#include <stdlib.h>
#include <string.h>

#include "producer.h"

static int apply(gatelog_t *gl, const gl_event *e) {
  const char *reason = e->with_reason ? e->u.reason : "closed";
  switch (e->kind) {
  case EV_TCP_START: return gl_session_start_as(gl, e->u.flow.resource, &e->u.flow.src, &e->u.flow.dst, e->sid);
  case EV_UDP_TRACK: return gl_session_track_as(gl, &e->u.flow, e->sid, e->claimed);
  case EV_TCP_END: return gatelog_tcp_end_reason(gl, e->sid, reason);
  case EV_UDP_END: return gatelog_udp_end_reason(gl, e->sid, reason);
  case EV_BYTES: return gatelog_add_bytes(gl, e->sid, e->u.bytes.tx, e->u.bytes.rx);
  case EV_ATTR: return gatelog_set_attr(gl, e->sid, e->u.attr, e->u.attr + strlen(e->u.attr) + 1);
  default: return UV_EINVAL;
  }
}

/* An event is done with (applied, or failed for good): what it holds goes. */
static void release(const gl_event *e) {
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

/* Events that belong after their session's start and before its end: a
 * field set (gatelog_p_set_attr) is ordered as bytes are. */
static int before_end(int kind) { return kind == EV_BYTES || kind == EV_ATTR; }
static int later_event(const gl_event *e) {
  return before_end(e->kind) || e->kind == EV_TCP_END || e->kind == EV_UDP_END;
}

/* Apply one event as it comes off a queue. */
void gl_order_take(gatelog_t *gl, const gl_event *e) {
  gl_hub *h = gl->hub;
  h->events++;
  if (later_event(e) && (!before_end(e->kind) || parked_of(h, e->sid))) {
    if (park(h, e) != 0) {
      release(e);
      h->failed++;
    }
    return;
  }
  int err = apply(gl, e);
  if (err == GATELOG_ENOSESSION && later_event(e) && park(h, e) == 0) return;
  release(e);
  if (err) h->failed++;
}

/* Try again the parked sessions a whole pass has gone by since (all of
 * them with `all`: the close, when no call can still be on its way). Two
 * producers' events of one session arrive in either order: its bytes are
 * applied before its end, as they must have been called. */
void gl_order_retry(gatelog_t *gl, int all) {
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
