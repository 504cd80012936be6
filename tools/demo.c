/* gatelog-demo: the smallest embedding, without a socket. It embeds
 * gatelog on its own libuv loop, opens a few TCP sessions and UDP flows
 * (IPv4 and IPv6), counts their bytes, ends them (one UDP flow by its idle
 * timeout, one TCP session by the close), closes gatelog and prints the
 * NDJSON records that scripts/default.lua wrote. The real gateway that
 * embeds gatelog is gatelog-proxy (tools/proxy/).
 *
 *   gatelog-demo [--script PATH] [--output FILE]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gatelog.h"

#ifndef GATELOG_SOURCE_DIR
#define GATELOG_SOURCE_DIR "."
#endif

typedef struct demo {
  uv_loop_t *loop;
  gatelog_t *gl;
  uv_timer_t step;
  int phase;
  gatelog_sid_t tcp[3], udp[2];
  int closed;
} demo;

static struct sockaddr_storage addr(const char *ip, int port) {
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof(ss));
  if (strchr(ip, ':')) uv_ip6_addr(ip, port, (struct sockaddr_in6 *)&ss);
  else uv_ip4_addr(ip, port, (struct sockaddr_in *)&ss);
  return ss;
}

static void check(int err, const char *what) {
  if (err == 0) return;
  fprintf(stderr, "gatelog-demo: %s: %s (%s)\n", what, gatelog_strerror(err),
          gatelog_err_name(err));
  exit(1);
}

static void on_closed(gatelog_t *gl, void *data) {
  demo *d = data;
  gatelog_stats_t st;
  gatelog_stats(gl, &st);
  fprintf(stderr,
          "gatelog-demo: closed: %llu sessions ended, %llu records sent in %llu batches, "
          "%llu lost\n",
          (unsigned long long)(st.tcp_ended + st.udp_ended), (unsigned long long)st.records_sent,
          (unsigned long long)st.batches_sent, (unsigned long long)st.lost_on_close);
  d->closed = 1;
}

/* The gateway's traffic, in steps 100 ms apart. */
static void on_step(uv_timer_t *t) {
  demo *d = t->data;
  struct sockaddr_storage c1 = addr("203.0.113.7", 51234), c2 = addr("2001:db8::1", 5000),
                          c3 = addr("198.51.100.20", 40001), web = addr("10.0.0.5", 443),
                          dns = addr("10.0.0.1", 53), ssh = addr("2001:db8::22", 22);
  switch (d->phase++) {
    case 0:
      check(gatelog_tcp_start(d->gl, 42, (struct sockaddr *)&c1, (struct sockaddr *)&web, &d->tcp[0]), "tcp_start");
      check(gatelog_tcp_start(d->gl, 42, (struct sockaddr *)&c3, (struct sockaddr *)&web, &d->tcp[1]), "tcp_start");
      check(gatelog_tcp_start(d->gl, 7, (struct sockaddr *)&c2, (struct sockaddr *)&ssh, &d->tcp[2]), "tcp_start");
      for (int i = 0; i < 5; i++) { /* five DNS queries: one UDP flow */
        check(gatelog_udp_track(d->gl, 9, (struct sockaddr *)&c1, (struct sockaddr *)&dns, &d->udp[0]), "udp_track");
        check(gatelog_add_bytes(d->gl, d->udp[0], 40, 120), "add_bytes");
      }
      check(gatelog_udp_track(d->gl, 9, (struct sockaddr *)&c2, (struct sockaddr *)&dns, &d->udp[1]), "udp_track");
      check(gatelog_add_bytes(d->gl, d->udp[1], 64, 0), "add_bytes");
      break;
    case 1:
      check(gatelog_add_bytes(d->gl, d->tcp[0], 517, 4380), "add_bytes");
      check(gatelog_add_bytes(d->gl, d->tcp[1], 1200, 98000), "add_bytes");
      check(gatelog_add_bytes(d->gl, d->tcp[2], 3000, 2500), "add_bytes");
      check(gatelog_udp_end(d->gl, d->udp[0]), "udp_end");
      break;
    case 2:
      check(gatelog_tcp_end(d->gl, d->tcp[0]), "tcp_end");
      check(gatelog_tcp_end(d->gl, d->tcp[1]), "tcp_end");
      break;
    case 3: /* udp[1] ends by its idle timeout (0.4 s), tcp[2] at close */
      break;
    default:
      uv_timer_stop(t);
      uv_close((uv_handle_t *)t, NULL);
      check(gatelog_close(d->gl, 5000, on_closed, d), "close");
      return;
  }
}

int main(int argc, char **argv) {
  const char *script = GATELOG_SOURCE_DIR "/scripts/default.lua";
  const char *output = "gatelog-demo.ndjson";
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--script") == 0 && i + 1 < argc) script = argv[++i];
    else if (strcmp(argv[i], "--output") == 0 && i + 1 < argc) output = argv[++i];
    else {
      fprintf(stderr, "usage: gatelog-demo [--script PATH] [--output FILE]\n");
      return 2;
    }
  }
  remove(output);
  setenv("GATELOG_OUTPUT", output, 1);

  demo d;
  memset(&d, 0, sizeof(d));
  d.loop = uv_default_loop();
  gatelog_options_t opts;
  gatelog_options_init(&opts);
  opts.script = script;
  opts.lua_path = GATELOG_SOURCE_DIR "/lua/?.lua";
  opts.udp_idle_timeout_ms = 400;
  int err = gatelog_new(d.loop, &opts, &d.gl);
  if (err) {
    fprintf(stderr, "gatelog-demo: %s\n", gatelog_last_error(NULL));
    return 1;
  }
  uv_timer_init(d.loop, &d.step);
  d.step.data = &d;
  uv_timer_start(&d.step, on_step, 0, 150);
  uv_run(d.loop, UV_RUN_DEFAULT);
  if (!d.closed || uv_loop_close(d.loop) != 0) {
    fprintf(stderr, "gatelog-demo: the loop did not finish cleanly\n");
    return 1;
  }

  printf("Records written by %s to %s:\n", script, output);
  FILE *f = fopen(output, "r");
  if (f == NULL) {
    perror(output);
    return 1;
  }
  char line[4096];
  int n = 0;
  while (fgets(line, sizeof(line), f)) {
    fputs(line, stdout);
    n++;
  }
  fclose(f);
  return n == 5 ? 0 : 1;
}
