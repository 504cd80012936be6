/* gatelog-proxy: startup, signals and shutdown.
 *
 * Everything that can fail on bad input (the command line, resolving the
 * hosts, binding every listener, loading the script) happens before the
 * loop runs, so a mistake gives one line and exit code 2 with nothing
 * started. Then one libuv loop runs the forwarders, the metrics endpoint
 * and gatelog, until SIGTERM or SIGINT. */
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <curl/curl.h>

#include "proxy.h"
#include "tool.h"

static proxy P; /* the one proxy of this process: its signals are the process's */
static uv_signal_t sig_hup, sig_term, sig_int;
static const char *level_names[] = {"error", "warn", "info", "debug"};

static void write_line(int level, const char *msg) {
  struct timespec ts;
  struct tm tm;
  clock_gettime(CLOCK_REALTIME, &ts);
  gmtime_r(&ts.tv_sec, &tm);
  char when[32];
  strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
  fprintf(stderr, "%s.%03ldZ %s %s\n", when, ts.tv_nsec / 1000000,
          level_names[level < 0 ? 0 : level > 3 ? 3 : level], msg);
}

void px_log(proxy *p, int level, const char *fmt, ...) {
  if (level > p->opt.log_level) return;
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  write_line(level, msg);
}

static void gatelog_line(void *data, int level, const char *msg) {
  (void)data;
  write_line(level, msg);
}

static void close_signals(void) {
  uv_close((uv_handle_t *)&sig_hup, NULL);
  uv_close((uv_handle_t *)&sig_term, NULL);
  uv_close((uv_handle_t *)&sig_int, NULL);
}

static void on_gatelog_closed(gatelog_t *gl, void *data) {
  proxy *p = data;
  gatelog_stats_t st;
  gatelog_stats(gl, &st);
  /* Every record not delivered counts, whenever it was lost: dropped for
   * room while the sink failed, refused by the sink for good, or still
   * held at the drain deadline. */
  uint64_t lost = st.records_dropped + st.records_rejected + st.lost_on_close;
  p->exit_code = lost ? 1 : 0;
  if (lost == 0)
    px_log(p, GATELOG_LOG_INFO, "stopped: %llu records sent, 0 lost",
           (unsigned long long)st.records_sent);
  else
    px_log(p, GATELOG_LOG_ERROR,
           "stopped: %llu records sent, %llu lost (%llu dropped during the run, %llu refused by "
           "the sink, %llu not delivered by the drain deadline)",
           (unsigned long long)st.records_sent, (unsigned long long)lost,
           (unsigned long long)st.records_dropped, (unsigned long long)st.records_rejected,
           (unsigned long long)st.lost_on_close);
  /* Not lost: the next start sends them first. */
  if (st.spooled_on_close)
    px_log(p, GATELOG_LOG_WARN, "%llu batches wait in the spool %s for the next start",
           (unsigned long long)st.spooled_on_close, p->opt.spool);
  p->gl = NULL;
  close_signals();
}

/* gatelog_close first, so that the sessions of open connections end with
 * endReason "shutdown" at this moment; then the sockets. */
static void stop(proxy *p, const char *why) {
  if (p->stopping) {
    px_log(p, GATELOG_LOG_WARN, "%s: already stopping", why);
    return;
  }
  p->stopping = 1;
  px_log(p, GATELOG_LOG_INFO, "%s: stopping; delivering records for up to %.3g s", why,
         p->opt.drain_ms / 1000.0);
  gatelog_close(p->gl, p->opt.drain_ms, on_gatelog_closed, p);
  px_tcp_close(p);
  px_udp_close(p);
  px_metrics_close(p);
}

static void reload(proxy *p) {
  if (p->stopping) return;
  int err = gatelog_reload(p->gl);
  if (err) {
    px_log(p, GATELOG_LOG_ERROR, "SIGHUP: reload failed, the running script stays: %s",
           gatelog_last_error(p->gl));
    return;
  }
  gatelog_script_info_t info;
  gatelog_script_info(p->gl, &info);
  px_log(p, GATELOG_LOG_INFO, "SIGHUP: reloaded %s (sha256 %s)", info.path, info.sha256);
}

static void on_signal(uv_signal_t *h, int signum) {
  proxy *p = h->data;
  if (signum == SIGHUP) reload(p);
  else stop(p, signum == SIGTERM ? "SIGTERM" : "SIGINT");
}

static int bad_input(const char *msg) {
  fprintf(stderr, "gatelog-proxy: %s\n", msg);
  return 2;
}

static void on_undone(gatelog_t *gl, void *data) {
  (void)gl;
  ((proxy *)data)->gl = NULL;
}

/* Bad input found once gatelog is up (a sender the script calls is not
 * given): close what was opened, nothing having run, before exiting. */
static void undo_start(proxy *p) {
  px_tcp_close(p);
  px_udp_close(p);
  px_metrics_close(p);
  gatelog_close(p->gl, 0, on_undone, p);
  uv_run(p->loop, UV_RUN_DEFAULT);
  uv_loop_close(p->loop);
  px_free_args(&p->opt);
}

static void on_session_end(void *data, const gatelog_end_info_t *info) {
  px_udp_session_ended(data, info);
}

int main(int argc, char **argv) {
  proxy *p = &P;
  char err[512];
  int rc = px_parse_args(argc, argv, &p->opt, err, sizeof(err));
  if (rc == 1) return 0;
  if (rc < 0) return bad_input(err);
  /* A peer that closes while we write must be an error code, not a
   * signal that ends the process. */
  signal(SIGPIPE, SIG_IGN);
  curl_global_init(CURL_GLOBAL_DEFAULT); /* before any thread: --sender's requests */

  p->loop = uv_default_loop();
  p->loop->data = p;
  for (int i = 0; i < p->opt.nlistens; i++) {
    px_listen_spec *s = &p->opt.listens[i];
    if ((s->proto == PX_TCP ? px_tcp_bind : px_udp_bind)(p, s, err, sizeof(err)) != 0)
      return bad_input(err);
  }
  if (p->opt.metrics && px_metrics_bind(p, err, sizeof(err)) != 0) return bad_input(err);

  gatelog_options_t o;
  gatelog_options_init(&o);
  o.script = p->opt.script;
  o.lua_path = p->opt.lua_path;
  o.log = gatelog_line;
  o.log_level = p->opt.log_level;
  o.on_end = on_session_end;
  o.on_end_data = p;
  o.spool_dir = p->opt.spool;
  if (p->opt.spool_max_bytes) o.spool_max_bytes = p->opt.spool_max_bytes;
  /* Until the loop ends: at load, at a SIGHUP's reload or any later call. */
  tool_exit_notice("gatelog-proxy: the Lua runtime ended the process (an error outside a "
                   "protected call: a bug in gatelog; please report it with the script)");
  if (gatelog_new(p->loop, &o, &p->gl) != 0) {
    tool_exit_notice(NULL);
    snprintf(err, sizeof(err), "%s", gatelog_last_error(NULL));
    return bad_input(err);
  }
  if (px_senders_start(p, err, sizeof(err)) != 0) {
    tool_exit_notice(NULL);
    undo_start(p);
    return bad_input(err);
  }

  uv_signal_t *sigs[] = {&sig_hup, &sig_term, &sig_int};
  int signums[] = {SIGHUP, SIGTERM, SIGINT};
  for (int i = 0; i < 3; i++) {
    uv_signal_init(p->loop, sigs[i]);
    sigs[i]->data = p;
    uv_signal_start(sigs[i], on_signal, signums[i]);
  }
  px_udp_start(p);
  for (int i = 0; i < p->opt.nlistens; i++) { /* with the ports that port 0 got */
    px_listen_spec *s = &p->opt.listens[i];
    char a[80], b[80];
    px_format_addr((struct sockaddr *)&s->addr, a, sizeof(a));
    px_format_addr((struct sockaddr *)&s->upstream, b, sizeof(b));
    px_log(p, GATELOG_LOG_INFO, "listening %s %s -> %s resource=%lld",
           s->proto == PX_TCP ? "tcp" : "udp", a, b, (long long)s->resource);
  }
  gatelog_script_info_t info;
  gatelog_script_info(p->gl, &info);
  px_log(p, GATELOG_LOG_INFO, "ready: %d listeners, script %s (sha256 %.12s), instance %s, pid %d",
         p->opt.nlistens, info.path, info.sha256, gatelog_instance_id(p->gl), (int)uv_os_getpid());

  uv_run(p->loop, UV_RUN_DEFAULT);
  tool_exit_notice(NULL);
  if (uv_loop_close(p->loop) != 0) {
    px_log(p, GATELOG_LOG_ERROR, "handles left open at exit");
    if (p->exit_code == 0) p->exit_code = 1;
  }
  px_free_args(&p->opt);
  return p->exit_code;
}
