/* The nginx module's core on its own thread, and the configuration check. */
#include "gatelog_bridge.h"

#include <stdio.h>

int glb_start(const gatelog_options_t *opts, gatelog_t **gl, gatelog_producer_t **p, char *err,
              size_t errlen) {
  *p = NULL;
  int rc = gatelog_start_thread(opts, gl);
  if (rc) {
    snprintf(err, errlen, "%s", gatelog_last_error(NULL));
    return rc;
  }
  rc = gatelog_producer_new(*gl, p);
  if (rc) {
    snprintf(err, errlen, "gatelog_producer_new: %s", gatelog_strerror(rc));
    gatelog_stop_thread(*gl, 0);
    *gl = NULL;
  }
  return rc;
}

void glb_stop(gatelog_t *gl, gatelog_producer_t *p, uint32_t drain_ms) {
  gatelog_producer_free(p);
  gatelog_stop_thread(gl, drain_ms);
}

static void on_check_closed(gatelog_t *gl, void *data) {
  (void)gl;
  (void)data;
}

int glb_check(const gatelog_options_t *opts, char *err, size_t errlen) {
  uv_loop_t loop;
  int rc = uv_loop_init(&loop);
  if (rc) {
    snprintf(err, errlen, "uv_loop_init: %s", uv_strerror(rc));
    return rc;
  }
  gatelog_options_t o = *opts;
  o.spool_dir = NULL;
  o.compress_threads = 1;
  gatelog_t *gl;
  rc = gatelog_new(&loop, &o, &gl);
  if (rc) snprintf(err, errlen, "%s", gatelog_last_error(NULL));
  else gatelog_close(gl, 0, on_check_closed, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
  return rc;
}
