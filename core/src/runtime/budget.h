/* The limits a script call runs under. Time (CPU time of the thread that
 * runs the call, so that a busy machine does not charge a script for the
 * time it was not scheduled): with the JIT off for the
 * state (compiled loops never check anything), a watchdog thread arms a
 * count hook in a state whose call has passed its deadline; the hook then
 * raises on every instruction. No hook runs while calls stay in budget.
 * Memory: the state's allocator counts its bytes. Both bite only while a
 * script call runs; the core's own work in the state never fails. */
#ifndef GATELOG_BUDGET_H
#define GATELOG_BUDGET_H

#include <lua.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

typedef struct gl_budget {
  _Atomic uint64_t time_ns;     /* per call; 0: none. Atomic: the watchdog reads it while
                                   a load changes it (runtime.c) */
  size_t memory_max;            /* bytes; 0: none */
  size_t memory;                /* bytes the state holds now */
  /* A call's start is not timed on the loop thread (reading a thread's CPU
   * clock is a system call, dear per record): the watchdog reads the clock
   * when it first sees the call, at most one of its rounds later, and sets
   * the deadline from there. */
  uint64_t seq;                 /* calls begun (the loop thread's) */
  _Atomic uint64_t running;     /* seq of the running call; 0: none */
  _Atomic uint64_t deadline_ns; /* on cpu_clock, of the call deadline_of */
  _Atomic uint64_t deadline_of;
  uint64_t watch_seen;          /* the watchdog's: the call it timed last */
  clockid_t cpu_clock;          /* the CPU clock of the thread that runs calls */
  int have_cpu_clock;
  _Atomic int armed;            /* the watchdog set the hook */
  int depth;                    /* nested calls (a callback re-entering) */
  int enforcing;                /* memory_max applies now */
  int expired;                  /* the running call hit its deadline */
  int out_of_memory;            /* the running call hit memory_max */
  lua_State *L;
  struct gl_budget *prev, *next; /* watched budgets */
} gl_budget;

/* A new state whose allocator counts into b. NULL if out of memory. */
lua_State *gl_budget_newstate(gl_budget *b);
/* The budget of a state made by gl_budget_newstate, else NULL. */
gl_budget *gl_budget_of(lua_State *L);

/* With a time budget: let the watchdog watch the state, and with
 * engine_off switch the JIT off for all of it (else the caller keeps the
 * untrusted code out of it). Call gl_budget_release before closing. */
void gl_budget_arm(lua_State *L, gl_budget *b, int engine_off);
void gl_budget_release(gl_budget *b);

/* Bracket one script call (or one record's filter and enrich). end
 * returns the budget that stopped it: 0, GL_BUDGET_TIME or
 * GL_BUDGET_MEMORY. */
enum { GL_BUDGET_TIME = 1, GL_BUDGET_MEMORY = 2 };
void gl_budget_begin(lua_State *L, gl_budget *b);
int gl_budget_end(lua_State *L, gl_budget *b);

/* Bytes the running call makes the core hold outside the Lua heap (a
 * record's enrichment, copied into C), counted with the heap against
 * memory_max: 0 if they fit, else -1, and the call counts as stopped by
 * the memory budget (the caller raises "not enough memory"). */
int gl_budget_charge(gl_budget *b, size_t bytes);

/* For a C function that may run long (a pattern match, a sort): raise the
 * time budget's error if the running call has passed its deadline, as
 * the hook would (the hook cannot run until the C function returns). Call
 * it every few thousand steps; it costs an atomic load while in budget. */
void gl_budget_poll(lua_State *L, gl_budget *b);

#endif
