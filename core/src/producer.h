/* What producer.c (the producers, the hub, the drain) and producer_order.c
 * (the order of a session's events across producers) share. Internal. */
#ifndef GATELOG_PRODUCER_H
#define GATELOG_PRODUCER_H

#include <stdatomic.h>

#include "internal.h"
#include "util/spsc.h"

enum ev_kind { EV_TCP_START = 1, EV_UDP_TRACK, EV_TCP_END, EV_UDP_END, EV_BYTES, EV_ATTR };

/* One call, as the loop will apply it. */
typedef struct gl_event {
  uint64_t sid;
  uint8_t kind;
  uint8_t with_reason;
  uint8_t claimed; /* a track that gave the flow a new id: it starts the session */
  union {
    gl_flow_key flow;            /* starts and tracks */
    struct { uint64_t tx, rx; } bytes;
    char reason[65];             /* ends with the gateway's endReason */
    char *attr;                  /* "key\0value\0", malloc'd: freed when done with */
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

/* producer_order.c */
/* Apply one event as it comes off a queue (or hold it back: parked). */
void gl_order_take(gatelog_t *gl, const gl_event *e);
/* Try again what a whole pass has gone by since; all of it with `all`. */
void gl_order_retry(gatelog_t *gl, int all);

#endif
