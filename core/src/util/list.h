/* An intrusive circular doubly linked list: a gl_link is both the list
 * head and the member node. */
#ifndef GATELOG_LIST_H
#define GATELOG_LIST_H

#include <stddef.h>

typedef struct gl_link {
  struct gl_link *prev, *next;
} gl_link;

#define GL_CONTAINER(ptr, type, field) ((type *)((char *)(ptr) - offsetof(type, field)))

static inline void gl_list_init(gl_link *h) { h->prev = h->next = h; }
static inline int gl_list_empty(const gl_link *h) { return h->next == h; }

static inline void gl_list_push(gl_link *h, gl_link *n) {
  n->prev = h->prev;
  n->next = h;
  h->prev->next = n;
  h->prev = n;
}

/* Move every node of `from` to the end of `to`, in order; `from` is left
 * empty. One step however long the list: a thread's whole queue is taken
 * under its lock at once. */
static inline void gl_list_splice(gl_link *to, gl_link *from) {
  if (from->next == from) return;
  from->next->prev = to->prev;
  to->prev->next = from->next;
  from->prev->next = to;
  to->prev = from->prev;
  from->prev = from->next = from;
}

static inline void gl_list_remove(gl_link *n) {
  n->prev->next = n->next;
  n->next->prev = n->prev;
  n->prev = n->next = n;
}

#endif
