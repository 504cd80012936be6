/* The open sessions: a slab of fixed-size slots addressed by a 32-bit
 * index, an index by session id, an index of UDP flows by (resource, src,
 * dst), and per protocol a list ordered by last activity (least recent
 * first), so that idle expiry looks only at sessions that expire. */
#ifndef GATELOG_TABLE_H
#define GATELOG_TABLE_H

#include <stdint.h>

#include "addr.h"

#define GL_NONE UINT32_MAX

enum { GL_PROTO_TCP = 1, GL_PROTO_UDP = 2 };

typedef struct gl_session {
  uint64_t sid;
  int64_t resource;
  uint64_t start_real_ns; /* wall clock at start: the record's startedAt */
  uint64_t start_mono_ns;
  uint64_t last_mono_ns;  /* last activity */
  uint64_t bytes_tx;
  uint64_t bytes_rx;
  uint32_t prev, next;    /* activity list of its protocol; free list */
  gl_addr src, dst;
  uint8_t proto;          /* 0: a free slot */
} gl_session;

typedef struct gl_index {
  uint32_t *slots; /* session index + 1; 0 is empty */
  uint32_t mask;
  uint32_t count;
} gl_index;

typedef struct gl_activity_list {
  uint32_t head, tail;
  uint32_t count;
} gl_activity_list;

typedef struct gl_table {
  gl_session **chunks;
  uint32_t nchunks;
  uint32_t used;      /* slots ever handed out (high-water mark) */
  uint32_t free_head; /* free slots, linked through .next */
  uint32_t count;     /* open sessions */
  gl_index by_sid;
  gl_index by_flow;
  gl_activity_list lists[3]; /* by protocol */
  uint64_t seed;             /* keys the flow hash against chosen collisions */
} gl_table;

void gl_table_init(gl_table *t, uint64_t seed);
void gl_table_free(gl_table *t);

static inline gl_session *gl_table_at(const gl_table *t, uint32_t idx) {
  return &t->chunks[idx >> 12][idx & 4095];
}

/* Copy *s into a new slot (sid must not be open), index it (and its flow,
 * for UDP) and append it to its activity list. 0 or UV_ENOMEM. */
int gl_table_insert(gl_table *t, const gl_session *s, uint32_t *idx);
/* Unindex and free a slot. */
void gl_table_remove(gl_table *t, uint32_t idx);

uint32_t gl_table_find_sid(const gl_table *t, uint64_t sid);
uint32_t gl_table_find_flow(const gl_table *t, int64_t resource,
                            const gl_addr *src, const gl_addr *dst);

/* Record activity now and move the session to the end of its list. */
void gl_table_touch(gl_table *t, uint32_t idx, uint64_t now_mono_ns);

/* The least recently active session of a protocol, or GL_NONE. */
static inline uint32_t gl_table_least_recent(const gl_table *t, int proto) {
  return t->lists[proto].head;
}

/* The first open slot at or after `from`, or GL_NONE. */
uint32_t gl_table_next_open(const gl_table *t, uint32_t from);

#endif
