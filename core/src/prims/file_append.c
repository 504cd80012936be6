/* core.file_append: appends on the libuv thread pool, one at a time per
 * path so that batches land in the order they were written. An append
 * that fails (a full disk) truncates the file back to where it started,
 * so that a retry does not leave half a batch behind it. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "policy/policy.h"

typedef struct append_req {
  struct append_req *next;
  gl_policy *policy;
  int cb_ref;
  int result;
  uint64_t max_bytes;   /* rotate before an append that passes it; 0: never */
  unsigned keep;        /* rotated files kept: path.1 .. path.keep */
  size_t len;
  char data[];
} append_req;

typedef struct file_queue {
  gl_link node; /* in gatelog_t.file_queues */
  gatelog_t *gl;
  append_req *head, *tail;
  int busy;
  uv_work_t work;
  char path[];
} file_queue;

static int write_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return -errno;
    }
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

/* path.(keep-1) -> path.keep, ..., path -> path.1: the oldest goes. A
 * missing one is skipped; other failures stop it (the append then goes
 * to the file as it is, which is better than losing the batch). */
static void rotate(const char *path, unsigned keep) {
  size_t len = strlen(path) + 16;
  char *from = malloc(len), *to = malloc(len);
  if (from && to) {
    for (unsigned i = keep; i >= 1; i--) {
      if (i > 1) snprintf(from, len, "%s.%u", path, i - 1);
      else snprintf(from, len, "%s", path);
      snprintf(to, len, "%s.%u", path, i);
      if (rename(from, to) != 0 && errno != ENOENT) break;
    }
  }
  free(from);
  free(to);
}

static void append_work(uv_work_t *work) {
  file_queue *q = work->data;
  append_req *r = q->head;
  int to_stdout = strcmp(q->path, "-") == 0;
  struct stat before;
  if (!to_stdout && r->max_bytes && r->keep && stat(q->path, &before) == 0 && before.st_size > 0 &&
      (uint64_t)before.st_size + r->len > r->max_bytes)
    rotate(q->path, r->keep);
  int fd = to_stdout ? STDOUT_FILENO
                     : open(q->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    r->result = -errno;
    return;
  }
  struct stat st;
  int regular = !to_stdout && fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
  r->result = write_all(fd, r->data, r->len);
  if (r->result != 0 && regular && ftruncate(fd, st.st_size) != 0) {
    /* Nothing more to do: the error already reported stands. */
  }
  if (!to_stdout) close(fd);
}

static void start_next(file_queue *q);

static void append_done(uv_work_t *work, int status) {
  file_queue *q = work->data;
  gatelog_t *gl = q->gl;
  append_req *r = q->head;
  uint64_t t0 = gl_cb_begin();
  gl_work_end(gl);
  q->head = r->next;
  if (q->head == NULL) q->tail = NULL;
  q->busy = 0;
  int result = status ? status : r->result;
  if (!gl_closing(gl)) {
    char why[256];
    if (result) snprintf(why, sizeof(why), "%s: %s: %s", uv_err_name(result), q->path,
                         uv_strerror(result));
    gl_policy_callback(r->policy, r->cb_ref, result == 0, result ? why : NULL);
  }
  gl_policy_unref(r->policy);
  free(r);
  start_next(q);
  gl_schedule_pump(gl); /* a close may be waiting for this work */
  gl_cb_end(gl, t0);
}

static void start_next(file_queue *q) {
  gatelog_t *gl = q->gl;
  if (q->busy) return;
  if (q->head == NULL) {
    gl_list_remove(&q->node);
    free(q);
    return;
  }
  q->work.data = q;
  if (uv_queue_work(gl->loop, &q->work, append_work, append_done) == 0) {
    q->busy = 1;
    gl_work_begin(gl);
    return;
  }
  /* The pool refused (it does not, short of a closed loop): fail the head. */
  q->head->result = UV_EIO;
  gl_work_begin(gl);
  append_done(&q->work, UV_EIO);
}

int gl_file_append(gatelog_t *gl, gl_policy *p, const char *path, const char *data,
                   size_t len, int cb_ref, uint64_t max_bytes, unsigned keep) {
  file_queue *q = NULL;
  for (gl_link *l = gl->file_queues.next; l != &gl->file_queues; l = l->next) {
    file_queue *c = GL_CONTAINER(l, file_queue, node);
    if (strcmp(c->path, path) == 0) {
      q = c;
      break;
    }
  }
  append_req *r = malloc(sizeof(*r) + len);
  if (r == NULL) return UV_ENOMEM;
  if (q == NULL) {
    size_t pl = strlen(path);
    q = calloc(1, sizeof(*q) + pl + 1);
    if (q == NULL) {
      free(r);
      return UV_ENOMEM;
    }
    memcpy(q->path, path, pl + 1);
    q->gl = gl;
    gl_list_push(&gl->file_queues, &q->node);
  }
  r->next = NULL;
  r->policy = p;
  gl_policy_ref(p);
  r->cb_ref = cb_ref;
  r->result = 0;
  r->max_bytes = max_bytes;
  r->keep = keep;
  r->len = len;
  memcpy(r->data, data, len);
  if (q->tail) q->tail->next = r;
  else q->head = r;
  q->tail = r;
  start_next(q);
  return 0;
}

/* At close: appends not yet started are abandoned (their callbacks will
 * never run); the one running finishes and is then freed. */
void gl_file_queues_abandon(gatelog_t *gl) {
  for (gl_link *l = gl->file_queues.next; l != &gl->file_queues;) {
    file_queue *q = GL_CONTAINER(l, file_queue, node);
    l = l->next;
    append_req *r = q->busy ? q->head->next : q->head;
    if (q->busy) q->head->next = NULL, q->tail = q->head;
    while (r) {
      append_req *next = r->next;
      gl_policy_unref(r->policy);
      free(r);
      r = next;
    }
    if (!q->busy) {
      gl_list_remove(&q->node);
      free(q);
    }
  }
}
