/* The nats.c side of core.nats (prims/nats.c): what runs on nats.c's own
 * threads and on the thread pool, and what they share with the loop.
 *
 * nats.c calls back on threads of its own: an acknowledgement arrives on
 * the thread of the reply subscription, a reconnect or an asynchronous
 * error on its callback thread. Those callbacks only queue what they saw
 * in a gl_nats_shared, under its mutex, and wake the loop with its
 * uv_async_t; the loop takes the queue. The shared part is reference
 * counted: the loop side, a connect job, the subscription (until nats.c
 * says it completed) and the connection (until its closed callback) each
 * hold it, so whichever lets go last frees it, and no callback of nats.c
 * can find it freed. */
#ifndef GATELOG_NATS_LINK_H
#define GATELOG_NATS_LINK_H

#include <nats/nats.h>
#include <uv.h>

#include "prims/pool.h"

#define GL_NATS_ERR_MAX 256

/* How a message ended (kinds a script sees by name: prims/nats.c). */
enum { GL_NATS_OK, GL_NATS_PERMANENT, GL_NATS_NO_RESPONDERS, GL_NATS_TIMEOUT, GL_NATS_NAK,
       GL_NATS_CONNECT, GL_NATS_CLOSED };

/* An acknowledgement as the subscription's thread saw it; the reply
 * subject named the slot and its generation. */
typedef struct gl_nats_result {
  uint32_t slot, gen;
  int kind;
  int duplicate;
  int unsent; /* refused by nats.c: never published */
  char err[96];
} gl_nats_result;

typedef struct gl_nats_shared {
  uv_mutex_t mu;
  int refs;
  uv_async_t *async;       /* NULL once the loop side is gone */
  gl_nats_result *q;
  size_t qlen, qcap;
  uint64_t reconnects;
  char err[GL_NATS_ERR_MAX]; /* the last asynchronous error, "" if none */
  char url[256];             /* the server connected to, "" if none */
} gl_nats_shared;

typedef struct gl_nats_settings {
  char **servers;
  int nservers;
  char *user, *password, *token, *creds, *ca, *cert, *key, *name;
  int64_t connect_timeout_ms;
  uint64_t ack_timeout_ms;
} gl_nats_settings;

struct gl_nats_pub;

/* A connection made on the pool: options from set, the connection, a
 * subscription to the reply inbox (inbox.*) and the thread that publishes
 * (prims/nats_pub.h). The job reads set and holds sh until done runs;
 * then nc, sub and pub (NULL on failure, err saying why). */
typedef struct gl_nats_link {
  gl_pool_work work;
  const gl_nats_settings *set;
  gl_nats_shared *sh;
  natsConnection *nc;
  natsSubscription *sub;
  struct gl_nats_pub *pub;
  natsStatus status;
  char inbox[64];
  char err[GL_NATS_ERR_MAX];
} gl_nats_link;

/* A shared part held once (by the caller), waking async; NULL without memory. */
gl_nats_shared *gl_nats_shared_new(uv_async_t *async);
void gl_nats_shared_ref(gl_nats_shared *sh);
void gl_nats_shared_unref(gl_nats_shared *sh);
/* The loop side is going: no more wake-ups. */
void gl_nats_shared_detach(gl_nats_shared *sh);
/* The last asynchronous error, "" if none. */
void gl_nats_shared_last_error(gl_nats_shared *sh, char *err, size_t size);
/* The server connected to, "" if none (nats.c's own call would take the
 * connection's lock, which a stuck write holds). */
void gl_nats_shared_url(gl_nats_shared *sh, char *url, size_t size);
/* Take the queued results (the caller frees *q) and the reconnects so
 * far. Returns how many results. */
size_t gl_nats_shared_take(gl_nats_shared *sh, gl_nats_result **q, uint64_t *reconnects);
/* From nats.c's or the publishing thread: queue r and wake the loop. */
void gl_nats_shared_post(gl_nats_shared *sh, const gl_nats_result *r);

/* Connect on the pool, holding sh; done(&link->work, status) on the loop
 * (gl_nats_link_done lets go of sh). 0, or an error (done never runs). */
int gl_nats_link_start(gatelog_t *gl, gl_nats_link *link, const gl_nats_settings *set,
                       gl_nats_shared *sh, void (*done)(gl_pool_work *w, int status));
void gl_nats_link_done(gl_nats_link *link);
/* Close and free a connection, its subscription and its publishing
 * thread (on the pool: nats.c may wait for its threads, the publisher for
 * a write); the core's close waits for it. */
void gl_nats_give_up(gatelog_t *gl, natsConnection *nc, natsSubscription *sub, struct gl_nats_pub *pub);
void gl_nats_settings_free(gl_nats_settings *st);

#endif
