/* Batches from the first record to the acknowledgement: the open batch,
 * sealing, compression on gatelog's own threads, sends in seal order with up to
 * max_inflight at once, answers, retry with backoff, and the two limits
 * that drop the oldest batches: queue_max_records (records waiting again
 * after a failed send, as the reference counts them) and queue_max_bytes
 * (the memory budget). A batch the pipeline has not reached yet (open,
 * sealed, compressing, ready for its first send) only ever counts against
 * the budget, so a burst never loses records to a healthy sink.
 *
 * The outbox list holds every sealed batch until it is acknowledged, in
 * seal order. With a spool (spool.h), a batch is written to disk between
 * its compression and its first send, marked done when it leaves, and
 * may be held on disk only (GL_BATCH_ONDISK) until it is read back. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "outbox/codecs/codec.h"
#include "outbox/send.h"
#include "outbox/spool.h"
#include "policy/policy.h"

static void batch_free(gl_batch *b);

static gl_batch *batch_new(gatelog_t *gl) {
  gl_batch *b = calloc(1, sizeof(*b));
  if (b == NULL) return NULL;
  b->gl = gl;
  gl_list_init(&b->node);
  gl_list_init(&b->answer_node);
  return b;
}

static void batch_free(gl_batch *b) {
  gl_send_unbind(b);
  free(b->zlib);
  gl_buf_free(&b->bin);
  gl_buf_free(&b->json);
  gl_buf_free(&b->reasons);
  gl_buf_free(&b->body);
  gl_codec_unref(b->codec);
  free(b->ends);
  free(b->payload);
  free(b->err);
  free(b);
}

/* b now holds `held` bytes against queue_max_bytes. */
static void account(gatelog_t *gl, gl_batch *b, uint64_t held) {
  gl->stats.bytes_queued += held - b->held;
  b->held = held;
}
void gl_batch_free(gl_batch *b) { batch_free(b); }

/* Remove an unacknowledged batch from the queue's accounting. */
static void forget(gatelog_t *gl, gl_batch *b) {
  gl_spool_forget(gl, b);
  gl->stats.records_queued -= b->count;
  gl->stats.batches_queued--;
  gl->stats.bytes_queued -= b->held;
  if (b->retrying) gl->stats.records_retrying -= b->count;
  gl_list_remove(&b->node);
}

void gl_outbox_forget(gatelog_t *gl, gl_batch *b) { forget(gl, b); }

static void release(gatelog_t *gl, gl_batch *b) {
  if (b->policy) gl_policy_unref(b->policy);
  b->policy = NULL;
  if (b->state == GL_BATCH_COMPRESSING || b->state == GL_BATCH_LOADING) {
    b->dropped = 1; /* freed when the work ends */
    return;
  }
  if (b->state == GL_BATCH_SEALED) {
    gl_list_remove(&b->answer_node);
    gl_work_end(gl);
  }
  batch_free(b);
}

/* Batches in flight are the sender's now: no limit drops them. */
static int droppable(const gl_batch *b) {
  return b->state != GL_BATCH_INFLIGHT && b->state != GL_BATCH_ANSWERED;
}

/* Drop whole batches, oldest first (with retrying_only, of those waiting
 * again after a failed send), while `over` holds; count them, say why. */
static void drop_oldest(gatelog_t *gl, int (*over)(const gatelog_t *), int retrying_only,
                        const char *why) {
  uint64_t records = 0, batches = 0;
  /* With a spool, batches leave memory for the disk as they are written
   * (gl_spool_shed): only those it could not take are dropped. */
  if (!gl_spool_droppable(gl)) return;
  gl_link *l = gl->outbox.next;
  while (over(gl) && l != &gl->outbox) {
    gl_batch *b = GL_CONTAINER(l, gl_batch, node);
    l = l->next;
    if (!droppable(b) || (retrying_only && !b->retrying)) continue;
    if (gl_spool_keeps(gl, b)) continue;
    records += b->count;
    batches++;
    forget(gl, b);
    release(gl, b);
  }
  if (records) gl_drops_count(gl, records, batches, why);
}

static int over_records(const gatelog_t *gl) {
  return gl->stats.records_retrying > gl->cfg.queue_max_records;
}
static int over_bytes(const gatelog_t *gl) {
  return gl->stats.bytes_queued > gl->cfg.queue_max_bytes;
}

/* Memory is full: what the spool holds on disk only does not count (its
 * bytes and its retrying records are given back when it leaves memory). */
int gl_outbox_over_cap(const gatelog_t *gl) { return over_records(gl) || over_bytes(gl); }

void gl_outbox_held(gatelog_t *gl, gl_batch *b, int in_memory) {
  account(gl, b, in_memory ? b->json.len + b->body.len + b->payload_len : 0);
  if (!in_memory && b->retrying) {
    gl->stats.records_retrying -= b->count;
    b->retrying = 0;
  }
}

void gl_outbox_enforce_cap(gatelog_t *gl) {
  char why[128];
  if (over_records(gl)) {
    snprintf(why, sizeof(why),
             "queue over queue_max_records=%u (records waiting again after a failed send)",
             gl->cfg.queue_max_records);
    drop_oldest(gl, over_records, 1, why);
  }
  if (over_bytes(gl)) {
    snprintf(why, sizeof(why), "queue over queue_max_bytes=%llu",
             (unsigned long long)gl->cfg.queue_max_bytes);
    drop_oldest(gl, over_bytes, 0, why);
  }
}

int gl_outbox_add_record(gatelog_t *gl, const gl_record *r) {
  if (gl->open == NULL && (gl->open = batch_new(gl)) == NULL) return UV_ENOMEM;
  gl_batch *b = gl->open;
  size_t mark = b->bin.len, rmark = b->reasons.len;
  /* Packed, not JSON: the text is written on a compression thread. */
  int err = gl_record_pack(&b->bin, r);
  if (err == 0 && r->final) err = gl_buf_append(&b->reasons, r->end_reason, strlen(r->end_reason));
  if (err == 0) err = gl_buf_append(&b->reasons, "\n", 1);
  if (err) {
    b->reasons.len = rmark;
    b->bin.len = mark;
    return err;
  }
  b->count++;
  gl->stats.records_queued++;
  account(gl, b, b->bin.len);
  if (b->count >= gl->cfg.batch_max_records) gl_outbox_seal(gl);
  else gl_outbox_enforce_cap(gl);
  return 0;
}

void gl_outbox_compressed(gatelog_t *gl, gl_batch *b, int status) {
  uint64_t t0 = gl_cb_begin();
  gl_work_end(gl);
  if (b->dropped) {
    /* Abandoned by the close while on its way to the spool: there now, or lost. */
    if (gl->spool && gl_closing(gl)) {
      if (gl_spool_has(b)) gl->stats.spooled_on_close++;
      else gl->stats.lost_on_close += b->count;
    }
    batch_free(b);
    gl_schedule_pump(gl);
    gl_cb_end(gl, t0);
    return;
  }
  if (status == 0) status = b->work_err;
  if (status) {
    gl_log(gl, GATELOG_LOG_ERROR, "compressing a batch of %u records failed: %s; dropped",
           b->count, gatelog_strerror(status));
    gl_drops_count(gl, b->count, 1, NULL);
    forget(gl, b);
    batch_free(b);
  } else {
    b->state = GL_BATCH_READY;
    gl->stats.bytes_json += b->json.len;
    gl->stats.bytes_compressed += b->zlib_len;
    account(gl, b, b->json.len + b->body.len + b->payload_len);
    gl_spool_written(gl, b);
    gl_spool_shed(gl, b); /* now on disk: it may leave memory */
    gl_outbox_enforce_cap(gl);
  }
  gl_schedule_pump(gl);
  gl_cb_end(gl, t0);
}

/* Seal the open batch. It is handed to the compression threads by the pump, not
 * here: a seal happens inside a session call, which must stay short (a
 * thread wake-up costs microseconds). */
void gl_outbox_seal(gatelog_t *gl) {
  gl_batch *b = gl->open;
  if (b == NULL || b->count == 0) return;
  gl->open = NULL;
  /* The buffer grew by doubling: give back the slack (up to half of it)
   * that the batch would otherwise hold until it is compressed. */
  char *fit = realloc(b->bin.data, b->bin.len + 1);
  if (fit) {
    b->bin.data = fit;
    b->bin.cap = b->bin.len + 1;
  }
  b->seq = gl->next_seq++;
  if (gl_ids_next(&gl->ids, &b->id) != 0) b->id = b->seq ^ (uint64_t)(uintptr_t)b;
  b->level = gl->cfg.compression_level;
  b->compressor = gl->cfg.compressor;
  /* The script's C codec builds its body with the JSON, off the loop. */
  if (gl->policy && gl->policy->codec) gl_codec_ref(b->codec = gl->policy->codec);
  b->state = GL_BATCH_SEALED;
  gl->stats.batches_sealed++;
  gl->stats.batches_queued++;
  gl_list_push(&gl->outbox, &b->node);
  gl_list_push(&gl->to_compress, &b->answer_node);
  gl_work_begin(gl);
  gl_schedule_pump(gl);
  gl_outbox_enforce_cap(gl);
}

static void submit_sealed(gatelog_t *gl) {
  while (!gl_list_empty(&gl->to_compress)) {
    gl_batch *b = GL_CONTAINER(gl->to_compress.next, gl_batch, answer_node);
    gl_list_remove(&b->answer_node);
    b->state = GL_BATCH_COMPRESSING;
    gl_workers_submit(gl, b);
  }
}

#define BACKOFF_FIRST_MS 1000

static void on_retry(uv_timer_t *t) { gl_schedule_pump(t->data); }

static void wait_for(gatelog_t *gl, uint64_t now, uint64_t ms) {
  gl->retry_at_ms = now + ms;
  gl->stats.retry_wait_ms = ms;
  uv_timer_start(&gl->retry_timer, on_retry, ms, 0);
}

/* A wait drawn from [step/2, step]: gateways that lost the same sink do
 * not all come back to it at the same instant. */
static uint64_t jittered(gatelog_t *gl, uint64_t step) {
  uint64_t r;
  if (gl_ids_next(&gl->ids, &r) != 0) return step;
  return step - r % (step / 2 + 1);
}

static void start_backoff(gatelog_t *gl, uint64_t retry_after_ms) {
  /* The loop's cached time can lag by a busy iteration; a sink's "not
   * before" is measured from now, not from then. */
  if (retry_after_ms) uv_update_time(gl->loop);
  uint64_t now = gl_now_ms(gl);
  if (retry_after_ms) {
    /* The sink said when to come back: that wait replaces the backoff's
     * (which keeps its step), unless a wait already running is longer. */
    if (now + retry_after_ms > gl->retry_at_ms) wait_for(gl, now, retry_after_ms);
    return;
  }
  if (now < gl->retry_at_ms) return; /* one outage doubles once, not once per batch */
  /* Capped at retry_max_ms, not at the flush interval: a sink that comes
   * back is tried again within seconds, before the memory budget fills. */
  uint64_t cap = gl->cfg.retry_max_ms;
  uint64_t next = gl->backoff_ms ? gl->backoff_ms * 2 : BACKOFF_FIRST_MS;
  gl->backoff_ms = next < cap ? next : cap;
  wait_for(gl, now, jittered(gl, gl->backoff_ms));
}

/* A failed answer's line: a dead sink answers every batch, so at most
 * one line a second, saying how many it held back. */
static void log_held(gatelog_t *gl, gl_ratelimit *rl, int level, const gl_batch *b,
                     const char *what) {
  uint64_t held;
  if (!gl_ratelimit_allow(rl, gl_now_ms(gl), &held)) {
    /* Held back at its level; a debug log still sees each one. */
    gl_log(gl, GATELOG_LOG_DEBUG, "sending batch %llu (%u records, attempt %u) %s: %s",
           (unsigned long long)b->seq, b->count, b->attempt, what, b->err);
    return;
  }
  char more[64] = "";
  if (held) snprintf(more, sizeof(more), " (%llu more since the last line)", (unsigned long long)held);
  gl_log(gl, level, "sending batch %llu (%u records, attempt %u) %s: %s%s",
         (unsigned long long)b->seq, b->count, b->attempt, what, b->err, more);
}

static void settle(gatelog_t *gl, gl_batch *b) {
  gl_list_remove(&b->answer_node);
  gl_send_unbind(b);
  if (b->policy) gl_policy_unref(b->policy);
  b->policy = NULL;
  if (b->ok) {
    gl->stats.batches_sent++;
    gl->stats.records_sent += b->count;
    gl->backoff_ms = 0;
    gl->retry_at_ms = 0;
    gl->sink_failing = 0;
    gl->stats.retry_wait_ms = 0;
    gl_spool_done(gl, b);
    forget(gl, b);
    batch_free(b);
    return;
  }
  gl->stats.batches_failed++;
  if (b->how.permanent) {
    /* The sink will never take it (a 400): retrying would only block the
     * queue. Not a sign of an outage either, so no backoff. */
    gl->stats.batches_rejected++;
    gl->stats.records_rejected += b->count;
    log_held(gl, &gl->rl_rejected, GATELOG_LOG_ERROR, b, "rejected for good, dropped");
    gl_spool_done(gl, b);
    forget(gl, b);
    batch_free(b);
    return;
  }
  log_held(gl, &gl->rl_send_failed, GATELOG_LOG_WARN, b, "failed");
  b->state = GL_BATCH_READY;
  if (!b->retrying) {
    b->retrying = 1;
    gl->stats.records_retrying += b->count;
  }
  gl->sink_failing = 1;
  start_backoff(gl, b->how.retry_after_ms);
  gl_outbox_enforce_cap(gl);
}

static void on_send_timer(uv_timer_t *t) {
  uint64_t t0 = gl_cb_begin();
  gl_outbox_check_timeouts(t->data);
  gl_cb_end(t->data, t0);
}

void gl_outbox_check_timeouts(gatelog_t *gl) {
  uint64_t now = gl_now_ms(gl), limit = gl->cfg.send_timeout_ms;
  /* The in-flight list is in the order the sends started: the oldest
   * first, so the scan stops at the first one still in time. */
  while (!gl_list_empty(&gl->inflight)) {
    gl_batch *b = GL_CONTAINER(gl->inflight.next, gl_batch, answer_node);
    if (now < b->sent_ms + limit) {
      uv_timer_start(&gl->send_timer, on_send_timer, b->sent_ms + limit - now, 0);
      return;
    }
    char why[96];
    snprintf(why, sizeof(why), "send did not call done within %llu ms", (unsigned long long)limit);
    gl->stats.sends_timed_out++;
    gl_send_answer(b->send, 0, why, NULL);
  }
  uv_timer_stop(&gl->send_timer);
}

static void start_send(gatelog_t *gl, gl_batch *b) {
  b->attempt++;
  if (b->attempt > 1) gl->stats.batches_retried++;
  if (b->first_ms == 0) b->first_ms = gl_now_real(gl) / 1000000;
  gl_spool_attempt(gl, b);
  b->state = GL_BATCH_INFLIGHT;
  b->policy = gl->policy;
  gl_policy_ref(b->policy);
  gl_list_push(&gl->inflight, &b->answer_node);
  b->sent_ms = gl_now_ms(gl);
  if (!uv_is_active((uv_handle_t *)&gl->send_timer))
    uv_timer_start(&gl->send_timer, on_send_timer, gl->cfg.send_timeout_ms, 0);
  gl->ninflight++;
  gl->stats.batches_inflight++;
  gl_send_start(gl, b);
}

void gl_outbox_pump(gatelog_t *gl) {
  submit_sealed(gl);
  while (!gl_list_empty(&gl->answered))
    settle(gl, GL_CONTAINER(gl->answered.next, gl_batch, answer_node));
  if (gl_closing(gl) || gl->policy == NULL) return;
  if (gl_now_ms(gl) < gl->retry_at_ms) return;
  /* Start sends in seal order; a batch still compressing holds back the
   * ones sealed after it. A send can re-enter the core (a host sender that
   * ends a session, seals, drops the oldest), so each pass starts again
   * from the head instead of keeping a pointer across the call. */
  /* While the sink fails, one send at a time probes it: a dead sink is
   * not handed a batch per slot, and each failure makes at most one more
   * batch wait again (what queue_max_records counts). */
  uint32_t limit = gl->sink_failing ? 1 : gl->cfg.max_inflight;
  while (gl->ninflight < limit) {
    gl_batch *next = NULL;
    for (gl_link *l = gl->outbox.next; l != &gl->outbox; l = l->next) {
      gl_batch *b = GL_CONTAINER(l, gl_batch, node);
      if (b->state == GL_BATCH_SEALED || b->state == GL_BATCH_COMPRESSING) break;
      if (b->state == GL_BATCH_ONDISK || b->state == GL_BATCH_LOADING) {
        gl_spool_prefetch(gl, b); /* read back first */
        break;
      }
      if (b->state == GL_BATCH_READY) {
        next = b;
        break;
      }
    }
    if (next == NULL) return;
    start_send(gl, next);
    /* A send that failed at once (it raised) backs off before the next. */
    if (!gl_list_empty(&gl->answered) || gl_closing(gl)) return;
  }
}

uint64_t gl_outbox_abandon(gatelog_t *gl) {
  uint64_t lost = 0;
  /* Answers that came before the deadline count: delivered is not lost. */
  while (!gl_list_empty(&gl->answered))
    settle(gl, GL_CONTAINER(gl->answered.next, gl_batch, answer_node));
  /* With a spool, sealed batches go on to it through compression; they
   * are counted when they come back (gl_outbox_compressed). */
  if (gl->spool) submit_sealed(gl);
  while (!gl_list_empty(&gl->outbox)) {
    gl_batch *b = GL_CONTAINER(gl->outbox.next, gl_batch, node);
    /* One on its way to the spool is counted when it comes back. */
    int later = gl->spool && b->state == GL_BATCH_COMPRESSING;
    if (!later && gl_spool_has(b)) gl->stats.spooled_on_close++;
    else if (!later) lost += b->count;
    /* A batch on another thread is on that thread's list, not ours. */
    if (b->state != GL_BATCH_SEALED && b->state != GL_BATCH_COMPRESSING &&
        b->state != GL_BATCH_LOADING)
      gl_list_remove(&b->answer_node);
    forget(gl, b);
    release(gl, b);
  }
  if (gl->open) {
    lost += gl->open->count;
    batch_free(gl->open);
    gl->open = NULL;
  }
  gl->ninflight = 0;
  gl->stats.batches_inflight = 0;
  gl->stats.records_queued = 0;
  gl->stats.bytes_queued = 0;
  return lost;
}
