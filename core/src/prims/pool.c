#include "prims/pool.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { IDLE, WAITING, RUNNING };

#define LIBUV_DEFAULT_THREADS 4
#define LIBUV_MAX_THREADS 1024

/* libuv sizes its pool once, from UV_THREADPOOL_SIZE. */
unsigned gl_pool_share(void) {
  const char *env = getenv("UV_THREADPOOL_SIZE");
  long n = env ? strtol(env, NULL, 10) : 0;
  if (n <= 0) n = LIBUV_DEFAULT_THREADS;
  if (n > LIBUV_MAX_THREADS) n = LIBUV_MAX_THREADS;
  return n >= 2 ? (unsigned)n / 2 : 1;
}

static int has_room(gatelog_t *gl) {
  if (gl->pool_max == 0) gl->pool_max = gl_pool_share();
  return gl->pool_running < gl->pool_max;
}

/* Hand job to libuv in a slot of the share; a start that fails frees it. */
static int run(gatelog_t *gl, gl_pool_job *job) {
  job->state = RUNNING;
  gl->pool_running++;
  int err = job->start(job);
  if (err) {
    job->state = IDLE;
    gl->pool_running--;
  }
  return err;
}

static void start_waiting(gatelog_t *gl) {
  while (has_room(gl) && !gl_list_empty(&gl->pool_waiting)) {
    gl_pool_job *job = GL_CONTAINER(gl->pool_waiting.next, gl_pool_job, node);
    gl_list_remove(&job->node);
    int err = run(gl, job);
    if (err) job->failed(job, err);
  }
}

int gl_pool_submit(gatelog_t *gl, gl_pool_job *job) {
  if (has_room(gl) && gl_list_empty(&gl->pool_waiting)) return run(gl, job);
  job->state = WAITING;
  gl_list_push(&gl->pool_waiting, &job->node);
  return 0;
}

void gl_pool_done(gatelog_t *gl, gl_pool_job *job) {
  if (job->state != RUNNING) return; /* completed by failed() */
  job->state = IDLE;
  gl->pool_running--;
  start_waiting(gl);
}

int gl_pool_cancel(gatelog_t *gl, gl_pool_job *job) {
  (void)gl;
  if (job->state != WAITING) return 0;
  gl_list_remove(&job->node);
  job->state = IDLE;
  return 1;
}

/* ---- name resolutions ---------------------------------------------------- */

static int resolve_start(gl_pool_job *job) {
  gl_resolve *r = GL_CONTAINER(job, gl_resolve, job);
  struct addrinfo hints;
  memset(&hints, 0, sizeof(hints));
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = r->socktype;
  return uv_getaddrinfo(r->gai.loop, &r->gai, r->cb, r->host, r->service, &hints);
}

static void resolve_failed(gl_pool_job *job, int err) {
  gl_resolve *r = GL_CONTAINER(job, gl_resolve, job);
  r->cb(&r->gai, err, NULL);
}

int gl_resolve_start(gatelog_t *gl, gl_resolve *r, const char *host, int port, int socktype,
                     uv_getaddrinfo_cb cb) {
  size_t hl = strlen(host);
  if (hl > 2 && host[0] == '[' && host[hl - 1] == ']')
    snprintf(r->host, sizeof(r->host), "%.*s", (int)(hl - 2), host + 1);
  else
    snprintf(r->host, sizeof(r->host), "%s", host);
  snprintf(r->service, sizeof(r->service), "%d", port);
  r->gai.loop = gl->loop; /* read by resolve_start; uv_getaddrinfo sets it again */
  r->cb = cb;
  r->socktype = socktype;
  r->job.start = resolve_start;
  r->job.failed = resolve_failed;
  return gl_pool_submit(gl, &r->job);
}

void gl_resolve_done(gatelog_t *gl, gl_resolve *r) { gl_pool_done(gl, &r->job); }

int gl_resolve_cancel(gatelog_t *gl, gl_resolve *r) {
  if (gl_pool_cancel(gl, &r->job)) return 1;
  uv_cancel((uv_req_t *)&r->gai);
  return 0;
}

static void work_run(uv_work_t *req) {
  gl_pool_work *w = req->data;
  w->work(w);
}

static void work_after(uv_work_t *req, int status) {
  gl_pool_work *w = req->data;
  gl_pool_done(w->gl, &w->job);
  w->done(w, status);
}

static int work_start(gl_pool_job *job) {
  gl_pool_work *w = GL_CONTAINER(job, gl_pool_work, job);
  return uv_queue_work(w->gl->loop, &w->req, work_run, work_after);
}

static void work_failed(gl_pool_job *job, int err) {
  gl_pool_work *w = GL_CONTAINER(job, gl_pool_work, job);
  work_after(&w->req, err);
}

int gl_pool_work_submit(gatelog_t *gl, gl_pool_work *w, void (*work)(gl_pool_work *w),
                        void (*done)(gl_pool_work *w, int status)) {
  w->gl = gl;
  w->work = work;
  w->done = done;
  w->req.data = w;
  w->job.start = work_start;
  w->job.failed = work_failed;
  return gl_pool_submit(gl, &w->job);
}
