/* Records dropped for room: the counters, a warning at most once a second
 * while drops go on, and once they have stopped for a second, one line with
 * the total of that run ("dropped 19,500 records (195 batches) in the last
 * 3 s"). The rate-limited warnings alone would leave an operator to add up
 * what the limit held back; the total says what was lost, where they look. */
#include <stdio.h>

#include "internal.h"

#define QUIET_MS 1000 /* no drop for this long ends a run of drops */

/* n with thousands separators: 19500 -> "19,500". */
static void grouped(uint64_t n, char out[32]) {
  char raw[24];
  int len = snprintf(raw, sizeof(raw), "%llu", (unsigned long long)n);
  size_t j = 0;
  for (int i = 0; i < len; i++) {
    if (i > 0 && (len - i) % 3 == 0) out[j++] = ',';
    out[j++] = raw[i];
  }
  out[j] = '\0';
}

void gl_drops_report(gatelog_t *gl) {
  if (gl->drops.records == 0) return;
  uint64_t secs = (gl_now_ms(gl) - gl->drops.first_ms + 999) / 1000;
  char n[32];
  grouped(gl->drops.records, n);
  gl_log(gl, GATELOG_LOG_WARN, "dropped %s records (%llu batches) in the last %llu s", n,
         (unsigned long long)gl->drops.batches, (unsigned long long)(secs ? secs : 1));
  gl->drops.records = 0;
  gl->drops.batches = 0;
  uv_timer_stop(&gl->drop_timer);
}

static void on_quiet(uv_timer_t *t) {
  uint64_t t0 = gl_cb_begin();
  gl_drops_report(t->data);
  gl_cb_end(t->data, t0);
}

void gl_drops_count(gatelog_t *gl, uint64_t records, uint64_t batches, const char *why) {
  uint64_t now = gl_now_ms(gl);
  gl->stats.records_dropped += records;
  gl->stats.batches_dropped += batches;
  if (gl->drops.records == 0) gl->drops.first_ms = now;
  gl->drops.records += records;
  gl->drops.batches += batches;
  /* Each drop pushes the total back: it comes once drops have stopped. */
  if (!gl_closing(gl)) uv_timer_start(&gl->drop_timer, on_quiet, QUIET_MS, 0);
  if (why == NULL) return;
  gl->overflow_pending += records;
  uint64_t held;
  if (gl_ratelimit_allow(&gl->rl_overflow, now, &held)) {
    gl_log(gl, GATELOG_LOG_WARN, "%s: dropped the %llu oldest records (%llu dropped in all)", why,
           (unsigned long long)gl->overflow_pending,
           (unsigned long long)gl->stats.records_dropped);
    gl->overflow_pending = 0;
  }
}
