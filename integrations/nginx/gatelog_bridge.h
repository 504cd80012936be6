/* What the nginx module needs of gatelog beyond the producer calls, kept
 * free of nginx's headers: a core on its own thread with this thread's
 * producer, and a check that loads the script once (nginx -t). */
#ifndef GATELOG_BRIDGE_H
#define GATELOG_BRIDGE_H

#include <stddef.h>

#include "gatelog.h"

/* Start a core on a thread of gatelog's (gatelog_start_thread) with
 * `opts` (copied) and make a producer for the calling thread. 0, *gl and
 * *p; or the error, with why in err (errlen bytes), and nothing left
 * running. */
int glb_start(const gatelog_options_t *opts, gatelog_t **gl, gatelog_producer_t **p, char *err,
              size_t errlen);

/* Free the producer, then stop the core with a drain of drain_ms
 * (gatelog_stop_thread): every event the producer queued is applied
 * first. */
void glb_stop(gatelog_t *gl, gatelog_producer_t *p, uint32_t drain_ms);

/* Load `opts->script` as gatelog_new would (without the spool, whose lock
 * belongs to the workers) on a loop of its own, and close it at once: 0,
 * or the error with why in err (for a script that does not load, its file
 * and line). */
int glb_check(const gatelog_options_t *opts, char *err, size_t errlen);

#endif
