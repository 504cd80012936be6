/* The flow directory: which session id a UDP flow (resource, src, dst)
 * has, shared by every thread that tracks flows. The loop's table is the
 * truth about open sessions; the directory lets a producer thread answer
 * udp_track at once with the id the flow already has (or a new one it
 * claims for the flow) without asking the loop, and lets an end forget the
 * flow at once, by its id, so that the next track is a new session even
 * before the loop has applied the end. Sharded: each shard a mutex and a
 * chained hash, so threads on different flows rarely meet; the index by
 * id is sharded the same way (a flow's two shards are locked in that
 * order: by flow, then by id). No gatelog type here. */
#ifndef GATELOG_FLOWDIR_H
#define GATELOG_FLOWDIR_H

#include <stdint.h>
#include <uv.h>

#include "util/addr.h"

#define GL_FLOWDIR_SHARDS 64

typedef struct gl_flow_key {
  int64_t resource;
  gl_addr src, dst;
} gl_flow_key;

typedef struct gl_flowdir_entry gl_flowdir_entry;

typedef struct gl_flowdir_shard {
  uv_mutex_t mu;
  gl_flowdir_entry **buckets;
  uint32_t nbuckets; /* a power of two, or 0 before the first insert */
  uint32_t count;
  char pad[64]; /* shards apart: two locks never share a cache line */
} gl_flowdir_shard;

typedef struct gl_flowdir {
  gl_flowdir_shard shards[GL_FLOWDIR_SHARDS]; /* by flow */
  gl_flowdir_shard by_sid[GL_FLOWDIR_SHARDS]; /* the same flows by id */
  uint64_t seed; /* keys the hash against chosen collisions */
} gl_flowdir;

/* 0 or a UV error. */
int gl_flowdir_init(gl_flowdir *d, uint64_t seed);
void gl_flowdir_free(gl_flowdir *d);

/* The flow's id in *sid if it has one (returns 0); else claim `fresh` for
 * it (returns 1) or UV_ENOMEM. */
int gl_flowdir_claim(gl_flowdir *d, const gl_flow_key *k, uint64_t fresh, uint64_t *sid);

/* The flow's id, or 0. */
uint64_t gl_flowdir_get(gl_flowdir *d, const gl_flow_key *k);

/* Forget the flow if its id is `sid` (a newer claim stays). */
void gl_flowdir_remove(gl_flowdir *d, const gl_flow_key *k, uint64_t sid);

/* Forget the flow whose id is `sid`, if one has it (1), else 0. */
int gl_flowdir_forget(gl_flowdir *d, uint64_t sid);

/* Flows held (a snapshot). */
uint64_t gl_flowdir_count(gl_flowdir *d);

#endif
