/* Known crash (a hang): a close whose drain deadline passes while a batch
 * is being compressed never calls back. Found by the script target
 * (fuzz/script.c: "the close waits: phase 2, pool work 2, ... batches
 * queued 0"), here without a fuzzer: one record, a flush, one turn of the
 * loop (the pump hands the batch to a compression thread), then
 * gatelog_close(gl, 0, ...).
 *
 * Why: the deadline runs finish() -> gl_outbox_abandon(), which for a
 * batch in GL_BATCH_COMPRESSING removes its answer_node from the
 * compression threads' jobs or done list (without their lock) and marks
 * it dropped, "freed when the work ends". Taken off those lists, the work
 * never ends: the thread never compresses it (jobs) or on_done never
 * sees it (done), gl_outbox_compressed never runs, pending_work stays
 * above 0 and maybe_teardown waits for ever. The same happens with any
 * drain once its deadline catches a batch in compression.
 *
 * Exit 0 when every close calls back (fixed: take this file out of
 * fuzz/crashes/known), 1 when one does not within 3 s. Built as
 * known_close_while_compressing by the fuzz build; dev/fuzz --known runs
 * it. */
#include <stdio.h>

#include "gatelog.h"

static void answer(gatelog_send_t *req, const char *payload, size_t len, void *data) {
  (void)payload;
  (void)len;
  (void)data;
  gatelog_send_done(req, 0, NULL);
}

static void on_closed(gatelog_t *gl, void *data) {
  (void)gl;
  *(int *)data = 1;
}

static void tick(uv_timer_t *t) { (void)t; }

int main(void) {
  uv_loop_t loop;
  uv_timer_t keepalive; /* gatelog's handles do not keep the loop alive */
  uv_loop_init(&loop);
  uv_timer_init(&loop, &keepalive);
  for (int run = 0; run < 20; run++) {
    gatelog_options_t o;
    gatelog_options_init(&o);
    o.script = GATELOG_SOURCE_DIR "/scripts/default.lua";
    o.access_log = 0;
    o.compress_threads = 1;
    o.send_override = answer;
    gatelog_t *gl;
    if (gatelog_new(&loop, &o, &gl) != 0) {
      fprintf(stderr, "%s\n", gatelog_last_error(NULL));
      return 2;
    }
    struct sockaddr_in a, b;
    uv_ip4_addr("10.0.0.1", 1, &a);
    uv_ip4_addr("10.0.0.2", 2, &b);
    gatelog_sid_t sid;
    gatelog_tcp_start(gl, 1, (struct sockaddr *)&a, (struct sockaddr *)&b, &sid);
    gatelog_tcp_end(gl, sid);
    gatelog_flush(gl);
    uv_run(&loop, UV_RUN_NOWAIT);
    int closed = 0;
    gatelog_close(gl, 0, on_closed, &closed);
    uv_timer_start(&keepalive, tick, 1, 1);
    uint64_t t0 = uv_now(&loop);
    while (!closed && uv_now(&loop) - t0 < 3000) uv_run(&loop, UV_RUN_ONCE);
    uv_timer_stop(&keepalive);
    if (!closed) {
      printf("close %d: no callback within 3 s (a batch was being compressed)\n", run + 1);
      return 1;
    }
  }
  printf("20 closes, every one called back\n");
  return 0;
}
