/* The core on its own thread and the list of events that feeds it (see
 * gatelog_bridge.h for why this is one file). A session's start and end
 * events live inside its handle, so a session costs one allocation; an
 * attribute is an allocation of its own. */
#include "gatelog_bridge.h"

#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

enum { EV_START, EV_ATTR, EV_END };

typedef struct event {
  struct event *next;
  int kind;
  glb_session_t *s;
} event;

struct glb_session {
  event start, end;
  gatelog_sid_t sid; /* written and read on the core's thread only */
  int proto;
  int64_t resource;
  struct sockaddr_storage src, dst;
  uint64_t tx, rx;
  const char *reason;
};

typedef struct attr_event {
  event ev;
  char *value; /* points into key's allocation, after the key's NUL */
  char key[];
} attr_event;

struct glb {
  uv_loop_t loop;
  uv_async_t wake;
  uv_thread_t thread;
  uv_sem_t made;
  gatelog_t *gl;
  const gatelog_options_t *opts; /* during glb_start only */
  gatelog_log_fn log;            /* the options' log callback */
  void *log_data;
  int new_err;
  char *new_why;
  size_t new_why_len;
  /* Shared with the feeding thread, under lock. */
  uv_mutex_t lock;
  event *head, *tail;
  int stopping;
  uint32_t drain_ms;
  /* The core's thread only. */
  int closing;
  uint64_t lost;
};

static void say(glb_t *b, const char *what, int err) {
  char line[256];
  snprintf(line, sizeof(line), "%s: %s", what, gatelog_strerror(err));
  if (b->log) b->log(b->log_data, GATELOG_LOG_WARN, line);
  else fprintf(stderr, "gatelog: %s\n", line);
}

static void run_start(glb_t *b, glb_session_t *s) {
  int err = s->proto == IPPROTO_UDP
                ? gatelog_udp_track(b->gl, s->resource, (struct sockaddr *)&s->src,
                                    (struct sockaddr *)&s->dst, &s->sid)
                : gatelog_tcp_start(b->gl, s->resource, (struct sockaddr *)&s->src,
                                    (struct sockaddr *)&s->dst, &s->sid);
  if (err) {
    s->sid = 0;
    say(b, "session not logged", err);
  }
}

static void run_end(glb_t *b, glb_session_t *s) {
  if (s->sid != 0) {
    gatelog_add_bytes(b->gl, s->sid, s->tx, s->rx);
    int err = s->proto == IPPROTO_UDP ? gatelog_udp_end_reason(b->gl, s->sid, s->reason)
                                      : gatelog_tcp_end_reason(b->gl, s->sid, s->reason);
    /* ENOSESSION: gatelog ended it first (a timeout, eviction); its record is out. */
    if (err && err != GATELOG_ENOSESSION)
      say(b, "session end", err);
  }
  free(s);
}

static void run(glb_t *b, event *e) {
  switch (e->kind) {
  case EV_START: run_start(b, e->s); break;
  case EV_END: run_end(b, e->s); break;
  case EV_ATTR: {
    attr_event *a = (attr_event *)e;
    if (e->s->sid != 0) gatelog_set_attr(b->gl, e->s->sid, a->key, a->value);
    free(a);
    break;
  }
  }
}

static void on_closed(gatelog_t *gl, void *data) {
  glb_t *b = data;
  gatelog_stats_t st;
  if (gatelog_stats(gl, &st) == 0) b->lost = st.lost_on_close;
  uv_close((uv_handle_t *)&b->wake, NULL);
}

static void on_wake(uv_async_t *h) {
  glb_t *b = h->data;
  uv_mutex_lock(&b->lock);
  event *e = b->head;
  b->head = b->tail = NULL;
  int stop = b->stopping;
  uv_mutex_unlock(&b->lock);
  while (e) {
    event *next = e->next;
    run(b, e);
    e = next;
  }
  if (stop && !b->closing) {
    b->closing = 1;
    if (gatelog_close(b->gl, b->drain_ms, on_closed, b) != 0)
      uv_close((uv_handle_t *)&b->wake, NULL);
  }
}

static void core_thread(void *arg) {
  glb_t *b = arg;
  int err = gatelog_new(&b->loop, b->opts, &b->gl);
  b->new_err = err;
  if (err) snprintf(b->new_why, b->new_why_len, "%s", gatelog_last_error(NULL));
  uv_sem_post(&b->made);
  if (err) {
    uv_close((uv_handle_t *)&b->wake, NULL);
    uv_run(&b->loop, UV_RUN_DEFAULT);
    return;
  }
  uv_run(&b->loop, UV_RUN_DEFAULT);
}

static void destroy(glb_t *b) {
  uv_loop_close(&b->loop);
  uv_mutex_destroy(&b->lock);
  uv_sem_destroy(&b->made);
  free(b);
}

int glb_start(const gatelog_options_t *opts, glb_t **out, char *err, size_t errlen) {
  *out = NULL;
  glb_t *b = calloc(1, sizeof(*b));
  if (b == NULL) return UV_ENOMEM;
  int rc = uv_loop_init(&b->loop);
  if (rc) {
    free(b);
    snprintf(err, errlen, "uv_loop_init: %s", uv_strerror(rc));
    return rc;
  }
  uv_mutex_init(&b->lock);
  uv_sem_init(&b->made, 0);
  uv_async_init(&b->loop, &b->wake, on_wake);
  b->wake.data = b;
  b->opts = opts;
  b->log = opts->log;
  b->log_data = opts->log_data;
  b->new_why = err;
  b->new_why_len = errlen;
  rc = uv_thread_create(&b->thread, core_thread, b);
  if (rc) {
    snprintf(err, errlen, "thread: %s", uv_strerror(rc));
    uv_close((uv_handle_t *)&b->wake, NULL);
    uv_run(&b->loop, UV_RUN_DEFAULT);
    destroy(b);
    return rc;
  }
  uv_sem_wait(&b->made);
  if (b->new_err) {
    rc = b->new_err;
    uv_thread_join(&b->thread);
    destroy(b);
    return rc;
  }
  b->opts = NULL; /* the caller's: not used past this return */
  *out = b;
  return 0;
}

uint64_t glb_stop(glb_t *b, uint32_t drain_ms) {
  uv_mutex_lock(&b->lock);
  b->stopping = 1;
  b->drain_ms = drain_ms;
  uv_mutex_unlock(&b->lock);
  uv_async_send(&b->wake);
  uv_thread_join(&b->thread);
  uint64_t lost = b->lost;
  destroy(b);
  return lost;
}

static void push(glb_t *b, event *e) {
  e->next = NULL;
  uv_mutex_lock(&b->lock);
  if (b->tail) b->tail->next = e;
  else b->head = e;
  b->tail = e;
  uv_mutex_unlock(&b->lock);
  uv_async_send(&b->wake);
}

glb_session_t *glb_session_start(glb_t *b, int proto, int64_t resource_id,
                                 const struct sockaddr *src, const struct sockaddr *dst) {
  glb_session_t *s = calloc(1, sizeof(*s));
  if (s == NULL) return NULL;
  s->proto = proto;
  s->resource = resource_id;
  memcpy(&s->src, src, src->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                    : sizeof(struct sockaddr_in));
  memcpy(&s->dst, dst, dst->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                    : sizeof(struct sockaddr_in));
  s->start.kind = EV_START;
  s->start.s = s;
  push(b, &s->start);
  return s;
}

void glb_session_attr(glb_t *b, glb_session_t *s, const char *key, size_t klen,
                      const char *value, size_t vlen) {
  attr_event *a = malloc(sizeof(*a) + klen + vlen + 2);
  if (a == NULL) return;
  memcpy(a->key, key, klen);
  a->key[klen] = '\0';
  a->value = a->key + klen + 1;
  memcpy(a->value, value, vlen);
  a->value[vlen] = '\0';
  a->ev.kind = EV_ATTR;
  a->ev.s = s;
  push(b, &a->ev);
}

void glb_session_end(glb_t *b, glb_session_t *s, uint64_t tx, uint64_t rx,
                     const char *reason) {
  s->tx = tx;
  s->rx = rx;
  s->reason = reason;
  s->end.kind = EV_END;
  s->end.s = s;
  push(b, &s->end);
}

static void on_check_closed(gatelog_t *gl, void *data) {
  (void)gl;
  (void)data;
}

int glb_check(const gatelog_options_t *opts, char *err, size_t errlen) {
  uv_loop_t loop;
  int rc = uv_loop_init(&loop);
  if (rc) {
    snprintf(err, errlen, "uv_loop_init: %s", uv_strerror(rc));
    return rc;
  }
  gatelog_options_t o = *opts;
  o.spool_dir = NULL; /* the check must not take a worker's spool lock */
  o.compress_threads = 1;
  gatelog_t *gl;
  rc = gatelog_new(&loop, &o, &gl);
  if (rc) snprintf(err, errlen, "%s", gatelog_last_error(NULL));
  else gatelog_close(gl, 0, on_check_closed, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
  return rc;
}
