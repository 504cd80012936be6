/* Fields the gateway attaches to an open session (gatelog_set_attr): kept
 * beside the session table, by session id, not in it, so that what a
 * session costs without them does not change. A finished session's
 * fields reach the policy as record fields (gl_attrs_to_extras), then are
 * dropped. */
#ifndef GATELOG_ATTRS_H
#define GATELOG_ATTRS_H

#include <stddef.h>
#include <stdint.h>

#include "session/record.h"

#define GL_ATTR_KEY_MAX 64
#define GL_ATTR_VALUE_MAX 1024
#define GL_ATTRS_PER_SESSION 16

typedef struct gl_attr_set gl_attr_set; /* one session's fields */

typedef struct gl_attrs {
  gl_attr_set **buckets; /* chained by sid; NULL until the first field */
  uint32_t nbuckets, count;
} gl_attrs;

void gl_attrs_free(gl_attrs *a);
/* 1 if key (n bytes) may name a field: 1 to GL_ATTR_KEY_MAX of A-Z a-z
 * 0-9 _, not a standard field's name; and a value of vlen bytes fits. */
int gl_attr_valid(const char *key, size_t n, size_t vlen);
/* Set key to value for session sid (replacing an earlier value). 0,
 * UV_ENOSPC (GL_ATTRS_PER_SESSION fields already) or UV_ENOMEM. Lengths
 * are the caller's to check. */
int gl_attrs_set(gl_attrs *a, uint64_t sid, const char *key, size_t klen, const char *value,
                 size_t vlen);
/* The fields of sid, or NULL. */
const gl_attr_set *gl_attrs_get(const gl_attrs *a, uint64_t sid);
/* Forget the fields of sid. */
void gl_attrs_drop(gl_attrs *a, uint64_t sid);
/* Add the fields of set to x as strings. 0 or UV_ENOMEM. */
int gl_attrs_to_extras(const gl_attr_set *set, gl_extras *x);

#endif
