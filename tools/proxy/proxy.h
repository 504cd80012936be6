/* gatelog-proxy: the reference gateway. A TCP and UDP forwarder on one
 * libuv loop that logs every session through gatelog. This header holds
 * what the proxy's files share: the parsed command line, the process-wide
 * state and counters, and each file's entry points. */
#ifndef GATELOG_PROXY_H
#define GATELOG_PROXY_H

#include <stdint.h>
#include <stdio.h>

#include "gatelog.h"

/* A side whose write queue holds more than this stops the other side's
 * reads until it drains below half of it: what one slow peer can make the
 * proxy buffer is about this much per connection. */
#define PX_WRITE_HIGH (1u << 20)
#define PX_READ_SIZE 65536
#define PX_HOST_MAX 256

enum { PX_TCP = 0, PX_UDP = 1 };

typedef struct px_listen_spec {
  int proto;
  char host[PX_HOST_MAX];
  int port; /* 0: an ephemeral port, logged once bound */
  char up_host[PX_HOST_MAX];
  int up_port;
  int64_t resource;
  struct sockaddr_storage addr;     /* resolved host:port */
  struct sockaddr_storage upstream; /* resolved upstream */
} px_listen_spec;

/* --sender NAME=URL or NAME=file:PATH */
typedef struct px_sender_spec {
  char name[64];
  const char *target; /* the URL, or the file's path */
  int is_file;
  struct proxy *p;    /* set when registered */
} px_sender_spec;

typedef struct px_options {
  const char *script;
  const char *lua_path;
  px_listen_spec *listens;
  int nlistens;
  px_sender_spec *senders;
  int nsenders;
  const char *metrics; /* HOST:PORT or NULL */
  struct sockaddr_storage metrics_addr;
  const char *spool;          /* --spool DIR or NULL */
  uint64_t spool_max_bytes;   /* 0: gatelog's default */
  uint32_t drain_ms;
  uint64_t connect_timeout_ms;
  int log_level; /* GATELOG_LOG_* */
} px_options;

/* The proxy's own counters, served by --metrics beside gatelog_stats. */
typedef struct px_counters {
  uint64_t tcp_accepted;
  uint64_t tcp_active;
  uint64_t udp_flows_opened;
  uint64_t udp_flows_active;
  uint64_t bytes_tx; /* client to upstream, delivered */
  uint64_t bytes_rx; /* upstream to client, delivered */
  uint64_t upstream_refused;
  uint64_t upstream_timeouts;
  uint64_t upstream_errors; /* any other failure to reach the upstream */
  uint64_t udp_dropped;     /* datagrams dropped because a send queue was full */
} px_counters;

typedef struct proxy {
  uv_loop_t *loop;
  gatelog_t *gl;
  px_options opt;
  px_counters n;
  int stopping;
  int exit_code;
  void *tcp;     /* tcp.c's state */
  void *udp;     /* udp.c's state */
  void *metrics; /* metrics.c's state */
} proxy;

/* args.c: parse argv into *opt. Returns 0, 1 for --help / --version
 * (already printed), or -1 with a one-line message in err. */
int px_parse_args(int argc, char **argv, px_options *opt, char *err, size_t errlen);
void px_free_args(px_options *opt);
/* One --listen SPEC into *spec without resolving its hosts (addr and
 * upstream stay zero): 0, or -1 with a one-line message in err. */
int px_parse_listen(const char *s, px_listen_spec *spec, char *err, size_t errlen);
void px_usage(FILE *out);
/* "127.0.0.1:8080" or "[::1]:8080" */
void px_format_addr(const struct sockaddr *sa, char *out, size_t len);
/* "--listen tcp:HOST:PORT: address already in use" in err; returns rc. */
int px_bind_error(const px_listen_spec *spec, int rc, char *err, size_t errlen);

/* main.c: log a line at `level` (GATELOG_LOG_*), as gatelog's own lines. */
void px_log(proxy *p, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* tcp.c, udp.c, metrics.c: bind (errors in err, nothing left running on
 * failure beyond handles that px_*_close closes), start after gatelog is
 * up, and close for shutdown. */
int px_tcp_bind(proxy *p, px_listen_spec *spec, char *err, size_t errlen);
void px_tcp_close(proxy *p);
int px_udp_bind(proxy *p, px_listen_spec *spec, char *err, size_t errlen);
void px_udp_start(proxy *p);
void px_udp_close(proxy *p);
/* gatelog's on_end: a UDP session gatelog ended closes its flow. */
void px_udp_session_ended(proxy *p, const gatelog_end_info_t *info);
int px_metrics_bind(proxy *p, char *err, size_t errlen);
/* senders.c: register the --sender senders with gatelog, then check that
 * the script calls no other (gatelog_check_senders): 0, or an error with
 * a one-line message in err. */
int px_senders_start(proxy *p, char *err, size_t errlen);
void px_metrics_close(proxy *p);

#endif
