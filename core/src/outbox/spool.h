/* The disk spool: every sealed batch written to append-only segment files
 * (spool_file.h) by a thread of gatelog's own before it is first offered
 * to send, marked done when it is acknowledged or dropped, and read back
 * when memory is short or after a crash. Segments are deleted oldest
 * first, once every batch in them is done.
 *
 * The loop thread never touches a file while the core runs: it queues
 * jobs (batches to write, to read back; done and attempt marks) for the
 * spool thread, which answers through an async handle. The files are read
 * on the loop thread only by gl_spool_open, before the core starts.
 *
 * Without spool_dir there is no spool: gl->spool is NULL and every hook
 * below is a no-op (gl_spool_open then only makes the instance id). */
#ifndef GATELOG_SPOOL_H
#define GATELOG_SPOOL_H

#include "internal.h"
#include "outbox/spool_file.h"

typedef struct gl_spool gl_spool;

/* Done and attempt marks are not urgent (a mark lost to a crash costs a
 * batch sent again): they go out with the next batch written, or this
 * long after the first of them, or once this many wait, instead of
 * waking the thread (and writing) once each. */
#define GL_SPOOL_MARKS_MS 20
#define GL_SPOOL_MARKS 256

typedef struct gl_seg {
  uint64_t number;
  uint64_t bytes;        /* the file's size */
  uint32_t batches;      /* batch entries in it */
  uint32_t done;         /* of them acknowledged or dropped */
  int fd;                /* -1 until it is read or written */
  const char *instance;  /* the instance id of its batches */
} gl_seg;

/* A done or attempt mark for the spool thread to append. */
typedef struct gl_spool_mark {
  int type;              /* GL_ENTRY_ACK or GL_ENTRY_ATTEMPT */
  uint64_t seg, id, seq, time_ms;
  uint32_t attempt;
} gl_spool_mark;

struct gl_spool {
  gatelog_t *gl;
  char *dir;
  int lock_fd;
  int dir_fd;
  uint64_t max_bytes;
  uint64_t seg_max;      /* a segment is closed once it is this large */
  uint64_t fsync_ms;     /* 0: never */
  char **instances;      /* instance ids of recovered segments */
  size_t ninstances;

  uv_thread_t thread;
  uv_mutex_t lock;
  uv_cond_t wake;
  uv_async_t async;
  int sync_init;         /* lock and wake are made */
  /* Under lock: */
  int stopping;
  gl_link writes;        /* compressed batches to write (answer_node) */
  gl_link loads;         /* batches to read back (answer_node) */
  gl_link done;          /* written or read, for the loop (answer_node) */
  gl_spool_mark *marks;
  size_t nmarks, cap_marks;
  uint64_t *lost_segs;   /* dropped for room with batches not done, for the loop */
  size_t nlost, cap_lost;
  gl_buf lines;          /* log lines for the loop: a level digit, the text, '\n' */
  uint64_t bytes;        /* spool_bytes */
  uint64_t batches;      /* spool_batches */
  uint64_t write_errors; /* spool_write_errors */
  /* The spool thread's: */
  gl_seg *segs;          /* oldest first; the last is the one written if `open` */
  size_t nsegs, cap_segs;
  int open;
  uint64_t next_number;
  gl_buf scratch;
  uint64_t retry_at_ms;  /* after a failed write, no other before this (monotonic) */
  uint64_t synced_ms;
  int dirty;             /* written since the last fdatasync */
  /* The loop's: */
  uint64_t disk_records; /* records the memory cap does not count: held on
                            disk only, or read back to be sent (loaded) */
  uint64_t memory_only;  /* batches in the outbox the disk does not hold */
  gl_ratelimit rl_lost;
};

/* gatelog_new: the instance id, then with spool_dir: create and lock the
 * directory, recover what it holds (batches not done go at the head of
 * the outbox, on disk only) and start the thread. 0, or an error with the
 * reason in gl's last error; nothing is left to free then. */
int gl_spool_open(gatelog_t *gl);
/* The close, once no work is pending: the thread writes the marks still
 * queued, fully done segments are deleted, the lock released. The async
 * handle is then closed with `cb` (it counts in gl->handles_open). */
void gl_spool_stop(gatelog_t *gl, uv_close_cb cb);
/* Free what is left once the async handle is closed (free_core). */
void gl_spool_free(gl_spool *sp);

/* On a compression thread, b compressed: 1 if the spool takes b (it writes
 * it, then hands it to gl_outbox_compressed on the loop), 0 if not. */
int gl_spool_write(gatelog_t *gl, gl_batch *b);

/* A send of b starts (its attempt is counted). */
void gl_spool_attempt(gatelog_t *gl, gl_batch *b);
/* b leaves the outbox for good: acknowledged, rejected, dropped. */
void gl_spool_done(gatelog_t *gl, gl_batch *b);
/* The disk holds or will hold b: memory pressure is no reason to drop it. */
int gl_spool_keeps(const gatelog_t *gl, const gl_batch *b);
/* With a spool, only batches the disk does not hold are ever dropped for
 * memory: are there any? (Without a spool: 1.) */
int gl_spool_droppable(const gatelog_t *gl);
/* b came back from the spool thread written (or not): it is ready. */
void gl_spool_written(gatelog_t *gl, gl_batch *b);
/* b leaves the outbox: its share of the counts above. */
void gl_spool_forget(gatelog_t *gl, gl_batch *b);
/* b was just written. Memory over the cap: free the payloads of the
 * newest batches the disk holds (b first), until it is not. */
void gl_spool_shed(gatelog_t *gl, gl_batch *b);
/* The next batch to send is on disk only: read it and a few after it. */
void gl_spool_prefetch(gatelog_t *gl, gl_batch *b);
/* At the close: b is abandoned in the spool for the next start. */
int gl_spool_has(const gl_batch *b);
/* Add the spool's counters to *st. */
void gl_spool_stats(gatelog_t *gl, gatelog_stats_t *st);

/* spool_thread.c: the spool thread's body. */
void gl_spool_run(void *arg);
/* The async handle's callback. */
void gl_spool_on_async(uv_async_t *h);
/* A stub: a batch held on disk only, in segment seg at off. */
gl_batch *gl_spool_stub(gatelog_t *gl, const gl_entry *e, uint64_t seg, uint64_t off);

#endif
