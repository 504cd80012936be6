/* The replay's map from an event file's session ids to the core's
 * sessions: chained, doubling as it fills. */
#ifndef GATELOG_CLI_IDMAP_H
#define GATELOG_CLI_IDMAP_H

#include "cli.h"

typedef struct id_entry {
  char *id;
  gatelog_sid_t sid;
  int udp;
  int64_t resource;                 /* a UDP flow's, to follow it when */
  struct sockaddr_storage src, dst; /* its session idled out */
  struct id_entry *next;
} id_entry;

typedef struct idmap {
  id_entry **buckets;
  size_t nbuckets, count;
} idmap;

/* The link that points at the entry of `id` (for idmap_remove), or NULL. */
id_entry **idmap_find(idmap *m, const char *id);
/* A new zeroed entry for `id` (copied), or NULL when out of memory. */
id_entry *idmap_add(idmap *m, const char *id);
void idmap_remove(idmap *m, id_entry **link);
void idmap_free(idmap *m);

#endif
