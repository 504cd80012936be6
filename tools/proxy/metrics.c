/* --metrics: a minimal HTTP/1.1 server on the proxy's loop that answers
 * GET /metrics with gatelog_stats and the proxy's counters in the
 * Prometheus text exposition format (version 0.0.4). One request per
 * connection (Connection: close): scrapers need no more, and it keeps a
 * slow or idle client from holding anything beyond its 10 s deadline. At
 * shutdown every client is closed with the listener, before gatelog is. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "util/list.h"
#include "proxy.h"

#define REQUEST_MAX 8192
#define CLIENT_TIMEOUT_MS 10000

/* Names follow Prometheus's conventions: counters end in _total, a unit
 * is in the name in base units (_bytes, _seconds). */
typedef struct metric {
  const char *name;
  size_t offset;
  int counter; /* else a gauge */
  const char *help;
  int ms;      /* the field counts milliseconds: shown in seconds */
} metric;

#define C(f, n, h) {n, offsetof(gatelog_stats_t, f), 1, h, 0}
#define G(f, n, h) {n, offsetof(gatelog_stats_t, f), 0, h, 0}
static const metric gatelog_metrics[] = {
    C(tcp_started, "tcp_started_total", "TCP sessions started."),
    C(tcp_ended, "tcp_ended_total", "TCP sessions ended."),
    C(udp_started, "udp_started_total", "UDP sessions started."),
    C(udp_ended, "udp_ended_total", "UDP sessions ended."),
    G(tcp_open, "tcp_open", "TCP sessions open now."),
    G(udp_open, "udp_open", "UDP sessions open now."),
    C(ended_closed, "ended_closed_total", "Sessions ended by the gateway."),
    C(ended_idle, "ended_idle_total", "UDP sessions ended by the idle timeout."),
    C(ended_shutdown, "ended_shutdown_total", "Sessions ended by the close."),
    C(records_kept, "records_kept_total", "Records the filter kept."),
    C(records_filtered, "records_filtered_total", "Records the filter dropped."),
    C(script_errors, "script_errors_total", "Errors raised by filter, enrich or send."),
    C(filter_errors, "filter_errors_total", "Errors raised by filter."),
    C(enrich_errors, "enrich_errors_total", "Errors raised by enrich."),
    C(send_errors, "send_errors_total", "Errors raised by send."),
    C(batches_sealed, "batches_sealed_total", "Batches sealed."),
    C(batches_sent, "batches_sent_total", "Batches acknowledged."),
    C(batches_failed, "batches_failed_total", "Sends that failed."),
    C(batches_retried, "batches_retried_total", "Sends of a batch after its first."),
    C(batches_dropped, "batches_dropped_total", "Batches dropped for room (queue_max_records, queue_max_bytes)."),
    C(records_sent, "records_sent_total", "Records in acknowledged batches."),
    C(records_dropped, "records_dropped_total", "Records dropped for room (queue_max_records, queue_max_bytes)."),
    C(bytes_json, "json_bytes_total", "JSON bytes of sealed batches."),
    C(bytes_compressed, "compressed_bytes_total", "Compressed bytes of sealed batches."),
    G(records_queued, "records_queued", "Records held, not yet acknowledged."),
    G(batches_queued, "batches_queued", "Batches held, not yet acknowledged."),
    G(batches_inflight, "batches_inflight", "Batches handed to send, awaiting done."),
    G(bytes_queued, "queued_bytes", "Bytes of batches held, against queue_max_bytes."),
    G(records_retrying, "records_retrying", "Records waiting again after a failed send, against queue_max_records."),
    {"retry_wait_seconds", offsetof(gatelog_stats_t, retry_wait_ms), 0,
     "Wait before the next retry of a failing sink; 0 when sends succeed.", 1},
    C(batches_rejected, "batches_rejected_total", "Batches the sink refused for good."),
    C(records_rejected, "records_rejected_total", "Records in batches the sink refused for good."),
    C(lost_on_close, "lost_on_close_total", "Records not delivered by the close deadline."),
    C(done_ignored, "done_ignored_total", "Late or repeated done calls."),
    C(callback_errors, "callback_errors_total", "Errors raised by callbacks of core functions."),
    C(budget_exceeded, "budget_exceeded_total", "Script calls stopped by the time budget."),
    C(memory_exceeded, "memory_exceeded_total", "Script calls stopped by the memory budget."),
    C(records_dropped_on_error, "records_dropped_on_error_total", "Records dropped by on_script_error = drop."),
    C(sends_timed_out, "sends_timed_out_total", "Sends not answered within the send timeout."),
    C(sends_raised_after_io, "sends_raised_after_io_total", "Sends that raised after starting I/O (left to their done)."),
    C(reloads, "reloads_total", "Successful reloads."),
    C(reload_failures, "reload_failures_total", "Failed reloads."),
    G(script_memory, "script_memory_bytes", "Bytes of Lua heap of the running script."),
    G(script_states, "script_states", "Lua states alive."),
    G(spool_bytes, "spool_bytes", "Bytes of the spool's files."),
    G(spool_batches, "spool_batches", "Batches in the spool, not done."),
    C(batches_recovered, "batches_recovered_total", "Batches a previous run left in the spool."),
    C(records_recovered, "records_recovered_total", "Records in those batches."),
    C(spool_corrupt, "spool_corrupt_total", "Damaged spool entries or files skipped."),
    C(spool_write_errors, "spool_write_errors_total", "Batches and marks the spool failed to write."),
    C(nats_published, "nats_published_total", "Messages published to NATS JetStream."),
    C(nats_acked, "nats_acked_total", "Messages JetStream acknowledged."),
    C(nats_duplicates, "nats_duplicates_total", "Acknowledgements of messages the stream held already."),
    C(nats_reconnects, "nats_reconnects_total", "NATS connections made again after one was lost."),
    C(nats_errors, "nats_errors_total", "NATS publishes that failed (timeout, no stream, refused, no server)."),
};
#undef C
#undef G

#define P(f, n, c, h) {n, offsetof(px_counters, f), c, h, 0}
static const metric proxy_metrics[] = {
    P(tcp_accepted, "tcp_accepted_total", 1, "TCP connections accepted."),
    P(tcp_active, "tcp_active", 0, "TCP connections open now."),
    P(udp_flows_opened, "udp_flows_opened_total", 1, "UDP flows opened."),
    P(udp_flows_active, "udp_flows_active", 0, "UDP flows open now."),
    P(bytes_tx, "tx_bytes_total", 1, "Bytes delivered from clients to upstreams."),
    P(bytes_rx, "rx_bytes_total", 1, "Bytes delivered from upstreams to clients."),
    P(upstream_refused, "upstream_refused_total", 1, "Upstream connections refused."),
    P(upstream_timeouts, "upstream_timeouts_total", 1, "Upstream connections timed out."),
    P(upstream_errors, "upstream_errors_total", 1, "Other upstream failures."),
    P(udp_dropped, "udp_dropped_total", 1, "Datagrams dropped because a send queue was full."),
};
#undef P

typedef struct buf {
  char *p;
  size_t len, cap;
} buf;

static void add(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add(buf *b, const char *fmt, ...) {
  for (;;) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? b->cap - b->len : 0, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if (b->p && b->len + (size_t)n < b->cap) {
      b->len += (size_t)n;
      return;
    }
    size_t cap = b->cap ? b->cap * 2 : 8192;
    while (cap < b->len + (size_t)n + 1) cap *= 2;
    char *p = realloc(b->p, cap);
    if (p == NULL) return;
    b->p = p;
    b->cap = cap;
  }
}

static void add_metrics(buf *b, const char *prefix, const metric *m, size_t n, const void *base) {
  for (size_t i = 0; i < n; i++) {
    uint64_t v;
    memcpy(&v, (const char *)base + m[i].offset, sizeof(v));
    add(b, "# HELP %s%s %s\n# TYPE %s%s %s\n", prefix, m[i].name, m[i].help, prefix, m[i].name,
        m[i].counter ? "counter" : "gauge");
    if (m[i].ms) add(b, "%s%s %.3f\n", prefix, m[i].name, (double)v / 1000);
    else add(b, "%s%s %llu\n", prefix, m[i].name, (unsigned long long)v);
  }
}

/* A label value: backslash, double quote and newline escaped. */
static void add_label(buf *b, const char *s) {
  for (; *s; s++) {
    if (*s == '\\' || *s == '"') add(b, "\\%c", *s);
    else if (*s == '\n') add(b, "\\n");
    else add(b, "%c", *s);
  }
}

static void exposition(proxy *p, buf *b) {
  gatelog_stats_t st;
  gatelog_script_info_t info;
  memset(&st, 0, sizeof(st));
  gatelog_stats(p->gl, &st);
  add_metrics(b, "gatelog_", gatelog_metrics, sizeof(gatelog_metrics) / sizeof(gatelog_metrics[0]),
              &st);
  add(b, "# HELP gatelog_build_info The gatelog that runs.\n# TYPE gatelog_build_info gauge\n"
         "gatelog_build_info{version=\"%d.%d.%d\"} 1\n",
      GATELOG_VERSION_MAJOR, GATELOG_VERSION_MINOR, GATELOG_VERSION_PATCH);
  add(b, "# HELP gatelog_script_loaded_timestamp_seconds When the running script was loaded.\n"
         "# TYPE gatelog_script_loaded_timestamp_seconds gauge\n"
         "gatelog_script_loaded_timestamp_seconds %.3f\n",
      st.script_loaded_ns / 1e9);
  if (gatelog_script_info(p->gl, &info) == 0) {
    add(b, "# HELP gatelog_script_info The running script.\n# TYPE gatelog_script_info gauge\n"
           "gatelog_script_info{path=\"");
    add_label(b, info.path);
    add(b, "\",sha256=\"%s\"} 1\n", info.sha256);
  }
  add_metrics(b, "gatelog_proxy_", proxy_metrics, sizeof(proxy_metrics) / sizeof(proxy_metrics[0]),
              &p->n);
}

typedef struct client {
  uv_tcp_t h;
  uv_timer_t timer;
  uv_write_t w;
  proxy *p;
  buf out;
  size_t len;
  int closing, handles;
  gl_link node;
  char in[REQUEST_MAX];
} client;

typedef struct server {
  uv_tcp_t h;
  proxy *p;
  gl_link clients;
} server;

static void on_client_closed(uv_handle_t *h) {
  client *c = h->data;
  if (--c->handles > 0) return;
  free(c->out.p);
  free(c);
}

static void close_client(client *c) {
  if (c->closing) return;
  c->closing = 1;
  gl_list_remove(&c->node);
  uv_close((uv_handle_t *)&c->h, on_client_closed);
  uv_close((uv_handle_t *)&c->timer, on_client_closed);
}

static void on_written(uv_write_t *w, int status) {
  (void)status;
  close_client(w->data);
}

static void respond(client *c, const char *status, const char *type, const char *body,
                    size_t len) {
  buf *b = &c->out;
  add(b, "HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
      status, type, len);
  size_t head = b->len;
  if (body) {
    add(b, "%.*s", (int)len, body);
    if (b->len != head + len) b->len = head; /* out of memory: headers only */
  }
  uv_read_stop((uv_stream_t *)&c->h);
  uv_buf_t out = uv_buf_init(b->p, (unsigned)b->len);
  c->w.data = c;
  if (b->p == NULL || uv_write(&c->w, (uv_stream_t *)&c->h, &out, 1, on_written) != 0)
    close_client(c);
}

static void handle_request(client *c) {
  char method[8], path[256];
  static const char text[] = "text/plain; charset=utf-8";
  if (sscanf(c->in, "%7s %255s HTTP/1.%*c", method, path) != 2) {
    respond(c, "400 Bad Request", text, "bad request\n", 12);
    return;
  }
  char *q = strchr(path, '?');
  if (q) *q = '\0';
  if (strcmp(path, "/metrics") != 0) {
    respond(c, "404 Not Found", text, "not found: try /metrics\n", 24);
  } else if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
    respond(c, "405 Method Not Allowed", text, "only GET\n", 9);
  } else {
    buf body = {0};
    exposition(c->p, &body);
    respond(c, "200 OK", "text/plain; version=0.0.4; charset=utf-8",
            strcmp(method, "HEAD") == 0 ? NULL : body.p, body.len);
    free(body.p);
  }
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b) {
  (void)hint;
  client *c = h->data;
  *b = uv_buf_init(c->in + c->len, (unsigned)(sizeof(c->in) - 1 - c->len));
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b) {
  (void)b;
  client *c = s->data;
  if (nread < 0) {
    close_client(c);
    return;
  }
  c->len += (size_t)nread;
  c->in[c->len] = '\0';
  if (strstr(c->in, "\r\n\r\n") || strstr(c->in, "\n\n")) handle_request(c);
  else if (c->len == sizeof(c->in) - 1)
    respond(c, "431 Request Header Fields Too Large", "text/plain", "too large\n", 10);
}

static void on_timeout(uv_timer_t *t) { close_client(t->data); }

static void on_connection(uv_stream_t *s, int status) {
  server *srv = s->data;
  if (status < 0) return;
  client *c = calloc(1, sizeof(*c));
  if (c == NULL) return;
  c->p = srv->p;
  uv_tcp_init(s->loop, &c->h);
  uv_timer_init(s->loop, &c->timer);
  c->h.data = c->timer.data = c;
  c->handles = 2;
  gl_list_push(&srv->clients, &c->node);
  if (uv_accept(s, (uv_stream_t *)&c->h) != 0 ||
      uv_read_start((uv_stream_t *)&c->h, on_alloc, on_read) != 0) {
    close_client(c);
    return;
  }
  uv_timer_start(&c->timer, on_timeout, CLIENT_TIMEOUT_MS, 0);
}

int px_metrics_bind(proxy *p, char *err, size_t errlen) {
  server *srv = calloc(1, sizeof(*srv));
  if (srv == NULL) return UV_ENOMEM;
  srv->p = p;
  gl_list_init(&srv->clients);
  uv_tcp_init(p->loop, &srv->h);
  srv->h.data = srv;
  p->metrics = srv;
  int rc = uv_tcp_bind(&srv->h, (struct sockaddr *)&p->opt.metrics_addr, 0);
  if (rc == 0) rc = uv_listen((uv_stream_t *)&srv->h, 64, on_connection);
  if (rc) {
    snprintf(err, errlen, "--metrics %s: %s", p->opt.metrics, uv_strerror(rc));
    return rc;
  }
  int len = sizeof(p->opt.metrics_addr);
  uv_tcp_getsockname(&srv->h, (struct sockaddr *)&p->opt.metrics_addr, &len);
  char a[80];
  px_format_addr((struct sockaddr *)&p->opt.metrics_addr, a, sizeof(a));
  px_log(p, GATELOG_LOG_INFO, "metrics at http://%s/metrics", a);
  return 0;
}

static void free_server(uv_handle_t *h) { free(h->data); }

void px_metrics_close(proxy *p) {
  server *srv = p->metrics;
  if (srv == NULL) return;
  while (!gl_list_empty(&srv->clients))
    close_client(GL_CONTAINER(srv->clients.next, client, node));
  uv_close((uv_handle_t *)&srv->h, free_server);
  p->metrics = NULL;
}
