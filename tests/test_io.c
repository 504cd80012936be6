/* The I/O primitives of gatelog.core driven by the gateway's own loop,
 * against a server on loopback written on libuv here: HTTP through
 * libcurl, TCP, UDP, gzip, a timer; then a close with a request, a
 * connection and a timer still pending must leave the loop empty. Run
 * under valgrind too (tests/CMakeLists.txt). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "gatelog.h"

#define FIXTURE GATELOG_SOURCE_DIR "/spec/fixtures/io_roundtrip.lua"
#define TIMEOUT_MS 20000 /* generous: valgrind is slow */

typedef struct peer {
  uv_tcp_t tcp;
  char buf[8192];
  size_t len;
} peer;

typedef struct ctx {
  uv_loop_t loop;
  uv_tcp_t server;
  uv_udp_t udp;
  uv_timer_t tick;
  int port;
  int datagrams;
  int closed;
  int expired;
  uint64_t started_ms;
  char log[16384];
  size_t log_len;
  gatelog_t *gl;
} ctx;

static void on_log(void *data, int level, const char *msg) {
  ctx *x = data;
  (void)level;
  size_t n = strlen(msg);
  if (strncmp(msg, "script: io: ", 12) != 0 || x->log_len + n + 2 > sizeof(x->log)) return;
  memcpy(x->log + x->log_len, msg + 8, n - 8);
  x->log_len += n - 8;
  x->log[x->log_len++] = '\n';
  x->log[x->log_len] = '\0';
}

static void free_peer(uv_handle_t *h) { free(h->data); }

static void on_written(uv_write_t *w, int status) {
  (void)status;
  free(w);
}

static void reply(peer *p, const char *text, int close_after) {
  uv_write_t *w = malloc(sizeof(*w));
  uv_buf_t b = uv_buf_init((char *)text, (unsigned)strlen(text));
  uv_write(w, (uv_stream_t *)&p->tcp, &b, 1, on_written);
  if (close_after) uv_close((uv_handle_t *)&p->tcp, free_peer);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b) {
  peer *p = h->data;
  (void)hint;
  *b = uv_buf_init(p->buf + p->len, (unsigned)(sizeof(p->buf) - 1 - p->len));
}

/* "ping\n": answer "pong\n" and close. An HTTP request: answer it, except
 * /hang, which is never answered. */
static void on_peer_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b) {
  peer *p = s->data;
  (void)b;
  if (n < 0) {
    if (!uv_is_closing((uv_handle_t *)s)) uv_close((uv_handle_t *)s, free_peer);
    return;
  }
  p->len += (size_t)n;
  p->buf[p->len] = '\0';
  if (strcmp(p->buf, "ping\n") == 0) {
    reply(p, "pong\n", 1);
  } else if (strstr(p->buf, "\r\n\r\n") && strncmp(p->buf, "POST /ok", 8) == 0) {
    const char *cl = strstr(p->buf, "Content-Length: ");
    size_t want = cl ? strtoul(cl + 16, NULL, 10) : 0;
    if (p->len - (size_t)(strstr(p->buf, "\r\n\r\n") + 4 - p->buf) >= want) {
      p->len = 0;
      reply(p, "HTTP/1.1 201 Created\r\nContent-Length: 4\r\n\r\nmade", 0);
    }
  }
}

static void on_connection(uv_stream_t *server, int status) {
  if (status) return;
  peer *p = calloc(1, sizeof(*p));
  uv_tcp_init(server->loop, &p->tcp);
  p->tcp.data = p;
  if (uv_accept(server, (uv_stream_t *)&p->tcp) == 0) uv_read_start((uv_stream_t *)&p->tcp, on_alloc, on_peer_read);
  else uv_close((uv_handle_t *)&p->tcp, free_peer);
}

static void on_udp_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b) {
  static char slab[2048];
  (void)h, (void)hint;
  *b = uv_buf_init(slab, sizeof(slab));
}

static void on_datagram(uv_udp_t *u, ssize_t n, const uv_buf_t *b, const struct sockaddr *a, unsigned f) {
  ctx *x = u->data;
  (void)b, (void)f;
  if (n > 0 && a) x->datagrams++;
}

static void on_tick(uv_timer_t *t) {
  ctx *x = t->data;
  gatelog_stats_t st;
  if (x->gl && gatelog_stats(x->gl, &st) == 0 && st.records_sent >= 1 && x->datagrams >= 2 &&
      strstr(x->log, "io: timer\n"))
    uv_stop(&x->loop);
  if (x->gl && strstr(x->log, "io: hang connected\n")) uv_stop(&x->loop);
  if (uv_now(&x->loop) - x->started_ms > TIMEOUT_MS) {
    x->expired = 1;
    uv_stop(&x->loop);
  }
}

static void on_closed(gatelog_t *gl, void *data) {
  ctx *x = data;
  (void)gl;
  x->closed = 1;
  x->gl = NULL; /* freed once we return */
}

static void setup(ctx *x) {
  memset(x, 0, sizeof(*x));
  CHECK(uv_loop_init(&x->loop) == 0);
  struct sockaddr_in sa;
  uv_ip4_addr("127.0.0.1", 0, &sa);
  uv_tcp_init(&x->loop, &x->server);
  CHECK(uv_tcp_bind(&x->server, (const struct sockaddr *)&sa, 0) == 0);
  CHECK(uv_listen((uv_stream_t *)&x->server, 16, on_connection) == 0);
  int len = sizeof(sa);
  uv_tcp_getsockname(&x->server, (struct sockaddr *)&sa, &len);
  x->port = ntohs(sa.sin_port);
  /* The UDP socket shares the port number. */
  uv_udp_init(&x->loop, &x->udp);
  x->udp.data = x;
  CHECK(uv_udp_bind(&x->udp, (const struct sockaddr *)&sa, 0) == 0);
  uv_udp_recv_start(&x->udp, on_udp_alloc, on_datagram);
  uv_timer_init(&x->loop, &x->tick);
  x->tick.data = x;
  char port[8];
  snprintf(port, sizeof(port), "%d", x->port);
  setenv("GL_TEST_PORT", port, 1);
}

static void start(ctx *x) {
  gatelog_options_t o;
  gatelog_options_init(&o);
  o.script = FIXTURE;
  o.lua_path = GATELOG_SOURCE_DIR "/lua/?.lua;" GATELOG_SOURCE_DIR "/lua/?/init.lua";
  o.access_log = 0;
  o.script_budget_ms = 0; /* valgrind is slow */
  o.log = on_log;
  o.log_data = x;
  CHECK(gatelog_new(&x->loop, &o, &x->gl) == 0);
  struct sockaddr_storage src, dst;
  uv_ip4_addr("10.0.0.1", 1000, (struct sockaddr_in *)&src);
  uv_ip4_addr("10.0.0.2", 80, (struct sockaddr_in *)&dst);
  gatelog_sid_t sid;
  CHECK(gatelog_tcp_start(x->gl, 1, (struct sockaddr *)&src, (struct sockaddr *)&dst, &sid) == 0);
  CHECK(gatelog_tcp_end(x->gl, sid) == 0);
  CHECK(gatelog_flush(x->gl) == 0);
  x->started_ms = uv_now(&x->loop);
  uv_timer_start(&x->tick, on_tick, 5, 5);
  uv_run(&x->loop, UV_RUN_DEFAULT);
  uv_timer_stop(&x->tick);
  CHECK(!x->expired);
}

/* Close gatelog, then our own handles: uv_loop_close proves none of
 * gatelog's is left. */
static void finish(ctx *x) {
  CHECK(gatelog_close(x->gl, 100, on_closed, x) == 0);
  while (!x->closed && uv_run(&x->loop, UV_RUN_ONCE) != 0) {
  }
  CHECK(x->closed);
  x->gl = NULL;
  uv_close((uv_handle_t *)&x->tick, NULL);
  uv_close((uv_handle_t *)&x->udp, NULL);
  uv_close((uv_handle_t *)&x->server, NULL);
  uv_run(&x->loop, UV_RUN_DEFAULT);
  CHECK(uv_loop_close(&x->loop) == 0);
}

static void test_roundtrip(void) {
  ctx x;
  setup(&x);
  unsetenv("GL_TEST_HANG");
  start(&x);
  CHECK(strstr(x.log, "io: http 201 made\n") != NULL);
  CHECK(strstr(x.log, "io: tcp read pong\n") != NULL);
  CHECK(strstr(x.log, "io: tcp read EOF\n") != NULL);
  CHECK(strstr(x.log, "io: udp true\n") != NULL);
  CHECK(strstr(x.log, "io: gzip true\n") != NULL);
  CHECK(x.datagrams == 2);
  gatelog_stats_t st;
  gatelog_stats(x.gl, &st);
  CHECK(st.records_sent == 1);
  CHECK(st.callback_errors == 0);
  finish(&x);
  if (check_failed) fprintf(stderr, "log:\n%s", x.log);
}

static void test_close_with_pending_io(void) {
  ctx x;
  setup(&x);
  setenv("GL_TEST_HANG", "1", 1);
  start(&x);
  CHECK(strstr(x.log, "io: hang connected\n") != NULL);
  finish(&x);
  CHECK(strstr(x.log, "hang answered") == NULL);
  CHECK(strstr(x.log, "timer fired") == NULL);
}

#define TESTS(TEST)           \
  TEST(roundtrip)             \
  TEST(close_with_pending_io)
CHECK_MAIN(TESTS)
