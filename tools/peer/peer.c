/* gatelog-peer: the other ends of gatelog-proxy, for its tests and the
 * demo. Servers on 127.0.0.1 (free ports, printed as "NAME PORT" lines,
 * then "ready") and clients that print exactly how many bytes they sent
 * and received, so a test can compare them with the records.
 *
 *   gatelog-peer serve [--tcp-echo] [--tcp-reply] [--udp-echo] [--udp-reply]
 *                      [--http BYTES] [--source BYTES] [--blackhole]
 *   gatelog-peer tcp HOST:PORT BYTES [--wait-file PATH]
 *   gatelog-peer slow HOST:PORT --wait-file PATH
 *   gatelog-peer udp HOST:PORT COUNT SIZE
 *   gatelog-peer tcp-loop HOST:PORT BYTES
 *   gatelog-peer freeport
 *
 * Every stream and datagram carries the pattern fill() writes, and the
 * tcp client says whether what it received was intact. tcp-reply reads
 * until the client's EOF, then answers reply_size(n) bytes and closes; udp-reply answers each datagram of n bytes with one
 * of reply_size(n). The sizes differ from the requests so that a record
 * with bytesTx and bytesRx swapped cannot pass a test.
 *
 * tcp-loop makes tcp connections one after another (to an echo server),
 * each sending BYTES and reading them back to EOF, until one fails (the
 * proxy is gone): a line "done LOCAL_PORT WALL_NS" as each completes,
 * whole, for crash tests to hold the records against. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#define CHUNK 65536

static size_t reply_size(size_t n) { return n / 2 + 7; }

static void die(const char *what, const char *why) {
  fprintf(stderr, "gatelog-peer: %s: %s\n", what, why);
  exit(1);
}

static void fill(char *p, size_t n, size_t offset) {
  for (size_t i = 0; i < n; i++) p[i] = (char)('a' + (offset + i) % 26);
}

/* ---- servers (libuv) --------------------------------------------------- */

typedef enum { K_ECHO, K_REPLY, K_HTTP, K_SOURCE } kind;

typedef struct server {
  uv_tcp_t h;
  kind k;
  size_t bytes; /* HTTP body or SOURCE total */
} server;

typedef struct conn {
  uv_tcp_t h;
  server *s;
  size_t got, sent, queued;
  int responded;
  char head[8192];
  size_t headlen;
} conn;

typedef struct wreq {
  uv_write_t w;
  conn *c;
  char data[];
} wreq;

static void on_closed(uv_handle_t *h) { free(h->data); }
static void close_conn(conn *c) {
  if (!uv_is_closing((uv_handle_t *)&c->h)) uv_close((uv_handle_t *)&c->h, on_closed);
}

static void on_shutdown(uv_shutdown_t *r, int status) {
  (void)status;
  close_conn(r->data);
  free(r);
}

static void finish(conn *c) {
  uv_shutdown_t *r = malloc(sizeof(*r));
  r->data = c;
  if (uv_shutdown(r, (uv_stream_t *)&c->h, on_shutdown) != 0) {
    free(r);
    close_conn(c);
  }
}

static void source_more(conn *c);

static void on_written(uv_write_t *w, int status) {
  wreq *r = (wreq *)w;
  conn *c = r->c;
  free(r);
  if (status < 0) {
    close_conn(c);
    return;
  }
  if (c->s->k == K_SOURCE) source_more(c);
}

static int send_bytes(conn *c, const char *data, size_t n) {
  wreq *r = malloc(sizeof(*r) + n);
  r->c = c;
  memcpy(r->data, data, n);
  uv_buf_t b = uv_buf_init(r->data, (unsigned)n);
  if (uv_write(&r->w, (uv_stream_t *)&c->h, &b, 1, on_written) != 0) {
    free(r);
    return -1;
  }
  return 0;
}

static void send_pattern(conn *c, size_t n) {
  char buf[CHUNK];
  for (size_t done = 0; done < n;) {
    size_t k = n - done < CHUNK ? n - done : CHUNK;
    fill(buf, k, done);
    if (send_bytes(c, buf, k)) return;
    done += k;
  }
}

/* A few chunks in the queue at a time: the source itself must not buffer
 * what the test says the proxy must not buffer. */
static void source_more(conn *c) {
  char buf[CHUNK];
  while (c->sent < c->s->bytes && c->h.write_queue_size < 4 * CHUNK) {
    size_t k = c->s->bytes - c->sent < CHUNK ? c->s->bytes - c->sent : CHUNK;
    fill(buf, k, c->sent);
    if (send_bytes(c, buf, k)) return;
    c->sent += k;
  }
  if (c->sent == c->s->bytes && !c->responded) {
    c->responded = 1;
    finish(c);
  }
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b) {
  (void)h;
  (void)hint;
  b->base = malloc(CHUNK);
  b->len = CHUNK;
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b) {
  conn *c = st->data;
  if (n > 0) {
    c->got += (size_t)n;
    if (c->s->k == K_ECHO) send_bytes(c, b->base, (size_t)n);
    if (c->s->k == K_HTTP && !c->responded) {
      size_t k = (size_t)n < sizeof(c->head) - 1 - c->headlen ? (size_t)n
                                                               : sizeof(c->head) - 1 - c->headlen;
      memcpy(c->head + c->headlen, b->base, k);
      c->headlen += k;
      c->head[c->headlen] = '\0';
      if (strstr(c->head, "\r\n\r\n")) {
        char hdr[160];
        int len = snprintf(hdr, sizeof(hdr),
                           "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n"
                           "Content-Length: %zu\r\n\r\n",
                           c->s->bytes);
        send_bytes(c, hdr, (size_t)len);
        send_pattern(c, c->s->bytes);
        c->responded = 1;
        finish(c);
      }
    }
  } else if (n == UV_EOF) {
    uv_read_stop(st);
    if (c->s->k == K_REPLY) send_pattern(c, reply_size(c->got));
    if (c->s->k != K_SOURCE && !c->responded) {
      c->responded = 1;
      finish(c);
    }
  } else if (n < 0) {
    close_conn(c);
  }
  free(b->base);
}

static void on_connection(uv_stream_t *st, int status) {
  server *s = st->data;
  if (status < 0) return;
  conn *c = calloc(1, sizeof(*c));
  c->s = s;
  uv_tcp_init(st->loop, &c->h);
  c->h.data = c;
  if (uv_accept(st, (uv_stream_t *)&c->h) != 0) {
    close_conn(c);
    return;
  }
  uv_read_start((uv_stream_t *)&c->h, on_alloc, on_read);
  if (s->k == K_SOURCE) source_more(c);
}

static int bound_port(uv_handle_t *h) {
  struct sockaddr_storage ss;
  int len = sizeof(ss);
  if (h->type == UV_UDP) uv_udp_getsockname((uv_udp_t *)h, (struct sockaddr *)&ss, &len);
  else uv_tcp_getsockname((uv_tcp_t *)h, (struct sockaddr *)&ss, &len);
  return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

static void tcp_server(uv_loop_t *loop, const char *name, kind k, size_t bytes) {
  server *s = calloc(1, sizeof(*s));
  struct sockaddr_in a;
  uv_ip4_addr("127.0.0.1", 0, &a);
  s->k = k;
  s->bytes = bytes;
  uv_tcp_init(loop, &s->h);
  s->h.data = s;
  int err = uv_tcp_bind(&s->h, (struct sockaddr *)&a, 0);
  if (err == 0) err = uv_listen((uv_stream_t *)&s->h, 128, on_connection);
  if (err) die(name, uv_strerror(err));
  printf("%s %d\n", name, bound_port((uv_handle_t *)&s->h));
}

static char udp_buf[65536];

static void udp_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b) {
  (void)h;
  (void)hint;
  *b = uv_buf_init(udp_buf, sizeof(udp_buf));
}

/* udp-echo sends each datagram back; udp-reply answers reply_size(n). */
static void on_udp(uv_udp_t *h, ssize_t n, const uv_buf_t *b, const struct sockaddr *from,
                   unsigned flags) {
  (void)flags;
  if (n < 0 || from == NULL) return;
  static char out[65536];
  uv_buf_t r = uv_buf_init(b->base, (unsigned)n);
  if (h->data == NULL) {
    r = uv_buf_init(out, (unsigned)reply_size((size_t)n));
    fill(out, r.len, 0);
  }
  uv_udp_try_send(h, &r, 1, from);
}

static void udp_server(uv_loop_t *loop, const char *name, int echo) {
  uv_udp_t *u = calloc(1, sizeof(*u));
  struct sockaddr_in a;
  uv_ip4_addr("127.0.0.1", 0, &a);
  uv_udp_init(loop, u);
  u->data = echo ? u : NULL;
  int err = uv_udp_bind(u, (struct sockaddr *)&a, 0);
  if (err == 0) err = uv_udp_recv_start(u, udp_alloc, on_udp);
  if (err) die(name, uv_strerror(err));
  printf("%s %d\n", name, bound_port((uv_handle_t *)u));
}

/* A listener whose one-slot backlog is already full: connections to it
 * are never answered, so an upstream connect times out. */
static void blackhole(void) {
  int l = socket(AF_INET, SOCK_STREAM, 0), c = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a;
  socklen_t len = sizeof(a);
  uv_ip4_addr("127.0.0.1", 0, &a);
  if (bind(l, (struct sockaddr *)&a, sizeof(a)) || listen(l, 0) ||
      getsockname(l, (struct sockaddr *)&a, &len) || connect(c, (struct sockaddr *)&a, len))
    die("blackhole", strerror(errno));
  printf("blackhole %d\n", ntohs(a.sin_port));
}

static _Noreturn void serve(int argc, char **argv) {
  uv_loop_t *loop = uv_default_loop();
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--tcp-echo") == 0) tcp_server(loop, "tcp-echo", K_ECHO, 0);
    else if (strcmp(a, "--tcp-reply") == 0) tcp_server(loop, "tcp-reply", K_REPLY, 0);
    else if (strcmp(a, "--udp-reply") == 0) udp_server(loop, "udp-reply", 0);
    else if (strcmp(a, "--udp-echo") == 0) udp_server(loop, "udp-echo", 1);
    else if (strcmp(a, "--blackhole") == 0) blackhole();
    else if (strcmp(a, "--http") == 0 && i + 1 < argc)
      tcp_server(loop, "http", K_HTTP, strtoull(argv[++i], NULL, 10));
    else if (strcmp(a, "--source") == 0 && i + 1 < argc)
      tcp_server(loop, "source", K_SOURCE, strtoull(argv[++i], NULL, 10));
    else die("serve", "unknown option");
  }
  printf("ready\n");
  fflush(stdout);
  signal(SIGPIPE, SIG_IGN);
  uv_run(loop, UV_RUN_DEFAULT);
  for (;;) pause(); /* a blackhole alone gives the loop nothing to run; live until killed */
}

/* ---- clients (blocking sockets) ---------------------------------------- */

/* A connected socket, or -1 with errno; its local port in *port. */
static int dial(const char *hostport, int type, int *port) {
  char host[256];
  const char *colon = strrchr(hostport, ':');
  if (colon == NULL || (size_t)(colon - hostport) >= sizeof(host)) die(hostport, "want HOST:PORT");
  memcpy(host, hostport, (size_t)(colon - hostport));
  host[colon - hostport] = '\0';
  struct sockaddr_in a;
  if (uv_ip4_addr(host, atoi(colon + 1), &a) != 0) die(hostport, "want an IPv4 address");
  int fd = socket(AF_INET, type, 0);
  if (fd < 0) return -1;
  if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
    int e = errno;
    close(fd);
    errno = e;
    return -1;
  }
  struct sockaddr_in me;
  socklen_t len = sizeof(me);
  getsockname(fd, (struct sockaddr *)&me, &len);
  *port = ntohs(me.sin_port);
  return fd;
}

static int connect_to(const char *hostport, int type) {
  int port, fd = dial(hostport, type, &port);
  if (fd < 0) die(hostport, strerror(errno));
  printf("local %d\n", port);
  fflush(stdout);
  return fd;
}

static int exists(const char *path) {
  struct stat st;
  return path && stat(path, &st) == 0;
}

typedef struct stream_in {
  size_t received;
  int intact; /* every byte so far is the pattern's */
} stream_in;

/* Read once; returns what recv returned. */
static ssize_t take(int fd, stream_in *in) {
  char buf[CHUNK], want[CHUNK];
  ssize_t n = recv(fd, buf, sizeof(buf), 0);
  if (n > 0) {
    fill(want, (size_t)n, in->received);
    if (memcmp(buf, want, (size_t)n) != 0) in->intact = 0;
    in->received += (size_t)n;
  }
  return n;
}

/* Wait for `path` to appear, reading what arrives meanwhile; returns -1 if
 * the peer closed first. */
static int wait_file(int fd, const char *path, stream_in *in) {
  while (!exists(path)) {
    struct pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, 20) > 0 && take(fd, in) <= 0) return -1;
  }
  return 0;
}

static size_t send_pattern_fd(int fd, size_t n, size_t offset) {
  char buf[CHUNK];
  size_t done = 0;
  while (done < n) {
    size_t k = n - done < CHUNK ? n - done : CHUNK;
    fill(buf, k, offset + done);
    ssize_t w = send(fd, buf, k, MSG_NOSIGNAL);
    if (w <= 0) break;
    done += (size_t)w;
  }
  return done;
}

static int tcp_client(const char *hostport, size_t bytes, const char *wait_path, int slow) {
  int fd = connect_to(hostport, SOCK_STREAM);
  size_t sent = 0;
  stream_in in = {0, 1};
  int cut = 0;
  if (slow) {
    while (!exists(wait_path)) usleep(20000); /* read nothing meanwhile */
  } else {
    size_t first = wait_path ? bytes / 2 : bytes;
    sent = send_pattern_fd(fd, first, 0);
    if (wait_path) {
      cut = wait_file(fd, wait_path, &in) != 0;
      if (!cut) sent += send_pattern_fd(fd, bytes - first, first);
    }
    shutdown(fd, SHUT_WR);
  }
  if (!cut)
    while (take(fd, &in) > 0) {
    }
  printf("sent=%zu received=%zu intact=%s\n", sent, in.received, in.intact ? "yes" : "no");
  close(fd);
  return 0;
}

static int tcp_loop(const char *hostport, size_t bytes) {
  for (;;) {
    int port, fd = dial(hostport, SOCK_STREAM, &port);
    if (fd < 0) return 0;
    stream_in in = {0, 1};
    size_t sent = send_pattern_fd(fd, bytes, 0);
    shutdown(fd, SHUT_WR);
    ssize_t n;
    while ((n = take(fd, &in)) > 0) {
    }
    close(fd);
    /* Cut short (the proxy died): not a completed session. */
    if (n < 0 || sent != bytes || in.received != bytes || !in.intact) return 0;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    printf("done %d %lld\n", port, (long long)ts.tv_sec * 1000000000 + ts.tv_nsec);
    fflush(stdout);
  }
}

static int udp_client(const char *hostport, int count, size_t size) {
  int fd = connect_to(hostport, SOCK_DGRAM);
  char buf[65536], want[32768];
  size_t sent = 0, received = 0;
  int intact = 1;
  fill(buf, size, 0);
  fill(want, sizeof(want), 0);
  for (int i = 0; i < count; i++) {
    if (send(fd, buf, size, 0) != (ssize_t)size) die("udp send", strerror(errno));
    sent += size;
    struct pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, 10000) <= 0) die("udp", "no reply within 10 s");
    ssize_t n = recv(fd, buf + 32768, 32768, 0);
    if (n < 0) die("udp recv", strerror(errno));
    if (memcmp(buf + 32768, want, (size_t)n) != 0) intact = 0;
    received += (size_t)n;
  }
  printf("sent=%zu received=%zu intact=%s\n", sent, received, intact ? "yes" : "no");
  return 0;
}

static int freeport(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a;
  socklen_t len = sizeof(a);
  uv_ip4_addr("127.0.0.1", 0, &a);
  if (bind(fd, (struct sockaddr *)&a, sizeof(a)) || getsockname(fd, (struct sockaddr *)&a, &len))
    die("freeport", strerror(errno));
  printf("%d\n", ntohs(a.sin_port));
  close(fd);
  return 0;
}

int main(int argc, char **argv) {
  const char *cmd = argc > 1 ? argv[1] : "";
  const char *wait_path = NULL;
  for (int i = 2; i + 1 < argc; i++)
    if (strcmp(argv[i], "--wait-file") == 0) wait_path = argv[i + 1];
  if (strcmp(cmd, "serve") == 0) serve(argc - 2, argv + 2);
  if (strcmp(cmd, "tcp") == 0 && argc >= 4)
    return tcp_client(argv[2], strtoull(argv[3], NULL, 10), wait_path, 0);
  if (strcmp(cmd, "slow") == 0 && argc >= 3 && wait_path) return tcp_client(argv[2], 0, wait_path, 1);
  if (strcmp(cmd, "udp") == 0 && argc >= 5)
    return udp_client(argv[2], atoi(argv[3]), strtoull(argv[4], NULL, 10));
  if (strcmp(cmd, "tcp-loop") == 0 && argc >= 4) return tcp_loop(argv[2], strtoull(argv[3], NULL, 10));
  if (strcmp(cmd, "freeport") == 0) return freeport();
  fprintf(stderr, "usage: see the comment at the top of tools/peer/peer.c\n");
  return 2;
}
