#include "runtime/budget.h"

#include <lauxlib.h>
#include <pthread.h>
#include <time.h>
#include <luajit.h>
#include <stdlib.h>
#include <uv.h>


#define WATCH_EVERY_NS 2000000ull      /* how often the watchdog looks */
#define WATCH_IDLE_ROUNDS 500          /* rounds without a call before it sleeps */

static void *budget_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
  gl_budget *b = ud;
  size_t old = ptr ? osize : 0;
  if (nsize == 0) {
    free(ptr);
    b->memory -= old;
    return NULL;
  }
  if (b->enforcing && b->memory_max && nsize > old && b->memory + (nsize - old) > b->memory_max) {
    b->out_of_memory = 1;
    return NULL; /* Lua raises "not enough memory" in the call that grew */
  }
  void *p = realloc(ptr, nsize);
  if (p != NULL) b->memory = b->memory - old + nsize;
  return p;
}

lua_State *gl_budget_newstate(gl_budget *b) { return lua_newstate(budget_alloc, b); }

gl_budget *gl_budget_of(lua_State *L) {
  void *ud;
  return lua_getallocf(L, &ud) == budget_alloc ? ud : NULL;
}

/* The budget counts the CPU time of the thread that runs the call, not
 * wall time: a loop thread that the kernel puts aside on a busy machine
 * has spent nothing, and a script is not charged for it. */
static uint64_t cpu_ns(clockid_t clock) {
  struct timespec ts;
  if (clock_gettime(clock, &ts) != 0) return 0;
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int gl_budget_charge(gl_budget *b, size_t bytes) {
  if (b == NULL || !b->enforcing || b->memory_max == 0 || bytes <= b->memory_max - b->memory)
    return 0;
  b->out_of_memory = 1;
  return -1;
}

/* ---- the hook, on the loop thread ----------------------------------------- */

static uv_mutex_t watch_lock; /* also serializes every lua_sethook */

static void set_hook(lua_State *L, lua_Hook f, int count) {
  uv_mutex_lock(&watch_lock);
  lua_sethook(L, f, f ? LUA_MASKCOUNT : 0, count);
  uv_mutex_unlock(&watch_lock);
}

/* On the loop thread: the running call has a deadline and is past it. */
static int past_deadline(gl_budget *b) {
  uint64_t call = atomic_load(&b->running);
  if (call == 0 || atomic_load(&b->deadline_of) != call) return 0;
  return cpu_ns(CLOCK_THREAD_CPUTIME_ID) >= atomic_load(&b->deadline_ns);
}

static void budget_hook(lua_State *L, lua_Debug *ar);

/* The running call is over budget: every instruction raises from now on,
 * so that a script catching the error with pcall cannot keep the call
 * alive. */
static void expire(lua_State *L, gl_budget *b) {
  if (!b->expired) set_hook(L, budget_hook, 1);
  b->expired = 1;
}

static void budget_hook(lua_State *L, lua_Debug *ar) {
  void *ud;
  lua_getallocf(L, &ud);
  gl_budget *b = ud;
  if (!past_deadline(b)) {
    /* Armed for a call that has ended since: disarm. */
    atomic_store(&b->armed, 0);
    set_hook(L, NULL, 0);
    return;
  }
  expire(L, b);
  lua_getinfo(L, "Sl", ar);
  luaL_error(L, "%s:%d: script budget of %d ms exceeded", ar->short_src, ar->currentline,
             (int)(b->time_ns / 1000000));
}

void gl_budget_poll(lua_State *L, gl_budget *b) {
  /* The watchdog arms the hook when the deadline passes; until then one
   * load is all a poll costs. */
  if (!atomic_load_explicit(&b->armed, memory_order_relaxed) || !past_deadline(b)) return;
  expire(L, b);
  /* luaL_error names the Lua function that called the C function. */
  luaL_error(L, "script budget of %d ms exceeded", (int)(b->time_ns / 1000000));
}

/* ---- the watchdog thread ----------------------------------------------------- */

static uv_once_t watch_once = UV_ONCE_INIT;
static uv_cond_t watch_wake;
static gl_budget *watched;            /* guarded by watch_lock */
static uv_thread_t watchdog;
static int watchdog_running;          /* guarded by watch_lock */
static _Atomic uint64_t calls;        /* calls begun, for idle detection */
static _Atomic int watchdog_sleeping; /* 1: waits for a call before looking */

/* Runs while any budgeted state exists; it leaves when the last one goes
 * (and is joined then), so no code of ours runs once the library could be
 * unloaded. */
static void watch(void *arg) {
  (void)arg;
  uint64_t seen = 0;
  unsigned idle = 0;
  uv_mutex_lock(&watch_lock);
  while (watched != NULL) {
    int running = 0;
    for (gl_budget *b = watched; b; b = b->next) {
      uint64_t call = atomic_load(&b->running);
      if (call == 0) continue;
      running = 1;
      uint64_t now = cpu_ns(b->cpu_clock);
      if (call != b->watch_seen) { /* a call begun since the last round */
        b->watch_seen = call;
        atomic_store(&b->deadline_ns, now + b->time_ns);
        atomic_store(&b->deadline_of, call);
      } else if (now >= atomic_load(&b->deadline_ns) && !atomic_exchange(&b->armed, 1)) {
        lua_sethook(b->L, budget_hook, LUA_MASKCOUNT, 1);
      }
    }
    /* A call that runs long in wall time (its thread waits for a CPU) is
     * not idleness: only rounds with no call running count. */
    uint64_t c = atomic_load(&calls);
    idle = c == seen && !running ? idle + 1 : 0;
    seen = c;
    if (idle >= WATCH_IDLE_ROUNDS) {
      /* Nothing runs scripts: sleep until a call begins (the loop thread
       * signals once, when it sees this flag). Look again after setting
       * it, so that a call begun meanwhile is not missed. */
      atomic_store(&watchdog_sleeping, 1);
      if (atomic_load(&calls) == seen && watched != NULL) uv_cond_wait(&watch_wake, &watch_lock);
      atomic_store(&watchdog_sleeping, 0);
      idle = 0;
      continue;
    }
    uv_cond_timedwait(&watch_wake, &watch_lock, WATCH_EVERY_NS);
  }
  uv_mutex_unlock(&watch_lock);
}

static void watch_init(void) {
  uv_mutex_init(&watch_lock);
  uv_cond_init(&watch_wake);
}

void gl_budget_arm(lua_State *L, gl_budget *b, int engine_off) {
  if (b->time_ns == 0) return;
  /* Compiled traces do not call hooks: code that must stop runs in the
   * interpreter, which does once a hook is set. */
  if (engine_off) luaJIT_setmode(L, 0, LUAJIT_MODE_ENGINE | LUAJIT_MODE_OFF);
  b->L = L;
  uv_once(&watch_once, watch_init);
  uv_mutex_lock(&watch_lock);
  b->prev = NULL;
  b->next = watched;
  if (watched) watched->prev = b;
  watched = b;
  if (!watchdog_running && uv_thread_create(&watchdog, watch, NULL) == 0) watchdog_running = 1;
  uv_cond_signal(&watch_wake);
  uv_mutex_unlock(&watch_lock);
}

void gl_budget_release(gl_budget *b) {
  if (b->L == NULL) return;
  uv_mutex_lock(&watch_lock);
  if (b->prev) b->prev->next = b->next;
  else watched = b->next;
  if (b->next) b->next->prev = b->prev;
  int stop = watched == NULL && watchdog_running;
  if (stop) {
    watchdog_running = 0;
    uv_cond_signal(&watch_wake);
  }
  uv_mutex_unlock(&watch_lock);
  if (stop) uv_thread_join(&watchdog);
  b->L = NULL;
}

/* ---- calls, on the loop thread ------------------------------------------------ */

void gl_budget_begin(lua_State *L, gl_budget *b) {
  (void)L;
  if (b->depth++ > 0) return; /* the outer call's deadline stands */
  b->expired = b->out_of_memory = 0;
  b->enforcing = 1;
  if (b->time_ns == 0 || b->L == NULL) return;
  /* The thread that runs calls does not change while the state lives
   * (every call is made on the loop thread); its clock is read once. */
  if (!b->have_cpu_clock) b->have_cpu_clock = pthread_getcpuclockid(pthread_self(), &b->cpu_clock) == 0;
  if (!b->have_cpu_clock) return;
  atomic_store(&b->running, ++b->seq);
  atomic_fetch_add(&calls, 1);
  if (atomic_load(&watchdog_sleeping)) {
    uv_mutex_lock(&watch_lock);
    uv_cond_signal(&watch_wake);
    uv_mutex_unlock(&watch_lock);
  }
}

int gl_budget_end(lua_State *L, gl_budget *b) {
  if (--b->depth > 0) return 0;
  int kind = b->expired ? GL_BUDGET_TIME : b->out_of_memory ? GL_BUDGET_MEMORY : 0;
  atomic_store(&b->running, 0);
  b->enforcing = 0;
  if (atomic_exchange(&b->armed, 0)) set_hook(L, NULL, 0);
  /* What a runaway call allocated is garbage now: give it back at once,
   * rather than charge the collection to the next call's budget. */
  if (kind) lua_gc(L, LUA_GCCOLLECT, 0);
  b->expired = b->out_of_memory = 0;
  return kind;
}
