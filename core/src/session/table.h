/* The open sessions: a slab of fixed-size slots addressed by a 32-bit
 * index, an index by session id, an index of UDP flows by (resource, src,
 * dst), and ordered lists for expiry: per protocol, by last activity
 * (least recent first); and, when those features are on, by start (for
 * max_lifetime) and by next interim record (for active_timeout). Each
 * list's head is the next of its kind to come due, so expiry looks only at
 * sessions that expire. The indexes grow incrementally: no operation
 * rehashes the whole table. */
#ifndef GATELOG_TABLE_H
#define GATELOG_TABLE_H

#include <stdint.h>

#include "util/addr.h"

#define GL_NONE UINT32_MAX

enum { GL_PROTO_TCP = 1, GL_PROTO_UDP = 2 };

/* The lists; the activity list of a protocol has the protocol's number. */
enum { GL_LIST_TCP = 1, GL_LIST_UDP = 2, GL_LIST_LIFE = 3, GL_LIST_INTERIM = 4, GL_LISTS };

/* 104 bytes: the per-session cost the table is sized by. */
typedef struct gl_session {
  uint64_t sid;
  int64_t resource;
  uint64_t start_real_ns; /* wall clock at start: the record's startedAt */
  uint64_t start_mono_ns;
  uint64_t last_mono_ns;  /* last activity */
  uint64_t bytes_tx;
  uint64_t bytes_rx;
  uint32_t prev, next;    /* activity list of its protocol; free list */
  uint8_t src_ip[16], dst_ip[16];
  uint16_t src_port, dst_port;
  uint8_t src_family, dst_family;
  uint8_t proto; /* 0: a free slot */
  uint8_t spare;
} gl_session;

/* Kept beside a session only when interim or start records are on. */
typedef struct gl_interim {
  uint32_t prev, next;         /* GL_LIST_INTERIM */
  uint32_t seq;                /* of the last record emitted; 0 none yet */
  uint32_t spare;
  uint64_t tx_reported, rx_reported; /* counters at that record */
} gl_interim;

/* Kept beside a session only when max_lifetime is on. */
typedef struct gl_life {
  uint32_t prev, next; /* GL_LIST_LIFE: start order */
} gl_life;

typedef struct gl_index {
  uint32_t *slots; /* session index + 1; 0 is empty */
  uint32_t mask;
  uint32_t count;
  /* While growing: the previous array, drained a few clusters at a time. */
  uint32_t *old;
  uint32_t old_mask;
  uint32_t old_count;
  uint32_t drain_at; /* next old slot to drain; starts at an empty slot */
  uint32_t drained;  /* old slots visited */
} gl_index;

typedef struct gl_list {
  uint32_t head, tail;
  uint32_t count;
} gl_list;

typedef struct gl_table {
  gl_session **chunks;
  gl_interim **interim; /* per chunk, when with_interim */
  gl_life **life;       /* per chunk, when with_life */
  uint32_t nchunks;
  uint32_t used;        /* slots ever handed out (high-water mark) */
  uint32_t free_head;   /* free slots, linked through .next */
  uint32_t count;       /* open sessions */
  gl_index by_sid;
  gl_index by_flow;
  gl_list lists[GL_LISTS];
  uint64_t seed;        /* keys the flow hash against chosen collisions */
  int with_interim;     /* keep gl_interim (seq and reported counters) */
  int interim_queue;    /* and queue sessions on GL_LIST_INTERIM */
  int with_life;        /* keep gl_life and GL_LIST_LIFE */
} gl_table;

/* `expected`: sessions to size the indexes for up front (0: grow). */
void gl_table_init(gl_table *t, uint64_t seed, int with_interim, int interim_queue,
                   int with_life, uint32_t expected);
void gl_table_free(gl_table *t);

#define GL_CHUNK_SHIFT 12
static inline gl_session *gl_table_at(const gl_table *t, uint32_t idx) {
  return &t->chunks[idx >> GL_CHUNK_SHIFT][idx & ((1u << GL_CHUNK_SHIFT) - 1)];
}
static inline gl_interim *gl_table_interim(const gl_table *t, uint32_t idx) {
  return &t->interim[idx >> GL_CHUNK_SHIFT][idx & ((1u << GL_CHUNK_SHIFT) - 1)];
}

void gl_session_src(const gl_session *s, gl_addr *out);
void gl_session_dst(const gl_session *s, gl_addr *out);
void gl_session_set_addrs(gl_session *s, const gl_addr *src, const gl_addr *dst);

/* Copy *s into a new slot (sid must not be open), index it (and its flow,
 * for UDP) and append it to its lists. 0 or UV_ENOMEM. */
int gl_table_insert(gl_table *t, const gl_session *s, uint32_t *idx);
/* Unindex, unlist and free a slot. */
void gl_table_remove(gl_table *t, uint32_t idx);

uint32_t gl_table_find_sid(gl_table *t, uint64_t sid);
uint32_t gl_table_find_flow(gl_table *t, int64_t resource, const gl_addr *src,
                            const gl_addr *dst);

/* Record activity now and move the session to the end of its list. */
void gl_table_touch(gl_table *t, uint32_t idx, uint64_t now_mono_ns);

/* Move a session to the end of the interim list (its next record is due
 * after every other's). */
void gl_table_requeue_interim(gl_table *t, uint32_t idx);

/* The first session of a list (the next to come due), or GL_NONE. */
static inline uint32_t gl_table_first(const gl_table *t, int list) {
  return t->lists[list].head;
}

/* The least recently active session of any protocol, or GL_NONE. */
uint32_t gl_table_least_recent_any(const gl_table *t);

/* The first open slot at or after `from`, or GL_NONE. */
uint32_t gl_table_next_open(const gl_table *t, uint32_t from);

#endif
