/* The publishing thread of a core.nats connection (prims/nats_pub.h). */
#include "prims/nats_pub.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct out_msg {
  natsMsg *msg;
  uint32_t slot, gen;
  uint64_t expires; /* uv_hrtime(): its slot times out then */
} out_msg;

struct gl_nats_pub {
  uv_thread_t thread;
  uv_mutex_t mu;
  uv_cond_t cond;
  out_msg *q;
  size_t qlen, qcap;
  int stop;
  uint64_t ttl_ns;
  natsConnection *nc;
  gl_nats_shared *sh;
};

static void refused(gl_nats_pub *p, const out_msg *m, natsStatus s) {
  gl_nats_result r;
  memset(&r, 0, sizeof(r));
  r.slot = m->slot;
  r.gen = m->gen;
  r.unsent = 1;
  if (s == NATS_MAX_PAYLOAD) {
    r.kind = GL_NATS_PERMANENT;
    snprintf(r.err, sizeof(r.err), "message of %d bytes is larger than the server's max_payload",
             natsMsg_GetDataLength(m->msg));
  } else {
    r.kind = GL_NATS_CLOSED;
    snprintf(r.err, sizeof(r.err), "%s", natsStatus_GetText(s));
  }
  gl_nats_shared_post(p->sh, &r);
}

static void run(void *arg) {
  gl_nats_pub *p = arg;
  for (;;) {
    uv_mutex_lock(&p->mu);
    while (!p->stop && p->qlen == 0) uv_cond_wait(&p->cond, &p->mu);
    if (p->stop) {
      uv_mutex_unlock(&p->mu);
      return;
    }
    /* The whole queue at once: the loop goes on filling a new one. */
    out_msg *q = p->q;
    size_t n = p->qlen;
    p->q = NULL;
    p->qlen = p->qcap = 0;
    uv_mutex_unlock(&p->mu);
    for (size_t i = 0; i < n; i++) {
      /* Told to stop (the connection is being closed): the rest is not
       * sent, each publish could wait for the write deadline, and their
       * slots were answered "closed" on the loop already. */
      uv_mutex_lock(&p->mu);
      int stopping = p->stop;
      uv_mutex_unlock(&p->mu);
      /* A message whose slot timed out while this thread was held by a
       * write is sent again by its batch's retry: not sending it keeps
       * the queue from growing past what the slots allow. */
      if (!stopping && uv_hrtime() < q[i].expires) {
        natsStatus s = natsConnection_PublishMsg(p->nc, q[i].msg);
        if (s != NATS_OK) refused(p, &q[i], s);
      }
      natsMsg_Destroy(q[i].msg);
    }
    free(q);
  }
}

gl_nats_pub *gl_nats_pub_start(natsConnection *nc, gl_nats_shared *sh, uint64_t ack_timeout_ms) {
  gl_nats_pub *p = calloc(1, sizeof(*p));
  if (p == NULL) return NULL;
  p->ttl_ns = ack_timeout_ms * 1000000u;
  p->nc = nc;
  p->sh = sh;
  if (uv_mutex_init(&p->mu) != 0) goto no_mutex;
  if (uv_cond_init(&p->cond) != 0) goto no_cond;
  gl_nats_shared_ref(sh);
  if (uv_thread_create(&p->thread, run, p) == 0) return p;
  gl_nats_shared_unref(sh);
  uv_cond_destroy(&p->cond);
no_cond:
  uv_mutex_destroy(&p->mu);
no_mutex:
  free(p);
  return NULL;
}

int gl_nats_pub_push(gl_nats_pub *p, natsMsg *msg, uint32_t slot, uint32_t gen) {
  uv_mutex_lock(&p->mu);
  if (p->qlen == p->qcap) {
    size_t cap = p->qcap ? p->qcap * 2 : 64;
    out_msg *q = realloc(p->q, cap * sizeof(*q));
    if (q == NULL) {
      uv_mutex_unlock(&p->mu);
      return -1;
    }
    p->q = q;
    p->qcap = cap;
  }
  p->q[p->qlen++] = (out_msg){msg, slot, gen, uv_hrtime() + p->ttl_ns};
  if (p->qlen == 1) uv_cond_signal(&p->cond);
  uv_mutex_unlock(&p->mu);
  return 0;
}

void gl_nats_pub_cancel(gl_nats_pub *p) {
  if (p == NULL) return;
  uv_mutex_lock(&p->mu);
  p->stop = 1;
  uv_cond_signal(&p->cond);
  uv_mutex_unlock(&p->mu);
}

void gl_nats_pub_join(gl_nats_pub *p) {
  if (p == NULL) return;
  gl_nats_pub_cancel(p);
  uv_thread_join(&p->thread);
  for (size_t i = 0; i < p->qlen; i++) natsMsg_Destroy(p->q[i].msg);
  free(p->q);
  uv_cond_destroy(&p->cond);
  uv_mutex_destroy(&p->mu);
  gl_nats_shared_unref(p->sh);
  free(p);
}
