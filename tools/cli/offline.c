/* The real core, offline: `check` and `replay` feed it sessions and read
 * back exactly what the policy would send. The core runs on a private
 * loop; its clock is ours (gatelog_options_t.clock), so timestamps and
 * idle expiry follow the recorded time, not the machine's; its batches
 * go to a send override that decodes them and answers at once. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "tool.h"

static uint64_t virtual_clock(void *data) { return ((cli_offline *)data)->now_ns; }

static void capture(gatelog_send_t *req, const char *payload, size_t len, void *data) {
  cli_offline *o = data;
  cli_payload decoded;
  char err[256];
  o->batches++;
  /* The core's own payloads: no limit beyond the built-in one. */
  if (cli_payload_decode(payload, len, NULL, &decoded, err, sizeof(err)) != 0) {
    o->bad_payloads++;
    cli_error("core", "batch %llu does not decode: %s", (unsigned long long)o->batches, err);
  } else {
    o->on_batch(o, payload, len, &decoded, o->data);
    cli_payload_free(&decoded);
  }
  gatelog_send_done(req, 0, NULL);
}

/* The core's warnings and errors (a filter that raised, with its file and
 * line) go to standard error as they happen. */
static void log_line(void *data, int level, const char *msg) {
  (void)data;
  fprintf(stderr, "gatelog: %s: %s\n", level == GATELOG_LOG_ERROR ? "error" : "warn", msg);
}

int cli_offline_open(cli_offline *o, const cli_offline_options *opts, cli_batch_fn fn, void *data) {
  memset(o, 0, sizeof(*o));
  o->on_batch = fn;
  o->data = data;
  o->now_ns = opts->start_ns;
  const char *problem = opts->script ? tool_script_problem(opts->script) : NULL;
  if (problem) {
    snprintf(o->error, sizeof(o->error), "%s: %s", opts->script, problem);
    return -1;
  }
  uv_loop_init(&o->loop);
  gatelog_options_t go;
  gatelog_options_init(&go);
  go.script = opts->script;
  go.lua_path = opts->lua_path;
  go.access_log = 0;
  go.log_level = GATELOG_LOG_WARN;
  go.log = log_line;
  go.log_data = o;
  go.clock = virtual_clock;
  go.clock_data = o;
  go.send_override = capture;
  go.send_override_data = o;
  go.on_end = opts->on_end;
  go.on_end_data = opts->on_end_data;
  /* Batches are sealed by the caller on its own clock (gatelog_flush), so
   * the core's real-time flush timer is set not to fire. And every batch
   * is captured before the next event: a deep queue only matters when one
   * clock step ends many sessions at once, and then nothing is dropped:
   * neither limit of the queue (records after a failed send, bytes held)
   * may bind. */
  go.flush_interval_ms = 365ull * 86400 * 1000;
  go.queue_max_records = 1000000000;
  go.queue_max_bytes = 1000000000000ull;
  char notice[1024];
  snprintf(notice, sizeof(notice),
           "gatelog %s: %s: the Lua runtime ended the process (an error outside a protected "
           "call: a bug in gatelog; please report it with the script)",
           opts->cmd, opts->script);
  tool_exit_notice(notice); /* until the close */
  if (gatelog_new(&o->loop, &go, &o->gl) != 0) {
    tool_exit_notice(NULL);
    snprintf(o->error, sizeof(o->error), "%s", gatelog_last_error(NULL));
    uv_loop_close(&o->loop);
    return -1;
  }
  return 0;
}

void cli_offline_settle(cli_offline *o) {
  gatelog_stats_t st;
  while (gatelog_stats(o->gl, &st) == 0 && st.batches_queued > 0)
    if (uv_run(&o->loop, UV_RUN_ONCE) == 0 && gatelog_stats(o->gl, &st) == 0 &&
        st.batches_queued > 0)
      break; /* nothing left that could move them (cannot happen: sends are answered at once) */
}

void cli_offline_advance(cli_offline *o, uint64_t t) {
  if (t <= o->now_ns) return;
  o->now_ns = t;
  gatelog_expire(o->gl);
}

static void on_closed(gatelog_t *gl, void *data) {
  cli_offline *o = data;
  gatelog_stats(gl, &o->final);
  o->closed = 1;
}

void cli_offline_close(cli_offline *o) {
  gatelog_close(o->gl, 60000, on_closed, o);
  while (!o->closed && uv_run(&o->loop, UV_RUN_ONCE)) {
  }
  o->gl = NULL;
  uv_run(&o->loop, UV_RUN_NOWAIT); /* the close callbacks of the last handles */
  uv_loop_close(&o->loop);
  tool_exit_notice(NULL);
}
