/* Opening the spool, in gatelog_new: the instance id, the directory and
 * its lock, and the recovery of what a previous run left (every batch not
 * marked done goes at the head of the outbox, in seal order, held on disk
 * only until it is read back to be sent). The files are read here, on the
 * loop thread, before the core runs; from then on only the spool thread
 * touches them.
 *
 * The directory holds LOCK (flock'd for the process's life, with its pid),
 * instance (the default instance id) and the segments. Anything else is
 * left alone; a file named as a segment that is not one is renamed
 * *.bad, never adopted. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "outbox/spool.h"

#define SEG_MIN (16u << 10)
#define SEG_MAX (16u << 20)

/* ---- the instance id ------------------------------------------------- */

static int valid_instance(const char *s, size_t n) {
  if (n == 0 || n > GL_INSTANCE_ID_MAX) return 0;
  for (size_t i = 0; i < n; i++)
    if (!(s[i] >= 'a' && s[i] <= 'z') && !(s[i] >= 'A' && s[i] <= 'Z') &&
        !(s[i] >= '0' && s[i] <= '9') && s[i] != '.' && s[i] != '_' && s[i] != '-')
      return 0;
  return 1;
}

static int random_instance(gatelog_t *gl) {
  uint64_t v;
  int err = gl_ids_next(&gl->ids, &v);
  if (err) gl_set_error(gl, "instance_id: the kernel's random source failed: %s", uv_strerror(err));
  else gl_hex16(v, gl->instance_id);
  return err;
}

/* The spool's default instance id: read from its file, or made and
 * written there (through a rename, so that a crash leaves none or all). */
static int spool_instance(gatelog_t *gl, gl_spool *sp) {
  char text[GL_INSTANCE_ID_MAX + 2];
  int fd = openat(sp->dir_fd, "instance", O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    ssize_t n = read(fd, text, sizeof(text) - 1);
    close(fd);
    while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == ' ')) n--;
    if (n > 0 && valid_instance(text, (size_t)n)) {
      memcpy(gl->instance_id, text, (size_t)n);
      gl->instance_id[n] = '\0';
      return 0;
    }
    gl_log(gl, GATELOG_LOG_WARN, "spool: %s/instance does not hold an instance id; a new one is made",
           sp->dir);
  }
  int err = random_instance(gl);
  if (err) return err;
  fd = openat(sp->dir_fd, "instance.tmp", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  size_t done;
  snprintf(text, sizeof(text), "%s\n", gl->instance_id);
  if (fd < 0 || gl_write_all(fd, text, strlen(text), &done) != 0 || fsync(fd) != 0 ||
      renameat(sp->dir_fd, "instance.tmp", sp->dir_fd, "instance") != 0) {
    err = -errno;
    gl_set_error(gl, "spool_dir %s: cannot write its instance file: %s", sp->dir, uv_strerror(err));
  }
  if (fd >= 0) close(fd);
  if (err == 0) fsync(sp->dir_fd);
  return err;
}

/* ---- the directory and its lock --------------------------------------- */

/* mkdir -p, mode 0700. */
static int make_dirs(const char *path) {
  char buf[4096];
  size_t n = strlen(path);
  if (n >= sizeof(buf)) return UV_ENAMETOOLONG;
  memcpy(buf, path, n + 1);
  for (char *p = buf + 1;; p++) {
    if (*p != '/' && *p != '\0') continue;
    char c = *p;
    *p = '\0';
    if (mkdir(buf, 0700) != 0 && errno != EEXIST) return -errno;
    *p = c;
    if (c == '\0') return 0;
  }
}

static int lock_dir(gatelog_t *gl, gl_spool *sp) {
  sp->lock_fd = openat(sp->dir_fd, "LOCK", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (sp->lock_fd < 0) {
    int err = -errno;
    gl_set_error(gl, "spool_dir %s: cannot create its LOCK file: %s", sp->dir, uv_strerror(err));
    return err;
  }
  if (flock(sp->lock_fd, LOCK_EX | LOCK_NB) != 0) {
    int err = errno == EWOULDBLOCK ? UV_EBUSY : -errno;
    char pid[24] = "";
    ssize_t n = pread(sp->lock_fd, pid, sizeof(pid) - 1, 0);
    while (n > 0 && (pid[n - 1] == '\n' || pid[n - 1] == '\0')) n--;
    pid[n > 0 ? n : 0] = '\0';
    if (err == UV_EBUSY)
      gl_set_error(gl, "spool_dir %s is in use by another gatelog core (pid %s holds its LOCK); "
                   "two cores cannot share a spool", sp->dir, pid[0] ? pid : "unknown");
    else
      gl_set_error(gl, "spool_dir %s: cannot lock it: %s", sp->dir, uv_strerror(err));
    return err;
  }
  char pid[24];
  int len = snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
  if (ftruncate(sp->lock_fd, 0) == 0 && pwrite(sp->lock_fd, pid, (size_t)len, 0) != len) {
    /* The pid is for the message above only. */
  }
  return 0;
}

/* ---- recovery ------------------------------------------------------------ */

typedef struct found { /* a batch entry */
  gl_entry e;
  uint64_t seg, off;
  size_t segi;
} found;

typedef struct scan {
  gatelog_t *gl;
  gl_spool *sp;
  const char *name; /* the segment being scanned */
  size_t segi;
  found *batches;
  size_t nbatches, cap_batches;
  gl_entry *marks;  /* done and attempt marks */
  size_t nmarks, cap_marks;
  uint64_t max_seq;
  int nomem;
} scan;

static void on_entry(void *data, const gl_entry *e, uint64_t off) {
  scan *s = data;
  if (e->seq > s->max_seq) s->max_seq = e->seq;
  if (e->type == GL_ENTRY_BATCH) {
    if (gl_grow((void **)&s->batches, &s->cap_batches, s->nbatches, sizeof(found))) {
      s->nomem = 1;
      return;
    }
    s->batches[s->nbatches++] = (found){*e, s->sp->segs[s->segi].number, off, s->segi};
    s->sp->segs[s->segi].batches++;
    return;
  }
  if (gl_grow((void **)&s->marks, &s->cap_marks, s->nmarks, sizeof(gl_entry))) {
    s->nomem = 1;
    return;
  }
  s->marks[s->nmarks++] = *e;
}

static void on_damage(void *data, uint64_t off, uint64_t next, const char *why) {
  scan *s = data;
  s->gl->stats.spool_corrupt++;
  gl_log(s->gl, GATELOG_LOG_ERROR, "spool: %s/%s at offset %llu: %s; skipped to offset %llu",
         s->sp->dir, s->name, (unsigned long long)off, why, (unsigned long long)next);
}

static const char *intern(gl_spool *sp, gatelog_t *gl, const char *instance) {
  if (strcmp(instance, gl->instance_id) == 0) return gl->instance_id;
  for (size_t i = 0; i < sp->ninstances; i++)
    if (strcmp(sp->instances[i], instance) == 0) return sp->instances[i];
  char **p = realloc(sp->instances, (sp->ninstances + 1) * sizeof(*p));
  char *copy = strdup(instance);
  if (p) sp->instances = p;
  if (p == NULL || copy == NULL) {
    free(copy);
    return gl->instance_id;
  }
  return sp->instances[sp->ninstances++] = copy;
}

/* A file named as a segment that is not one: set aside, counted. */
static void set_aside(scan *s, const char *why) {
  char bad[48];
  snprintf(bad, sizeof(bad), "%s.bad", s->name);
  renameat(s->sp->dir_fd, s->name, s->sp->dir_fd, bad);
  s->gl->stats.spool_corrupt++;
  gl_log(s->gl, GATELOG_LOG_ERROR, "spool: %s/%s %s; renamed %s", s->sp->dir, s->name, why, bad);
}

static int scan_segment(scan *s, uint64_t number, const char *name) {
  gl_spool *sp = s->sp;
  s->name = name;
  int fd = openat(sp->dir_fd, name, O_RDONLY | O_CLOEXEC);
  struct stat st;
  if (fd < 0 || fstat(fd, &st) != 0) {
    int err = -errno;
    if (fd >= 0) close(fd);
    gl_set_error(s->gl, "spool_dir %s: cannot read %s: %s", sp->dir, name, uv_strerror(err));
    return err;
  }
  unsigned char head[GL_SEG_HEAD];
  char instance[GL_INSTANCE_MAX + 1];
  uint64_t in_head;
  if (st.st_size == 0) { /* made, its head not written yet: a crash */
    close(fd);
    unlinkat(sp->dir_fd, name, 0);
    return 0;
  }
  if (pread(fd, head, sizeof(head), 0) != (ssize_t)sizeof(head) ||
      gl_seg_head_decode(head, &in_head, instance) != 0 || in_head != number) {
    close(fd);
    set_aside(s, "is not a spool segment (bad head)");
    return 0;
  }
  if (gl_grow((void **)&sp->segs, &sp->cap_segs, sp->nsegs, sizeof(gl_seg))) {
    close(fd);
    return UV_ENOMEM;
  }
  s->segi = sp->nsegs;
  sp->segs[sp->nsegs++] = (gl_seg){number, (uint64_t)st.st_size, 0, 0, fd,
                                   intern(sp, s->gl, instance)};
  sp->bytes += (uint64_t)st.st_size;
  gl_scan_cb cb = {s, on_entry, on_damage};
  int err = gl_seg_scan(fd, (uint64_t)st.st_size, &cb);
  if (err) gl_set_error(s->gl, "spool_dir %s: cannot read %s: %s", sp->dir, name, uv_strerror(err));
  return err ? err : s->nomem ? UV_ENOMEM : 0;
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static int cmp_mark(const void *a, const void *b) { /* by id, then attempt */
  const gl_entry *x = a, *y = b;
  if (x->id != y->id) return x->id < y->id ? -1 : 1;
  return x->attempt < y->attempt ? -1 : x->attempt > y->attempt;
}

static int cmp_seq(const void *a, const void *b) {
  const found *x = a, *y = b;
  return x->e.seq < y->e.seq ? -1 : x->e.seq > y->e.seq;
}

/* The segment numbers in the directory, ascending. */
static int list_segments(gl_spool *sp, uint64_t **out, size_t *n) {
  int fd = dup(sp->dir_fd);
  DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
  if (d == NULL) {
    int err = -errno;
    if (fd >= 0) close(fd);
    return err;
  }
  size_t cap = 0;
  *out = NULL;
  *n = 0;
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    uint64_t v;
    size_t len = strlen(de->d_name);
    if (len != 24 || strncmp(de->d_name, "seg-", 4) != 0 || strcmp(de->d_name + 20, ".gls") != 0 ||
        gl_parse_hex16(de->d_name + 4, 16, &v) != 0)
      continue;
    if (gl_grow((void **)out, &cap, *n, sizeof(uint64_t))) {
      closedir(d);
      return UV_ENOMEM;
    }
    (*out)[(*n)++] = v;
  }
  closedir(d);
  if (*n) qsort(*out, *n, sizeof(uint64_t), cmp_u64); /* (qsort wants no NULL) */
  return 0;
}

/* The batches not done, in seal order, as stubs on `stubs`. */
static int make_stubs(scan *s, gl_link *stubs) {
  gl_spool *sp = s->sp;
  if (s->nmarks) qsort(s->marks, s->nmarks, sizeof(gl_entry), cmp_mark);
  if (s->nbatches) qsort(s->batches, s->nbatches, sizeof(found), cmp_seq);
  for (size_t i = 0; i < s->nbatches; i++) {
    found *f = &s->batches[i];
    /* Its marks, by id: done, or the last attempt started. */
    gl_entry key = {0};
    key.id = f->e.id;
    size_t lo = 0, hi = s->nmarks;
    while (lo < hi) {
      size_t mid = (lo + hi) / 2;
      if (cmp_mark(&s->marks[mid], &key) < 0) lo = mid + 1;
      else hi = mid;
    }
    int done = 0;
    gl_entry e = f->e;
    e.time_ms = 0;
    for (; lo < s->nmarks && s->marks[lo].id == f->e.id; lo++) {
      if (s->marks[lo].type == GL_ENTRY_ACK) done = 1;
      else if (s->marks[lo].attempt >= e.attempt) {
        e.attempt = s->marks[lo].attempt;
        e.time_ms = s->marks[lo].time_ms;
      }
    }
    if (done) {
      sp->segs[f->segi].done++;
      continue;
    }
    gl_batch *b = gl_spool_stub(s->gl, &e, f->seg, f->off);
    if (b == NULL) return UV_ENOMEM;
    b->instance = sp->segs[f->segi].instance;
    gl_list_push(stubs, &b->node);
  }
  return 0;
}

static int recover(gatelog_t *gl, gl_spool *sp, gl_link *stubs) {
  uint64_t *numbers = NULL;
  size_t n = 0;
  int err = list_segments(sp, &numbers, &n);
  if (err) {
    gl_set_error(gl, "spool_dir %s: cannot list it: %s", sp->dir, uv_strerror(err));
    return err;
  }
  scan s = {gl, sp, NULL, 0, NULL, 0, 0, NULL, 0, 0, 0, 0};
  for (size_t i = 0; i < n && err == 0; i++) {
    char name[32];
    snprintf(name, sizeof(name), "seg-%016llx.gls", (unsigned long long)numbers[i]);
    err = scan_segment(&s, numbers[i], name);
  }
  sp->next_number = n ? numbers[n - 1] + 1 : 1;
  free(numbers);
  if (err == 0) err = make_stubs(&s, stubs);
  if (err == UV_ENOMEM) gl_set_error(gl, "spool_dir %s: out of memory reading it", sp->dir);
  if (s.nbatches || s.nmarks) gl->next_seq = s.max_seq + 1;
  for (size_t i = 0; i < sp->nsegs; i++) sp->batches += sp->segs[i].batches - sp->segs[i].done;
  free(s.batches);
  free(s.marks);
  return err;
}

/* ---- open ------------------------------------------------------------------ */

static void free_stubs(gl_link *stubs) {
  while (!gl_list_empty(stubs)) {
    gl_batch *b = GL_CONTAINER(stubs->next, gl_batch, node);
    gl_list_remove(&b->node);
    gl_batch_free(b);
  }
}

static void on_failed_close(uv_handle_t *h) { gl_spool_free(h->data); }

int gl_spool_open(gatelog_t *gl) {
  const char *id = gl->opts.instance_id, *dir = gl->opts.spool_dir;
  if (id && !valid_instance(id, strlen(id))) {
    gl_set_error(gl, "options: instance_id must be 1 to %d of A-Z a-z 0-9 . _ -", GL_INSTANCE_ID_MAX);
    return GATELOG_ECONFIG;
  }
  if (id) strcpy(gl->instance_id, id);
  if (dir == NULL) return id ? 0 : random_instance(gl);
  if (dir[0] == '\0') {
    gl_set_error(gl, "options: spool_dir is empty (NULL turns the spool off)");
    return GATELOG_ECONFIG;
  }
  gl_spool *sp = calloc(1, sizeof(*sp));
  if (sp == NULL || (sp->dir = strdup(dir)) == NULL) {
    free(sp);
    gl_set_error(gl, "gatelog_new: out of memory");
    return UV_ENOMEM;
  }
  sp->gl = gl;
  sp->lock_fd = sp->dir_fd = -1;
  sp->max_bytes = gl->opts.spool_max_bytes;
  sp->fsync_ms = gl->opts.spool_fsync_ms;
  /* At least 8 segments fit under the cap: room is made a segment at a
   * time, and a segment is deleted only when all of it is done. */
  sp->seg_max = sp->max_bytes / 8;
  if (sp->seg_max < SEG_MIN) sp->seg_max = SEG_MIN;
  if (sp->seg_max > SEG_MAX) sp->seg_max = SEG_MAX;
  gl_list_init(&sp->writes);
  gl_list_init(&sp->loads);
  gl_list_init(&sp->done);
  gl_link stubs;
  gl_list_init(&stubs);

  int err = make_dirs(dir);
  if (err) gl_set_error(gl, "spool_dir %s: cannot create it: %s", dir, uv_strerror(err));
  if (err == 0 && (sp->dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
    err = -errno;
    gl_set_error(gl, "spool_dir %s: cannot open it: %s", dir, uv_strerror(err));
  }
  if (err == 0) err = lock_dir(gl, sp);
  if (err == 0 && id == NULL) err = spool_instance(gl, sp);
  if (err == 0) err = recover(gl, sp, &stubs);
  if (err == 0 && (err = uv_mutex_init(&sp->lock)) == 0 && (err = uv_cond_init(&sp->wake)) != 0)
    uv_mutex_destroy(&sp->lock);
  if (err == 0) sp->sync_init = 1;
  if (err == 0 && (err = uv_async_init(gl->loop, &sp->async, gl_spool_on_async)) != 0)
    gl_set_error(gl, "spool_dir %s: %s", dir, uv_strerror(err));
  if (err) {
    free_stubs(&stubs);
    gl_spool_free(sp);
    return err;
  }
  sp->async.data = gl;
  uv_unref((uv_handle_t *)&sp->async); /* pending_work keeps the loop, not this */
  gl->spool = sp;
  if ((err = uv_thread_create(&sp->thread, gl_spool_run, sp)) != 0) {
    gl->spool = NULL;
    free_stubs(&stubs);
    gl_set_error(gl, "spool_dir %s: cannot start the spool thread: %s", dir, uv_strerror(err));
    sp->async.data = sp;
    uv_close((uv_handle_t *)&sp->async, on_failed_close);
    return err;
  }
  uint64_t batches = 0, records = 0;
  while (!gl_list_empty(&stubs)) {
    gl_batch *b = GL_CONTAINER(stubs.next, gl_batch, node);
    gl_list_remove(&b->node);
    gl_list_push(&gl->outbox, &b->node);
    batches++;
    records += b->count;
  }
  gl->stats.batches_recovered = gl->stats.batches_queued = batches;
  gl->stats.records_recovered = gl->stats.records_queued = records;
  sp->disk_records = records;
  if (batches)
    gl_log(gl, GATELOG_LOG_INFO,
           "spool %s: %llu batches (%llu records) not delivered by a previous run; sent first",
           dir, (unsigned long long)batches, (unsigned long long)records);
  return 0;
}
