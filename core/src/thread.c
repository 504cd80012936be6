/* A core on a thread of its own: gatelog_start_thread makes a libuv loop,
 * creates the core on it and runs it on a new thread; producers feed it
 * from any thread. Flush, reload, stats and register_sender called from
 * another thread are marshalled to the loop: the caller waits for the
 * answer (one such call at a time; they are rare). */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

typedef struct gl_thread {
  uv_loop_t loop;
  uv_thread_t tid;
  uv_async_t calls;      /* a marshalled call waits */
  uv_sem_t started;
  uv_mutex_t call_mu;    /* one marshalled call at a time */
  uv_mutex_t mu;         /* the call below */
  uv_cond_t answered;
  gatelog_t *gl;
  int pending;           /* a call is posted */
  enum gl_call_kind kind;
  void *arg;
  int result;
  int done;
} gl_thread;

static void on_closed(gatelog_t *gl, void *data) {
  gl_thread *th = data;
  (void)gl;
  /* The loop's last handle of ours: uv_run returns once the core's are closed. */
  uv_close((uv_handle_t *)&th->calls, NULL);
}

static int run_call(gl_thread *th) {
  gatelog_t *gl = th->gl;
  switch (th->kind) {
  case GL_CALL_FLUSH: return gatelog_flush(gl);
  case GL_CALL_RELOAD: return gatelog_reload(gl);
  case GL_CALL_STATS: return gatelog_stats(gl, th->arg);
  case GL_CALL_SENDER: {
    gl_sender_call *c = th->arg;
    return gatelog_register_sender(gl, c->name, c->fn, c->data);
  }
  case GL_CALL_CLOSE: {
    uint32_t drain_ms = *(uint32_t *)th->arg;
    int err = gatelog_close(gl, drain_ms, on_closed, th);
    if (err == 0) th->gl = NULL;
    return err;
  }
  }
  return UV_EINVAL;
}

static void on_call(uv_async_t *a) {
  gl_thread *th = a->data;
  uv_mutex_lock(&th->mu);
  if (th->pending) {
    th->pending = 0;
    th->result = run_call(th);
    th->done = 1;
    uv_cond_signal(&th->answered);
  }
  uv_mutex_unlock(&th->mu);
}

static void thread_main(void *arg) {
  gl_thread *th = arg;
  th->tid = uv_thread_self();
  uv_sem_post(&th->started);
  uv_run(&th->loop, UV_RUN_DEFAULT);
}

int gl_thread_foreign(gatelog_t *gl) {
  if (gl->thread == NULL) return 0;
  uv_thread_t self = uv_thread_self();
  return !uv_thread_equal(&self, &gl->thread->tid);
}

static int post(gl_thread *th, enum gl_call_kind kind, void *arg) {
  uv_mutex_lock(&th->call_mu);
  uv_mutex_lock(&th->mu);
  th->kind = kind;
  th->arg = arg;
  th->done = 0;
  th->pending = 1;
  uv_async_send(&th->calls);
  while (!th->done) uv_cond_wait(&th->answered, &th->mu);
  int result = th->result;
  uv_mutex_unlock(&th->mu);
  uv_mutex_unlock(&th->call_mu);
  return result;
}

int gl_thread_call(gatelog_t *gl, enum gl_call_kind kind, void *arg) {
  return post(gl->thread, kind, arg);
}

static void thread_free(gl_thread *th) {
  uv_cond_destroy(&th->answered);
  uv_mutex_destroy(&th->mu);
  uv_mutex_destroy(&th->call_mu);
  uv_sem_destroy(&th->started);
  free(th);
}

int gatelog_start_thread(const gatelog_options_t *opts, gatelog_t **out) {
  if (out) *out = NULL;
  if (opts == NULL || out == NULL) return gatelog_new(NULL, opts, out); /* its error and message */
  gl_thread *th = calloc(1, sizeof(*th));
  if (th == NULL) return UV_ENOMEM;
  int err = uv_loop_init(&th->loop);
  if (err) {
    free(th);
    return err;
  }
  uv_sem_init(&th->started, 0);
  uv_mutex_init(&th->call_mu);
  uv_mutex_init(&th->mu);
  uv_cond_init(&th->answered);
  /* The core is made here, before the thread runs its loop: its errors
   * come back to the caller (gatelog_last_error(NULL) on this thread). */
  if ((err = gatelog_new(&th->loop, opts, &th->gl)) != 0) {
    uv_loop_close(&th->loop);
    thread_free(th);
    return err;
  }
  uv_async_init(&th->loop, &th->calls, on_call);
  th->calls.data = th;
  th->gl->thread = th;
  if ((err = uv_thread_create(&th->tid, thread_main, th)) != 0) {
    /* No thread: close the core on this one, with its loop. */
    uv_close((uv_handle_t *)&th->calls, NULL);
    gatelog_close(th->gl, 0, NULL, NULL);
    uv_run(&th->loop, UV_RUN_DEFAULT);
    uv_loop_close(&th->loop);
    thread_free(th);
    return err;
  }
  uv_sem_wait(&th->started);
  *out = th->gl;
  return 0;
}

int gatelog_stop_thread(gatelog_t *gl, uint32_t drain_ms) {
  if (gl == NULL || gl->thread == NULL || !gl_thread_foreign(gl)) return UV_EINVAL;
  gl_thread *th = gl->thread;
  int err = post(th, GL_CALL_CLOSE, &drain_ms);
  if (err) return err;
  /* The close runs on the loop; the loop ends when its last handle closes. */
  uv_thread_join(&th->tid);
  uv_loop_close(&th->loop);
  thread_free(th);
  return 0;
}
