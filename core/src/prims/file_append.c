/* core.file_append: appends on the libuv thread pool, one at a time per
 * path so that batches land in the order they were written. An append
 * that fails (a full disk) truncates the file back to where it started,
 * so that a retry does not leave half a batch behind it. Each path's
 * queue is a script I/O object (io.h), found on the registry by its
 * path while it has appends. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "prims/io.h"
#include "runtime/runtime.h"

typedef struct append_req {
  struct append_req *next;
  gl_io_refs refs;      /* the callback and the policy */
  int result;
  uint64_t max_bytes;   /* rotate before an append that passes it; 0: never */
  unsigned keep;        /* rotated files kept: path.1 .. path.keep */
  size_t len;
  char data[];
} append_req;

typedef struct file_queue {
  gl_io io;             /* tracked while it has appends */
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

/* Release and free the appends from r on. */
static void free_reqs(append_req *r) {
  while (r) {
    append_req *next = r->next;
    gl_io_refs_release(&r->refs);
    free(r);
    r = next;
  }
}

static void append_done(uv_work_t *work, int status) {
  file_queue *q = work->data;
  gatelog_t *gl = q->io.gl;
  append_req *r = q->head;
  uint64_t t0 = gl_cb_begin();
  gl_work_end(gl);
  q->head = r->next;
  if (q->head == NULL) q->tail = NULL;
  q->busy = 0;
  r->next = NULL;
  int result = status ? status : r->result;
  char why[256];
  if (result) snprintf(why, sizeof(why), "%s: %s: %s", uv_err_name(result), q->path,
                       uv_strerror(result));
  gl_io_refs_answer(&r->refs, result ? why : NULL);
  free_reqs(r);
  start_next(q);
  gl_schedule_pump(gl); /* a close may be waiting for this work */
  gl_cb_end(gl, t0);
}

static void start_next(file_queue *q) {
  gatelog_t *gl = q->io.gl;
  if (q->busy) return;
  if (q->head == NULL) {
    gl_io_untrack(&q->io); /* untracked already if it was abandoned */
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

/* At close: appends not yet started are dropped, and no callback runs;
 * the one running finishes (the pool cannot stop it), and the queue is
 * freed when it does. */
static void abandon(gl_io *io) {
  file_queue *q = GL_CONTAINER(io, file_queue, io);
  append_req *rest = q->head;
  if (q->busy) {
    gl_io_refs_release(&q->head->refs);
    rest = q->head->next;
    q->head->next = NULL;
    q->tail = q->head;
  } else {
    q->head = q->tail = NULL;
  }
  free_reqs(rest);
  if (!q->busy) free(q);
}

static int same_path(const gl_io *io, const void *path) {
  return strcmp(GL_CONTAINER(io, file_queue, io)->path, path) == 0;
}

int gl_file_append(gatelog_t *gl, gl_runtime *p, const char *path, const char *data,
                   size_t len, int cb_ref, uint64_t max_bytes, unsigned keep) {
  gl_io *found = gl_io_find(gl, abandon, same_path, path);
  file_queue *q = found ? GL_CONTAINER(found, file_queue, io) : NULL;
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
    gl_io_track(gl, &q->io, abandon);
  }
  r->next = NULL;
  gl_io_refs_init(&r->refs, p, 1);
  r->refs.cb_ref = cb_ref; /* the caller's reference is ours now */
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
