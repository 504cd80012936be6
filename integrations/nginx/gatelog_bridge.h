/* A gatelog core on a thread of its own, fed by one other thread (an nginx
 * worker's event loop) that must never wait for it.
 *
 * This is the nginx module's only door into gatelog: the module calls
 * these and nothing else, so that when issue 15's producers
 * (gatelog_start_thread, gatelog_producer_new, gatelog_p_*) are merged,
 * this file's body becomes calls to them and the module does not change.
 *
 * Threads: glb_start, glb_stop and every glb_session_* call come from the
 * same thread (the feeding one). Events go to the core's thread through a
 * mutex-guarded list that the core's thread empties in one go per wake-up;
 * the feeding thread holds that mutex for a list append only. */
#ifndef GATELOG_BRIDGE_H
#define GATELOG_BRIDGE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "gatelog.h"

typedef struct glb glb_t;
typedef struct glb_session glb_session_t;

/* Start a core on its own thread with `opts` (copied by gatelog_new; the
 * strings must stay valid until glb_start returns). Waits until the core
 * is made. 0 and *out; or the error of gatelog_new (or of making the
 * thread), with why in err (errlen bytes). */
int glb_start(const gatelog_options_t *opts, glb_t **out, char *err, size_t errlen);

/* Close the core with gatelog_close(drain_ms) after every event sent
 * before this call, wait for the close and the thread, free b. Returns the
 * records the close could not deliver nor spool (stats.lost_on_close). */
uint64_t glb_stop(glb_t *b, uint32_t drain_ms);

/* Load `opts->script` on a loop of its own on this thread, as gatelog_new
 * would (no spool), and close it at once: 0, or the error with why in err
 * (the script's file and line for a script that does not load). For
 * configuration checks (nginx -t). */
int glb_check(const gatelog_options_t *opts, char *err, size_t errlen);

/* Start a session (IPPROTO_TCP: tcp_start, IPPROTO_UDP: udp_track) from
 * src to dst (read during the call). Returns a handle for the calls below,
 * or NULL when out of memory (nothing is logged for that session). The
 * handle is freed by glb_session_end. */
glb_session_t *glb_session_start(glb_t *b, int proto, int64_t resource_id,
                                 const struct sockaddr *src, const struct sockaddr *dst);

/* Attach a field to the session's record (gatelog_set_attr): key and value
 * are copied. Ignored when out of memory. */
void glb_session_attr(glb_t *b, glb_session_t *s, const char *key, size_t klen,
                      const char *value, size_t vlen);

/* Add bytes, then end the session with `reason` (a static string). The
 * handle is invalid after the call. */
void glb_session_end(glb_t *b, glb_session_t *s, uint64_t tx, uint64_t rx,
                     const char *reason);

#endif
