/* The replay's count of the bytes of every open session, by the core's
 * session id, so that an event that would carry a session past
 * CLI_BYTES_MAX is refused before gatelog_add_bytes sees it. A UDP flow
 * of packets without an id is one session in the core, so ids of the
 * event file would not do. Open addressing with linear probing. */
#ifndef GATELOG_CLI_TALLY_H
#define GATELOG_CLI_TALLY_H

#include "cli.h"

typedef struct tally_entry {
  gatelog_sid_t sid;
  uint64_t tx, rx;
  int used;
} tally_entry;

typedef struct tally {
  tally_entry *slots;
  size_t cap, count; /* cap: a power of two, or 0 */
} tally;

/* Whether sid's totals plus tx and rx stay at most max. */
int tally_fits(const tally *t, gatelog_sid_t sid, uint64_t tx, uint64_t rx, uint64_t max);
/* Add to sid's totals: 0 or UV_ENOMEM. */
int tally_add(tally *t, gatelog_sid_t sid, uint64_t tx, uint64_t rx);
/* The session ended: forget it. */
void tally_remove(tally *t, gatelog_sid_t sid);
void tally_free(tally *t);

#endif
