/* gatelog's compression threads. Compression is throughput work and the
 * loop thread is the gateway's critical path: sharing cores with it at
 * the same priority, compression threads take the loop's turn (measured
 * in bench/: a loop held for whole scheduler ticks). So batches are
 * compressed by threads of gatelog's own, at a lower priority
 * (compress_nice), rather than on libuv's shared pool, whose priority
 * belongs to the gateway. */
#ifndef GATELOG_WORKERS_H
#define GATELOG_WORKERS_H

#include <uv.h>

#include "util/list.h"

typedef struct gatelog_s gatelog_t;
typedef struct gl_batch gl_batch;

typedef struct gl_workers {
  uv_mutex_t lock;
  uv_cond_t wake_worker;
  gl_link jobs;          /* batches to compress (node: answer_node) */
  gl_link done;          /* compressed, for the loop */
  uv_async_t wake_loop;
  uv_thread_t *threads;
  int nthreads, started;
  int nice;
  int stopping;
} gl_workers;

/* Set up (threads start with the first batch). 0 or a UV error. The
 * async handle counts among gl's handles; close it with the others. */
int gl_workers_init(gatelog_t *gl, unsigned nthreads, int nice);
/* Queue a batch; gl_outbox_compressed(gl, b, status) runs on the loop
 * thread when it is done. */
void gl_workers_submit(gatelog_t *gl, gl_batch *b);
/* Join the threads (the queue must be empty) and free what they used. */
void gl_workers_stop(gatelog_t *gl);

#endif
