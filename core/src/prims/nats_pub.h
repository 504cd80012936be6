/* The publishing thread of a core.nats connection (prims/nats.c).
 *
 * nats.c writes to the socket from the thread that publishes once its
 * buffer is full, and its flusher holds the connection's lock while it
 * writes: a server that stops reading can hold a publishing thread for up
 * to the write deadline. So the loop never publishes: it prepares each
 * message and queues it here; this thread hands them to nats.c. A message
 * nats.c refuses comes back to the loop as a result for its slot, through
 * the shared part's queue (prims/nats_link.h), like an acknowledgement. */
#ifndef GATELOG_NATS_PUB_H
#define GATELOG_NATS_PUB_H

#include <nats/nats.h>
#include <stdint.h>

#include "prims/nats_link.h"

typedef struct gl_nats_pub gl_nats_pub;

/* A thread publishing on nc, holding sh until stopped; a message still
 * queued after ack_timeout_ms is not published (its slot timed out). NULL
 * if it cannot be had. */
gl_nats_pub *gl_nats_pub_start(natsConnection *nc, gl_nats_shared *sh, uint64_t ack_timeout_ms);
/* Queue msg for the slot (the thread destroys it). 0, or -1 without
 * memory (msg stays the caller's). Never blocks on nats.c. */
int gl_nats_pub_push(gl_nats_pub *p, natsMsg *msg, uint32_t slot, uint32_t gen);
/* Tell the thread to stop after the message it is publishing. */
void gl_nats_pub_cancel(gl_nats_pub *p);
/* Wait for it and free it with what it had not published (their slots
 * were answered "closed" by the loop). May wait for a write: not on the
 * loop. NULL is nothing. */
void gl_nats_pub_join(gl_nats_pub *p);

#endif
