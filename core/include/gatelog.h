/*
 * gatelog: access-session logging core for network gateways on libuv.
 *
 * The gateway owns one libuv loop and calls every function here on that
 * loop's thread, except where a function says otherwise: producers
 * (gatelog_producer_new and gatelog_p_*) report sessions from any thread,
 * and a core started with gatelog_start_thread runs its own loop on a
 * thread of its own. gatelog keeps the open sessions, turns each completed one
 * into a record, lets a Lua policy script filter and enrich it, seals
 * records into batches, compresses them on gatelog's own threads (below the
 * loop's priority) and hands each batch to the script's send function.
 *
 * Errors are negative ints and 0 is success. I/O and argument errors reuse
 * libuv's UV_E* values; gatelog's own codes are GATELOG_E* below.
 * gatelog_strerror() and gatelog_err_name() name both kinds. A function that
 * takes a callback and returns an error never calls that callback.
 */
#ifndef GATELOG_H
#define GATELOG_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define GATELOG_EXTERN __attribute__((visibility("default")))
#else
#define GATELOG_EXTERN
#endif

#define GATELOG_VERSION_MAJOR 0
#define GATELOG_VERSION_MINOR 1
#define GATELOG_VERSION_PATCH 0

/* gatelog's own error codes, below every libuv code. */
#define GATELOG_ERRNO_BASE (-30000)
enum gatelog_errno {
  GATELOG_ENOSESSION = GATELOG_ERRNO_BASE - 1, /* unknown or already ended session id */
  GATELOG_ECLOSED = GATELOG_ERRNO_BASE - 2,    /* the core is closing or closed */
  GATELOG_ESCRIPT = GATELOG_ERRNO_BASE - 3,    /* the policy script failed to load or is invalid */
  GATELOG_ECONFIG = GATELOG_ERRNO_BASE - 4,    /* an option or script config value is invalid */
  GATELOG_EWRONGPROTO = GATELOG_ERRNO_BASE - 5, /* tcp_end of a UDP session or the reverse */
  GATELOG_EFULL = GATELOG_ERRNO_BASE - 6,       /* max_sessions reached (table_full = refuse) */
  GATELOG_EAGAIN = GATELOG_ERRNO_BASE - 7       /* a producer's queue is full (producer_full) */
};

/* Log levels of the log callback. */
enum gatelog_log_level {
  GATELOG_LOG_ERROR = 0,
  GATELOG_LOG_WARN = 1,
  GATELOG_LOG_INFO = 2, /* ACCESS START / ACCESS END lines use this level */
  GATELOG_LOG_DEBUG = 3
};

typedef struct gatelog_s gatelog_t;
/* A thread's handle for reporting sessions to a core whose loop runs on
 * another thread (gatelog_producer_new). */
typedef struct gatelog_producer_s gatelog_producer_t;
/* A session id; 0 is never a session. Its sessionId string is the 16
 * lowercase hex digits of the value. */
typedef uint64_t gatelog_sid_t;
/* One send in flight to a host-registered sender, owned by the core. */
typedef struct gatelog_send_s gatelog_send_t;

/* A host-registered sender. `payload` (len bytes, also NUL-terminated) stays
 * valid until gatelog_send_done(req, ...) is called for this req. The sender
 * must answer every req exactly once, now (from inside this call) or later,
 * on the loop thread; this holds even after gatelog_close: an answer to a
 * core that has closed only frees req. */
typedef void (*gatelog_send_fn)(gatelog_send_t *req, const char *payload,
                                size_t len, void *data);
/* What the on_end callback learns of a session that ended. Everything
 * pointed to is valid during the call only. */
typedef struct gatelog_end_info_s {
  gatelog_sid_t sid;
  int64_t resource_id;
  int protocol;                /* IPPROTO_TCP or IPPROTO_UDP */
  const struct sockaddr *src;  /* AF_INET or AF_INET6 */
  const struct sockaddr *dst;
  const char *reason;          /* the record's endReason */
} gatelog_end_info_t;
/* Called on the loop thread for every session that ends, whatever ended
 * it (the gateway, an idle timeout, eviction, close), after its record
 * went to the policy. It may call gatelog functions. */
typedef void (*gatelog_end_fn)(void *data, const gatelog_end_info_t *info);

/* A clock for replaying recorded traffic: wall-clock nanoseconds since the
 * epoch. See gatelog_options_t.clock. */
typedef uint64_t (*gatelog_clock_fn)(void *data);
/* Called once when gatelog_close has finished; `gl` is still valid (for
 * gatelog_stats) during the call and freed right after it returns. */
typedef void (*gatelog_close_cb)(gatelog_t *gl, void *data);
/* Receives one log line (no trailing newline); `msg` is valid during the
 * call only. */
typedef void (*gatelog_log_fn)(void *data, int level, const char *msg);

typedef struct gatelog_options_s {
  /* Path of the policy script. Required. Copied by gatelog_new. */
  const char *script;
  /* Extra Lua package.path templates ("dir/?.lua;dir/?/init.lua"), searched
   * before the installed lua/ directory. NULL: none. Copied. */
  const char *lua_path;
  /* Ranges below are checked by gatelog_new (GATELOG_ECONFIG); times are
   * at most 365 days. */
  uint64_t flush_interval_ms;   /* seal the open batch this often; default 60000;
                                   at least 1 */
  uint32_t batch_max_records;   /* seal as soon as this many wait; default 100;
                                   at least 1 */
  uint32_t queue_max_records;   /* records waiting again after a failed send
                                   (the reference's cap) before the oldest of
                                   those batches are dropped; default 500; must
                                   be >= batch_max_records. Records the
                                   pipeline has not offered to send yet never
                                   count here */
  uint64_t queue_max_bytes;     /* bytes of batches held, not yet acknowledged
                                   (their JSON, and their payload once
                                   compressed; the open batch too), before the
                                   oldest batches are dropped: the memory
                                   budget that rides out a sink outage;
                                   default 256 MiB; 1 MiB to 10^12 */
  uint64_t udp_idle_timeout_ms; /* end a UDP session this long after its last
                                   activity; default 120000; at least 1 */
  int compression_level;        /* 0..9; default 6 */
  unsigned compress_threads;    /* threads compressing batches, at most 256;
                                   0 (default): one per CPU */
  int compress_nice;            /* their nice value over the loop's (Linux):
                                   0 to 19, default 10, so that compression
                                   never takes the loop thread's turn */
  int compressor;               /* GATELOG_COMPRESS_AUTO (default):
                                   libdeflate if built with it, else zlib;
                                   or _ZLIB, _LIBDEFLATE. Either writes the
                                   zlib format (RFC 1950) */
  uint32_t max_inflight;        /* batches handed to send at once; default 4;
                                   at least 1 */
  int access_log;               /* nonzero: ACCESS START/END lines; default 1 */
  int log_level;                /* lines above this level are not emitted;
                                   default GATELOG_LOG_INFO */
  gatelog_log_fn log;           /* NULL: lines go to standard error */
  void *log_data;
  /* The script runtime (see the README's "Reload and the script runtime"). */
  int sandbox;                  /* nonzero: restricted globals; 0 trusts the
                                   script with the full LuaJIT library, ffi
                                   included; default 1 */
  uint32_t script_budget_ms;    /* longest filter/enrich/send/callback call
                                   before it is stopped, at most 3600000; 0:
                                   no limit (and the JIT stays on); default 10 */
  uint64_t script_memory_max;   /* bytes of Lua heap a script may grow to in
                                   a call, at most 10^12; 0: no limit; default
                                   64 MiB */
  int on_script_error;          /* GATELOG_KEEP (default) or GATELOG_DROP: what
                                   happens to a record whose filter or enrich
                                   failed */
  uint64_t send_timeout_ms;     /* a send not answered this long is failed
                                   and retried; default 30000; at least 1 */
  uint64_t retry_max_ms;        /* the backoff between retries of a failing
                                   sink starts at 1 s and doubles up to this,
                                   each wait drawn from [step/2, step]; a
                                   sink's Retry-After may ask for longer;
                                   default 5000; 10 to 3600000 */
  int watch;                    /* nonzero: reload when the script file
                                   changes; default 0 */
  /* For tools that replay recorded traffic or try a policy offline. */
  gatelog_clock_fn clock;       /* NULL (default): the system clocks. Else
                                   every timestamp, duration and idle
                                   expiry is taken from it (it must not go
                                   backwards); call gatelog_expire as it
                                   advances */
  void *clock_data;
  gatelog_send_fn send_override; /* NULL (default): batches go to the
                                    script's send. Else to this host sender
                                    (answer with gatelog_send_done); filter
                                    and enrich still run */
  void *send_override_data;
  gatelog_end_fn on_end;        /* NULL (default): none. Tells the gateway
                                   when a session ends, e.g. so that it can
                                   close what it kept for a UDP flow that
                                   gatelog ended for idleness */
  void *on_end_data;
  /* Sessions as flow exporters know them (see the README's "Interim
   * records, timeouts and a bounded table"). */
  uint64_t active_timeout_ms;   /* 0 (default): off. Else a session open
                                   this long emits an interim record, and
                                   again every active_timeout_ms */
  int log_start;                /* nonzero: a start record (seq 0, no
                                   endedAt) when a session starts; default 0 */
  uint64_t tcp_idle_timeout_ms; /* 0 (default): off (the gateway owns TCP
                                   lifetimes). Else end TCP sessions idle
                                   this long, endReason "idle" */
  uint64_t max_lifetime_ms;     /* 0 (default): off. Else end any session
                                   open this long, endReason "max_lifetime" */
  uint32_t max_sessions;        /* 0 (default): no bound. Else at most this
                                   many open sessions (up to 10^9) */
  int table_full;               /* GATELOG_EVICT (default): a new session
                                   ends the least recently active one
                                   (endReason "evicted"); GATELOG_REFUSE: the
                                   new one fails with GATELOG_EFULL */
  /* Limits of the sandbox (README, "The sandbox"). */
  const char *file_dirs;        /* directories core.file_append may write in
                                   (and rotate), ':'-separated. NULL
                                   (default): the script's directory and
                                   that of $GATELOG_OUTPUT. Copied */
  uint32_t enrich_max_bytes;    /* bytes the fields enrich sets may take in
                                   one record (keys and values); 64 to
                                   2^30, default 65536 */
  /* The disk spool (see the README's "The disk spool"): every sealed
   * batch is written to disk by a thread of gatelog's before it is first
   * sent, and what was not delivered is sent at the next start. */
  const char *spool_dir;        /* NULL (default): no spool. Else its
                                   directory, made if needed (mode 0700)
                                   and locked: one core per directory.
                                   Copied */
  uint64_t spool_max_bytes;     /* disk the spool may use, at least 65536;
                                   past it the oldest batches are dropped,
                                   counted and logged; default 1 GiB */
  uint64_t spool_seal_ms;       /* with a spool, the open batch is sealed
                                   (and so written) at least this often,
                                   1 to 3600000; default 50 */
  uint64_t spool_fsync_ms;      /* 0 (default): never fdatasync; the page
                                   cache keeps what was written through a
                                   crash of the process, not a power loss.
                                   Else at most this long between a write
                                   and its fdatasync, up to 3600000 */
  const char *instance_id;      /* this gateway, in dedupe keys: 1 to 64
                                   of A-Z a-z 0-9 . _ -. NULL (default): a
                                   random 64-bit id in hex, kept in
                                   spool_dir (made at each start without
                                   one). Copied */
  /* Producers (see docs/threads.md). */
  uint32_t producer_queue;      /* events each producer may have queued
                                   for the loop: 16 to 2^24, rounded up to
                                   a power of two; default 16384 */
  int producer_full;            /* GATELOG_FULL_FAIL (default): a call on a
                                   full queue returns GATELOG_EAGAIN at
                                   once; GATELOG_FULL_WAIT: it waits for
                                   room up to producer_wait_ms first */
  uint64_t producer_wait_ms;    /* that wait, at most 60000; default 10 */
} gatelog_options_t;

/* on_script_error values. */
enum { GATELOG_KEEP = 0, GATELOG_DROP = 1 };
/* compressor values. */
enum { GATELOG_COMPRESS_AUTO = 0, GATELOG_COMPRESS_ZLIB = 1, GATELOG_COMPRESS_LIBDEFLATE = 2 };
/* table_full values. */
enum { GATELOG_EVICT = 0, GATELOG_REFUSE = 1 };
/* producer_full values. */
enum { GATELOG_FULL_FAIL = 0, GATELOG_FULL_WAIT = 1 };

typedef struct gatelog_stats_s {
  uint64_t tcp_started;
  uint64_t tcp_ended;
  uint64_t udp_started;
  uint64_t udp_ended;
  uint64_t tcp_open;
  uint64_t udp_open;
  uint64_t ended_closed;      /* ended by gatelog_tcp_end / gatelog_udp_end */
  uint64_t ended_idle;        /* ended by an idle timeout */
  uint64_t ended_shutdown;    /* sessions ended by gatelog_close */
  uint64_t ended_evicted;     /* ended to make room (max_sessions) */
  uint64_t ended_max_lifetime;
  uint64_t ended_other;       /* ended with a reason the gateway gave */
  uint64_t sessions_refused;  /* refused with GATELOG_EFULL */
  uint64_t records_interim;   /* interim records emitted */
  uint64_t records_start;     /* start records emitted */
  uint64_t callbacks;         /* gatelog's libuv callbacks run */
  uint64_t callback_max_ns;   /* the longest of them, wall time */
  uint64_t records_kept;      /* records the filter kept (or no filter) */
  uint64_t records_filtered;  /* records the filter dropped */
  uint64_t script_errors;     /* errors raised by filter, enrich or send */
  uint64_t filter_errors;
  uint64_t enrich_errors;
  uint64_t send_errors;       /* send raised (counted in batches_failed too) */
  uint64_t batches_sealed;
  uint64_t batches_sent;      /* acknowledged with done(true) */
  uint64_t batches_failed;    /* done(false, err) or send raised */
  uint64_t batches_retried;   /* sends of a batch after its first */
  uint64_t batches_dropped;   /* dropped for room (queue_max_records,
                                 queue_max_bytes; with a spool, spool_max_bytes),
                                 damaged on disk, or a failed compression */
  uint64_t records_sent;      /* records in acknowledged batches */
  uint64_t records_dropped;   /* records in those batches */
  uint64_t bytes_json;        /* JSON bytes of compressed batches, before compression */
  uint64_t bytes_compressed;  /* zlib bytes of sealed batches */
  uint64_t records_queued;    /* records held now, not yet acknowledged */
  uint64_t batches_queued;    /* sealed batches held now, not yet acknowledged */
  uint64_t batches_inflight;  /* batches handed to send, awaiting done */
  uint64_t lost_on_close;     /* records not delivered by the close deadline */
  uint64_t done_ignored;      /* late or repeated done calls, ignored */
  uint64_t callback_errors;   /* errors raised by callbacks of core functions */
  uint64_t budget_exceeded;   /* script calls stopped by script_budget_ms */
  uint64_t memory_exceeded;   /* script calls stopped by script_memory_max */
  uint64_t records_dropped_on_error; /* dropped by on_script_error = drop */
  uint64_t sends_timed_out;   /* sends not answered within send_timeout_ms */
  uint64_t sends_raised_after_io; /* send raised after it started I/O: the batch
                                     waits for its done (or the timeout) instead
                                     of a retry that could deliver it twice */
  uint64_t reloads;           /* successful reloads */
  uint64_t reload_failures;
  uint64_t script_loaded_ns;  /* wall clock of the last successful load */
  uint64_t script_memory;     /* bytes of Lua heap of the running script */
  uint64_t script_states;     /* Lua states alive: 1, more while an old
                                 script still has sends in flight */
  uint64_t batches_rejected;  /* dropped by done(false, err, { permanent = true }):
                                 the sink refused them for good (also
                                 counted in batches_failed) */
  uint64_t records_rejected;  /* records in those batches */
  uint64_t bytes_queued;      /* bytes held now against queue_max_bytes */
  uint64_t records_retrying;  /* records held now in batches waiting again
                                 after a failed send: what queue_max_records
                                 caps */
  uint64_t retry_wait_ms;     /* the wait before the next retry of a failing
                                 sink, as the backoff (with its jitter) or the
                                 sink's Retry-After set it; 0 once a send
                                 succeeds */
  uint64_t bytes_saturated;   /* gatelog_add_bytes calls that would have taken a
                                 session's bytesTx or bytesRx past 2^64 - 1:
                                 the counter stays at 2^64 - 1 */
  /* The disk spool (all 0 without one). */
  uint64_t spool_bytes;       /* bytes of its segment files now */
  uint64_t spool_batches;     /* batches written to it and not done yet */
  uint64_t batches_recovered; /* batches found not done at start (sent first) */
  uint64_t records_recovered; /* records in those batches */
  uint64_t spool_corrupt;     /* damaged entries or files skipped (logged
                                 with file and offset) */
  uint64_t spool_write_errors; /* batches and marks it failed to write
                                  (full disk, I/O error): those batches are
                                  held in memory only */
  uint64_t spooled_on_close;  /* batches the close left in the spool,
                                 undelivered, for the next start (not in
                                 lost_on_close) */
  /* Producers (all 0 without one). */
  uint64_t producers_open;    /* producers made and not yet freed */
  uint64_t producer_events;   /* producer calls the loop applied */
  uint64_t producer_drains;   /* wake-ups that drained the queues */
  uint64_t producer_failed;   /* of those events, the ones that failed on
                                 the loop: an unknown or ended session id
                                 (GATELOG_ENOSESSION: e.g. bytes added to a
                                 UDP flow that ended meanwhile), the other
                                 protocol, a full table (refuse) */
  uint64_t producer_full;     /* calls refused with GATELOG_EAGAIN */
  uint64_t producer_waits;    /* calls that found the queue full and
                                 waited (producer_full = wait) */
  /* The nats primitive (core.nats, the nats transport; all 0 without it). */
  uint64_t nats_published;    /* messages handed to nats.c for JetStream */
  uint64_t nats_acked;        /* of those, acknowledged by JetStream (PubAck) */
  uint64_t nats_duplicates;   /* of those, acknowledged as duplicates: the
                                 stream held the Nats-Msg-Id already (a retry
                                 of a message it had stored) */
  uint64_t nats_reconnects;   /* connections made again after one was lost */
  uint64_t nats_errors;       /* publishes that failed: no acknowledgement in
                                 time, no stream for the subject, refused,
                                 no server to connect to */
} gatelog_stats_t;

/* Which script is running, for operators. */
typedef struct gatelog_script_info_s {
  const char *path;              /* as given in the options */
  char sha256[65];               /* of the file's content when it loaded */
  uint64_t loaded_ns;            /* wall clock of that load */
  const char *last_reload_error; /* "" if the last reload succeeded */
} gatelog_script_info_t;

/* Fill `opts` with the defaults documented in gatelog_options_t (script
 * NULL). Always call it before setting fields, so that fields added later
 * get their defaults. */
GATELOG_EXTERN void gatelog_options_init(gatelog_options_t *opts);

/* Set the option named `name` (its Lua name, as in gatelog.new{} and the
 * README's options table) from the text `value`, for hosts whose
 * configuration is text (the nginx module's gatelog_option): durations in
 * seconds ("0.2"), booleans "on"/"off", enums by name ("warn"). String
 * options keep the pointer `value`: it must outlive every use of opts.
 * Callback options and "script" cannot be set this way. Errors: UV_EINVAL
 * (NULL argument, unknown name), GATELOG_ECONFIG (value out of range or
 * malformed); either way opts is unchanged and, if `why` is not NULL, a
 * line saying why is written to it (at most why_len bytes, NUL included). */
GATELOG_EXTERN int gatelog_options_set(gatelog_options_t *opts, const char *name,
                                       const char *value, char *why, size_t why_len);

/* Create a core on `loop`, load and validate the policy script, start the
 * flush timer. `opts` is copied; the caller keeps ownership of it and of its
 * strings. On success *out holds the core and 0 is returned; free it with
 * gatelog_close. On failure *out is NULL, nothing is left allocated and
 * gatelog_last_error(NULL) tells why. Errors: UV_EINVAL (NULL argument, no
 * script), GATELOG_ECONFIG (an option or the script's config is out of
 * range), GATELOG_ESCRIPT (the script does not load, raises, or does not
 * return a table with a send function), UV_ENOMEM; with spool_dir: UV_EBUSY
 * (another core holds its lock), or the UV error that kept it from being
 * made, opened, locked or read (UV_EACCES, UV_ENOTDIR, ...). Batches a
 * previous run left in the spool are read (their heads only) before it
 * returns, and are sent before any new batch. */
GATELOG_EXTERN int gatelog_new(uv_loop_t *loop, const gatelog_options_t *opts,
                               gatelog_t **out);

/* Start a TCP session from `src` to `dst` (AF_INET or AF_INET6 sockaddrs,
 * read during the call only) for the gateway's `resource_id`. Writes a new
 * random, nonzero id, unequal to any open one, to *sid. With max_sessions
 * reached, the least recently active session is evicted first, or (with
 * table_full = GATELOG_REFUSE) GATELOG_EFULL is returned. Errors: UV_EINVAL
 * (NULL argument), UV_EAFNOSUPPORT (another address family; nothing is
 * stored), GATELOG_ECLOSED (after gatelog_close), GATELOG_EFULL, UV_ENOMEM. */
GATELOG_EXTERN int gatelog_tcp_start(gatelog_t *gl, int64_t resource_id,
                                     const struct sockaddr *src,
                                     const struct sockaddr *dst,
                                     gatelog_sid_t *sid);

/* End an open TCP session: it becomes a record with endReason "closed".
 * Errors: GATELOG_ENOSESSION (unknown or already ended id; nothing
 * changes), GATELOG_EWRONGPROTO (the id is a UDP session), GATELOG_ECLOSED. */
GATELOG_EXTERN int gatelog_tcp_end(gatelog_t *gl, gatelog_sid_t sid);

/* Return in *sid the open UDP session of the flow (resource_id, src, dst),
 * starting one if there is none, and refresh its last activity. Errors as
 * gatelog_tcp_start. */
GATELOG_EXTERN int gatelog_udp_track(gatelog_t *gl, int64_t resource_id,
                                     const struct sockaddr *src,
                                     const struct sockaddr *dst,
                                     gatelog_sid_t *sid);

/* End an open UDP session (endReason "closed"). Errors as gatelog_tcp_end. */
GATELOG_EXTERN int gatelog_udp_end(gatelog_t *gl, gatelog_sid_t sid);

/* End an open TCP / UDP session with the gateway's own endReason, e.g.
 * "upstream_refused" (1 to 64 bytes, no control characters; copied). The
 * reasons gatelog knows (closed, idle, shutdown, evicted, max_lifetime)
 * are counted under their own stats, others under ended_other. Errors as
 * gatelog_tcp_end, and UV_EINVAL for a reason that breaks those rules. */
GATELOG_EXTERN int gatelog_tcp_end_reason(gatelog_t *gl, gatelog_sid_t sid, const char *reason);
GATELOG_EXTERN int gatelog_udp_end_reason(gatelog_t *gl, gatelog_sid_t sid, const char *reason);

/* Add `tx` bytes sent and `rx` bytes received to an open session (TCP or
 * UDP) and refresh its last activity. Errors: GATELOG_ENOSESSION,
 * GATELOG_ECLOSED. */
GATELOG_EXTERN int gatelog_add_bytes(gatelog_t *gl, gatelog_sid_t sid,
                                     uint64_t tx, uint64_t rx);

/* Attach a field to an open session (TCP or UDP): its record gets "key":
 * "value" (a JSON string) after the standard fields, and filter and enrich
 * see it as s[key] (enrich may change or remove it). For what the gateway
 * learns during a session, e.g. the upstream it chose or a TLS server
 * name. Setting a key again replaces its value. key and value are
 * NUL-terminated and copied. Errors: UV_EINVAL (NULL argument; a key that
 * is not 1 to 64 of A-Z a-z 0-9 _ or is a standard field's name; a value
 * over 1024 bytes), UV_ENOSPC (16 fields on the session already),
 * GATELOG_ENOSESSION, GATELOG_ECLOSED, UV_ENOMEM; the session is unchanged
 * on error. */
GATELOG_EXTERN int gatelog_set_attr(gatelog_t *gl, gatelog_sid_t sid, const char *key,
                                    const char *value);

/* Seal the open batch now (if it holds a record) and start sending what is
 * ready; what producers called before this call is applied first, so the
 * sessions they ended are in the batch. Errors: GATELOG_ECLOSED. */
GATELOG_EXTERN int gatelog_flush(gatelog_t *gl);

/* Do what the timeouts make due by now (by the options' clock, if one is
 * set): end idle sessions and those past max_lifetime, emit interim
 * records. The core's own timer does this on its own; a host with its own
 * clock calls it as that clock advances. Returns the number of sessions
 * ended plus interim records emitted, or GATELOG_ECLOSED. */
GATELOG_EXTERN int gatelog_expire(gatelog_t *gl);

/* Reload the policy script from its path: build a new Lua state, check it
 * as gatelog_new does (and run filter and enrich once on a synthetic
 * record), and only if all passes swap it in and apply its config. Every
 * record goes through exactly one of the two scripts; a batch already
 * handed to the old script's send completes there, and the old state is
 * closed when nothing refers to it. Reads the file on the loop thread.
 * Errors: GATELOG_ESCRIPT or GATELOG_ECONFIG (the old script stays; the
 * message, with file and line, is in gatelog_last_error(gl)),
 * GATELOG_ECLOSED, UV_ENOMEM. */
GATELOG_EXTERN int gatelog_reload(gatelog_t *gl);

/* Fill *out with the running script's identity. The strings belong to
 * the core and stay valid until the next reload or the close. Errors:
 * UV_EINVAL (NULL argument). */
GATELOG_EXTERN int gatelog_script_info(gatelog_t *gl, gatelog_script_info_t *out);

/* This core's instance id (options.instance_id, or the one it made): 1
 * to 64 of A-Z a-z 0-9 . _ -, valid until the close callback returns.
 * Codecs put it in their dedupe keys (batch.instance_id). NULL if gl is. */
GATELOG_EXTERN const char *gatelog_instance_id(gatelog_t *gl);

/* The message of the last error of `gl` (a script that failed, a bad
 * config value), or "" if none. With gl == NULL: why the last gatelog_new
 * on this thread failed. The string belongs to gatelog and stays valid
 * until the next call that can fail on the same core (or thread). */
GATELOG_EXTERN const char *gatelog_last_error(gatelog_t *gl);

/* Register a sender the policy script can call as
 *   require("gatelog.core").senders[name](payload, function(ok, err) end)
 * `name` is copied; `fn` and `data` stay in use until the core is closed.
 * Errors: UV_EINVAL (NULL or empty name, NULL fn), UV_EEXIST (the name is
 * taken), GATELOG_ECLOSED, UV_ENOMEM. */
GATELOG_EXTERN int gatelog_register_sender(gatelog_t *gl, const char *name,
                                           gatelog_send_fn fn, void *data);

/* Check that every host sender the running script's `senders` list names
 * (a script returns e.g. senders = { "control" } beside send) has been
 * registered: call it once the host's senders are, so that a script that
 * would call a missing one fails at start rather than retrying forever.
 * A reload checks the same on its own. 0, or GATELOG_ECONFIG with the
 * missing name in gatelog_last_error(gl); UV_EINVAL (NULL),
 * GATELOG_ECLOSED. */
GATELOG_EXTERN int gatelog_check_senders(gatelog_t *gl);

/* Answer a send: status 0 means delivered; any other value is a failure
 * described by `err` (may be NULL; copied). Call it exactly once per req,
 * on the loop thread. The script's callback runs on a later turn of the
 * loop, never from inside this call. req is invalid after the call. */
GATELOG_EXTERN void gatelog_send_done(gatelog_send_t *req, int status,
                                      const char *err);

/* Copy the counters into *out. Errors: UV_EINVAL (NULL argument). Works
 * until the close callback returns. */
GATELOG_EXTERN int gatelog_stats(gatelog_t *gl, gatelog_stats_t *out);

/* Close the core: session calls fail with GATELOG_ECLOSED from now on,
 * every open session ends with endReason "shutdown", records are sealed in
 * batches of at most batch_max_records (without overflowing the queue) and
 * sent; sends are awaited up to `drain_ms`. Records not delivered by then
 * are counted in lost_on_close and logged; with a spool, batches not
 * delivered stay in it for the next start instead (spooled_on_close),
 * and sessions still open at the deadline are ended and spooled too. Then the core closes its handles
 * and its Lua state and calls `cb` (may be NULL). After `cb` the loop holds
 * no handle of gatelog. Errors: UV_EINVAL (NULL gl), GATELOG_ECLOSED (close
 * was already called). */
GATELOG_EXTERN int gatelog_close(gatelog_t *gl, uint32_t drain_ms,
                                 gatelog_close_cb cb, void *data);

/* ---- Any thread: producers and a core on its own thread ---------------
 * docs/threads.md explains the model and its guarantees. */

/* Make a producer: a handle one thread uses to report sessions to `gl`
 * while gl's loop runs on another thread. Callable from any thread while
 * gl is open. Each producer has a queue of producer_queue events that the
 * loop drains in batches; use one producer per thread (a producer must not
 * be used by two threads at once). *out is the producer; free it with
 * gatelog_producer_free. Errors: UV_EINVAL (NULL argument),
 * GATELOG_ECLOSED (gatelog_close has started), UV_ENOMEM. */
GATELOG_EXTERN int gatelog_producer_new(gatelog_t *gl, gatelog_producer_t **out);

/* Release a producer, from its thread, at any time: before the close (the
 * loop still applies every event it queued, then frees it), while the
 * close runs, or after the core is gone (the close applied its events
 * before its sessions ended). p is invalid after the call. NULL: no-op. */
GATELOG_EXTERN void gatelog_producer_free(gatelog_producer_t *p);

/* The session calls of a producer: arguments, checks and meanings as
 * gatelog_tcp_start, gatelog_tcp_end, gatelog_tcp_end_reason,
 * gatelog_udp_track, gatelog_udp_end, gatelog_udp_end_reason and
 * gatelog_add_bytes, but called on the producer's thread. The id is drawn
 * on that thread and written to *sid at once; the event goes to the loop
 * through the producer's queue. A session's calls may go through several
 * producers (e.g. from Go, where goroutines move between threads): calls
 * that happen one after the other, on whatever threads, are applied in
 * that order. An end is applied once the loop has been over every queue
 * after it came (a wake-up or two later).
 * What can only be known on the loop (an unknown or ended id, a full table
 * with table_full = refuse) is not returned: it is counted in
 * stats.producer_failed.
 *
 * gatelog_p_udp_track returns the flow's id at once, also when another
 * thread sees the same flow at the same moment: a directory of open flows,
 * shared by the threads, gives every caller the same id until the flow's
 * session ends: gatelog_p_udp_end forgets the flow when it is called, so a
 * track called after it (on any thread) makes a new session at once;
 * an idle timeout or a loop-thread end forget it when the loop applies
 * them (docs/threads.md).
 *
 * Errors (returned now): UV_EINVAL (NULL p or sid, a bad reason),
 * UV_EAFNOSUPPORT, GATELOG_ENOSESSION (sid 0), GATELOG_ECLOSED (the close
 * has started), GATELOG_EAGAIN (the queue is full: with producer_full =
 * wait, after waiting producer_wait_ms; nothing was queued). */
GATELOG_EXTERN int gatelog_p_tcp_start(gatelog_producer_t *p, int64_t resource_id,
                                       const struct sockaddr *src, const struct sockaddr *dst,
                                       gatelog_sid_t *sid);
GATELOG_EXTERN int gatelog_p_tcp_end(gatelog_producer_t *p, gatelog_sid_t sid);
GATELOG_EXTERN int gatelog_p_tcp_end_reason(gatelog_producer_t *p, gatelog_sid_t sid,
                                            const char *reason);
GATELOG_EXTERN int gatelog_p_udp_track(gatelog_producer_t *p, int64_t resource_id,
                                       const struct sockaddr *src, const struct sockaddr *dst,
                                       gatelog_sid_t *sid);
GATELOG_EXTERN int gatelog_p_udp_end(gatelog_producer_t *p, gatelog_sid_t sid);
GATELOG_EXTERN int gatelog_p_udp_end_reason(gatelog_producer_t *p, gatelog_sid_t sid,
                                            const char *reason);
GATELOG_EXTERN int gatelog_p_add_bytes(gatelog_producer_t *p, gatelog_sid_t sid, uint64_t tx,
                                       uint64_t rx);

/* gatelog_set_attr from a producer's thread: key and value are checked
 * and copied now, and set on the loop in the order of the producer's
 * calls. Errors (returned now): UV_EINVAL (as gatelog_set_attr),
 * GATELOG_ENOSESSION (sid 0), GATELOG_ECLOSED, GATELOG_EAGAIN, UV_ENOMEM;
 * an unknown or ended sid, or a 17th field, is counted in
 * stats.producer_failed. */
GATELOG_EXTERN int gatelog_p_set_attr(gatelog_producer_t *p, gatelog_sid_t sid, const char *key,
                                      const char *value);

/* Create a core as gatelog_new does, on a libuv loop of its own that runs
 * on a new thread of gatelog's: for a gateway not built on libuv. Report
 * sessions through producers. gatelog_flush, gatelog_reload,
 * gatelog_stats and gatelog_register_sender may then be called from any
 * thread: they run on the core's thread and return its answer (the
 * caller waits). Host senders are called on the core's thread, and must be
 * answered there (gatelog_send_done). The other loop-thread functions are
 * for that thread only (e.g. from a sender). Errors and *out as
 * gatelog_new, and a UV error if the thread cannot be made. Stop it with
 * gatelog_stop_thread, not gatelog_close. */
GATELOG_EXTERN int gatelog_start_thread(const gatelog_options_t *opts, gatelog_t **out);

/* Close a core made by gatelog_start_thread, as gatelog_close (drain_ms
 * alike), wait until it has closed and join its thread; gl is freed.
 * Call it once, from any thread but the core's. Events producers queued
 * before the call are applied first; their later calls return
 * GATELOG_ECLOSED. Errors: UV_EINVAL (NULL gl, not such a core, or called
 * on the core's thread), GATELOG_ECLOSED. */
GATELOG_EXTERN int gatelog_stop_thread(gatelog_t *gl, uint32_t drain_ms);

/* A static description of `err` (gatelog's or libuv's). */
GATELOG_EXTERN const char *gatelog_strerror(int err);
/* The static name of `err`, e.g. "ENOSESSION" or "EINVAL". */
GATELOG_EXTERN const char *gatelog_err_name(int err);

#ifdef __cplusplus
}
#endif
#endif /* GATELOG_H */
