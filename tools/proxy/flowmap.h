/* A hash map from (listener, client address) to a UDP flow, chained, that
 * doubles as it fills. The entries are the caller's: a flow embeds its
 * px_flowkey and is found back with GL_CONTAINER. */
#ifndef GATELOG_PROXY_FLOWMAP_H
#define GATELOG_PROXY_FLOWMAP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

typedef struct px_flowkey {
  const void *owner; /* the listener */
  struct sockaddr_storage addr;
  struct px_flowkey *next;
} px_flowkey;

typedef struct px_flowmap {
  px_flowkey **buckets;
  size_t nbuckets, count;
} px_flowmap;

/* Fill key->owner and key->addr (AF_INET or AF_INET6) before inserting. */
void px_flowkey_set(px_flowkey *key, const void *owner, const struct sockaddr *addr);
px_flowkey *px_flowmap_find(const px_flowmap *m, const void *owner, const struct sockaddr *addr);
int px_flowmap_insert(px_flowmap *m, px_flowkey *key); /* 0 or UV_ENOMEM */
void px_flowmap_remove(px_flowmap *m, px_flowkey *key);
void px_flowmap_free(px_flowmap *m);

#endif
