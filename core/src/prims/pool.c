#include "prims/pool.h"

#include <stdlib.h>

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

static void start_waiting(gatelog_t *gl) {
  if (gl->pool_max == 0) gl->pool_max = gl_pool_share();
  while (gl->pool_running < gl->pool_max && !gl_list_empty(&gl->pool_waiting)) {
    gl_pool_job *job = GL_CONTAINER(gl->pool_waiting.next, gl_pool_job, node);
    gl_list_remove(&job->node);
    job->state = RUNNING;
    gl->pool_running++;
    int err = job->start(job);
    if (err) {
      job->state = IDLE;
      gl->pool_running--;
      job->failed(job, err);
    }
  }
}

int gl_pool_submit(gatelog_t *gl, gl_pool_job *job) {
  if (gl->pool_max == 0) gl->pool_max = gl_pool_share();
  if (gl->pool_running < gl->pool_max && gl_list_empty(&gl->pool_waiting)) {
    job->state = RUNNING;
    gl->pool_running++;
    int err = job->start(job);
    if (err) {
      job->state = IDLE;
      gl->pool_running--;
    }
    return err;
  }
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
