/* The core object and what its concerns share. Internal: no Lua here, so
 * that files that need none do not see it. core/src/README.md gives the
 * folders and what each may use. */
#ifndef GATELOG_INTERNAL_H
#define GATELOG_INTERNAL_H

#include <stdint.h>
#include <uv.h>

#include "gatelog.h"
#include "util/buf.h"
#include "util/flowdir.h"
#include "util/ids.h"
#include "util/list.h"
#include "log.h"
#include "options.h"
#include "session/attrs.h"
#include "session/record.h"
#include "session/table.h"
#include "outbox/workers.h"

typedef struct gl_policy gl_policy;

/* The instance_id option: 1 to 64 of A-Z a-z 0-9 . _ - */
#define GL_INSTANCE_ID_MAX 64
typedef struct gl_send gl_send;

/* How a failed send should be handled (done's third argument). */
#define GL_RETRY_AFTER_MAX_S 86400
typedef struct gl_answer_how {
  int permanent;           /* the sink refused the batch for good: drop it */
  uint64_t retry_after_ms; /* nonzero: the next retry waits at least this */
} gl_answer_how;

enum gl_batch_state {
  GL_BATCH_SEALED,      /* waiting for the pump to hand it to the pool */
  GL_BATCH_COMPRESSING, /* on the thread pool */
  GL_BATCH_READY,       /* compressed, waiting for (another) send */
  GL_BATCH_INFLIGHT,    /* handed to send, waiting for done */
  GL_BATCH_ANSWERED,    /* done was called; the pump settles it */
  GL_BATCH_ONDISK,      /* held by the spool only, payload not in memory */
  GL_BATCH_LOADING      /* being read back by the spool thread */
};

typedef struct gl_batch {
  gl_link node;          /* in gatelog_t.outbox, oldest first */
  gl_link answer_node;   /* in turn: gatelog_t.to_compress, the compression threads' jobs and
                            done lists, .inflight, .answered */
  gatelog_t *gl;
  uint64_t seq;          /* seal order */
  uint64_t id;           /* idempotency key, stable across retries */
  gl_send *send;         /* the current send, from start to settle */
  uint32_t count;
  uint32_t attempt;
  int state;
  int dropped;           /* dropped while compressing: freed when it ends */
  int retrying;          /* a send of it failed: counted in records_retrying */
  uint64_t held;         /* its bytes counted in bytes_queued */
  int ok;                /* the answer, for GL_BATCH_ANSWERED */
  char *err;             /* the failure, for GL_BATCH_ANSWERED */
  gl_buf bin;            /* the records packed (session/record.h), from the first
                            record until a compression thread encodes them */
  gl_buf json;           /* "[{...},{...}]", written from bin on a compression thread */
  gl_buf reasons;        /* each record's endReason ("" if not final), '\n' after each */
  uint32_t *ends;        /* end offset in json of each record */
  uint32_t ends_cap;
  char *payload;         /* base64(zlib(json)), NUL-terminated */
  size_t payload_len;
  size_t zlib_len;
  uint64_t sent_ms;      /* loop time of the current send */
  int level;             /* compression level used */
  int compressor;        /* GATELOG_COMPRESS_ZLIB or _LIBDEFLATE */
  int work_err;
  gl_policy *policy;     /* the policy whose send holds it */
  gl_answer_how how;     /* with a failed answer: drop, or when to retry */
  /* The spool (outbox/spool.h): */
  uint64_t spool_seg;    /* the segment holding it; 0: not on disk */
  uint64_t spool_off;    /* its entry's offset there */
  unsigned char *zlib;   /* the compressed JSON, until the spool thread wrote it */
  uint64_t first_ms;     /* wall clock of its first send, ms; 0: not sent yet */
  const char *instance;  /* the instance id it was made under */
  int recovered;         /* found in the spool at start */
  int loaded;            /* read back from the spool: about to be sent */
  int memory_only;       /* a spool is on, but the disk does not hold it */
  struct gl_codec *codec; /* the script's C codec when sealed (a reference), or NULL */
  gl_buf body;           /* its body, built with the JSON; empty if it declined */
} gl_batch;

/* One call of a host-registered sender (gatelog_send_fn): a batch given to
 * send_override, or a payload a script gave to core.senders.NAME. The
 * host answers it with gatelog_send_done; the pump then hands the answer
 * to `complete` (outbox/send.c). */
struct gatelog_send_s {
  gl_link node;      /* in gatelog_t.sends, then .send_answers */
  gatelog_t *gl;     /* NULL once the core has closed */
  void (*complete)(gatelog_send_t *req, int ok, const char *err);
  void (*release)(gatelog_send_t *req); /* the close: drop what complete holds */
  void *owner;       /* complete's: the batch's gl_send, or the script's policy */
  int cb_ref;        /* the script's callback (core.senders) */
  int answered;
  int status;
  char *err;
  size_t len;
  char payload[];    /* a copy: valid until the answer */
};

typedef struct gl_sender {
  struct gl_sender *next;
  gatelog_send_fn fn;
  void *data;
  char name[];
} gl_sender;

enum gl_close_phase {
  GL_OPEN = 0,
  GL_DRAINING,   /* ending sessions and sending, until done or the deadline */
  GL_FINISHING,  /* waiting for thread-pool work, then closing handles */
  GL_CLOSING_HANDLES
};

struct gatelog_s {
  uv_loop_t *loop;
  gatelog_options_t opts;  /* strings below are our copies */
  char *script_path;
  char *lua_path;
  gl_config cfg;           /* in force: options, then the script's config */
  gatelog_log_fn log_fn;
  void *log_data;

  gl_table table;
  gl_ids ids;
  gl_flowdir *flows;       /* UDP flow -> id, shared with producers (the hub's) */
  struct gl_hub *hub;      /* the producers (producer.c); outlives the core */
  uv_async_t hub_wake;     /* a producer's events wait: drain them */
  struct gl_thread *thread; /* the core's own thread (thread.c), or NULL */
  gl_policy *policy;
  gl_sender *senders;

  gl_batch *open;          /* the batch records are appended to */
  gl_link outbox;          /* sealed batches, oldest first */
  gl_link to_compress;     /* sealed batches the pump hands to the pool */
  gl_link inflight;        /* batches waiting for done */
  gl_link answered;        /* batches whose done came, to be settled */
  gl_link sends;           /* host sends waiting for gatelog_send_done */
  gl_link send_answers;    /* host sends answered, callbacks to run */
  uint64_t next_seq;
  uint32_t ninflight;
  uint64_t backoff_ms;     /* the backoff's step, before jitter; 0: sends succeed */
  uint64_t retry_at_ms;    /* no send starts before this loop time */
  int sink_failing;        /* the last answer was a failure: one send at a time */
  unsigned pending_work;   /* thread-pool requests not yet completed */
  gl_link ios;             /* script I/O open (io.c), file appends and
                              compressions too: abandoned by the close */
  gl_link deferred;        /* script callbacks for the next pump (io.c) */
  unsigned io_open;        /* script I/O handles whose close has not run */
  gl_link pool_waiting;    /* script jobs for the thread pool, waiting (pool.h) */
  unsigned pool_running;   /* script jobs on the thread pool now */
  unsigned pool_max;       /* at most this many at once */
  size_t io_held;          /* bytes copied for script I/O in flight (io.h) */
  char *file_dirs;         /* where file_append may write: ':'-separated */
  struct gl_http *http;    /* the HTTP client (http.c), made on first use */

  uv_timer_t flush_timer;
  uv_timer_t expiry_timer;
  uint64_t expiry_at_ms;   /* loop time the expiry timer is armed for */
  uv_timer_t retry_timer;
  uv_timer_t close_timer;
  uv_timer_t send_timer;   /* send_timeout_ms of the oldest send in flight */
  uv_timer_t drop_timer;   /* a second after the last drop: the total (drops.c) */
  uv_timer_t watch_timer;  /* lets a burst of file events settle */
  uv_fs_event_t watch_dir;
  uv_fs_event_t watch_file;
  uv_idle_t pump_idle;
  gl_workers workers;      /* compression threads */
  int handles_open;

  int phase;
  uint64_t close_real_ns;  /* the endedAt of sessions ended by close */
  uint32_t close_cursor;
  gatelog_close_cb close_cb;
  void *close_data;

  struct gl_spool *spool;  /* NULL: no spool_dir */
  char instance_id[GL_INSTANCE_ID_MAX + 1];

  gatelog_stats_t stats;
  gl_ratelimit rl_overflow;
  gl_ratelimit rl_send_failed; /* "sending batch failed": once a second at most */
  gl_ratelimit rl_rejected;    /* "rejected for good" */
  uint64_t overflow_pending;  /* records dropped since the last overflow line */
  struct {
    uint64_t first_ms;        /* loop time of the first drop of this run of drops */
    uint64_t records, batches;
  } drops;                    /* since the last total line */
  gl_attrs attrs;             /* gatelog_set_attr's fields, by session */
  gl_extras attrs_view;       /* one record's of them, for the policy */
  gl_extras extras;           /* reused for each record */
  char *last_reload_error;    /* NULL: the last reload succeeded */
  char last_error[1024];
};

/* common.c: leaf helpers every concern uses */
void gl_set_error(gatelog_t *gl, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Run the pump on the loop's next idle turn (a no-op once handles close). */
void gl_schedule_pump(gatelog_t *gl);
uint64_t gl_now_ms(gatelog_t *gl);
/* Bracket each of gatelog's libuv callbacks: the stats keep the longest. */
uint64_t gl_cb_begin(void);
void gl_cb_end(gatelog_t *gl, uint64_t t0);
/* Wall and monotonic time in ns, from the options' clock if it has one. */
uint64_t gl_now_real(gatelog_t *gl);
uint64_t gl_now_mono(gatelog_t *gl);

/* Work on another thread (the thread pool, the compression threads) that
 * the close must wait for: begin when it is submitted, end when its
 * completion has run on the loop; as libuv's uv__req_register. */
static inline void gl_work_begin(gatelog_t *gl) { gl->pending_work++; }
static inline void gl_work_end(gatelog_t *gl) { gl->pending_work--; }
/* The close has stopped sending: no new I/O, no script callbacks. */
static inline int gl_closing(const gatelog_t *gl) { return gl->phase >= GL_FINISHING; }

/* gatelog.c: the API, the pump, the close */
/* The pump: answers, deferred callbacks, the drain, the outbox. */
void gl_pump(uv_idle_t *h);
/* Put a new config in force: timers, the open batch, the queue cap. */
void gl_apply_config(gatelog_t *gl, const gl_config *next);

/* outbox.c: batches from record to acknowledgement */
int gl_outbox_add_record(gatelog_t *gl, const gl_record *r);
void gl_outbox_seal(gatelog_t *gl);
void gl_outbox_pump(gatelog_t *gl);
/* Free a batch no list holds any more. */
void gl_batch_free(gl_batch *b);
/* Take b out of the outbox and its counts. */
void gl_outbox_forget(gatelog_t *gl, gl_batch *b);
/* More records held in memory than queue_max_records. */
int gl_outbox_over_cap(const gatelog_t *gl);
/* The spool took b out of memory (in_memory 0: its bytes and retrying
 * records no longer count against the queue limits) or read it back. */
void gl_outbox_held(gatelog_t *gl, gl_batch *b, int in_memory);
/* Drop everything held (close deadline); returns records lost (with a
 * spool, not those left in it: spooled_on_close). */
uint64_t gl_outbox_abandon(gatelog_t *gl);
/* A batch came back from the compression threads. */
void gl_outbox_compressed(gatelog_t *gl, gl_batch *b, int status);
/* Drop the oldest batches while more than queue_max_records records wait
 * again after a failed send, or more than queue_max_bytes bytes are held. */
void gl_outbox_enforce_cap(gatelog_t *gl);

/* drops.c: records dropped for room. Count them (stats, and the run of
 * drops that the total line reports); with `why` ("queue over ..."), also
 * the warning, at most once a second. */
void gl_drops_count(gatelog_t *gl, uint64_t records, uint64_t batches, const char *why);
/* Log the total of the drops not reported yet, if any (the close). */
void gl_drops_report(gatelog_t *gl);
/* Fail sends older than send_timeout_ms and arm the timer for the next. */
void gl_outbox_check_timeouts(gatelog_t *gl);

/* sessions.c */
void gl_session_finish(gatelog_t *gl, uint32_t idx, const char *reason, uint64_t end_real_ns);
void gl_expiry_rearm(gatelog_t *gl);
void gl_sessions_fit(gatelog_t *gl);

/* sessions.c: what a producer's events become on the loop. */
int gl_session_start_as(gatelog_t *gl, int64_t resource, const gl_addr *src, const gl_addr *dst,
                        gatelog_sid_t sid);
int gl_session_track_as(gatelog_t *gl, const gl_flow_key *k, gatelog_sid_t sid, int claimed);

/* producer.c: the hub the producers attach to. */
int gl_hub_new(gatelog_t *gl);            /* in gatelog_new, before the handles */
void gl_hub_wake_init(gatelog_t *gl);     /* its async handle, counted in handles_open */
void gl_hub_close(gatelog_t *gl);         /* gatelog_close: last events in, no more */
void gl_hub_sync(gatelog_t *gl);          /* apply what producers called before now */
void gl_hub_detach(gatelog_t *gl);        /* the teardown: the core is gone */
void gl_hub_stats(gatelog_t *gl, gatelog_stats_t *out);

/* thread.c: calls from other threads when the core has its own thread. */
enum gl_call_kind { GL_CALL_FLUSH, GL_CALL_RELOAD, GL_CALL_STATS, GL_CALL_SENDER, GL_CALL_CLOSE };
/* GL_CALL_SENDER's argument. */
typedef struct gl_sender_call {
  const char *name;
  gatelog_send_fn fn;
  void *data;
} gl_sender_call;
/* Nonzero if gl runs on its own thread and this is not that thread. */
int gl_thread_foreign(gatelog_t *gl);
/* Run the call on the core's thread and wait for its result. */
int gl_thread_call(gatelog_t *gl, enum gl_call_kind kind, void *arg);

/* reload.c */
void gl_watch_set(gatelog_t *gl, int on);

/* deflate.c: base64(zlib(json)) into b->payload; on a compression thread */
void gl_deflate_batch(gl_batch *b);
/* encode.c: b->bin to b->json and b->ends (then bin is freed), on a
 * compression thread; a batch without bin is left as it is. 0,
 * UV_ENOMEM, or UV_EINVAL (bin is not whole packed records). */
int gl_batch_encode(gl_batch *b);
int gl_deflate_have(int compressor);


#endif
