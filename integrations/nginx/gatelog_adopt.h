/* Spools that no worker holds: a worker that finds one with batches in it
 * starts a core of its own on it, which delivers them and is stopped once
 * it holds nothing. A spool is left without a holder when its name is one
 * no later worker takes (worker_processes went down; a worker of a new
 * generation took w<N>.<k> while w<N> drained). Free of nginx's headers. */
#ifndef GATELOG_ADOPT_H
#define GATELOG_ADOPT_H

#include <stddef.h>
#include <stdint.h>

#include "gatelog.h"

/* At most this many adopted spools per worker at once (a thread each). */
#define GLA_MAX 8

/* Start a core (gatelog_start_thread, with `opts` and spool_dir set to
 * each) on every directory of `base` other than `own` that holds spool
 * segments and whose lock is free, up to GLA_MAX in all. `log(data, dir)`
 * is called for each adopted; `fail(data, dir, why)` for one that has
 * segments, is free, and could not be started. Returns how many are held. */
int gla_scan(const char *base, const char *own, const gatelog_options_t *opts,
             void (*log)(void *data, const char *dir),
             void (*fail)(void *data, const char *dir, const char *why), void *data);

/* Stop the adopted cores that hold nothing more (no record queued, no
 * batch in their spool), calling `done(data, dir)` for each (may be NULL);
 * with `all`, stop every one, each with a drain of drain_ms (what it cannot
 * deliver stays in its directory, free for the next worker). Returns how
 * many are still held. */
int gla_poll(int all, uint32_t drain_ms, void (*done)(void *data, const char *dir), void *data);

#endif
