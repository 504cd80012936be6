/* The policy: what a script means to the core — filter, enrich and send —
 * on top of the runtime that runs it (runtime/runtime.h). The core keeps
 * a reference to the current policy; batches in flight keep one to the
 * policy whose done they wait for; the references are the runtime's. */
#ifndef GATELOG_POLICY_H
#define GATELOG_POLICY_H

#include <lua.h>

#include "internal.h"
#include "runtime/runtime.h"

/* The record view's field names, found by the address of their interned
 * Lua string (LuaJIT interns every string, so equal names share one). */
#define GL_FIELD_SLOTS 64
typedef struct gl_field_map {
  const char *name[GL_FIELD_SLOTS];
  int field[GL_FIELD_SLOTS];
} gl_field_map;

/* What filter and enrich receive: one userdata reused for every record. */
typedef struct gl_view {
  gl_record *r; /* NULL outside a call: access raises */
  int writable; /* enrich may add fields; filter may not */
  const gl_field_map *fields;
} gl_view;

enum { GL_FN_FILTER, GL_FN_ENRICH, GL_FN_SEND, GL_FN_COUNT };

struct gl_policy {
  gl_runtime rt;               /* first: freed with the runtime's last reference */
  int fn_ref[GL_FN_COUNT];     /* filter, enrich, send; LUA_NOREF if absent */
  int view_ref;
  gl_view *view;               /* the userdata at view_ref */
  gl_field_map fields;
  int batch_mt_ref;
  int senders_ref;             /* the core.senders table */
  int in_call;                 /* a filter/enrich call is running (the view is busy) */
  /* The one call per record (policy.c): a thread of the state whose
   * stack holds what every record needs, from load to close. */
  lua_State *rec_L;            /* NULL: no filter or enrich (or not made) */
  int rec_ref;                 /* keeps rec_L alive */
  int stage;                   /* GL_FN_FILTER / GL_FN_ENRICH: the one running */
  gl_ratelimit rl[GL_FN_COUNT];
  char sha256[65];             /* of the source it was loaded from */
  uint64_t loaded_ns;
  /* The host senders the script's `senders` list names, each ending in
   * NUL, an empty name last: what gatelog_check_senders holds the host's
   * registrations to. */
  char needs_senders[512];
  /* The C codec the script selected (native_codec.c), or NULL; held by
   * the registry's codec_ref. */
  struct gl_codec *codec;
  int codec_ref;
};

/* Create a state, run the script at `path`, check what it returns, apply
 * its config table over *cfg, and run filter and enrich once on a
 * synthetic record. On failure returns GATELOG_ESCRIPT or GATELOG_ECONFIG
 * with the reason in gl's last error, and frees all. */
int gl_policy_load(gatelog_t *gl, const char *path, gl_config *cfg, gl_policy **out);

/* 0 if the host registered every sender p's `senders` list names; else
 * GATELOG_ECONFIG, the first missing one named in gl's last error. */
int gl_policy_check_senders(gatelog_t *gl, const gl_policy *p);

static inline void gl_policy_ref(gl_policy *p) { gl_rt_ref(&p->rt); }
/* Drop a reference; the last one closes the state. */
static inline void gl_policy_unref(gl_policy *p) { gl_rt_unref(&p->rt); }

/* Run filter then enrich on r. Returns 1 to keep the record, 0 to drop
 * it. Errors (raised, or a budget exceeded) are caught, counted and
 * logged; the record then follows on_script_error: kept (without what a
 * failed enrich set) or dropped. */
int gl_policy_process(gl_policy *p, gl_record *r);

/* Call send(batch, done) for b through its send request s (batch.c). Returns 0, or
 * -1 if send raised (the error is counted, logged and in *err, malloc'd). */
int gl_policy_send(gl_policy *p, gl_batch *b, gl_send *s, char **err);

/* Make a registered sender callable as core.senders[name]. 0 or UV_ENOMEM. */
int gl_policy_add_sender(gl_policy *p, gl_sender *s);

/* Install require("gatelog.core") in the state (core_module.c). */
void gl_core_module_install(gl_policy *p);
/* Create the record view in the state (record_view.c). */
void gl_view_install(gl_policy *p);
/* Push the records of a batch's JSON (the core's own: flat objects of
 * strings, numbers and booleans) as an array of `count` tables; 0, or -1
 * with nothing pushed if the text is not of that shape (records_decode.c). */
int gl_records_decode(lua_State *L, const char *json, size_t len, int count);
/* Create the batch metatable and the send handle's in the state
 * (batch.c, which also holds gl_policy_send). */
void gl_batch_install(gl_policy *p);
/* The batch at idx while its send is unsettled, else NULL (batch.c). */
const gl_batch *gl_batch_of(lua_State *L, int idx);
/* Set core.native_codec on the module table on top of L's stack
 * (native_codec.c). */
void gl_native_codec_install(lua_State *L, gl_policy *p);
/* Push a new, unbound record view and return it. */
gl_view *gl_view_new(lua_State *L, const gl_field_map *fields);

#endif
