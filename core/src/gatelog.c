/* The core object: options, the session API, the timers, the pump that
 * runs deferred work on the loop, and the two-phase close. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "outbox/send.h"
#include "outbox/spool.h"
#include "prims/io.h"
#include "policy/policy.h"
#include "util/timefmt.h"

#define DRAIN_PER_TICK 2048    /* sessions ended per pump while closing */

static _Thread_local char new_error[1024];

static void free_core(gatelog_t *gl) {
  while (gl->senders) {
    gl_sender *s = gl->senders;
    gl->senders = s->next;
    free(s);
  }
  gl_table_free(&gl->table);
  gl_attrs_free(&gl->attrs);
  gl_extras_free(&gl->attrs_view);
  gl_hub_detach(gl);
  gl_extras_free(&gl->extras);
  gl_spool_free(gl->spool);
  free(gl->script_path);
  free(gl->lua_path);
  free(gl->file_dirs);
  free(gl->last_reload_error);
  free(gl);
}

static void on_flush_timer(uv_timer_t *t) {
  gatelog_t *gl = t->data;
  uint64_t t0 = gl_cb_begin();
  gl_outbox_seal(gl);
  gl_schedule_pump(gl);
  gl_cb_end(gl, t0);
}

/* With a spool, what is sealed is written: sealing often keeps what a
 * crash can lose to a moment (spool_seal_ms). */
static uint64_t flush_period(const gatelog_t *gl) {
  uint64_t every = gl->cfg.flush_interval_ms;
  return gl->spool && gl->opts.spool_seal_ms < every ? gl->opts.spool_seal_ms : every;
}

static int init_timer(gatelog_t *gl, uv_timer_t *t) {
  int err = uv_timer_init(gl->loop, t);
  if (err) return err;
  t->data = gl;
  gl->handles_open++;
  /* Logging alone never keeps the gateway's loop alive. */
  uv_unref((uv_handle_t *)t);
  return 0;
}

static void on_handle_closed(uv_handle_t *h) {
  gatelog_t *gl = h->data;
  if (--gl->handles_open > 0) return;
  if (gl->close_cb) gl->close_cb(gl, gl->close_data);
  free_core(gl);
}

static void close_handles(gatelog_t *gl) {
  uv_handle_t *handles[] = {
      (uv_handle_t *)&gl->flush_timer, (uv_handle_t *)&gl->expiry_timer,
      (uv_handle_t *)&gl->retry_timer, (uv_handle_t *)&gl->close_timer,
      (uv_handle_t *)&gl->send_timer,  (uv_handle_t *)&gl->watch_timer,
      (uv_handle_t *)&gl->drop_timer,
      (uv_handle_t *)&gl->watch_dir,   (uv_handle_t *)&gl->watch_file,
      (uv_handle_t *)&gl->pump_idle,   (uv_handle_t *)&gl->hub_wake,
      (uv_handle_t *)&gl->workers.wake_loop};
  gl->phase = GL_CLOSING_HANDLES;
  size_t n = sizeof(handles) / sizeof(handles[0]);
  if (gl->workers.nthreads < 0) n--; /* its async handle was never made */
  for (size_t i = 0; i < n; i++) uv_close(handles[i], on_handle_closed);
}

void gl_apply_config(gatelog_t *gl, const gl_config *next) {
  gl_config old = gl->cfg;
  gl->cfg = *next;
  if (next->flush_interval_ms != old.flush_interval_ms)
    uv_timer_start(&gl->flush_timer, on_flush_timer, flush_period(gl), flush_period(gl));
  /* Timeouts, lifetimes and the interim interval: look again now. */
  gl_expiry_rearm(gl);
  if (next->max_sessions != old.max_sessions) gl_sessions_fit(gl);
  if (gl->open && gl->open->count >= next->batch_max_records) gl_outbox_seal(gl);
  if (next->queue_max_records < old.queue_max_records || next->queue_max_bytes < old.queue_max_bytes)
    gl_outbox_enforce_cap(gl);
  if (next->send_timeout_ms != old.send_timeout_ms) gl_outbox_check_timeouts(gl);
  if (next->watch != old.watch) gl_watch_set(gl, next->watch);
  gl_schedule_pump(gl);
}

int gatelog_new(uv_loop_t *loop, const gatelog_options_t *opts, gatelog_t **out) {
  if (out) *out = NULL;
  if (loop == NULL || opts == NULL || out == NULL || opts->script == NULL ||
      opts->script[0] == '\0') {
    snprintf(new_error, sizeof(new_error), "gatelog_new: loop, options, script and out are required");
    return UV_EINVAL;
  }
  gatelog_t *gl = calloc(1, sizeof(*gl));
  if (gl == NULL) {
    snprintf(new_error, sizeof(new_error), "gatelog_new: out of memory");
    return UV_ENOMEM;
  }
  gl->loop = loop;
  gl->opts = *opts;
  gl->log_fn = opts->log;
  gl->log_data = opts->log_data;
  gl->script_path = strdup(opts->script);
  gl->lua_path = opts->lua_path ? strdup(opts->lua_path) : NULL;
  gl->file_dirs = gl_file_dirs(opts->file_dirs, opts->script);
  gl_list_init(&gl->pool_waiting);
  gl_list_init(&gl->outbox);
  gl_list_init(&gl->inflight);
  gl_list_init(&gl->answered);
  gl_list_init(&gl->sends);
  gl_list_init(&gl->send_answers);
  gl_list_init(&gl->to_compress);
  gl_list_init(&gl->ios);
  gl_list_init(&gl->deferred);
  gl->phase = GL_OPEN;
  gl_config_from_options(&gl->cfg, opts);
  uint64_t seed = 0;
  int err = 0;
  if (gl->script_path == NULL || (opts->lua_path && gl->lua_path == NULL) ||
      gl->file_dirs == NULL) {
    gl_set_error(gl, "gatelog_new: out of memory");
    err = UV_ENOMEM;
  }
  if (err == 0) err = gl_options_check(gl, opts);
  if (err == 0) err = gl_config_check(gl, &gl->cfg, "options");
  if (err == 0 && (err = gl_ids_next(&gl->ids, &seed)) != 0)
    gl_set_error(gl, "gatelog_new: the kernel's random source failed: %s", uv_strerror(err));
  if (err == 0) err = gl_policy_load(gl, gl->script_path, &gl->cfg, &gl->policy);
  if (err == 0) err = gl_config_check(gl, &gl->cfg, gl->script_path);
  if (err == 0) {
    /* With the script's config in: what the table keeps beside each session. */
    const gl_config *c = &gl->cfg;
    gl_table_init(&gl->table, seed, c->log_start, c->active_timeout_ms > 0, c->max_lifetime_ms > 0,
                  c->max_sessions < (1u << 26) ? c->max_sessions : (1u << 26));
  }
  if (err == 0 && (err = gl_hub_new(gl)) != 0)
    gl_set_error(gl, "gatelog_new: producers: %s", uv_strerror(err));
  if (err == 0) err = gl_spool_open(gl);
  if (err) {
    if (gl->policy) gl_policy_unref(gl->policy);
    memcpy(new_error, gl->last_error, sizeof(new_error));
    free_core(gl);
    return err;
  }
  /* Handles cannot fail to initialize on a live loop; all are counted. */
  init_timer(gl, &gl->flush_timer);
  init_timer(gl, &gl->expiry_timer);
  init_timer(gl, &gl->retry_timer);
  init_timer(gl, &gl->close_timer);
  init_timer(gl, &gl->send_timer);
  init_timer(gl, &gl->watch_timer);
  init_timer(gl, &gl->drop_timer);
  uv_ref((uv_handle_t *)&gl->close_timer); /* a close in progress keeps the loop */
  uv_fs_event_init(loop, &gl->watch_dir);
  uv_fs_event_init(loop, &gl->watch_file);
  uv_idle_init(loop, &gl->pump_idle);
  gl->watch_dir.data = gl->watch_file.data = gl->pump_idle.data = gl;
  gl->handles_open += 3;
  gl_hub_wake_init(gl);
  if (gl->spool) gl->handles_open++; /* its async handle */
  uv_timer_start(&gl->flush_timer, on_flush_timer, flush_period(gl), flush_period(gl));
  if (gl_workers_init(gl, opts->compress_threads, opts->compress_nice) == 0) gl->handles_open++;
  else gl->workers.nthreads = -1; /* no threads: batches are compressed on the loop */
  gl->stats.script_loaded_ns = gl->policy->loaded_ns;
  if (gl->cfg.watch) gl_watch_set(gl, 1);
  *out = gl;
  return 0;
}

const char *gatelog_last_error(gatelog_t *gl) { return gl ? gl->last_error : new_error; }

/* ---- batches and senders --------------------------------------------- */

int gatelog_flush(gatelog_t *gl) {
  if (gl == NULL) return UV_EINVAL;
  if (gl_thread_foreign(gl)) return gl_thread_call(gl, GL_CALL_FLUSH, NULL);
  if (gl->phase != GL_OPEN) return GATELOG_ECLOSED;
  /* What producers called before the flush is in it. */
  gl_hub_sync(gl);
  gl_outbox_seal(gl);
  gl->retry_at_ms = 0; /* an explicit flush tries a failing sink again now */
  gl_schedule_pump(gl);
  return 0;
}

int gatelog_register_sender(gatelog_t *gl, const char *name, gatelog_send_fn fn, void *data) {
  if (gl == NULL || name == NULL || name[0] == '\0' || fn == NULL) return UV_EINVAL;
  if (gl_thread_foreign(gl)) {
    gl_sender_call call = {name, fn, data};
    return gl_thread_call(gl, GL_CALL_SENDER, &call);
  }
  if (gl->phase != GL_OPEN) return GATELOG_ECLOSED;
  for (gl_sender *s = gl->senders; s; s = s->next)
    if (strcmp(s->name, name) == 0) return UV_EEXIST;
  size_t len = strlen(name);
  gl_sender *s = malloc(sizeof(*s) + len + 1);
  if (s == NULL) return UV_ENOMEM;
  memcpy(s->name, name, len + 1);
  s->fn = fn;
  s->data = data;
  s->next = gl->senders;
  gl->senders = s;
  return gl_policy_add_sender(gl->policy, s);
}

int gatelog_check_senders(gatelog_t *gl) {
  if (gl == NULL) return UV_EINVAL;
  if (gl->phase != GL_OPEN) return GATELOG_ECLOSED;
  return gl_policy_check_senders(gl, gl->policy);
}

int gatelog_stats(gatelog_t *gl, gatelog_stats_t *out) {
  if (gl == NULL || out == NULL) return UV_EINVAL;
  if (gl_thread_foreign(gl)) return gl_thread_call(gl, GL_CALL_STATS, out);
  *out = gl->stats;
  gl_hub_stats(gl, out);
  out->tcp_open = gl->table.lists[GL_PROTO_TCP].count;
  out->udp_open = gl->table.lists[GL_PROTO_UDP].count;
  out->script_memory = gl->policy ? gl->policy->rt.budget.memory : 0;
  gl_spool_stats(gl, out);
  return 0;
}

const char *gatelog_instance_id(gatelog_t *gl) { return gl ? gl->instance_id : NULL; }

/* ---- close ----------------------------------------------------------- */

static void maybe_teardown(gatelog_t *gl) {
  /* Thread-pool work cannot be stopped, and closed handles of script I/O
   * still have their close callbacks to run: wait for both. */
  if (gl->phase != GL_FINISHING || gl->pending_work > 0 || gl->io_open > 0) return;
  gl_workers_stop(gl); /* nothing is queued: pending_work is 0 */
  gl_spool_stop(gl, on_handle_closed);
  const gatelog_stats_t *st = &gl->stats;
  if (st->lost_on_close)
    gl_log(gl, GATELOG_LOG_ERROR,
           "closed with %llu records not delivered within the drain deadline (lost_on_close)",
           (unsigned long long)st->lost_on_close);
  if (st->spooled_on_close)
    gl_log(gl, GATELOG_LOG_WARN,
           "closed with %llu batches not delivered within the drain deadline; they wait in "
           "the spool %s for the next start (spooled_on_close)",
           (unsigned long long)st->spooled_on_close, gl->spool->dir);
  if (gl->policy) gl_policy_unref(gl->policy);
  gl->policy = NULL;
  close_handles(gl);
}

/* Everything was delivered, or the deadline came: stop sending. The
 * counts of what was not delivered are final, and logged, at the teardown. */
static void finish(gatelog_t *gl) {
  gl_drops_report(gl);
  /* With a spool, sessions still open go to it, not to waste. */
  while (gl->spool && gl->table.count > 0) {
    uint32_t idx = gl_table_next_open(&gl->table, gl->close_cursor);
    gl->close_cursor = idx + 1;
    gl_session_finish(gl, idx, "shutdown", gl->close_real_ns);
  }
  if (gl->spool) gl_outbox_seal(gl);
  uint64_t lost = gl->table.count + gl_outbox_abandon(gl);
  gl->stats.lost_on_close += lost;
  if (lost)
    gl_log(gl, GATELOG_LOG_ERROR,
           "closed with %llu records not delivered within the drain deadline (lost_on_close)",
           (unsigned long long)lost);
  gl_table_free(&gl->table);
  uv_timer_stop(&gl->close_timer);
  uv_timer_stop(&gl->retry_timer);
  uv_timer_stop(&gl->send_timer);
  gl->phase = GL_FINISHING;
  gl_sends_abandon(gl);
  gl_ios_abandon(gl); /* all script I/O: closed or left to finish, no more callbacks */
  maybe_teardown(gl);
}

/* End open sessions while fewer than queue_max_records records are held,
 * so that closing a large table never holds more at once. This paces the
 * drain; it never drops a record. */
static void drain_step(gatelog_t *gl) {
  int budget = DRAIN_PER_TICK;
  while (gl->table.count > 0 && gl->stats.records_queued < gl->cfg.queue_max_records) {
    if (budget-- == 0) {
      gl_schedule_pump(gl);
      return;
    }
    uint32_t idx = gl_table_next_open(&gl->table, gl->close_cursor);
    gl->close_cursor = idx + 1;
    gl_session_finish(gl, idx, "shutdown", gl->close_real_ns);
  }
  if (gl->table.count == 0) gl_outbox_seal(gl);
}

static void on_close_deadline(uv_timer_t *t) {
  gatelog_t *gl = t->data;
  uint64_t t0 = gl_cb_begin();
  if (gl->phase == GL_DRAINING) finish(gl);
  gl_cb_end(gl, t0);
}

void gl_pump(uv_idle_t *h) {
  gatelog_t *gl = h->data;
  uint64_t t0 = gl_cb_begin();
  uv_idle_stop(h);
  gl_send_run_answers(gl);
  gl_io_run_deferred(gl);
  if (gl->phase == GL_DRAINING) drain_step(gl);
  gl_outbox_pump(gl);
  if (gl->phase == GL_DRAINING && gl->table.count == 0 && gl->open == NULL &&
      gl_list_empty(&gl->outbox))
    finish(gl);
  else if (gl->phase == GL_FINISHING)
    maybe_teardown(gl);
  gl_cb_end(gl, t0);
}

int gatelog_close(gatelog_t *gl, uint32_t drain_ms, gatelog_close_cb cb, void *data) {
  if (gl == NULL || gl_thread_foreign(gl)) return UV_EINVAL;
  if (gl->phase != GL_OPEN) return GATELOG_ECLOSED;
  /* What producers queued before the close becomes sessions first. */
  gl_hub_close(gl);
  gl->phase = GL_DRAINING;
  gl->close_cb = cb;
  gl->close_data = data;
  gl->close_real_ns = gl_now_real(gl);
  gl->retry_at_ms = 0;
  uv_timer_stop(&gl->flush_timer);
  uv_timer_stop(&gl->expiry_timer);
  gl_watch_set(gl, 0);
  uv_timer_start(&gl->close_timer, on_close_deadline, drain_ms, 0);
  gl_schedule_pump(gl);
  return 0;
}
