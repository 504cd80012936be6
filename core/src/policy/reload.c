/* Reloading the policy: a new state is built and checked beside the
 * running one and swapped in only if everything passes; its config is
 * applied live. With watch on, a change to the script file (written in
 * place or replaced by a rename, as editors and config managers do)
 * reloads it once the writes have settled. */
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "policy/policy.h"
#include "util/sha256.h"

#define WATCH_SETTLE_MS 100 /* quiet time after the last change event */

static void set_reload_error(gatelog_t *gl) {
  free(gl->last_reload_error);
  gl->last_reload_error = strdup(gl->last_error);
}

/* What the session table keeps beside each session is fixed when the
 * core starts: a reload cannot turn those features on or off. */
static int check_live(gatelog_t *gl, const gl_config *c) {
  const char *key = NULL;
  if ((c->log_start || c->active_timeout_ms > 0) != gl->table.with_interim ||
      (c->active_timeout_ms > 0) != gl->table.interim_queue)
    key = c->active_timeout_ms > 0 || gl->table.interim_queue ? "active_timeout" : "log_start";
  else if ((c->max_lifetime_ms > 0) != gl->table.with_life)
    key = "max_lifetime";
  if (key == NULL) return 0;
  gl_set_error(gl, "%s: config.%s: turning it on or off cannot be applied live; restart to change it",
               gl->script_path, key);
  return GATELOG_ECONFIG;
}

int gatelog_reload(gatelog_t *gl) {
  if (gl == NULL) return UV_EINVAL;
  if (gl_thread_foreign(gl)) return gl_thread_call(gl, GL_CALL_RELOAD, NULL);
  if (gl->phase != GL_OPEN) return GATELOG_ECLOSED;
  gl_config cfg;
  gl_config_from_options(&cfg, &gl->opts);
  gl_policy *next = NULL;
  int err = gl_policy_load(gl, gl->script_path, &cfg, &next);
  if (err == 0) err = gl_config_check(gl, &cfg, gl->script_path);
  if (err == 0) err = check_live(gl, &cfg);
  if (err) {
    if (next) gl_policy_unref(next);
    gl->stats.reload_failures++;
    set_reload_error(gl);
    gl_log(gl, GATELOG_LOG_ERROR, "reload failed; the running script stays: %s", gl->last_error);
    return err;
  }
  gl_policy *old = gl->policy;
  gl->policy = next;
  gl_apply_config(gl, &cfg);
  /* Batches and sends in flight hold their own references: the old state
   * lives until the last of them is answered. */
  gl_policy_unref(old);
  gl->stats.reloads++;
  gl->stats.script_loaded_ns = next->loaded_ns;
  free(gl->last_reload_error);
  gl->last_reload_error = NULL;
  gl_log(gl, GATELOG_LOG_INFO, "reloaded %s (sha256 %.16s)", gl->script_path, next->sha256);
  return 0;
}

int gatelog_script_info(gatelog_t *gl, gatelog_script_info_t *out) {
  if (gl == NULL || out == NULL) return UV_EINVAL;
  memset(out, 0, sizeof(*out));
  out->path = gl->script_path;
  out->last_reload_error = gl->last_reload_error ? gl->last_reload_error : "";
  if (gl->policy) {
    memcpy(out->sha256, gl->policy->sha256, sizeof(out->sha256));
    out->loaded_ns = gl->policy->loaded_ns;
  }
  return 0;
}

/* ---- watch ------------------------------------------------------------- */

static void on_watch_event(uv_fs_event_t *h, const char *name, int events, int status);

static void on_settled(uv_timer_t *t) {
  gatelog_t *gl = t->data;
  if (gl->phase != GL_OPEN || !gl->cfg.watch) return;
  /* The file may have been replaced: watch the new one. */
  uv_fs_event_stop(&gl->watch_file);
  uv_fs_event_start(&gl->watch_file, on_watch_event, gl->script_path, 0);
  char *src;
  size_t len;
  if (gl_read_script(gl->script_path, &src, &len) != 0) return; /* mid-rename: a later event */
  char sha[65];
  gl_sha256_hex(src, len, sha);
  free(src);
  if (gl->policy && strcmp(sha, gl->policy->sha256) == 0) return; /* touched, not changed */
  gatelog_reload(gl);
}

static void on_watch_event(uv_fs_event_t *h, const char *name, int events, int status) {
  (void)name;
  (void)events;
  gatelog_t *gl = h->data;
  if (status < 0 || gl->phase != GL_OPEN) return;
  uv_timer_start(&gl->watch_timer, on_settled, WATCH_SETTLE_MS, 0);
}

void gl_watch_set(gatelog_t *gl, int on) {
  if (!on) {
    uv_fs_event_stop(&gl->watch_dir);
    uv_fs_event_stop(&gl->watch_file);
    uv_timer_stop(&gl->watch_timer);
    return;
  }
  if (uv_is_active((uv_handle_t *)&gl->watch_dir)) return;
  char dir[4096];
  const char *slash = strrchr(gl->script_path, '/');
  size_t n = slash ? (size_t)(slash - gl->script_path) : 0;
  if (n >= sizeof(dir)) n = sizeof(dir) - 1;
  memcpy(dir, gl->script_path, n);
  strcpy(dir + n, n ? "" : ".");
  if (slash == gl->script_path) strcpy(dir, "/");
  int err = uv_fs_event_start(&gl->watch_dir, on_watch_event, dir, 0);
  if (err == 0) err = uv_fs_event_start(&gl->watch_file, on_watch_event, gl->script_path, 0);
  if (err)
    gl_log(gl, GATELOG_LOG_ERROR, "cannot watch %s: %s; reload by hand", gl->script_path,
           uv_strerror(err));
  /* Watches alone never keep the loop alive. */
  uv_unref((uv_handle_t *)&gl->watch_dir);
  uv_unref((uv_handle_t *)&gl->watch_file);
}
