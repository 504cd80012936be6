/* The spool as the outbox sees it, on the loop thread (and the one call a
 * compression thread makes): queueing batches and marks for the spool
 * thread, taking its answers, and the batches held on disk only. */
#include "outbox/spool.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

_Static_assert(GL_INSTANCE_MAX == GL_INSTANCE_ID_MAX, "one bound for the instance id");

/* Wake the thread; called with the lock held. */
static void wake(gl_spool *sp) { uv_cond_signal(&sp->wake); }

int gl_spool_write(gatelog_t *gl, gl_batch *b) {
  gl_spool *sp = gl->spool; /* set before any thread starts, cleared after they stop */
  if (sp == NULL) return 0;
  uv_mutex_lock(&sp->lock);
  gl_list_push(&sp->writes, &b->answer_node);
  wake(sp);
  uv_mutex_unlock(&sp->lock);
  return 1;
}

static void mark(gatelog_t *gl, gl_batch *b, int type) {
  gl_spool *sp = gl->spool;
  gl_spool_mark m = {type, b->spool_seg, b->id, b->seq, type == GL_ENTRY_ACK ? 0 : b->first_ms,
                     b->attempt};
  uv_mutex_lock(&sp->lock);
  /* Out of memory, the mark is lost: after a crash the batch would be
   * sent again (or its attempt count be one short), nothing worse. */
  if (gl_grow((void **)&sp->marks, &sp->cap_marks, sp->nmarks, sizeof(m)) == 0)
    sp->marks[sp->nmarks++] = m;
  /* The first starts the thread's wait for more; a full load, the write. */
  if (sp->nmarks == 1 || sp->nmarks == GL_SPOOL_MARKS) wake(sp);
  uv_mutex_unlock(&sp->lock);
}

void gl_spool_attempt(gatelog_t *gl, gl_batch *b) {
  if (gl->spool && b->spool_seg) mark(gl, b, GL_ENTRY_ATTEMPT);
}

void gl_spool_done(gatelog_t *gl, gl_batch *b) {
  if (gl->spool == NULL || b->spool_seg == 0) return;
  mark(gl, b, GL_ENTRY_ACK);
  b->spool_seg = 0;
}

int gl_spool_has(const gl_batch *b) {
  return b->spool_seg != 0 || b->state == GL_BATCH_ONDISK || b->state == GL_BATCH_LOADING;
}

int gl_spool_keeps(const gatelog_t *gl, const gl_batch *b) {
  if (gl->spool == NULL) return 0;
  /* Sealed and compressing batches are on their way to the disk. */
  return gl_spool_has(b) || b->state == GL_BATCH_SEALED || b->state == GL_BATCH_COMPRESSING;
}

int gl_spool_droppable(const gatelog_t *gl) {
  return gl->spool == NULL || gl->spool->memory_only > 0;
}

void gl_spool_written(gatelog_t *gl, gl_batch *b) {
  if (gl->spool == NULL || b->spool_seg || b->memory_only) return;
  b->memory_only = 1; /* not written, or its segment dropped: as without a spool */
  gl->spool->memory_only++;
}

void gl_spool_forget(gatelog_t *gl, gl_batch *b) {
  gl_spool *sp = gl->spool;
  if (sp == NULL) return;
  if (b->state == GL_BATCH_ONDISK || b->state == GL_BATCH_LOADING || b->loaded)
    sp->disk_records -= b->count;
  if (b->memory_only) sp->memory_only--;
  b->memory_only = 0;
}

static void evict(gatelog_t *gl, gl_spool *sp, gl_batch *b) {
  gl_outbox_held(gl, b, 0);
  gl_buf_free(&b->json);
  gl_buf_free(&b->reasons);
  gl_buf_free(&b->body); /* the script encodes it when it is read back */
  free(b->ends);
  free(b->payload);
  b->ends = NULL;
  b->ends_cap = 0;
  b->payload = NULL;
  b->payload_len = 0;
  b->state = GL_BATCH_ONDISK;
  sp->disk_records += b->count;
}

static int evictable(const gl_batch *b) {
  return b->state == GL_BATCH_READY && b->spool_seg && !b->loaded;
}

void gl_spool_shed(gatelog_t *gl, gl_batch *written) {
  gl_spool *sp = gl->spool;
  if (sp == NULL || !gl_outbox_over_cap(gl)) return;
  if (evictable(written)) evict(gl, sp, written);
  /* The newest go first: the oldest are sent first when the sink is back,
   * and are better in memory then. Batches read back to be sent stay.
   * What can go is nearer the tail than a backlog on disk: the walk gives
   * up after a run of batches held on disk only rather than cross it. */
  int on_disk = 0;
  for (gl_link *l = gl->outbox.prev; l != &gl->outbox && on_disk < 64 && gl_outbox_over_cap(gl);) {
    gl_batch *b = GL_CONTAINER(l, gl_batch, node);
    l = l->prev;
    if (b->state == GL_BATCH_ONDISK || b->state == GL_BATCH_LOADING) {
      on_disk++;
      continue;
    }
    on_disk = 0;
    if (evictable(b)) evict(gl, sp, b);
  }
}

void gl_spool_prefetch(gatelog_t *gl, gl_batch *b) {
  gl_spool *sp = gl->spool;
  /* Enough ahead that reading never holds up the sends in flight. */
  unsigned ahead = gl->cfg.max_inflight < 8 ? gl->cfg.max_inflight * 2 : 16;
  int woke = 0;
  for (gl_link *l = &b->node; l != &gl->outbox && ahead > 0; l = l->next, ahead--) {
    gl_batch *x = GL_CONTAINER(l, gl_batch, node);
    if (x->state != GL_BATCH_ONDISK) continue;
    x->state = GL_BATCH_LOADING;
    gl_work_begin(gl);
    if (!woke) uv_mutex_lock(&sp->lock);
    woke = 1;
    gl_list_push(&sp->loads, &x->answer_node);
  }
  if (!woke) return;
  wake(sp);
  uv_mutex_unlock(&sp->lock);
}

gl_batch *gl_spool_stub(gatelog_t *gl, const gl_entry *e, uint64_t seg, uint64_t off) {
  gl_batch *b = calloc(1, sizeof(*b));
  if (b == NULL) return NULL;
  gl_list_init(&b->node);
  gl_list_init(&b->answer_node);
  b->gl = gl;
  b->id = e->id;
  b->seq = e->seq;
  b->count = e->count;
  b->attempt = e->attempt;
  b->first_ms = e->time_ms;
  b->spool_seg = seg;
  b->spool_off = off;
  b->state = GL_BATCH_ONDISK;
  b->recovered = 1;
  return b;
}

/* Batches lost with a segment deleted to make room: counted and logged
 * (rate-limited), whether found with the segment or by a read that failed. */
static void count_lost(gatelog_t *gl, uint64_t batches, uint64_t records) {
  gl_spool *sp = gl->spool;
  gl->stats.batches_dropped += batches;
  gl->stats.records_dropped += records;
  uint64_t held;
  if (gl_ratelimit_allow(&sp->rl_lost, gl_now_ms(gl), &held))
    gl_log(gl, GATELOG_LOG_WARN,
           "spool over spool_max_bytes=%llu: dropped its oldest segment, with %llu batches "
           "(%llu records) not delivered (%llu records dropped in all)",
           (unsigned long long)sp->max_bytes, (unsigned long long)batches,
           (unsigned long long)records, (unsigned long long)gl->stats.records_dropped);
}

/* Batches of a segment the thread deleted to make room: those held on
 * disk only are lost, the others are in memory only from now on. */
static void lose_segment(gatelog_t *gl, uint64_t seg, gl_link *done) {
  gl_spool *sp = gl->spool;
  uint64_t batches = 0, records = 0;
  for (gl_link *l = gl->outbox.next; l != &gl->outbox;) {
    gl_batch *b = GL_CONTAINER(l, gl_batch, node);
    l = l->next;
    if (b->spool_seg != seg) continue;
    if (b->state == GL_BATCH_LOADING) continue; /* its read fails: dropped then */
    if (b->state == GL_BATCH_COMPRESSING) continue; /* just written: in `done` */
    b->spool_seg = 0;
    if (b->state != GL_BATCH_ONDISK) {
      b->memory_only = 1;
      sp->memory_only++;
      continue;
    }
    batches++;
    records += b->count;
    gl_outbox_forget(gl, b);
    gl_batch_free(b);
  }
  for (gl_link *l = done->next; l != done; l = l->next) {
    gl_batch *b = GL_CONTAINER(l, gl_batch, answer_node);
    if (b->spool_seg == seg) b->spool_seg = 0;
  }
  gl_outbox_enforce_cap(gl); /* those in memory only now count */
  if (batches > 0) count_lost(gl, batches, records);
}

/* A batch the thread read back (or failed to). */
static void loaded(gatelog_t *gl, gl_batch *b) {
  gl_work_end(gl);
  if (b->dropped) { /* abandoned by the close, counted there */
    gl_batch_free(b);
    return;
  }
  if (b->work_err == 0) {
    b->state = GL_BATCH_READY;
    b->loaded = 1;
    gl_outbox_held(gl, b, 1);
    return;
  }
  /* Deleted to make room, or damaged (the thread logged where). */
  if (b->work_err == UV_ENOENT) {
    count_lost(gl, 1, b->count);
  } else {
    if (b->work_err == UV_EILSEQ) gl->stats.spool_corrupt++;
    gl->stats.batches_dropped++;
    gl->stats.records_dropped += b->count;
  }
  gl_spool_done(gl, b);
  gl_outbox_forget(gl, b);
  gl_batch_free(b);
}

/* Log the lines the thread left: a level digit, the text, '\n' each. */
static void log_lines(gatelog_t *gl, gl_buf *lines) {
  for (char *p = lines->data, *end = p + lines->len; p && p < end;) {
    char *nl = memchr(p, '\n', (size_t)(end - p));
    if (nl == NULL) break;
    *nl = '\0';
    gl_log(gl, p[0] - '0', "%s", p + 1);
    p = nl + 1;
  }
}

void gl_spool_on_async(uv_async_t *h) {
  gatelog_t *gl = h->data;
  gl_spool *sp = gl->spool;
  gl_link done;
  gl_list_init(&done);
  uv_mutex_lock(&sp->lock);
  gl_list_splice(&done, &sp->done);
  uint64_t *lost = sp->lost_segs;
  size_t nlost = sp->nlost;
  sp->lost_segs = NULL;
  sp->nlost = sp->cap_lost = 0;
  gl_buf lines = sp->lines;
  memset(&sp->lines, 0, sizeof(sp->lines));
  uv_mutex_unlock(&sp->lock);

  uint64_t t0 = gl_cb_begin();
  log_lines(gl, &lines);
  gl_buf_free(&lines);
  for (size_t i = 0; i < nlost; i++) lose_segment(gl, lost[i], &done);
  free(lost);
  gl_cb_end(gl, t0);
  while (!gl_list_empty(&done)) {
    gl_batch *b = GL_CONTAINER(done.next, gl_batch, answer_node);
    gl_list_remove(&b->answer_node);
    if (b->state == GL_BATCH_COMPRESSING) {
      gl_outbox_compressed(gl, b, 0); /* times itself */
    } else {
      t0 = gl_cb_begin();
      loaded(gl, b);
      gl_cb_end(gl, t0);
    }
  }
  gl_schedule_pump(gl);
}

void gl_spool_stats(gatelog_t *gl, gatelog_stats_t *st) {
  gl_spool *sp = gl->spool;
  if (sp == NULL) return;
  uv_mutex_lock(&sp->lock);
  st->spool_bytes = sp->bytes;
  st->spool_batches = sp->batches;
  st->spool_write_errors = sp->write_errors;
  uv_mutex_unlock(&sp->lock);
}

void gl_spool_stop(gatelog_t *gl, uv_close_cb cb) {
  gl_spool *sp = gl->spool;
  if (sp == NULL) return;
  uv_mutex_lock(&sp->lock);
  sp->stopping = 1;
  wake(sp);
  uv_mutex_unlock(&sp->lock);
  uv_thread_join(&sp->thread);
  /* No work is pending: only the thread's last lines are left. */
  log_lines(gl, &sp->lines);
  gl_buf_free(&sp->lines);
  uv_close((uv_handle_t *)&sp->async, cb);
}

void gl_spool_free(gl_spool *sp) {
  if (sp == NULL) return;
  for (size_t i = 0; i < sp->nsegs; i++)
    if (sp->segs[i].fd >= 0) close(sp->segs[i].fd);
  if (sp->dir_fd >= 0) close(sp->dir_fd);
  if (sp->lock_fd >= 0) close(sp->lock_fd); /* and with it the lock */
  for (size_t i = 0; i < sp->ninstances; i++) free(sp->instances[i]);
  if (sp->sync_init) {
    uv_cond_destroy(&sp->wake);
    uv_mutex_destroy(&sp->lock);
  }
  free(sp->instances);
  free(sp->segs);
  free(sp->marks);
  free(sp->lost_segs);
  gl_buf_free(&sp->lines);
  gl_buf_free(&sp->scratch);
  free(sp->dir);
  free(sp);
}
