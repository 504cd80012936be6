/* The spool thread: the only writer of the spool's files while the core
 * runs. It appends batches and done/attempt marks to the open segment,
 * starts a new segment when it is full, deletes segments oldest first once
 * every batch in them is done (or, for room, before), reads batches back,
 * and syncs on spool_fsync_ms. What it has to say to the loop (batches
 * written or read, segments dropped, log lines, counters) is published
 * under the lock and announced with the async handle. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "outbox/spool.h"
#include "util/base64.h"
#include "util/clock.h"

#define RETRY_WRITE_MS 1000 /* after a failed write, the next one waits this long */

/* What the thread keeps to itself until it publishes it. */
typedef struct work {
  gl_link out;          /* batches written or read */
  uint64_t bytes, batches, errors;
  uint64_t *lost;
  size_t nlost, cap_lost;
  gl_buf lines;
  gl_buf marks;         /* encoded marks, appended together */
  int failing;          /* the last write failed */
  uint64_t failed;      /* writes failed since the last success */
} work;

static uint64_t mono_ms(void) { return gl_clock_mono_ns() / 1000000; }

static void line(work *w, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void line(work *w, int level, const char *fmt, ...) {
  char text[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(text, sizeof(text), fmt, ap);
  va_end(ap);
  gl_buf_printf(&w->lines, "%d%s\n", level, text);
}

static void seg_name(uint64_t number, char name[32]) {
  snprintf(name, 32, "seg-%016llx.gls", (unsigned long long)number);
}

static gl_seg *find(gl_spool *sp, uint64_t number) {
  size_t lo = 0, hi = sp->nsegs;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (sp->segs[mid].number < number) lo = mid + 1;
    else hi = mid;
  }
  return lo < sp->nsegs && sp->segs[lo].number == number ? &sp->segs[lo] : NULL;
}

static void sync_dir(gl_spool *sp) {
  if (sp->fsync_ms) fsync(sp->dir_fd);
}

/* Delete the oldest segment (never the open one). */
static void remove_oldest(gl_spool *sp, work *w) {
  gl_seg *s = &sp->segs[0];
  char name[32];
  seg_name(s->number, name);
  if (unlinkat(sp->dir_fd, name, 0) != 0 && errno != ENOENT)
    line(w, GATELOG_LOG_ERROR, "spool: cannot delete %s/%s: %s", sp->dir, name, strerror(errno));
  if (s->fd >= 0) close(s->fd);
  w->bytes -= s->bytes;
  w->batches -= s->batches - s->done;
  sp->nsegs--;
  memmove(sp->segs, sp->segs + 1, sp->nsegs * sizeof(*sp->segs));
}

/* Delete the oldest segments while every batch in them is done. Oldest
 * first only: a segment may hold the done marks of batches in older ones,
 * which must not come back after a crash. */
static void collect(gl_spool *sp, work *w) {
  int any = 0;
  while (sp->nsegs > (size_t)sp->open && sp->segs[0].done >= sp->segs[0].batches) {
    remove_oldest(sp, w);
    any = 1;
  }
  if (any) sync_dir(sp);
}

static void sync_open(gl_spool *sp, work *w) {
  if (!sp->open || !sp->dirty) return;
  gl_seg *s = &sp->segs[sp->nsegs - 1];
  sp->dirty = 0;
  sp->synced_ms = mono_ms();
  if (fdatasync(s->fd) == 0) return;
  /* After a failed sync the kernel may have dropped the pages it could
   * not write and will not say so again: the file cannot be trusted to
   * hold them. Start a new one; what is in this one stays readable. */
  w->errors++;
  line(w, GATELOG_LOG_ERROR, "spool: fdatasync of %s/seg-%016llx.gls failed: %s; "
       "batches written since the last sync may not survive a power loss; a new segment starts",
       sp->dir, (unsigned long long)s->number, strerror(errno));
  sp->open = 0;
}

static void close_open(gl_spool *sp, work *w) {
  if (!sp->open) return;
  if (sp->fsync_ms) sync_open(sp, w);
  sp->open = 0;
}

static int open_segment(gl_spool *sp, work *w) {
  char name[32];
  unsigned char head[GL_SEG_HEAD];
  gl_seg s = {0, GL_SEG_HEAD, 0, 0, -1, NULL};
  for (;;) { /* a number in use (a segment back from a power loss): the next */
    s.number = sp->next_number++;
    seg_name(s.number, name);
    s.fd = openat(sp->dir_fd, name, O_RDWR | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0600);
    if (s.fd >= 0 || errno != EEXIST) break;
  }
  if (s.fd < 0) return -errno;
  if (gl_grow((void **)&sp->segs, &sp->cap_segs, sp->nsegs, sizeof(gl_seg)) != 0) {
    close(s.fd);
    unlinkat(sp->dir_fd, name, 0);
    return UV_ENOMEM;
  }
  gl_seg_head_encode(head, s.number, gl_clock_real_ns() / 1000000, sp->gl->instance_id);
  size_t done;
  int err = gl_write_all(s.fd, head, sizeof(head), &done);
  if (err) {
    close(s.fd);
    unlinkat(sp->dir_fd, name, 0);
    return err;
  }
  s.instance = sp->gl->instance_id;
  sp->segs[sp->nsegs++] = s;
  sp->open = 1;
  w->bytes += GL_SEG_HEAD;
  sync_dir(sp);
  return 0;
}

/* Append n bytes to the open segment (a new one if it is full); the
 * offset they went to in *off and their segment in *seg. */
static int append(gl_spool *sp, work *w, const void *p, size_t n, gl_seg **seg, uint64_t *off) {
  int err;
  if (sp->open && sp->segs[sp->nsegs - 1].bytes >= sp->seg_max) close_open(sp, w);
  if (!sp->open && (err = open_segment(sp, w)) != 0) return err;
  gl_seg *s = &sp->segs[sp->nsegs - 1];
  size_t done;
  err = gl_write_all(s->fd, p, n, &done);
  if (err) {
    /* Take back a part written; if even that fails, the torn entry stays
     * at the end of a segment that is written no more: its checksum
     * tells a later scan to skip it. */
    if (done && ftruncate(s->fd, (off_t)s->bytes) != 0) {
      s->bytes += done;
      w->bytes += done;
      sp->open = 0;
    }
    return err;
  }
  *seg = s;
  *off = s->bytes;
  s->bytes += n;
  w->bytes += n;
  sp->dirty = 1;
  return 0;
}

/* Make room for n more bytes under spool_max_bytes: drop the oldest
 * segments, with what they hold. */
static int make_room(gl_spool *sp, work *w, uint64_t n) {
  while (w->bytes + n + GL_SEG_HEAD > sp->max_bytes) {
    if (sp->nsegs == 0) return UV_E2BIG;
    if (sp->nsegs == 1 && sp->open) {
      if (sp->segs[0].batches == 0) return UV_E2BIG; /* n alone is too much */
      close_open(sp, w);
    }
    gl_seg *s = &sp->segs[0];
    if (s->done < s->batches) {
      if (gl_grow((void **)&w->lost, &w->cap_lost, w->nlost, sizeof(uint64_t)) != 0)
        return UV_ENOMEM;
      w->lost[w->nlost++] = s->number;
    }
    remove_oldest(sp, w);
    sync_dir(sp);
  }
  return 0;
}

static void write_failed(gl_spool *sp, work *w, int err, const char *what) {
  w->errors++;
  w->failed++;
  sp->retry_at_ms = mono_ms() + RETRY_WRITE_MS;
  if (w->failing) return;
  w->failing = 1;
  line(w, GATELOG_LOG_ERROR,
       "spool: cannot write %s to %s: %s; batches are kept in memory only until a write "
       "succeeds (tried again every %d ms)",
       what, sp->dir, err == UV_E2BIG ? "larger than spool_max_bytes" : uv_strerror(err),
       RETRY_WRITE_MS);
}

static void write_ok(gl_spool *sp, work *w) {
  (void)sp;
  if (!w->failing) return;
  line(w, GATELOG_LOG_WARN, "spool: writing to %s again, after %llu failed writes", sp->dir,
       (unsigned long long)w->failed);
  w->failing = 0;
  w->failed = 0;
}

static void write_batch(gl_spool *sp, work *w, gl_batch *b) {
  unsigned char *z = b->zlib;
  b->zlib = NULL;
  if (z == NULL || b->work_err) { /* compression failed: the loop drops it */
    free(z);
    return;
  }
  if (w->failing && mono_ms() < sp->retry_at_ms) {
    free(z);
    w->errors++;
    w->failed++;
    return;
  }
  gl_entry e = {GL_ENTRY_BATCH, 0, b->id, b->seq, gl_clock_real_ns() / 1000000, b->count,
                b->attempt, 0, 0, (uint32_t)b->json.len, 0};
  gl_entry_batch_lengths(&e, b->reasons.len, b->zlib_len);
  uint64_t n = gl_entry_size(&e);
  int err = make_room(sp, w, n);
  if (err == 0) {
    gl_buf_reset(&sp->scratch);
    err = gl_buf_reserve(&sp->scratch, n);
  }
  gl_seg *s;
  uint64_t off;
  if (err == 0) {
    gl_entry_batch_encode((unsigned char *)sp->scratch.data, &e, b->reasons.data ? b->reasons.data : "",
                          b->ends, z);
    err = append(sp, w, sp->scratch.data, n, &s, &off);
  }
  free(z);
  if (err) {
    write_failed(sp, w, err, "a batch");
    return;
  }
  write_ok(sp, w);
  s->batches++;
  w->batches++;
  b->spool_seg = s->number;
  b->spool_off = off;
}

static void encode_mark(gl_spool *sp, work *w, const gl_spool_mark *m) {
  gl_seg *s = find(sp, m->seg);
  if (s == NULL) return; /* its segment was dropped for room */
  if (m->type == GL_ENTRY_ACK) {
    s->done++;
    w->batches--;
  }
  gl_entry e = {m->type, 0, m->id, m->seq, m->time_ms, 0, m->attempt, 0, 0, 0, 0};
  if (gl_buf_reserve(&w->marks, GL_ENTRY_HEAD) != 0) return;
  gl_entry_encode((unsigned char *)w->marks.data + w->marks.len, &e);
  w->marks.len += GL_ENTRY_HEAD;
}

static void write_marks(gl_spool *sp, work *w, const gl_spool_mark *m, size_t n) {
  gl_buf_reset(&w->marks);
  for (size_t i = 0; i < n; i++) encode_mark(sp, w, &m[i]);
  /* A mark that cannot be written costs a re-send after a crash at most;
   * a failing disk is not tried again before its time. */
  gl_seg *s;
  uint64_t off;
  if (w->marks.len && !(w->failing && mono_ms() < sp->retry_at_ms)) {
    int err = append(sp, w, w->marks.data, w->marks.len, &s, &off);
    if (err) write_failed(sp, w, err, "done marks");
    else write_ok(sp, w);
  }
  collect(sp, w);
}

/* Rebuild what the batch held in memory from its entry's body. */
static int rebuild(gl_batch *b, const gl_entry *e, const unsigned char *body) {
  const unsigned char *z;
  size_t zlen;
  if (e->count != b->count) return UV_EILSEQ;
  b->ends = malloc(e->count * sizeof(*b->ends));
  if (b->ends == NULL) return UV_ENOMEM;
  b->ends_cap = e->count;
  gl_entry_batch_parts(e, body, b->ends, &z, &zlen);
  if (gl_buf_append(&b->reasons, body, e->reasons_len) != 0 ||
      gl_buf_reserve(&b->json, e->json_len) != 0 ||
      (b->payload = malloc(gl_base64_len(zlen) + 1)) == NULL)
    return UV_ENOMEM;
  uLongf jlen = e->json_len;
  if (uncompress((Bytef *)b->json.data, &jlen, z, (uLong)zlen) != Z_OK || jlen != e->json_len ||
      (jlen > 0 && b->ends[e->count - 1] >= jlen))
    return UV_EILSEQ;
  b->json.len = jlen;
  b->json.data[jlen] = '\0';
  b->payload_len = gl_base64_len(zlen);
  gl_base64_encode(z, zlen, b->payload);
  b->payload[b->payload_len] = '\0';
  b->zlib_len = zlen;
  return 0;
}

static void load_batch(gl_spool *sp, work *w, gl_batch *b) {
  char name[32];
  gl_seg *s = find(sp, b->spool_seg);
  b->work_err = 0;
  if (s == NULL) {
    b->work_err = UV_ENOENT;
    return;
  }
  seg_name(s->number, name);
  if (s->fd < 0 && (s->fd = openat(sp->dir_fd, name, O_RDONLY | O_CLOEXEC)) < 0) {
    b->work_err = -errno;
    line(w, GATELOG_LOG_ERROR, "spool: cannot open %s/%s: %s; batch %016llx (%u records) lost",
         sp->dir, name, strerror(errno), (unsigned long long)b->id, b->count);
    return;
  }
  gl_entry e;
  unsigned char *body;
  const char *why = "payload does not inflate to its records";
  int err = gl_entry_read(s->fd, b->spool_off, b->id, &e, &body, &why);
  if (err == 0) {
    err = rebuild(b, &e, body);
    free(body);
  }
  if (err == 0) return;
  b->work_err = err == UV_ENOMEM ? UV_ENOMEM : UV_EILSEQ;
  line(w, GATELOG_LOG_ERROR, "spool: %s/%s at offset %llu: %s; batch %016llx (%u records) skipped",
       sp->dir, name, (unsigned long long)b->spool_off,
       err == UV_EILSEQ ? why : uv_strerror(err), (unsigned long long)b->id, b->count);
}

/* Hand what this round did to the loop. */
static void publish(gl_spool *sp, work *w) {
  uv_mutex_lock(&sp->lock);
  int tell = !gl_list_empty(&w->out) || w->nlost || w->lines.len;
  gl_list_splice(&sp->done, &w->out);
  for (size_t i = 0; i < w->nlost; i++) {
    if (gl_grow((void **)&sp->lost_segs, &sp->cap_lost, sp->nlost, sizeof(uint64_t)) != 0)
      break; /* the loop still finds out, from their reads */
    sp->lost_segs[sp->nlost++] = w->lost[i];
  }
  w->nlost = 0;
  gl_buf_append(&sp->lines, w->lines.data ? w->lines.data : "", w->lines.len);
  gl_buf_reset(&w->lines);
  sp->bytes = w->bytes;
  sp->batches = w->batches;
  sp->write_errors = w->errors;
  uv_mutex_unlock(&sp->lock);
  if (tell) uv_async_send(&sp->async);
}

/* Wait for work. Marks wake nobody (spool.h): they wait for the next
 * write, GL_SPOOL_MARKS_MS at most, or GL_SPOOL_MARKS of them; writes not
 * synced yet wait no longer than their sync is due. */
static void wait_for_work(gl_spool *sp) {
  uint64_t marks_due = 0;
  while (!sp->stopping && gl_list_empty(&sp->writes) && gl_list_empty(&sp->loads) &&
         sp->nmarks < GL_SPOOL_MARKS) {
    uint64_t now = mono_ms(), due = UINT64_MAX;
    if (sp->nmarks) {
      if (marks_due == 0) marks_due = now + GL_SPOOL_MARKS_MS;
      due = marks_due;
    }
    if (sp->fsync_ms && sp->dirty && sp->open && sp->synced_ms + sp->fsync_ms < due)
      due = sp->synced_ms + sp->fsync_ms;
    if (due == UINT64_MAX) uv_cond_wait(&sp->wake, &sp->lock);
    else if (now >= due) return;
    else uv_cond_timedwait(&sp->wake, &sp->lock, (due - now) * 1000000);
  }
}

void gl_spool_run(void *arg) {
  gl_spool *sp = arg;
  work w;
  memset(&w, 0, sizeof(w));
  gl_list_init(&w.out);
  uv_mutex_lock(&sp->lock);
  w.bytes = sp->bytes; /* what recovery found */
  w.batches = sp->batches;
  uv_mutex_unlock(&sp->lock);
  collect(sp, &w); /* segments recovery found all done */
  publish(sp, &w);

  gl_spool_mark *marks = NULL;
  size_t cap_marks = 0;
  gl_link writes, loads;
  gl_list_init(&writes);
  gl_list_init(&loads);
  uv_mutex_lock(&sp->lock);
  for (;;) {
    wait_for_work(sp);
    gl_list_splice(&writes, &sp->writes);
    gl_list_splice(&loads, &sp->loads);
    /* Swap the mark arrays: the loop fills one while this one is written. */
    gl_spool_mark *m = sp->marks;
    size_t nm = sp->nmarks, cm = sp->cap_marks;
    sp->marks = marks;
    sp->cap_marks = cap_marks;
    sp->nmarks = 0;
    marks = m;
    cap_marks = cm;
    int stop = sp->stopping && gl_list_empty(&writes) && gl_list_empty(&loads) && nm == 0;
    uv_mutex_unlock(&sp->lock);
    if (stop) break;

    while (!gl_list_empty(&writes)) {
      gl_batch *b = GL_CONTAINER(writes.next, gl_batch, answer_node);
      gl_list_remove(&b->answer_node);
      write_batch(sp, &w, b);
      gl_list_push(&w.out, &b->answer_node);
    }
    if (nm) write_marks(sp, &w, marks, nm);
    while (!gl_list_empty(&loads)) {
      gl_batch *b = GL_CONTAINER(loads.next, gl_batch, answer_node);
      gl_list_remove(&b->answer_node);
      load_batch(sp, &w, b);
      gl_list_push(&w.out, &b->answer_node);
    }
    if (sp->fsync_ms && sp->dirty && mono_ms() >= sp->synced_ms + sp->fsync_ms) sync_open(sp, &w);
    publish(sp, &w);
    uv_mutex_lock(&sp->lock);
  }
  /* The close: what is written is synced, and the last segment goes too
   * if every batch in it is done. */
  close_open(sp, &w);
  collect(sp, &w);
  publish(sp, &w);
  free(marks);
  free(w.lost);
  gl_buf_free(&w.lines);
  gl_buf_free(&w.marks);
}
