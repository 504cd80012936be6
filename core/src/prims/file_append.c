/* core.file_append: appends on the libuv thread pool (in the script's
 * share of it, pool.h), one at a time per path so that batches land in
 * the order they were written. An append that fails (a full disk)
 * truncates the file back to where it started, so that a retry does not
 * leave half a batch behind it. Each path's queue is a script I/O object
 * (io.h), found on the registry by its path while it has appends.
 *
 * What a script may write: a regular file (opened without blocking, so a
 * FIFO is refused rather than waited for), not a symbolic link, in one
 * of the directories the operator allows (file_dirs) or below one, after
 * symbolic links and ".." in its directory are resolved. Rotation renames
 * only within that directory. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "prims/io.h"
#include "prims/pool.h"
#include "runtime/runtime.h"
#include "util/file.h"

typedef struct append_req {
  struct append_req *next;
  gl_io_refs refs;      /* the callback and the policy */
  int result;
  const char *why;      /* says more than result's name, or NULL */
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
  gl_pool_job job;
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

static int under(const char *real, const char *dir) {
  size_t n = strlen(dir);
  return strncmp(real, dir, n) == 0 && (real[n] == '\0' || real[n] == '/' || dir[n - 1] == '/');
}

/* The file path names, in a directory that dirs (':'-separated) allows:
 * its directory resolved, then its name, into out. 0, or a UV error with
 * *why set when it is the confinement that refuses. */
static int confine(const char *path, const char *dirs, char *out, const char **why) {
  const char *slash = strrchr(path, '/');
  const char *name = slash ? slash + 1 : path;
  if (*name == '\0' || strcmp(name, ".") == 0 || strcmp(name, "..") == 0) return UV_EISDIR;
  char dir[PATH_MAX], real[PATH_MAX], allowed[PATH_MAX], entry[PATH_MAX];
  size_t dl = slash == NULL ? 0 : slash == path ? 1 : (size_t)(slash - path);
  if (dl >= sizeof(dir)) return UV_ENAMETOOLONG;
  memcpy(dir, dl ? path : ".", dl ? dl : 1);
  dir[dl ? dl : 1] = '\0';
  if (realpath(dir, real) == NULL) return uv_translate_sys_error(errno);
  int ok = 0;
  for (const char *d = dirs; !ok && *d;) {
    size_t n = strcspn(d, ":");
    if (n > 0 && n < sizeof(entry)) {
      memcpy(entry, d, n);
      entry[n] = '\0';
      ok = realpath(entry, allowed) != NULL && under(real, allowed);
    }
    d += n + (d[n] == ':');
  }
  if (!ok) {
    *why = "outside the directories file_dirs allows";
    return UV_EACCES;
  }
  if ((size_t)snprintf(out, PATH_MAX, "%s/%s", strcmp(real, "/") ? real : "", name) >= PATH_MAX)
    return UV_ENAMETOOLONG;
  return 0;
}

static void append_work(uv_work_t *work) {
  file_queue *q = work->data;
  append_req *r = q->head;
  if (strcmp(q->path, "-") == 0) {
    r->result = write_all(STDOUT_FILENO, r->data, r->len);
    return;
  }
  char target[PATH_MAX];
  if ((r->result = confine(q->path, q->io.gl->file_dirs, target, &r->why)) != 0) return;
  struct stat before;
  if (r->max_bytes && r->keep && lstat(target, &before) == 0 && S_ISREG(before.st_mode) &&
      before.st_size > 0 && (uint64_t)before.st_size + r->len > r->max_bytes)
    rotate(target, r->keep);
  /* O_NOFOLLOW: a link out of the allowed directories is refused (ELOOP). */
  int fd = gl_file_open_regular(target, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW, 0644);
  if (fd < 0) {
    r->result = fd;
    return;
  }
  struct stat st;
  int sized = fstat(fd, &st) == 0;
  r->result = write_all(fd, r->data, r->len);
  if (r->result != 0 && sized && ftruncate(fd, st.st_size) != 0) {
    /* Nothing more to do: the error already reported stands. */
  }
  close(fd);
}

static void start_next(file_queue *q);

/* Release and free the appends from r on. */
static void free_reqs(gatelog_t *gl, append_req *r) {
  while (r) {
    append_req *next = r->next;
    gl_io_refs_release(&r->refs);
    gl_io_unhold(gl, r->len);
    free(r);
    r = next;
  }
}

static void append_done(uv_work_t *work, int status) {
  file_queue *q = work->data;
  gatelog_t *gl = q->io.gl;
  append_req *r = q->head;
  uint64_t t0 = gl_cb_begin();
  gl_pool_done(gl, &q->job);
  gl_work_end(gl);
  q->head = r->next;
  if (q->head == NULL) q->tail = NULL;
  q->busy = 0;
  r->next = NULL;
  int result = status ? status : r->result;
  char why[PATH_MAX + 128];
  if (result) snprintf(why, sizeof(why), "%s: %s: %s", uv_err_name(result), q->path,
                       status == 0 && r->why ? r->why : uv_strerror(result));
  gl_io_refs_answer(&r->refs, result ? why : NULL);
  free_reqs(gl, r);
  start_next(q);
  gl_schedule_pump(gl); /* a close may be waiting for this work */
  gl_cb_end(gl, t0);
}

static int append_start(gl_pool_job *job) {
  file_queue *q = GL_CONTAINER(job, file_queue, job);
  q->work.data = q;
  return uv_queue_work(q->io.gl->loop, &q->work, append_work, append_done);
}

static void append_failed(gl_pool_job *job, int err) {
  file_queue *q = GL_CONTAINER(job, file_queue, job);
  append_done(&q->work, err);
}

static void start_next(file_queue *q) {
  gatelog_t *gl = q->io.gl;
  if (q->busy) return;
  if (q->head == NULL) {
    gl_io_untrack(&q->io); /* untracked already if it was abandoned */
    free(q);
    return;
  }
  q->busy = 1;
  q->work.data = q;
  q->job.start = append_start;
  q->job.failed = append_failed;
  gl_work_begin(gl);
  int err = gl_pool_submit(gl, &q->job);
  /* The pool refused (it does not, short of a closed loop): fail the head. */
  if (err) append_done(&q->work, err);
}

/* At close: appends not yet started are dropped, and no callback runs;
 * the one running finishes (the pool cannot stop it), and the queue is
 * freed when it does. */
static void abandon(gl_io *io) {
  file_queue *q = GL_CONTAINER(io, file_queue, io);
  append_req *rest = q->head;
  /* Still waiting for its share of the pool: it never runs. */
  if (q->busy && gl_pool_cancel(io->gl, &q->job)) {
    q->busy = 0;
    gl_work_end(io->gl);
  }
  if (q->busy) {
    gl_io_refs_release(&q->head->refs);
    rest = q->head->next;
    q->head->next = NULL;
    q->tail = q->head;
  } else {
    q->head = q->tail = NULL;
  }
  free_reqs(io->gl, rest);
  if (!q->busy) free(q);
}

static int same_path(const gl_io *io, const void *path) {
  return strcmp(GL_CONTAINER(io, file_queue, io)->path, path) == 0;
}

int gl_file_append(gatelog_t *gl, gl_runtime *p, const char *path, const char *data,
                   size_t len, int cb_ref, uint64_t max_bytes, unsigned keep) {
  gl_io *found = gl_io_find(gl, abandon, same_path, path);
  file_queue *q = found ? GL_CONTAINER(found, file_queue, io) : NULL;
  if (gl_io_hold(gl, len) != 0) return UV_ENOBUFS;
  append_req *r = malloc(sizeof(*r) + len);
  if (r == NULL) {
    gl_io_unhold(gl, len);
    return UV_ENOMEM;
  }
  if (q == NULL) {
    size_t pl = strlen(path);
    q = calloc(1, sizeof(*q) + pl + 1);
    if (q == NULL) {
      gl_io_unhold(gl, len);
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
  r->why = NULL;
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

char *gl_file_dirs(const char *option, const char *script) {
  if (option) return strdup(option);
  gl_buf b = {0};
  const char *slash = strrchr(script, '/');
  if (slash == NULL) gl_buf_printf(&b, ".");
  else gl_buf_printf(&b, "%.*s", slash == script ? 1 : (int)(slash - script), script);
  /* The output file the operator names for scripts/default.lua. */
  const char *out = getenv("GATELOG_OUTPUT");
  slash = out ? strrchr(out, '/') : NULL;
  if (out && *out && strcmp(out, "-") != 0)
    gl_buf_printf(&b, ":%.*s", slash == NULL ? 1 : slash == out ? 1 : (int)(slash - out),
                  slash == NULL ? "." : out);
  return b.data;
}
