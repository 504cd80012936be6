/* The send request of a batch attempt, and the host sender calls that the
 * host answers with gatelog_send_done. Each answer, whoever gives it,
 * ends in gl_send_answer. */
#include "outbox/send.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/policy.h"

void gl_send_unref(gl_send *s) {
  if (--s->refs == 0) free(s);
}

static void answer_batch(gl_batch *b, int ok, const char *err, const gl_answer_how *how) {
  gatelog_t *gl = b->gl;
  gl_list_remove(&b->answer_node);
  gl->ninflight--;
  gl->stats.batches_inflight--;
  b->state = GL_BATCH_ANSWERED;
  b->ok = ok;
  free(b->err);
  b->err = ok ? NULL : strdup(err ? err : "send failed");
  b->how = how ? *how : (gl_answer_how){0, 0};
  gl_list_push(&gl->answered, &b->answer_node);
  gl_schedule_pump(gl);
}

static int in_flight(const gl_send *s) {
  return s->batch && s->batch->send == s && s->batch->state == GL_BATCH_INFLIGHT;
}

void gl_send_answer(gl_send *s, int ok, const char *err, const gl_answer_how *how) {
  if (!in_flight(s)) {
    s->gl->stats.done_ignored++;
    return;
  }
  answer_batch(s->batch, ok, err, how);
}

void gl_send_unbind(gl_batch *b) {
  gl_send *s = b->send;
  if (s == NULL) return;
  b->send = NULL;
  s->batch = NULL;
  gl_send_unref(s);
}

/* ---- host senders ------------------------------------------------------ */

gatelog_send_t *gl_host_send_new(gatelog_t *gl, const char *payload, size_t len) {
  gatelog_send_t *req = malloc(sizeof(*req) + len + 1);
  if (req == NULL) return NULL;
  memset(req, 0, sizeof(*req));
  memcpy(req->payload, payload, len);
  req->payload[len] = '\0';
  req->len = len;
  req->gl = gl;
  return req;
}

void gl_host_send_call(gatelog_send_t *req, gatelog_send_fn fn, void *data) {
  gl_list_push(&req->gl->sends, &req->node);
  fn(req, req->payload, req->len, data);
}

void gatelog_send_done(gatelog_send_t *req, int status, const char *err) {
  if (req == NULL) return;
  gatelog_t *gl = req->gl;
  if (gl == NULL) { /* the core closed while the host held this send */
    free(req);
    return;
  }
  if (req->answered) return;
  req->answered = 1;
  req->status = status;
  req->err = status && err ? strdup(err) : NULL;
  gl_list_remove(&req->node);
  gl_list_push(&gl->send_answers, &req->node);
  gl_schedule_pump(gl);
}

static void free_host_send(gatelog_send_t *req) {
  if (req->release) req->release(req);
  free(req->err);
  free(req);
}

void gl_send_run_answers(gatelog_t *gl) {
  while (!gl_list_empty(&gl->send_answers)) {
    gatelog_send_t *req = GL_CONTAINER(gl->send_answers.next, gatelog_send_t, node);
    gl_list_remove(&req->node);
    char why[64];
    const char *err = req->err;
    if (req->status && err == NULL) {
      snprintf(why, sizeof(why), "sender failed (status %d)", req->status);
      err = why;
    }
    req->complete(req, req->status == 0, err);
    free_host_send(req);
  }
}

void gl_sends_abandon(gatelog_t *gl) {
  while (!gl_list_empty(&gl->sends)) { /* the host may still answer these */
    gatelog_send_t *req = GL_CONTAINER(gl->sends.next, gatelog_send_t, node);
    gl_list_remove(&req->node);
    if (req->release) req->release(req);
    req->release = NULL;
    req->gl = NULL;
  }
  while (!gl_list_empty(&gl->send_answers)) {
    gatelog_send_t *req = GL_CONTAINER(gl->send_answers.next, gatelog_send_t, node);
    gl_list_remove(&req->node);
    free_host_send(req);
  }
}

/* ---- starting a send --------------------------------------------------- */

static void override_complete(gatelog_send_t *req, int ok, const char *err) {
  gl_send_answer(req->owner, ok, err, NULL);
}

static void override_release(gatelog_send_t *req) {
  gl_send_unref(req->owner);
  req->owner = NULL;
}

static int start_override(gatelog_t *gl, gl_batch *b) {
  gatelog_send_t *req = gl_host_send_new(gl, b->payload, b->payload_len);
  if (req == NULL) return UV_ENOMEM;
  req->complete = override_complete;
  req->release = override_release;
  req->owner = b->send;
  gl_send_ref(b->send);
  gl_host_send_call(req, gl->opts.send_override, gl->opts.send_override_data);
  return 0;
}

void gl_send_start(gatelog_t *gl, gl_batch *b) {
  gl_send *s = calloc(1, sizeof(*s));
  if (s == NULL) {
    answer_batch(b, 0, "out of memory", NULL);
    return;
  }
  s->gl = gl;
  s->batch = b;
  s->refs = 2; /* the batch's, and ours for the duration of the call */
  b->send = s;
  if (gl->opts.send_override) {
    if (start_override(gl, b) != 0) gl_send_answer(s, 0, "out of memory", NULL);
  } else {
    char *err = NULL;
    gl_runtime *rt = &b->policy->rt;
    gl_rt_ref(rt);
    uint64_t started = rt->io_started;
    /* A send that raised after answering keeps its answer; one that
     * closed the core has no batch left to answer. One that raised after
     * it started I/O (a request may be on its way with done in its
     * callback) is not retried while that can still answer: done or the
     * send timeout settles it, so a raise never sends a batch twice. */
    if (gl_policy_send(b->policy, b, s, &err) != 0 && in_flight(s)) {
      if (rt->io_started == started) gl_send_answer(s, 0, err, NULL);
      else gl->stats.sends_raised_after_io++;
    }
    gl_rt_unref(rt);
    free(err);
  }
  gl_send_unref(s);
}
