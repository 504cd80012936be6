/* A policy script from the fuzzer's bytes, loaded and run by the real
 * core (gatelog_new, the sandbox, the budgets) under a small time budget:
 * the script's chunk, its returned table, its config, filter and enrich
 * on a few sessions, send on their batch, a reload, timers and the
 * close. Only crashes and hangs are looked for (a script may fail in any
 * way it likes); libFuzzer's -timeout is the hang detector. The bytes
 * are Lua source as given: the seed corpus holds real policies, whose
 * mutations stay mostly Lua. I/O is confined (io_stub.c). */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"
#include "fuzz_io.h"
#include "internal.h"

#define LOOP_TURNS 5 /* of about a millisecond: a script's timers, the pool's answers */

static uv_loop_t loop;
/* gatelog's handles do not keep a loop alive (a gateway's own do): this
 * one does, while the target waits for the script's work and the close. */
static uv_timer_t keepalive;
static char dir[200], script_path[230];

/* Remove the files of a flat directory (and it, if rmdir). */
static void empty_dir(const char *path, int rmdir_too) {
  DIR *d = opendir(path);
  struct dirent *e;
  char file[512];
  while (d && (e = readdir(d)) != NULL) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    snprintf(file, sizeof(file), "%s/%s", path, e->d_name);
    unlink(file);
  }
  if (d) closedir(d);
  if (rmdir_too) rmdir(path);
}

static void clean_up(void) {
  empty_dir(fuzz_io_dir, 1);
  empty_dir(dir, 1);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  const char *tmp = getenv("TMPDIR");
  snprintf(dir, sizeof(dir), "%s/gatelog-fuzz-script-XXXXXX", tmp && *tmp ? tmp : "/tmp");
  if (mkdtemp(dir) == NULL) abort();
  snprintf(script_path, sizeof(script_path), "%s/policy.lua", dir);
  snprintf(fuzz_io_dir, sizeof(fuzz_io_dir), "%s/out", dir);
  if (mkdir(fuzz_io_dir, 0700) != 0) abort();
  atexit(clean_up);
  if (uv_loop_init(&loop) != 0 || uv_timer_init(&loop, &keepalive) != 0) abort();
  return 0;
}

static void tick(uv_timer_t *t) { (void)t; }

/* The core's lines, shown with FUZZ_LOG=1 (reading a reproducer). */
static void log_line(void *data, int level, const char *msg) {
  if (data) fprintf(stderr, "gatelog %d: %s\n", level, msg);
}

static void turns(int n) {
  uv_timer_start(&keepalive, tick, 1, 1);
  for (int i = 0; i < n; i++) uv_run(&loop, UV_RUN_ONCE);
  uv_timer_stop(&keepalive);
}

/* A TCP session and a UDP flow over each family, with bytes, ended. */
static void sessions(gatelog_t *gl) {
  struct sockaddr_in a4, b4;
  struct sockaddr_in6 a6, b6;
  uv_ip4_addr("203.0.113.7", 51234, &a4);
  uv_ip4_addr("10.0.0.5", 443, &b4);
  uv_ip6_addr("2001:db8::1", 5000, &a6);
  uv_ip6_addr("2001:db8::2", 53, &b6);
  gatelog_sid_t tcp, udp;
  if (gatelog_tcp_start(gl, 42, (struct sockaddr *)&a4, (struct sockaddr *)&b4, &tcp) == 0) {
    gatelog_add_bytes(gl, tcp, 517, 4380);
    gatelog_tcp_end(gl, tcp);
  }
  if (gatelog_udp_track(gl, 7, (struct sockaddr *)&a6, (struct sockaddr *)&b6, &udp) == 0) {
    gatelog_add_bytes(gl, udp, 40, 120);
    gatelog_udp_end_reason(gl, udp, "fuzz");
  }
  gatelog_flush(gl);
  turns(LOOP_TURNS);
}

static void on_closed(gatelog_t *gl, void *data) {
  (void)gl;
  *(int *)data = 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  FILE *f = fopen(script_path, "wb");
  if (f == NULL || fwrite(data, 1, size, f) != size || fclose(f) != 0) abort();
  empty_dir(fuzz_io_dir, 0);
  gatelog_options_t o;
  gatelog_options_init(&o);
  o.script = script_path;
  o.lua_path = GATELOG_SOURCE_DIR "/lua/?.lua;" GATELOG_SOURCE_DIR "/lua/?/init.lua";
  o.log = log_line;
  o.log_data = getenv("FUZZ_LOG");
  o.log_level = GATELOG_LOG_DEBUG;
  o.access_log = 0;
  o.compress_threads = 1;
  o.script_budget_ms = 5;
  o.script_memory_max = 16u << 20;
  gatelog_t *gl;
  if (gatelog_new(&loop, &o, &gl) != 0) {
    turns(LOOP_TURNS); /* what a failed load left running ends within this input */
    return 0;
  }
  sessions(gl);
  gatelog_reload(gl); /* the same file: a second state beside the first */
  sessions(gl);
  /* The close may catch batches on the compression threads (it once
   * hung there: tests/test_embed.c close_while_compressing). */
  uv_timer_start(&keepalive, tick, 1, 1);
  int closed = 0;
  gatelog_close(gl, 0, on_closed, &closed);
  uint64_t since = uv_now(&loop);
  while (!closed) { /* a close that never ends is a timeout: say what it waits for */
    uv_run(&loop, UV_RUN_ONCE);
    if (since && uv_now(&loop) - since > 5000) {
      since = 0;
      gatelog_stats_t st;
      gatelog_stats(gl, &st);
      fprintf(stderr, "the close waits: phase %d, pool work %d, script I/O handles %d, "
              "batches queued %llu, in flight %llu, script states %llu; the loop's handles:\n",
              (int)gl->phase, (int)gl->pending_work, (int)gl->io_open,
              (unsigned long long)st.batches_queued, (unsigned long long)st.batches_inflight,
              (unsigned long long)st.script_states);
      uv_print_all_handles(&loop, stderr);
    }
  }
  uv_timer_stop(&keepalive);
  uv_run(&loop, UV_RUN_NOWAIT);
  return 0;
}
