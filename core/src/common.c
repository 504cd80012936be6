/* What every part of the core shares: the error text, the clocks, the
 * callback timing, the pump's scheduling, and the count of work that a
 * close must wait for. Leaf helpers: nothing here calls into a concern. */
#include <stdarg.h>
#include <stdio.h>

#include "internal.h"
#include "util/clock.h"

void gl_set_error(gatelog_t *gl, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(gl->last_error, sizeof(gl->last_error), fmt, ap);
  va_end(ap);
}

uint64_t gl_now_ms(gatelog_t *gl) { return uv_now(gl->loop); }

uint64_t gl_cb_begin(void) { return gl_clock_mono_ns(); }

void gl_cb_end(gatelog_t *gl, uint64_t t0) {
  uint64_t took = gl_clock_mono_ns() - t0;
  gl->stats.callbacks++;
  if (took > gl->stats.callback_max_ns) gl->stats.callback_max_ns = took;
}

uint64_t gl_now_real(gatelog_t *gl) {
  return gl->opts.clock ? gl->opts.clock(gl->opts.clock_data) : gl_clock_real_ns();
}

uint64_t gl_now_mono(gatelog_t *gl) {
  return gl->opts.clock ? gl->opts.clock(gl->opts.clock_data) : gl_clock_mono_ns();
}

void gl_schedule_pump(gatelog_t *gl) {
  if (gl->phase < GL_CLOSING_HANDLES) uv_idle_start(&gl->pump_idle, gl_pump);
}
