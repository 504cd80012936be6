/* Built by tests/install_test.sh against an installed gatelog, found with
 * pkg-config: a gateway in a few lines, so that the installed header,
 * library and script are what it uses. */
#include <gatelog.h>
#include <stdio.h>
#include <string.h>

static int closed;

static void on_closed(gatelog_t *gl, void *data) {
  gatelog_stats_t st;
  (void)data;
  gatelog_stats(gl, &st);
  closed = st.records_sent == 1 && st.lost_on_close == 0;
}

int main(int argc, char **argv) {
  uv_loop_t loop;
  gatelog_options_t opts;
  gatelog_t *gl;
  gatelog_sid_t sid;
  struct sockaddr_in src, dst;
  if (argc != 2) return 2;
  uv_loop_init(&loop);
  gatelog_options_init(&opts);
  opts.script = argv[1];
  opts.access_log = 0;
  if (gatelog_new(&loop, &opts, &gl) != 0) {
    fprintf(stderr, "%s\n", gatelog_last_error(NULL));
    return 1;
  }
  uv_ip4_addr("192.0.2.1", 40000, &src);
  uv_ip4_addr("192.0.2.2", 443, &dst);
  if (gatelog_tcp_start(gl, 1, (struct sockaddr *)&src, (struct sockaddr *)&dst, &sid) ||
      gatelog_add_bytes(gl, sid, 10, 20) || gatelog_tcp_end(gl, sid) ||
      gatelog_close(gl, 2000, on_closed, NULL))
    return 1;
  uv_run(&loop, UV_RUN_DEFAULT);
  return closed && uv_loop_close(&loop) == 0 ? 0 : 1;
}
