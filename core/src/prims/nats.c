/* core.nats: publish to NATS JetStream and hear its acknowledgements, on
 * the core's loop.
 *
 *   local nc = core.nats.connect{ servers = "nats://a:4222,nats://b:4222",
 *     user =, password =, token =, creds =, tls = { ca =, cert =, key = },
 *     ack_timeout = 5, max_inflight = 1024, connect_timeout = 2, name = }
 *   nc:publish(subjects, bodies, ids, cb)   cb(true, duplicates)
 *                                           | cb(nil, err, kind)
 *   nc:stats() -> { published, acked, duplicates, reconnects, errors, connected_url }
 *   nc:close()
 *
 * nats.c (libnats) runs its sockets on threads of its own; nothing of it
 * blocks the loop: options are built and the first connection made on the
 * script's share of the thread pool, messages are prepared on the loop and
 * queued for a publishing thread of the connection's (prims/nats_pub.h:
 * nats.c may write from the thread that publishes, for as long as a
 * server that stops reading lets it), and acknowledgements arrive on the
 * thread of one subscription, from where they are queued under a mutex
 * and handed to the loop with a uv_async_t (that side is
 * prims/nats_link.c; this file is the loop's).
 *
 * A publish is a group of messages (a batch); each goes to JetStream as a
 * request whose reply subject names its slot, <inbox>.<slot>_<gen>, so an
 * acknowledgement finds its message without a lookup. cb runs once every
 * message of the group has settled: true when each was acknowledged
 * (duplicates: how many the stream already held, by Nats-Msg-Id), else
 * the first failure and its kind: "permanent" (a message larger than the
 * server's max_payload: retrying cannot help), "no_responders" (no stream
 * takes the subject, or its leader is being elected), "timeout" (no
 * acknowledgement within ack_timeout), "nak" (JetStream refused it),
 * "connect" (no server would take the connection), "closed". At most
 * max_inflight messages wait for their acknowledgement; the rest of a
 * group waits its turn. After the first connection nats.c reconnects by
 * itself, to any server it knows of; what was published meanwhile waits
 * in its buffer, or times out and is sent again by the batch's retry,
 * under the same Nats-Msg-Id. */
#include <lauxlib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prims/io.h"
#include "prims/nats_link.h"
#include "prims/nats_pub.h"
#include "runtime/runtime.h"
#include "util/clock.h"

#define NATS_MT "gatelog.nats"
#define ERR_MAX GL_NATS_ERR_MAX
#define TICK_MS 100

enum { IDLE, CONNECTING, OPEN, CLOSED };
static const char *const kind_names[] = {"ok", "permanent", "no_responders", "timeout",
                                         "nak", "connect", "closed"};

typedef struct group group;
typedef struct slot {
  group *g;         /* NULL: free */
  uint32_t gen;
  uint32_t index;   /* the message in g */
  uint64_t deadline; /* loop ms */
} slot;

typedef struct msg_ref {
  uint32_t subject, body, id; /* offsets into group.data */
  uint32_t body_len;
} msg_ref;

struct group {
  gl_link node;     /* in conn.waiting while queued, then in conn.done */
  int queued;       /* messages of it are not sent yet */
  gl_io_refs refs;  /* the callback and the policy */
  size_t held;
  uint32_t n, next, settled, duplicates;
  int kind;         /* the first failure's, GL_NATS_OK while none */
  char err[ERR_MAX];
  msg_ref *msgs;
  char *data;
};

typedef struct conn {
  gl_io io;
  int state;
  gl_nats_settings set;
  uint64_t ack_timeout_ms;
  uint32_t max_inflight, inflight;
  slot *slots;
  uint32_t *free_slots, nfree;
  gl_link waiting;  /* groups with messages not yet sent, in order */
  gl_link done;     /* groups settled, to answer on the next turn */
  uv_async_t async;
  uv_timer_t timer;
  int handles;
  gl_nats_shared *sh;
  natsConnection *nc;     /* from the connect job, once it succeeded */
  natsSubscription *sub;
  gl_nats_pub *pub;
  char inbox[64];
  gl_nats_link link;      /* the connect job: set is kept until it ends */
  int job_pending;
  char last_err[ERR_MAX];
  uint64_t published, acked, duplicates, errors, reconnects;
  gl_io_refs refs; /* the Lua object; no policy reference */
  struct conn **ud;
} conn;

/* ---- groups and slots, on the loop ------------------------------------- */

static void settle(conn *c, group *g, int kind, const char *err) {
  g->settled++;
  if (kind != GL_NATS_OK && g->kind == GL_NATS_OK) {
    g->kind = kind;
    snprintf(g->err, sizeof(g->err), "%s", err && *err ? err : kind_names[kind]);
    c->errors++;
    c->io.gl->stats.nats_errors++;
  }
  if (g->settled == g->n) {
    if (g->queued) gl_list_remove(&g->node);
    g->queued = 0;
    gl_list_push(&c->done, &g->node);
    uv_async_send(&c->async); /* answered on a later turn */
  }
}

/* Fail what of g is not sent yet (connect failed, closed). */
static void fail_unsent(conn *c, group *g, int kind, const char *err) {
  while (g->next < g->n) {
    g->next++;
    settle(c, g, kind, err);
  }
}

static void release_slot(conn *c, uint32_t i) {
  c->slots[i].g = NULL;
  c->slots[i].gen++;
  c->free_slots[c->nfree++] = i;
  c->inflight--;
}

/* Publish the message of g at index into a free slot. */
static void send_one(conn *c, group *g) {
  uint32_t index = g->next++;
  const msg_ref *m = &g->msgs[index];
  uint32_t i = c->free_slots[--c->nfree];
  slot *sl = &c->slots[i];
  char reply[96];
  snprintf(reply, sizeof(reply), "%s.%u_%u", c->inbox, i, sl->gen);
  natsMsg *msg = NULL;
  natsStatus s = natsMsg_Create(&msg, g->data + m->subject, reply, g->data + m->body, (int)m->body_len);
  if (s == NATS_OK && g->data[m->id]) s = natsMsgHeader_Set(msg, "Nats-Msg-Id", g->data + m->id);
  /* What nats.c refuses (max_payload, closed) comes back as a result. */
  if (s == NATS_OK && gl_nats_pub_push(c->pub, msg, i, sl->gen) != 0) s = NATS_NO_MEMORY;
  if (s != NATS_OK) {
    natsMsg_Destroy(msg);
    c->free_slots[c->nfree++] = i;
    settle(c, g, GL_NATS_CLOSED, natsStatus_GetText(s));
    return;
  }
  c->published++;
  c->io.gl->stats.nats_published++;
  sl->g = g;
  sl->index = index;
  sl->deadline = gl_now_ms(c->io.gl) + c->ack_timeout_ms;
  c->inflight++;
}

static void on_timer(uv_timer_t *t);

static void pump(conn *c) {
  while (c->state == OPEN && c->nfree > 0 && !gl_list_empty(&c->waiting)) {
    group *g = GL_CONTAINER(c->waiting.next, group, node);
    send_one(c, g);
    /* Fully sent: it waits for its acknowledgements in the slots. */
    if (g->queued && g->next == g->n) {
      gl_list_remove(&g->node);
      g->queued = 0;
    }
  }
  if (c->inflight > 0 && !uv_is_active((uv_handle_t *)&c->timer))
    uv_timer_start(&c->timer, on_timer, TICK_MS, TICK_MS);
}

static void free_group(conn *c, group *g) {
  gl_io_unhold(c->io.gl, g->held);
  gl_io_refs_release(&g->refs);
  free(g->msgs);
  free(g->data);
  free(g);
}

static void answer(conn *c, group *g) {
  lua_State *L = gl_io_refs_target(&g->refs);
  if (L) {
    if (g->kind == GL_NATS_OK) {
      lua_pushboolean(L, 1);
      lua_pushinteger(L, g->duplicates);
    } else {
      lua_pushnil(L);
      lua_pushfstring(L, "nats: %s", g->err);
      lua_pushstring(L, kind_names[g->kind]);
    }
    gl_io_refs_call(&g->refs, g->kind == GL_NATS_OK ? 2 : 3, 0);
  }
  free_group(c, g);
}

static void on_timer(uv_timer_t *t) {
  conn *c = t->data;
  uint64_t now = gl_now_ms(c->io.gl);
  for (uint32_t i = 0; i < c->max_inflight; i++) {
    slot *sl = &c->slots[i];
    if (sl->g == NULL || sl->deadline > now) continue;
    group *g = sl->g;
    release_slot(c, i);
    char why[ERR_MAX], last[ERR_MAX];
    gl_nats_shared_last_error(c->sh, last, sizeof(last));
    if (last[0]) snprintf(why, sizeof(why), "no acknowledgement within %llu ms (last error: %.180s)",
                          (unsigned long long)c->ack_timeout_ms, last);
    else snprintf(why, sizeof(why), "no acknowledgement within %llu ms", (unsigned long long)c->ack_timeout_ms);
    settle(c, g, GL_NATS_TIMEOUT, why);
  }
  if (c->inflight == 0) uv_timer_stop(t);
  pump(c);
}

static void take_results(conn *c) {
  gl_nats_result *q;
  uint64_t rc;
  size_t n = gl_nats_shared_take(c->sh, &q, &rc);
  c->io.gl->stats.nats_reconnects += rc - c->reconnects;
  c->reconnects = rc;
  for (size_t k = 0; k < n; k++) {
    const gl_nats_result *r = &q[k];
    if (r->slot >= c->max_inflight) continue;
    if (r->unsent) { /* counted when it was queued */
      c->published--;
      c->io.gl->stats.nats_published--;
    }
    slot *sl = &c->slots[r->slot];
    if (sl->g == NULL || sl->gen != r->gen) continue; /* timed out before: sent again later */
    group *g = sl->g;
    release_slot(c, r->slot);
    if (r->kind == GL_NATS_OK) {
      c->acked++;
      c->io.gl->stats.nats_acked++;
      if (r->duplicate) {
        g->duplicates++;
        c->duplicates++;
        c->io.gl->stats.nats_duplicates++;
      }
    }
    const char *why = r->kind == GL_NATS_NO_RESPONDERS ? "no stream takes the subject (no responders)" : r->err;
    settle(c, g, r->kind, why);
  }
  free(q);
}

static void on_async(uv_async_t *a) {
  conn *c = a->data;
  take_results(c);
  pump(c);
  while (!gl_list_empty(&c->done)) {
    group *g = GL_CONTAINER(c->done.next, group, node);
    gl_list_remove(&g->node);
    answer(c, g);
  }
}

/* ---- the connection ----------------------------------------------------- */


static void connect_done(gl_pool_work *w, int status) {
  conn *c = GL_CONTAINER(w, conn, link.work);
  gatelog_t *gl = c->io.gl;
  gl_work_end(gl);
  gl_nats_link_done(&c->link);
  c->job_pending = 0;
  c->handles--;
  if (c->state == CLOSED) { /* closed meanwhile: the connection goes too */
    gl_nats_give_up(gl, c->link.nc, c->link.sub, c->link.pub);
    gl_nats_settings_free(&c->set);
    if (c->handles == 0) free(c);
    gl_schedule_pump(gl);
    return;
  }
  if (status == 0 && c->link.status == NATS_OK) {
    c->nc = c->link.nc;
    c->sub = c->link.sub;
    c->pub = c->link.pub;
    memcpy(c->inbox, c->link.inbox, sizeof(c->inbox));
    c->state = OPEN;
    pump(c);
    return;
  }
  c->state = IDLE;
  if (status) snprintf(c->link.err, sizeof(c->link.err), "connect: %s", uv_strerror(status));
  snprintf(c->last_err, sizeof(c->last_err), "%s", c->link.err);
  gl_link *l = c->waiting.next;
  while (l != &c->waiting) {
    group *g = GL_CONTAINER(l, group, node);
    l = l->next;
    fail_unsent(c, g, GL_NATS_CONNECT, c->link.err);
  }
}

static void start_connect(conn *c) {
  c->state = CONNECTING;
  c->job_pending = 1;
  c->handles++; /* the job holds c */
  gl_work_begin(c->io.gl);
  if (gl_nats_link_start(c->io.gl, &c->link, &c->set, c->sh, connect_done) != 0) {
    /* Not even queued: the groups waiting fail on this turn's end. */
    gl_work_end(c->io.gl);
    c->handles--;
    c->job_pending = 0;
    c->state = IDLE;
    snprintf(c->link.err, sizeof(c->link.err), "connect: cannot queue the connection");
    while (!gl_list_empty(&c->waiting)) {
      group *g = GL_CONTAINER(c->waiting.next, group, node);
      fail_unsent(c, g, GL_NATS_CONNECT, c->link.err);
    }
  }
}

/* ---- closing ----------------------------------------------------------- */


static void on_handle_closed(uv_handle_t *h) {
  conn *c = h->data;
  gatelog_t *gl = c->io.gl;
  if (--c->handles == 0) free(c);
  gl_io_handle_closed(gl);
}

/* Close c: every group answered (nil, "closed") when notify, else
 * forgotten (the core's close: no callback runs any more). */
static void shut(conn *c, int notify) {
  if (c->state == CLOSED) return;
  c->state = CLOSED;
  gl_io_untrack(&c->io);
  gatelog_t *gl = c->io.gl;
  for (uint32_t i = 0; i < c->max_inflight; i++)
    if (c->slots[i].g) {
      group *g = c->slots[i].g;
      release_slot(c, i);
      settle(c, g, GL_NATS_CLOSED, "connection closed");
    }
  while (!gl_list_empty(&c->waiting)) {
    group *g = GL_CONTAINER(c->waiting.next, group, node);
    fail_unsent(c, g, GL_NATS_CLOSED, "connection closed");
  }
  while (!gl_list_empty(&c->done)) {
    group *g = GL_CONTAINER(c->done.next, group, node);
    gl_list_remove(&g->node);
    /* The script hears of it on a later turn, not inside its close. */
    if (notify) gl_io_defer_error(&g->refs, "nats: connection closed");
    free_group(c, g);
  }
  gl_nats_shared_detach(c->sh);
  gl_nats_shared_unref(c->sh);
  c->sh = NULL;
  if (!c->job_pending) {
    gl_nats_give_up(gl, c->nc, c->sub, c->pub);
    c->nc = NULL;
    c->sub = NULL;
    c->pub = NULL;
    gl_nats_settings_free(&c->set);
  }
  free(c->slots);
  free(c->free_slots);
  c->slots = NULL;
  uv_close((uv_handle_t *)&c->async, on_handle_closed);
  uv_close((uv_handle_t *)&c->timer, on_handle_closed);
  if (c->ud) *c->ud = NULL;
  c->ud = NULL;
  gl_io_refs_release(&c->refs);
}

static void abandon(gl_io *io) { shut(GL_CONTAINER(io, conn, io), 0); }

/* ---- Lua --------------------------------------------------------------- */

static char *opt_string(lua_State *L, int t, const char *field) {
  lua_getfield(L, t, field);
  char *v = NULL;
  if (!lua_isnil(L, -1)) {
    size_t len;
    const char *s = lua_tolstring(L, -1, &len);
    if (s == NULL || len == 0 || strlen(s) != len) luaL_error(L, "nats.connect: %s must be a non-empty string", field);
    v = strdup(s);
  }
  lua_pop(L, 1);
  return v;
}

static double opt_number(lua_State *L, int t, const char *field, double def, double lo, double hi) {
  lua_getfield(L, t, field);
  double v = def;
  if (!lua_isnil(L, -1)) {
    v = lua_type(L, -1) == LUA_TNUMBER ? lua_tonumber(L, -1) : lo - 1;
    if (!(v >= lo && v <= hi)) luaL_error(L, "nats.connect: %s must be a number from %g to %g", field, lo, hi);
  }
  lua_pop(L, 1);
  return v;
}

/* servers: "url,url" or { "url", ... }. */
static void read_servers(lua_State *L, int t, gl_nats_settings *st) {
  lua_getfield(L, t, "servers");
  int list = lua_gettop(L);
  if (lua_istable(L, list)) {
    int n = 0;
    for (int i = 1;; i++) {
      lua_rawgeti(L, list, i);
      if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        break;
      }
      if (lua_type(L, -1) != LUA_TSTRING) luaL_error(L, "nats.connect: servers must be strings");
      if (n++ > 0) {
        lua_pushliteral(L, ",");
        lua_insert(L, -2);
      }
    }
    lua_concat(L, lua_gettop(L) - list);
  } else if (lua_type(L, list) == LUA_TSTRING) {
    lua_pushvalue(L, list);
  } else {
    luaL_error(L, "nats.connect: servers must be a string or a list of strings");
  }
  char *all = strdup(lua_tostring(L, -1));
  lua_pop(L, 2);
  int n = 0;
  for (char *tok = strtok(all, ", "); tok; tok = strtok(NULL, ", ")) {
    char **s = realloc(st->servers, sizeof(*s) * (size_t)(n + 1));
    if (s == NULL) break;
    st->servers = s;
    st->servers[n++] = strdup(tok);
  }
  st->nservers = n;
  free(all);
  if (n == 0) luaL_error(L, "nats.connect: no server given");
}

static int core_connect(lua_State *L) {
  gl_runtime *p = lua_touserdata(L, lua_upvalueindex(1));
  luaL_checktype(L, 1, LUA_TTABLE);
  gl_io_check_usable(L, p);
  conn **ud = lua_newuserdata(L, sizeof(*ud));
  *ud = NULL;
  luaL_getmetatable(L, NATS_MT);
  lua_setmetatable(L, -2);
  conn *c = calloc(1, sizeof(*c));
  gl_nats_shared *sh = c ? gl_nats_shared_new(NULL) : NULL;
  if (sh == NULL) {
    free(c);
    return luaL_error(L, "out of memory");
  }
  /* Read with c reachable from the object's __gc: a bad field raises. */
  c->state = CLOSED;
  *ud = c;
  c->ud = ud;
  c->sh = sh;
  read_servers(L, 1, &c->set);
  c->set.user = opt_string(L, 1, "user");
  c->set.password = opt_string(L, 1, "password");
  c->set.token = opt_string(L, 1, "token");
  c->set.creds = opt_string(L, 1, "creds");
  c->set.name = opt_string(L, 1, "name");
  lua_getfield(L, 1, "tls");
  if (lua_istable(L, -1)) {
    int t = lua_gettop(L);
    c->set.ca = opt_string(L, t, "ca");
    c->set.cert = opt_string(L, t, "cert");
    c->set.key = opt_string(L, t, "key");
  } else if (!lua_isnil(L, -1)) {
    luaL_error(L, "nats.connect: tls must be a table");
  }
  lua_pop(L, 1);
  c->set.connect_timeout_ms = (int64_t)(opt_number(L, 1, "connect_timeout", 2, 0.01, 3600) * 1000);
  c->ack_timeout_ms = (uint64_t)(opt_number(L, 1, "ack_timeout", 5, 0.01, 3600) * 1000);
  c->set.ack_timeout_ms = c->ack_timeout_ms;
  c->max_inflight = (uint32_t)opt_number(L, 1, "max_inflight", 1024, 1, 1 << 20);
  c->slots = calloc(c->max_inflight, sizeof(*c->slots));
  c->free_slots = malloc(c->max_inflight * sizeof(*c->free_slots));
  if (c->slots == NULL || c->free_slots == NULL) return luaL_error(L, "out of memory");
  for (uint32_t i = 0; i < c->max_inflight; i++) c->free_slots[c->nfree++] = c->max_inflight - 1 - i;
  gatelog_t *gl = p->gl;
  gl_list_init(&c->waiting);
  gl_list_init(&c->done);
  uv_async_init(gl->loop, &c->async, on_async);
  uv_timer_init(gl->loop, &c->timer);
  c->async.data = c->timer.data = c;
  c->handles = 2;
  gl_io_handle_opened(gl, (uv_handle_t *)&c->async);
  gl_io_handle_opened(gl, (uv_handle_t *)&c->timer);
  sh->async = &c->async; /* no thread of nats.c has it yet */
  c->state = IDLE;
  gl_io_track(gl, &c->io, abandon);
  gl_io_refs_init(&c->refs, p, 0);
  gl_io_refs_set_self(&c->refs, L, -1);
  return 1;
}

static conn *check_open(lua_State *L) {
  conn **ud = luaL_checkudata(L, 1, NATS_MT);
  if (*ud == NULL || (*ud)->state == CLOSED) luaL_error(L, "the nats connection is closed");
  return *ud;
}

/* The string at t[i], or s itself when s is a string (one for all). */
static const char *item(lua_State *L, int idx, int i, size_t *len, const char *what) {
  const char *s;
  if (lua_type(L, idx) == LUA_TSTRING) {
    s = lua_tolstring(L, idx, len);
  } else {
    lua_rawgeti(L, idx, i);
    s = lua_tolstring(L, -1, len);
    lua_pop(L, 1); /* the table keeps it */
  }
  if (s == NULL) luaL_error(L, "nats:publish: %s %d is not a string", what, i);
  return s;
}

static int nats_publish(lua_State *L) {
  conn *c = check_open(L);
  luaL_checktype(L, 3, LUA_TTABLE);
  if (lua_type(L, 2) != LUA_TSTRING) luaL_checktype(L, 2, LUA_TTABLE);
  if (lua_type(L, 4) != LUA_TSTRING) luaL_checktype(L, 4, LUA_TTABLE);
  luaL_checktype(L, 5, LUA_TFUNCTION);
  gl_io_check_usable(L, c->refs.policy);
  uint32_t n = (uint32_t)lua_objlen(L, 3);
  if (n == 0) return luaL_argerror(L, 3, "no message to publish");
  size_t total = 0, len;
  for (uint32_t i = 1; i <= n; i++) {
    size_t sl, il;
    const char *subj = item(L, 2, (int)i, &sl, "subject");
    item(L, 3, (int)i, &len, "body");
    item(L, 4, (int)i, &il, "id");
    if (sl == 0 || strlen(subj) != sl || strpbrk(subj, " \t\r\n*>"))
      luaL_error(L, "nats:publish: subject %q is not one NATS can publish to", subj);
    if (len > INT32_MAX) luaL_error(L, "nats:publish: body %d too large", (int)i);
    total += sl + len + il + 3;
  }
  if (total > UINT32_MAX) return luaL_error(L, "nats:publish: more than 4 GiB at once");
  size_t held = total + n * sizeof(msg_ref);
  if (gl_io_hold(c->io.gl, held) != 0) return luaL_error(L, "not enough memory for I/O in flight");
  group *g = calloc(1, sizeof(*g));
  char *data = g ? malloc(total) : NULL;
  msg_ref *msgs = data ? malloc(n * sizeof(*msgs)) : NULL;
  if (msgs == NULL) {
    free(g);
    free(data);
    gl_io_unhold(c->io.gl, held);
    return luaL_error(L, "out of memory");
  }
  size_t off = 0;
  for (uint32_t i = 1; i <= n; i++) {
    msg_ref *m = &msgs[i - 1];
    const char *s = item(L, 2, (int)i, &len, "subject");
    m->subject = (uint32_t)off;
    memcpy(data + off, s, len + 1);
    off += len + 1;
    s = item(L, 3, (int)i, &len, "body");
    m->body = (uint32_t)off;
    m->body_len = (uint32_t)len;
    memcpy(data + off, s, len + 1);
    off += len + 1;
    s = item(L, 4, (int)i, &len, "id");
    m->id = (uint32_t)off;
    memcpy(data + off, s, len + 1);
    off += len + 1;
  }
  g->n = n;
  g->msgs = msgs;
  g->data = data;
  g->held = held;
  gl_io_refs_init(&g->refs, c->refs.policy, 1);
  gl_io_refs_set_cb(&g->refs, L, 5);
  gl_list_push(&c->waiting, &g->node);
  g->queued = 1;
  if (c->state == IDLE) start_connect(c);
  pump(c);
  return 0;
}

static int nats_stats(lua_State *L) {
  conn **ud = luaL_checkudata(L, 1, NATS_MT);
  conn *c = *ud;
  lua_createtable(L, 0, 8);
  if (c == NULL) return 1;
  static const struct {
    const char *name;
    size_t off;
  } fields[] = {{"published", offsetof(conn, published)}, {"acked", offsetof(conn, acked)},
                {"duplicates", offsetof(conn, duplicates)}, {"errors", offsetof(conn, errors)},
                {"reconnects", offsetof(conn, reconnects)}};
  for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
    uint64_t v;
    memcpy(&v, (const char *)c + fields[i].off, sizeof(v));
    lua_pushnumber(L, (lua_Number)v);
    lua_setfield(L, -2, fields[i].name);
  }
  lua_pushinteger(L, c->inflight);
  lua_setfield(L, -2, "inflight");
  if (c->last_err[0]) {
    lua_pushstring(L, c->last_err);
    lua_setfield(L, -2, "last_error");
  }
  char url[256];
  if (c->state == OPEN) gl_nats_shared_url(c->sh, url, sizeof(url));
  if (c->state == OPEN && url[0]) {
    lua_pushstring(L, url);
    lua_setfield(L, -2, "connected_url");
  }
  return 1;
}

static int nats_close(lua_State *L) {
  conn **ud = luaL_checkudata(L, 1, NATS_MT);
  if (*ud) shut(*ud, 1);
  return 0;
}

/* The script let go of the object, or its state is closing. */
static int nats_gc(lua_State *L) {
  conn **ud = lua_touserdata(L, 1);
  if (*ud && (*ud)->handles == 0) { /* connect raised on a bad setting: never opened */
    conn *c = *ud;
    gl_nats_settings_free(&c->set);
    free(c->slots);
    free(c->free_slots);
    gl_nats_shared_unref(c->sh);
    free(c);
    *ud = NULL;
  }
  if (*ud) {
    (*ud)->refs.policy = NULL; /* nothing to release: the registry goes with the state */
    shut(*ud, 0);
  }
  return 0;
}

void gl_prims_nats_install(lua_State *L, gl_runtime *p) {
  static const luaL_Reg methods[] = {
      {"publish", nats_publish}, {"stats", nats_stats}, {"close", nats_close}, {NULL, NULL}};
  gl_rt_object_type(L, NATS_MT, methods, nats_gc, NULL);
  lua_createtable(L, 0, 1);
  lua_pushlightuserdata(L, p);
  lua_pushcclosure(L, core_connect, 1);
  lua_setfield(L, -2, "connect");
  lua_setfield(L, -2, "nats");
}
