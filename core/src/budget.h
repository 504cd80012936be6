/* The limits a script call runs under: a time budget enforced by a count
 * hook (with the JIT off for the state, so that no compiled loop can run
 * without reaching it) and a memory budget enforced by the state's
 * allocator. Both bite only while a script call runs; the core's own work
 * in the state never fails for them. */
#ifndef GATELOG_BUDGET_H
#define GATELOG_BUDGET_H

#include <lua.h>
#include <stddef.h>
#include <stdint.h>

typedef struct gl_budget {
  uint64_t time_ns;     /* per call; 0: none */
  size_t memory_max;    /* bytes; 0: none */
  size_t memory;        /* bytes the state holds now */
  uint64_t deadline_ns; /* of the running call; 0: none running */
  int depth;            /* nested calls (a callback re-entering the core) */
  int enforcing;        /* memory_max applies now */
  int expired;          /* the running call hit its deadline */
  int out_of_memory;    /* the running call hit memory_max */
} gl_budget;

/* A new state whose allocator counts into b. NULL if out of memory. */
lua_State *gl_budget_newstate(gl_budget *b);

/* Install the hook and switch the JIT off when a time budget is set. */
void gl_budget_arm(lua_State *L, gl_budget *b);

/* Bracket one script call. end returns the budget kind that stopped it:
 * 0, GL_BUDGET_TIME or GL_BUDGET_MEMORY. */
enum { GL_BUDGET_TIME = 1, GL_BUDGET_MEMORY = 2 };
void gl_budget_begin(lua_State *L, gl_budget *b);
int gl_budget_end(lua_State *L, gl_budget *b);

#endif
