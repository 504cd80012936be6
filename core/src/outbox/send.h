/* One send of a batch: the request that the script's done, the host's
 * gatelog_send_done and the script's reads of b.json all go through.
 *
 * The outbox makes one per attempt and binds it to the batch; it stays
 * bound until the pump settles the answer (or the close abandons the
 * batch), then it only says "gone". Whoever holds it (the outbox, the
 * script's batch object and done, a host request) holds a reference, so a
 * late done or a kept batch object never reaches a freed batch.
 *
 * The policy may use this header (the one door from a script into the
 * outbox); the rest of outbox/ is the outbox's own. */
#ifndef GATELOG_OUTBOX_SEND_H
#define GATELOG_OUTBOX_SEND_H

#include "internal.h"

struct gl_send {
  gatelog_t *gl;   /* outlives every script state that can hold s */
  gl_batch *batch; /* NULL once settled or abandoned */
  unsigned refs;
};

static inline void gl_send_ref(gl_send *s) { s->refs++; }
void gl_send_unref(gl_send *s);

/* The batch of s while its answer is not settled yet, or NULL. */
static inline const gl_batch *gl_send_batch(const gl_send *s) { return s->batch; }

/* Answer s: ok, or a failure with err (copied) and how (NULL: retry with
 * the backoff). Only the first answer of a send in flight counts; later
 * ones (a second done, a done after a timeout) are counted as
 * done_ignored. */
void gl_send_answer(gl_send *s, int ok, const char *err, const gl_answer_how *how);

/* Start the send of b, whose attempt and in-flight state are set: to the
 * host's send_override if there is one, else to the script's send. An
 * immediate failure (send raised, out of memory) is an answer like any. */
void gl_send_start(gatelog_t *gl, gl_batch *b);
/* The batch is settled or dropped: its send forgets it. */
void gl_send_unbind(gl_batch *b);

/* A call of a host sender: a copy of payload, for the caller to fill in
 * (complete, release, owner) and then hand to gl_host_send_call. NULL
 * when out of memory. */
gatelog_send_t *gl_host_send_new(gatelog_t *gl, const char *payload, size_t len);
void gl_host_send_call(gatelog_send_t *req, gatelog_send_fn fn, void *data);

/* Run the answers hosts gave with gatelog_send_done (the pump). */
void gl_send_run_answers(gatelog_t *gl);
/* The close: requests the host still holds are cut loose (its late
 * gatelog_send_done frees them); answered ones not yet run are dropped. */
void gl_sends_abandon(gatelog_t *gl);

#endif
