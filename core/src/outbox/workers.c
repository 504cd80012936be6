#include "outbox/workers.h"

#include <stdlib.h>
#ifdef __linux__
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

#include "internal.h"
#include "outbox/spool.h"

/* The records to JSON, then compressed (on a compression thread, or on
 * the loop when no thread could start). */
static void encode_and_deflate(gl_batch *b) {
  if ((b->work_err = gl_batch_encode(b)) == 0) gl_deflate_batch(b);
}

static void work(void *arg) {
  gatelog_t *gl = arg;
  gl_workers *w = &gl->workers;
#ifdef __linux__
  /* Linux keeps a nice value per thread: this one only. */
  if (w->nice) setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), w->nice);
#endif
  uv_mutex_lock(&w->lock);
  for (;;) {
    while (!w->stopping && gl_list_empty(&w->jobs)) uv_cond_wait(&w->wake_worker, &w->lock);
    if (gl_list_empty(&w->jobs)) break; /* stopping */
    gl_batch *b = GL_CONTAINER(w->jobs.next, gl_batch, answer_node);
    gl_list_remove(&b->answer_node);
    uv_mutex_unlock(&w->lock);
    encode_and_deflate(b);
    /* With a spool, its thread writes the batch, then hands it back. */
    int spooled = gl_spool_write(gl, b);
    uv_mutex_lock(&w->lock);
    if (spooled) continue;
    gl_list_push(&w->done, &b->answer_node);
    uv_async_send(&w->wake_loop);
  }
  uv_mutex_unlock(&w->lock);
}

static void on_done(uv_async_t *h) {
  gatelog_t *gl = h->data;
  gl_workers *w = &gl->workers;
  gl_link done;
  gl_list_init(&done);
  uv_mutex_lock(&w->lock);
  gl_list_splice(&done, &w->done);
  uv_mutex_unlock(&w->lock);
  while (!gl_list_empty(&done)) {
    gl_batch *b = GL_CONTAINER(done.next, gl_batch, answer_node);
    gl_list_remove(&b->answer_node);
    gl_outbox_compressed(gl, b, 0);
  }
}

int gl_workers_init(gatelog_t *gl, unsigned nthreads, int nice) {
  gl_workers *w = &gl->workers;
  w->nthreads = nthreads ? (int)nthreads : (int)uv_available_parallelism();
  if (w->nthreads < 1) w->nthreads = 1;
  w->nice = nice;
  gl_list_init(&w->jobs);
  gl_list_init(&w->done);
  int err = uv_mutex_init(&w->lock);
  if (err) return err;
  if ((err = uv_cond_init(&w->wake_worker)) != 0) {
    uv_mutex_destroy(&w->lock);
    return err;
  }
  w->threads = calloc((size_t)w->nthreads, sizeof(*w->threads));
  if (w->threads == NULL || (err = uv_async_init(gl->loop, &w->wake_loop, on_done)) != 0) {
    free(w->threads);
    uv_cond_destroy(&w->wake_worker);
    uv_mutex_destroy(&w->lock);
    return w->threads ? err : UV_ENOMEM;
  }
  w->wake_loop.data = gl;
  /* Completions keep no loop alive on their own: pending_work does. */
  uv_unref((uv_handle_t *)&w->wake_loop);
  return 0;
}

void gl_workers_submit(gatelog_t *gl, gl_batch *b) {
  gl_workers *w = &gl->workers;
  if (w->nthreads < 0) { /* set-up failed: compress on the loop, slowly but surely */
    encode_and_deflate(b);
    if (!gl_spool_write(gl, b)) gl_outbox_compressed(gl, b, 0);
    return;
  }
  uv_mutex_lock(&w->lock);
  /* One more thread for each waiting batch, up to the count. */
  if (w->started < w->nthreads && uv_thread_create(&w->threads[w->started], work, gl) == 0)
    w->started++;
  gl_list_push(&w->jobs, &b->answer_node);
  uv_cond_signal(&w->wake_worker);
  uv_mutex_unlock(&w->lock);
  if (w->started == 0) { /* no thread could start: compress here */
    uv_mutex_lock(&w->lock);
    gl_list_remove(&b->answer_node);
    uv_mutex_unlock(&w->lock);
    encode_and_deflate(b);
    if (!gl_spool_write(gl, b)) gl_outbox_compressed(gl, b, 0);
  }
}

void gl_workers_stop(gatelog_t *gl) {
  gl_workers *w = &gl->workers;
  if (w->nthreads < 0 || w->threads == NULL) return;
  uv_mutex_lock(&w->lock);
  w->stopping = 1;
  uv_cond_broadcast(&w->wake_worker);
  uv_mutex_unlock(&w->lock);
  for (int i = 0; i < w->started; i++) uv_thread_join(&w->threads[i]);
  free(w->threads);
  w->threads = NULL;
  uv_cond_destroy(&w->wake_worker);
  uv_mutex_destroy(&w->lock);
}
