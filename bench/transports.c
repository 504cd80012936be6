/* Records per second through a transport to a real sink, in one run: the
 * file transport (NDJSON appended to a file) beside the nats transport
 * (scripts/nats.lua, one JetStream message per record, each acknowledged)
 * to a nats-server started here on loopback with a file-backed stream.
 * Same traffic, same batching, same ndjson codec: the difference is the
 * transport. Without nats-server on the PATH the nats row says so. */
#include <nats/nats.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <netinet/in.h>

#include "bench.h"

#ifndef GATELOG_SOURCE_DIR
#define GATELOG_SOURCE_DIR "."
#endif

static int free_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a;
  memset(&a, 0, sizeof(a));
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(a);
  int port = 0;
  if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
      getsockname(fd, (struct sockaddr *)&a, &len) == 0)
    port = ntohs(a.sin_port);
  if (fd >= 0) close(fd);
  return port;
}

/* Connect (retrying while the server starts) and create the stream
 * BENCH over bench.> with a duplicate window, as an operator would. */
static int make_stream(const char *url) {
  natsConnection *nc = NULL;
  natsStatus s = NATS_ERR;
  for (int i = 0; i < 100 && s != NATS_OK; i++) {
    s = natsConnection_ConnectTo(&nc, url);
    if (s != NATS_OK) usleep(100000);
  }
  if (s != NATS_OK) return -1;
  jsCtx *js = NULL;
  jsStreamConfig cfg;
  jsStreamConfig_Init(&cfg);
  const char *subjects[] = {"bench.>"};
  cfg.Name = "BENCH";
  cfg.Subjects = subjects;
  cfg.SubjectsLen = 1;
  cfg.Storage = js_FileStorage;
  cfg.Duplicates = 120 * (int64_t)1000000000;
  jsStreamInfo *si = NULL;
  s = natsConnection_JetStream(&js, nc, NULL);
  /* The server may take a moment to be ready for JetStream requests. */
  for (int i = 0; s == NATS_OK; i++) {
    natsStatus added = js_AddStream(&si, js, &cfg, NULL, NULL);
    if (added == NATS_OK || i == 50) {
      s = added;
      break;
    }
    usleep(100000);
  }
  jsStreamInfo_Destroy(si);
  jsCtx_Destroy(js);
  natsConnection_Destroy(nc);
  return s == NATS_OK ? 0 : -1;
}

static double records_per_s(const char *script, const bench_opts *o) {
  run_result r;
  run_traffic(script, o, 77, NULL, NULL, &r);
  return r.records / r.wall;
}

void bench_transports(const bench_opts *o, double *file_rps, double *nats_rps) {
  char dir[] = "/tmp/gatelog-bench-transports.XXXXXX", path[256], cmd[1024], url[64];
  *file_rps = *nats_rps = 0;
  if (mkdtemp(dir) == NULL) return;
  bench_opts t = *o;
  /* The transports do not depend on compression: level 1 keeps it out of
   * the way of the loop thread's share of the CPUs. */
  t.level = 1;
  snprintf(path, sizeof(path), "%s/records.ndjson", dir);
  setenv("GATELOG_OUTPUT", path, 1);
  *file_rps = records_per_s(GATELOG_SOURCE_DIR "/bench/transport_file.lua", &t);
  int port = free_port();
  snprintf(url, sizeof(url), "nats://127.0.0.1:%d", port);
  snprintf(cmd, sizeof(cmd),
           "command -v nats-server >/dev/null && { nats-server -js -a 127.0.0.1 -p %d -sd %s/store "
           "-P %s/pid >%s/nats.log 2>&1 & }",
           port, dir, dir, dir);
  if (port && system(cmd) == 0 && make_stream(url) == 0) {
    setenv("GATELOG_NATS_URL", url, 1);
    setenv("GATELOG_NATS_SUBJECT", "bench.{resourceId}", 1);
    *nats_rps = records_per_s(GATELOG_SOURCE_DIR "/scripts/nats.lua", &t);
  } else {
    fprintf(stderr, "gatelog-bench: no nats-server to measure the nats transport against\n");
  }
  snprintf(cmd, sizeof(cmd), "test -f %s/pid && kill $(cat %s/pid); sleep 0.2; rm -rf '%s'", dir, dir, dir);
  if (system(cmd) != 0) fprintf(stderr, "gatelog-bench: could not clean up %s\n", dir);
}
