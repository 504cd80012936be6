/* The session API and what happens to a session over its life: start
 * (and its start record), activity, interim records, the timeouts, the
 * bound on the table, and its end with a reason. One timer drives every
 * timeout: each kind keeps its sessions in an ordered list whose head is
 * the next due, and the timer is armed for the earliest head. */
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "policy/policy.h"
#include "util/timefmt.h"

#define EXPIRE_PER_TICK 1024 /* due events handled per timer callback */

enum due_kind { DUE_NONE, DUE_IDLE, DUE_LIFETIME, DUE_INTERIM };

/* ---- records ------------------------------------------------------------- */

static void record_from(gatelog_t *gl, uint32_t idx, gl_record *r) {
  const gl_session *s = gl_table_at(&gl->table, idx);
  memset(r, 0, sizeof(*r));
  r->sid = s->sid;
  r->resource = s->resource;
  r->proto = s->proto;
  gl_session_src(s, &r->src);
  gl_session_dst(s, &r->dst);
  r->started_ns = s->start_real_ns;
  r->bytes_tx = s->bytes_tx;
  r->bytes_rx = s->bytes_rx;
  r->with_seq = gl->table.with_interim;
  r->final = 1;
  r->seq = 1;
  r->delta_tx = s->bytes_tx;
  r->delta_rx = s->bytes_rx;
  const gl_attr_set *set = gl->attrs.count ? gl_attrs_get(&gl->attrs, s->sid) : NULL;
  if (set) {
    gl_extras_reset(&gl->attrs_view);
    if (gl_attrs_to_extras(set, &gl->attrs_view) == 0) r->attrs = &gl->attrs_view;
  }
  if (gl->table.with_interim) {
    const gl_interim *in = gl_table_interim(&gl->table, idx);
    r->seq = in->seq + 1;
    r->delta_tx = s->bytes_tx - in->tx_reported;
    r->delta_rx = s->bytes_rx - in->rx_reported;
  }
}

/* Filter, enrich, and into the open batch. */
static void deliver(gatelog_t *gl, gl_record *r) {
  gatelog_stats_t *st = &gl->stats;
  if (!gl_policy_process(gl->policy, r)) {
    st->records_filtered++;
    return;
  }
  st->records_kept++;
  int err = gl_outbox_add_record(gl, r);
  if (err) {
    st->records_dropped++;
    gl_log(gl, GATELOG_LOG_ERROR, "record of session %016llx dropped: %s",
           (unsigned long long)r->sid, gatelog_strerror(err));
  }
}

static void access_line(gatelog_t *gl, const gl_record *r, int start) {
  if (!gl->cfg.access_log || gl->opts.log_level < GATELOG_LOG_INFO) return;
  char hex[17], src[GL_ADDR_STRLEN], dst[GL_ADDR_STRLEN];
  char started[GL_TIME_STRLEN], ended[GL_TIME_STRLEN], dur[GL_DURATION_STRLEN];
  gl_hex16(r->sid, hex);
  gl_addr_format(&r->src, src);
  gl_addr_format(&r->dst, dst);
  gl_fmt_time_sec(r->started_ns, started);
  if (start) {
    gl_log(gl, GATELOG_LOG_INFO, "ACCESS START session=%s resource=%lld proto=%s src=%s dst=%s time=%s",
           hex, (long long)r->resource, gl_proto_name(r->proto), src, dst, started);
    return;
  }
  gl_fmt_time_sec(r->ended_ns, ended);
  gl_fmt_duration((int64_t)(r->ended_ns - r->started_ns), dur);
  const char *tag = strcmp(r->end_reason, "closed") == 0 ? "" : r->end_reason;
  gl_log(gl, GATELOG_LOG_INFO,
         "ACCESS END%s%s%s session=%s resource=%lld proto=%s src=%s dst=%s started=%s "
         "ended=%s duration=%s",
         *tag ? " (" : "", tag, *tag ? ")" : "", hex, (long long)r->resource,
         gl_proto_name(r->proto), src, dst, started, ended, dur);
}

static void count_end(gatelog_stats_t *st, int proto, const char *reason) {
  if (proto == GL_PROTO_TCP) st->tcp_ended++;
  else st->udp_ended++;
  if (strcmp(reason, "closed") == 0) st->ended_closed++;
  else if (strcmp(reason, "idle") == 0) st->ended_idle++;
  else if (strcmp(reason, "shutdown") == 0) st->ended_shutdown++;
  else if (strcmp(reason, "evicted") == 0) st->ended_evicted++;
  else if (strcmp(reason, "max_lifetime") == 0) st->ended_max_lifetime++;
  else st->ended_other++;
}

void gl_session_finish(gatelog_t *gl, uint32_t idx, const char *reason, uint64_t end_real_ns) {
  gl_record r;
  record_from(gl, idx, &r);
  r.end_reason = reason;
  r.ended_ns = end_real_ns > r.started_ns ? end_real_ns : r.started_ns;
  count_end(&gl->stats, r.proto, reason);
  access_line(gl, &r, 0);
  gl_table_remove(&gl->table, idx);
  if (r.proto == GL_PROTO_UDP) {
    /* The next track of this flow, on any thread, makes a new session. */
    gl_flow_key k = {r.resource, r.src, r.dst};
    gl_flowdir_remove(gl->flows, &k, r.sid);
  }
  deliver(gl, &r);
  if (gl->attrs.count) gl_attrs_drop(&gl->attrs, r.sid);
  if (gl->opts.on_end) {
    struct sockaddr_storage src, dst;
    gl_addr_to_sockaddr(&r.src, &src);
    gl_addr_to_sockaddr(&r.dst, &dst);
    gatelog_end_info_t info = {r.sid, r.resource, r.proto == GL_PROTO_UDP ? IPPROTO_UDP : IPPROTO_TCP,
                               (struct sockaddr *)&src, (struct sockaddr *)&dst, reason};
    gl->opts.on_end(gl->opts.on_end_data, &info);
  }
}

/* An interim record: the counters so far, and what moved since the last. */
static void emit_interim(gatelog_t *gl, uint32_t idx) {
  gl_record r;
  gl_interim *in = gl_table_interim(&gl->table, idx);
  gl_session *s = gl_table_at(&gl->table, idx);
  record_from(gl, idx, &r);
  r.final = 0;
  r.ended_ns = gl_now_real(gl);
  in->seq = r.seq;
  in->tx_reported = s->bytes_tx;
  in->rx_reported = s->bytes_rx;
  gl_table_requeue_interim(&gl->table, idx);
  gl->stats.records_interim++;
  deliver(gl, &r);
}

/* ---- the timeouts ------------------------------------------------------------ */

/* The earliest due event among the heads of the lists, by monotonic time. */
static enum due_kind next_due(gatelog_t *gl, uint32_t *idx, uint64_t *at) {
  const gl_table *t = &gl->table;
  const gl_config *c = &gl->cfg;
  enum due_kind kind = DUE_NONE;
  uint64_t best = UINT64_MAX;
  uint32_t i;
#define CONSIDER(k, index, when)   \
  do {                             \
    uint64_t w_ = (when);          \
    if (w_ < best) {               \
      best = w_, kind = (k);       \
      *idx = (index);              \
    }                              \
  } while (0)
  if ((i = gl_table_first(t, GL_LIST_UDP)) != GL_NONE)
    CONSIDER(DUE_IDLE, i, gl_table_at(t, i)->last_mono_ns + c->udp_idle_timeout_ms * 1000000);
  if (c->tcp_idle_timeout_ms && (i = gl_table_first(t, GL_LIST_TCP)) != GL_NONE)
    CONSIDER(DUE_IDLE, i, gl_table_at(t, i)->last_mono_ns + c->tcp_idle_timeout_ms * 1000000);
  if (c->max_lifetime_ms && t->with_life && (i = gl_table_first(t, GL_LIST_LIFE)) != GL_NONE)
    CONSIDER(DUE_LIFETIME, i, gl_table_at(t, i)->start_mono_ns + c->max_lifetime_ms * 1000000);
  if (c->active_timeout_ms && t->interim_queue && (i = gl_table_first(t, GL_LIST_INTERIM)) != GL_NONE)
    CONSIDER(DUE_INTERIM, i,
             gl_table_at(t, i)->start_mono_ns +
                 (uint64_t)(gl_table_interim(t, i)->seq + 1) * c->active_timeout_ms * 1000000);
#undef CONSIDER
  *at = best;
  return kind;
}

/* Handle what is due by `now` (at most `limit`); returns how many, and in
 * *next_ms how long until the next (UINT64_MAX: nothing pending). */
static int expire_due(gatelog_t *gl, uint64_t now, int limit, uint64_t *next_ms) {
  int n = 0;
  for (;;) {
    uint32_t idx;
    uint64_t at;
    enum due_kind kind = next_due(gl, &idx, &at);
    if (kind == DUE_NONE) {
      *next_ms = UINT64_MAX;
      return n;
    }
    if (at > now) {
      *next_ms = (at - now + 999999) / 1000000;
      return n;
    }
    if (n == limit) {
      *next_ms = 0;
      return n;
    }
    gl_session *s = gl_table_at(&gl->table, idx);
    if (kind == DUE_IDLE)
      /* It ended when it was last active: its start plus the monotonic
       * time it was alive, so a wall-clock step meanwhile does not move it. */
      gl_session_finish(gl, idx, "idle", s->start_real_ns + (s->last_mono_ns - s->start_mono_ns));
    else if (kind == DUE_LIFETIME)
      gl_session_finish(gl, idx, "max_lifetime", gl_now_real(gl));
    else
      emit_interim(gl, idx);
    n++;
  }
}

static void on_expiry(uv_timer_t *t);

static void arm(gatelog_t *gl, uint64_t in_ms) {
  gl->expiry_at_ms = gl_now_ms(gl) + in_ms;
  uv_timer_start(&gl->expiry_timer, on_expiry, in_ms, 0);
}

static void on_expiry(uv_timer_t *t) {
  gatelog_t *gl = t->data;
  uint64_t next_ms, t0 = gl_cb_begin();
  /* A bounded number per callback, so that a mass expiry never holds the
   * loop; the rest goes on at the next turn. */
  expire_due(gl, gl_now_mono(gl), EXPIRE_PER_TICK, &next_ms);
  if (next_ms != UINT64_MAX) arm(gl, next_ms);
  else uv_timer_stop(t);
  gl_cb_end(gl, t0);
}

/* A new session may be due before whatever the timer waits for. */
static void arm_for(gatelog_t *gl) {
  uint32_t idx;
  uint64_t at;
  if (next_due(gl, &idx, &at) == DUE_NONE) return;
  uint64_t now = gl_now_mono(gl);
  uint64_t in_ms = at > now ? (at - now + 999999) / 1000000 : 0;
  if (!uv_is_active((uv_handle_t *)&gl->expiry_timer) || gl_now_ms(gl) + in_ms < gl->expiry_at_ms)
    arm(gl, in_ms);
}

void gl_expiry_rearm(gatelog_t *gl) { arm(gl, 0); }

int gatelog_expire(gatelog_t *gl) {
  if (gl == NULL) return UV_EINVAL;
  if (gl->phase != GL_OPEN) return GATELOG_ECLOSED;
  uint64_t next_ms;
  return expire_due(gl, gl_now_mono(gl), INT32_MAX, &next_ms);
}

/* ---- starting ------------------------------------------------------------------- */

/* Make room under max_sessions: evict the least recently active, or refuse. */
static int make_room(gatelog_t *gl) {
  if (gl->cfg.max_sessions == 0 || gl->table.count < gl->cfg.max_sessions) return 0;
  if (gl->cfg.table_full == GATELOG_REFUSE) {
    gl->stats.sessions_refused++;
    return GATELOG_EFULL;
  }
  while (gl->table.count >= gl->cfg.max_sessions)
    gl_session_finish(gl, gl_table_least_recent_any(&gl->table), "evicted", gl_now_real(gl));
  return 0;
}

/* With *sid 0, a new id is drawn; else *sid is the id (a producer's). */
static int start_session(gatelog_t *gl, int proto, int64_t resource, const gl_addr *src,
                         const gl_addr *dst, gatelog_sid_t *sid) {
  if (*sid && gl_table_find_sid(&gl->table, *sid) != GL_NONE) return UV_EEXIST;
  int err = make_room(gl);
  if (err) return err;
  gl_session s;
  memset(&s, 0, sizeof(s));
  s.proto = (uint8_t)proto;
  s.resource = resource;
  gl_session_set_addrs(&s, src, dst);
  s.start_real_ns = gl_now_real(gl);
  s.start_mono_ns = s.last_mono_ns = gl_now_mono(gl);
  s.sid = *sid;
  while (s.sid == 0 || (*sid == 0 && gl_table_find_sid(&gl->table, s.sid) != GL_NONE))
    if ((err = gl_ids_next(&gl->ids, &s.sid)) != 0) return err;
  uint32_t idx;
  if ((err = gl_table_insert(&gl->table, &s, &idx)) != 0) return err;
  if (proto == GL_PROTO_TCP) gl->stats.tcp_started++;
  else gl->stats.udp_started++;
  arm_for(gl);
  gl_record r;
  record_from(gl, idx, &r);
  access_line(gl, &r, 1);
  *sid = s.sid;
  if (gl->cfg.log_start && gl->table.with_interim) {
    r.is_start = 1;
    r.final = 0;
    r.seq = 0;
    gl->stats.records_start++;
    deliver(gl, &r);
  }
  return 0;
}

static int endpoints(gatelog_t *gl, const struct sockaddr *src, const struct sockaddr *dst,
                     gatelog_sid_t *sid, gl_addr *a, gl_addr *b) {
  if (gl == NULL || sid == NULL) return UV_EINVAL;
  if (gl->phase != GL_OPEN) return GATELOG_ECLOSED;
  int err = gl_addr_from_sockaddr(src, a);
  if (err == 0) err = gl_addr_from_sockaddr(dst, b);
  return err;
}

int gatelog_tcp_start(gatelog_t *gl, int64_t resource_id, const struct sockaddr *src,
                      const struct sockaddr *dst, gatelog_sid_t *sid) {
  gl_addr a, b;
  int err = endpoints(gl, src, dst, sid, &a, &b);
  if (err) return err;
  *sid = 0;
  return start_session(gl, GL_PROTO_TCP, resource_id, &a, &b, sid);
}

/* A flow the table does not hold may still have an id in the directory:
 * a producer claimed it and its start is on the way. Start it under
 * that id, so that the flow has one session whoever saw it first. */
static int start_flow(gatelog_t *gl, const gl_flow_key *k, gatelog_sid_t *sid) {
  gatelog_sid_t fresh;
  int err;
  do {
    if ((err = gl_ids_next(&gl->ids, &fresh)) != 0) return err;
  } while (gl_table_find_sid(&gl->table, fresh) != GL_NONE);
  if ((err = gl_flowdir_claim(gl->flows, k, fresh, sid)) < 0) return err;
  err = start_session(gl, GL_PROTO_UDP, k->resource, &k->src, &k->dst, sid);
  if (err) gl_flowdir_remove(gl->flows, k, *sid);
  return err;
}

int gatelog_udp_track(gatelog_t *gl, int64_t resource_id, const struct sockaddr *src,
                      const struct sockaddr *dst, gatelog_sid_t *sid) {
  gl_addr a, b;
  int err = endpoints(gl, src, dst, sid, &a, &b);
  if (err) return err;
  uint32_t idx = gl_table_find_flow(&gl->table, resource_id, &a, &b);
  if (idx == GL_NONE) {
    gl_flow_key k = {resource_id, a, b};
    return start_flow(gl, &k, sid);
  }
  gl_table_touch(&gl->table, idx, gl_now_mono(gl));
  *sid = gl_table_at(&gl->table, idx)->sid;
  return 0;
}

int gl_session_start_as(gatelog_t *gl, int64_t resource, const gl_addr *src, const gl_addr *dst,
                        gatelog_sid_t sid) {
  if (gl->phase != GL_OPEN) return GATELOG_ECLOSED;
  return start_session(gl, GL_PROTO_TCP, resource, src, dst, &sid);
}

int gl_session_track_as(gatelog_t *gl, const gl_flow_key *k, gatelog_sid_t sid, int claimed) {
  if (gl->phase != GL_OPEN) return GATELOG_ECLOSED;
  uint32_t idx = gl_table_find_sid(&gl->table, sid);
  if (idx != GL_NONE) {
    if (gl_table_at(&gl->table, idx)->proto != GL_PROTO_UDP) return GATELOG_EWRONGPROTO;
    gl_table_touch(&gl->table, idx, gl_now_mono(gl));
    return 0;
  }
  /* Not open: its first track to arrive starts it. The track that claimed
   * the id always comes before the session's end (an end waits a pass),
   * even when the end has forgotten the flow already; another track does
   * if the directory still gives the flow this id. Else it is a touch of
   * a flow that ended since, or whose claim is still on its way: nothing
   * to do. */
  if (!claimed && gl_flowdir_get(gl->flows, k) != sid) return 0;
  int err = start_session(gl, GL_PROTO_UDP, k->resource, &k->src, &k->dst, &sid);
  if (err) gl_flowdir_remove(gl->flows, k, sid);
  return err;
}

/* ---- activity and the end -------------------------------------------------------- */

static int valid_reason(const char *reason) {
  if (reason == NULL) return 0;
  size_t n = strlen(reason);
  if (n == 0 || n > 64) return 0;
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)reason[i] < 0x20 || reason[i] == 0x7f) return 0;
  return 1;
}

static int end_session(gatelog_t *gl, gatelog_sid_t sid, int proto, const char *reason) {
  if (gl == NULL) return UV_EINVAL;
  if (!valid_reason(reason)) return UV_EINVAL;
  if (gl->phase != GL_OPEN) return GATELOG_ECLOSED;
  uint32_t idx = gl_table_find_sid(&gl->table, sid);
  if (idx == GL_NONE) return GATELOG_ENOSESSION;
  if (gl_table_at(&gl->table, idx)->proto != proto) return GATELOG_EWRONGPROTO;
  gl_session_finish(gl, idx, reason, gl_now_real(gl));
  return 0;
}

int gatelog_tcp_end(gatelog_t *gl, gatelog_sid_t sid) {
  return end_session(gl, sid, GL_PROTO_TCP, "closed");
}

int gatelog_udp_end(gatelog_t *gl, gatelog_sid_t sid) {
  return end_session(gl, sid, GL_PROTO_UDP, "closed");
}

int gatelog_tcp_end_reason(gatelog_t *gl, gatelog_sid_t sid, const char *reason) {
  return end_session(gl, sid, GL_PROTO_TCP, reason);
}

int gatelog_udp_end_reason(gatelog_t *gl, gatelog_sid_t sid, const char *reason) {
  return end_session(gl, sid, GL_PROTO_UDP, reason);
}

/* *v += add, stopping at UINT64_MAX; 1 if it stopped there. */
static int saturating_add(uint64_t *v, uint64_t add) {
  if (add > UINT64_MAX - *v) {
    *v = UINT64_MAX;
    return 1;
  }
  *v += add;
  return 0;
}

int gatelog_add_bytes(gatelog_t *gl, gatelog_sid_t sid, uint64_t tx, uint64_t rx) {
  if (gl == NULL) return UV_EINVAL;
  if (gl->phase != GL_OPEN) return GATELOG_ECLOSED;
  uint32_t idx = gl_table_find_sid(&gl->table, sid);
  if (idx == GL_NONE) return GATELOG_ENOSESSION;
  gl_session *s = gl_table_at(&gl->table, idx);
  /* A counter that would pass 2^64 - 1 stays there (a wrap would report a
   * huge session as a small one); bytes_saturated counts the additions. */
  gl->stats.bytes_saturated += saturating_add(&s->bytes_tx, tx) + saturating_add(&s->bytes_rx, rx);
  gl_table_touch(&gl->table, idx, gl_now_mono(gl));
  return 0;
}

/* A smaller max_sessions applies at once: evict down to it. */
void gl_sessions_fit(gatelog_t *gl) {
  if (gl->cfg.max_sessions == 0 || gl->cfg.table_full != GATELOG_EVICT) return;
  while (gl->table.count > gl->cfg.max_sessions)
    gl_session_finish(gl, gl_table_least_recent_any(&gl->table), "evicted", gl_now_real(gl));
}

int gatelog_set_attr(gatelog_t *gl, gatelog_sid_t sid, const char *key, const char *value) {
  if (gl == NULL || key == NULL || value == NULL) return UV_EINVAL;
  size_t klen = strlen(key), vlen = strlen(value);
  if (!gl_attr_valid(key, klen, vlen)) return UV_EINVAL;
  if (gl->phase != GL_OPEN) return GATELOG_ECLOSED;
  if (gl_table_find_sid(&gl->table, sid) == GL_NONE) return GATELOG_ENOSESSION;
  return gl_attrs_set(&gl->attrs, sid, key, klen, value, vlen);
}
