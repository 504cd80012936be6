/* Script I/O on libuv's thread pool, in a bounded share of it. The pool
 * is the gateway's too (its uv_getaddrinfo, uv_fs_*, uv_queue_work) and
 * has UV_THREADPOOL_SIZE threads, 4 unless the environment says; a
 * script's jobs (file appends, compressions, name resolutions) can each
 * hold a thread for long (a slow disk, a DNS server that does not
 * answer). At most half the pool, and at least one thread, runs script
 * jobs of a core at once; the others wait here, in call order, and count
 * as pending work for the close like running ones. */
#ifndef GATELOG_POOL_H
#define GATELOG_POOL_H

#include "internal.h"

typedef struct gl_pool_job gl_pool_job;
struct gl_pool_job {
  gl_link node;                              /* in gatelog_t.pool_waiting */
  int (*start)(gl_pool_job *job);            /* submit to libuv now: 0 or an error */
  void (*failed)(gl_pool_job *job, int err); /* a queued job that did not start:
                                                complete it with err */
  int state;
};

/* Start job now if the share allows, else queue it. 0, or the error of a
 * start that failed now (then nothing is queued and the job never runs). */
int gl_pool_submit(gatelog_t *gl, gl_pool_job *job);
/* From the job's completion: its thread is free for a waiting job. */
void gl_pool_done(gatelog_t *gl, gl_pool_job *job);
/* 1 if job was waiting and is now forgotten (it never runs and never
 * completes); 0 if it has started (libuv's uv_cancel may still stop it). */
int gl_pool_cancel(gatelog_t *gl, gl_pool_job *job);
/* How many script jobs run at once. */
unsigned gl_pool_share(void);

/* A uv_queue_work as a script job: work(w) runs on the pool, then done(w,
 * status) on the loop, its thread already given back; a job that waited
 * and then failed to start gets done(w, err) without work having run. */
typedef struct gl_pool_work gl_pool_work;
struct gl_pool_work {
  gl_pool_job job;
  uv_work_t req;
  gatelog_t *gl;
  void (*work)(gl_pool_work *w);
  void (*done)(gl_pool_work *w, int status);
};

/* 0, or the error of a start that failed now (done never runs then). */
int gl_pool_work_submit(gatelog_t *gl, gl_pool_work *w, void (*work)(gl_pool_work *w),
                        void (*done)(gl_pool_work *w, int status));

/* A name resolution (uv_getaddrinfo) as a script job. */
typedef struct gl_resolve {
  gl_pool_job job;
  uv_getaddrinfo_t gai;     /* gai.data is the owner's */
  uv_getaddrinfo_cb cb;
  int socktype;
  char host[256], service[8];
} gl_resolve;

/* Resolve host ("[::1]" as well as "::1") and port for socktype; cb runs
 * as uv_getaddrinfo would call it, also with the error of a start that
 * failed after waiting. 0, or the error of a start that failed now. */
int gl_resolve_start(gatelog_t *gl, gl_resolve *r, const char *host, int port, int socktype,
                     uv_getaddrinfo_cb cb);
/* From cb: the thread is free. */
void gl_resolve_done(gatelog_t *gl, gl_resolve *r);
/* Stop it: 1 if it never started (cb will not run), else 0 (uv_cancel
 * was tried: cb runs, perhaps with UV_ECANCELED). */
int gl_resolve_cancel(gatelog_t *gl, gl_resolve *r);

#endif
