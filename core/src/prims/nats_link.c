/* The nats.c side of core.nats: callbacks on nats.c's threads, the
 * connection made on the pool, and its teardown (prims/nats_link.h). */
#include "prims/nats_link.h"

#include "prims/nats_pub.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define IO_BUF_SIZE (1 << 20)
#define WRITE_DEADLINE_MS 1000

/* ---- the shared part ---------------------------------------------------- */

gl_nats_shared *gl_nats_shared_new(uv_async_t *async) {
  gl_nats_shared *sh = calloc(1, sizeof(*sh));
  if (sh == NULL) return NULL;
  if (uv_mutex_init(&sh->mu) != 0) {
    free(sh);
    return NULL;
  }
  sh->refs = 1;
  sh->async = async;
  return sh;
}

void gl_nats_shared_ref(gl_nats_shared *sh) {
  uv_mutex_lock(&sh->mu);
  sh->refs++;
  uv_mutex_unlock(&sh->mu);
}

void gl_nats_shared_detach(gl_nats_shared *sh) {
  uv_mutex_lock(&sh->mu);
  sh->async = NULL;
  uv_mutex_unlock(&sh->mu);
}

size_t gl_nats_shared_take(gl_nats_shared *sh, gl_nats_result **q, uint64_t *reconnects) {
  uv_mutex_lock(&sh->mu);
  size_t n = sh->qlen;
  *q = sh->q;
  sh->q = NULL;
  sh->qlen = sh->qcap = 0;
  *reconnects = sh->reconnects;
  uv_mutex_unlock(&sh->mu);
  return n;
}

void gl_nats_shared_url(gl_nats_shared *sh, char *url, size_t size) {
  uv_mutex_lock(&sh->mu);
  snprintf(url, size, "%s", sh->url);
  uv_mutex_unlock(&sh->mu);
}

void gl_nats_shared_last_error(gl_nats_shared *sh, char *err, size_t size) {
  uv_mutex_lock(&sh->mu);
  snprintf(err, size, "%s", sh->err);
  uv_mutex_unlock(&sh->mu);
}

/* ---- on nats.c's threads ------------------------------------------------ */

void gl_nats_shared_unref(gl_nats_shared *sh) {
  uv_mutex_lock(&sh->mu);
  int last = --sh->refs == 0;
  uv_mutex_unlock(&sh->mu);
  if (!last) return;
  uv_mutex_destroy(&sh->mu);
  free(sh->q);
  free(sh);
}

/* Ask nats.c for the server's address (on a thread of its or the pool). */
static void note_url(gl_nats_shared *sh, natsConnection *nc) {
  char url[sizeof(sh->url)];
  if (natsConnection_GetConnectedUrl(nc, url, sizeof(url)) != NATS_OK) url[0] = '\0';
  uv_mutex_lock(&sh->mu);
  memcpy(sh->url, url, sizeof(url));
  uv_mutex_unlock(&sh->mu);
}

void gl_nats_shared_post(gl_nats_shared *sh, const gl_nats_result *r) {
  uv_mutex_lock(&sh->mu);
  if (sh->async && sh->qlen == sh->qcap) {
    size_t cap = sh->qcap ? sh->qcap * 2 : 256;
    gl_nats_result *q = realloc(sh->q, cap * sizeof(*q));
    if (q) {
      sh->q = q;
      sh->qcap = cap;
    }
  }
  /* Out of memory: the message times out and its batch is sent again. */
  if (sh->async && sh->qlen < sh->qcap) {
    sh->q[sh->qlen++] = *r;
    uv_async_send(sh->async);
  }
  uv_mutex_unlock(&sh->mu);
}

/* Where the value of a field of a JetStream reply starts, or NULL. The
 * server writes some replies with a space after the colon. */
static const char *json_value(const char *json, const char *field) {
  const char *p = strstr(json, field);
  if (p == NULL) return NULL;
  p += strlen(field);
  while (*p == ' ') p++;
  if (*p++ != ':') return NULL;
  while (*p == ' ') p++;
  return p;
}

/* The text of a JSON string field of a JetStream reply, or "". */
static void json_text(const char *json, const char *field, char *out, size_t size) {
  const char *p = json_value(json, field);
  size_t n = 0;
  if (p && *p == '"')
    for (p++; *p && *p != '"' && n + 1 < size; p++) out[n++] = *p;
  out[n] = '\0';
}

static void on_reply(natsConnection *nc, natsSubscription *sub, natsMsg *m, void *closure) {
  (void)nc;
  (void)sub;
  gl_nats_shared *sh = closure;
  gl_nats_result r;
  memset(&r, 0, sizeof(r));
  const char *subject = natsMsg_GetSubject(m);
  const char *tail = subject ? strrchr(subject, '.') : NULL;
  if (tail == NULL || sscanf(tail + 1, "%u_%u", &r.slot, &r.gen) != 2) {
    natsMsg_Destroy(m);
    return;
  }
  if (natsMsg_IsNoResponders(m)) {
    r.kind = GL_NATS_NO_RESPONDERS;
  } else {
    int len = natsMsg_GetDataLength(m);
    char body[1024];
    if (len < 0) len = 0;
    if (len >= (int)sizeof(body)) len = sizeof(body) - 1;
    memcpy(body, natsMsg_GetData(m) ? natsMsg_GetData(m) : "", (size_t)len);
    body[len] = '\0';
    if (strstr(body, "\"error\"")) {
      r.kind = GL_NATS_NAK;
      json_text(body, "\"description\"", r.err, sizeof(r.err));
    } else if (strstr(body, "\"seq\"")) {
      const char *dup = json_value(body, "\"duplicate\"");
      r.duplicate = dup && strncmp(dup, "true", 4) == 0;
    } else {
      r.kind = GL_NATS_NAK;
      snprintf(r.err, sizeof(r.err), "not a JetStream acknowledgement");
    }
  }
  natsMsg_Destroy(m);
  gl_nats_shared_post(sh, &r);
}

static void on_sub_complete(void *closure) { gl_nats_shared_unref(closure); }

static void on_closed(natsConnection *nc, void *closure) {
  (void)nc;
  gl_nats_shared_unref(closure);
}

static void on_reconnected(natsConnection *nc, void *closure) {
  gl_nats_shared *sh = closure;
  note_url(sh, nc);
  uv_mutex_lock(&sh->mu);
  sh->reconnects++;
  if (sh->async) uv_async_send(sh->async);
  uv_mutex_unlock(&sh->mu);
}

static void on_disconnected(natsConnection *nc, void *closure) {
  (void)nc;
  gl_nats_shared *sh = closure;
  uv_mutex_lock(&sh->mu);
  sh->url[0] = '\0';
  uv_mutex_unlock(&sh->mu);
}

static void on_async_error(natsConnection *nc, natsSubscription *sub, natsStatus s, void *closure) {
  (void)nc;
  (void)sub;
  gl_nats_shared *sh = closure;
  uv_mutex_lock(&sh->mu);
  snprintf(sh->err, sizeof(sh->err), "%s", natsStatus_GetText(s));
  uv_mutex_unlock(&sh->mu);
}

/* ---- connecting, on the pool ----------------------------------------- */

/* The status of the first failing call, with nats.c's words for it
 * (without the source location it puts in front). */
static natsStatus failed(gl_nats_link *l, natsStatus s, const char *what) {
  natsStatus last;
  const char *text = nats_GetLastError(&last);
  if (text && text[0] == '(') {
    const char *end = strstr(text, "): ");
    if (end) text = end + 3;
  }
  const gl_nats_settings *st = l->set;
  snprintf(l->err, sizeof(l->err), "%s%s%s: %s", what, st->nservers ? " " : "",
           st->nservers ? st->servers[0] : "", text && *text ? text : natsStatus_GetText(s));
  if (st->nservers > 1) {
    size_t n = strlen(l->err);
    snprintf(l->err + n, sizeof(l->err) - n, " (and %d more servers)", st->nservers - 1);
  }
  return s;
}

static natsStatus make_options(gl_nats_link *l, natsOptions **out) {
  const gl_nats_settings *st = l->set;
  natsOptions *o = NULL;
  natsStatus s = natsOptions_Create(&o);
  if (s == NATS_OK) s = natsOptions_SetServers(o, (const char **)st->servers, st->nservers);
  if (s == NATS_OK) s = natsOptions_SetTimeout(o, st->connect_timeout_ms);
  if (s == NATS_OK) s = natsOptions_SetMaxReconnect(o, -1);
  if (s == NATS_OK) s = natsOptions_SetReconnectWait(o, 250);
  /* A server that stops reading holds the publishing thread (never the
   * loop: prims/nats_pub.h) and the flusher at most the write deadline,
   * then nats.c reconnects; a buffer larger than what waits for
   * acknowledgement mostly spares the publishing thread the writes. */
  if (s == NATS_OK) s = natsOptions_SetIOBufSize(o, IO_BUF_SIZE);
  if (s == NATS_OK) s = natsOptions_SetWriteDeadline(o, WRITE_DEADLINE_MS);
  if (s == NATS_OK && st->name) s = natsOptions_SetName(o, st->name);
  if (s == NATS_OK && st->user) s = natsOptions_SetUserInfo(o, st->user, st->password);
  if (s == NATS_OK && st->token) s = natsOptions_SetToken(o, st->token);
  if (s == NATS_OK && st->creds) s = natsOptions_SetUserCredentialsFromFiles(o, st->creds, NULL);
  if (s == NATS_OK && (st->ca || st->cert)) s = natsOptions_SetSecure(o, true);
  if (s == NATS_OK && st->ca) s = natsOptions_LoadCATrustedCertificates(o, st->ca);
  if (s == NATS_OK && st->cert) s = natsOptions_LoadCertificatesChain(o, st->cert, st->key);
  if (s == NATS_OK) s = natsOptions_SetClosedCB(o, on_closed, l->sh);
  if (s == NATS_OK) s = natsOptions_SetReconnectedCB(o, on_reconnected, l->sh);
  if (s == NATS_OK) s = natsOptions_SetDisconnectedCB(o, on_disconnected, l->sh);
  if (s == NATS_OK) s = natsOptions_SetErrorHandler(o, on_async_error, l->sh);
  if (s != NATS_OK) {
    natsOptions_Destroy(o);
    return failed(l, s, "settings for");
  }
  *out = o;
  return NATS_OK;
}

static void connect_work(gl_pool_work *w) {
  gl_nats_link *l = GL_CONTAINER(w, gl_nats_link, work);
  gl_nats_shared *sh = l->sh;
  natsOptions *o = NULL;
  natsConnection *nc = NULL;
  natsSubscription *sub = NULL;
  natsStatus s = make_options(l, &o);
  if (s == NATS_OK) {
    gl_nats_shared_ref(sh); /* the connection's, let go in on_closed */
    s = natsConnection_Connect(&nc, o);
    if (s != NATS_OK) {
      gl_nats_shared_unref(sh); /* never connected: no closed callback */
      failed(l, s, "connect to");
    }
    natsOptions_Destroy(o);
  }
  if (s == NATS_OK) {
    char subject[80];
    natsInbox *inbox = NULL;
    s = natsInbox_Create(&inbox);
    if (s == NATS_OK) {
      snprintf(l->inbox, sizeof(l->inbox), "%s", inbox);
      natsInbox_Destroy(inbox);
      snprintf(subject, sizeof(subject), "%s.*", l->inbox);
      s = natsConnection_Subscribe(&sub, nc, subject, on_reply, sh);
    }
    if (s == NATS_OK) s = natsSubscription_SetPendingLimits(sub, -1, -1);
    if (s == NATS_OK) {
      gl_nats_shared_ref(sh); /* the subscription's, let go in on_sub_complete */
      if (natsSubscription_SetOnCompleteCB(sub, on_sub_complete, sh) != NATS_OK) gl_nats_shared_unref(sh);
    }
    if (s != NATS_OK) failed(l, s, "subscribe at");
    if (s == NATS_OK && (l->pub = gl_nats_pub_start(nc, sh, l->set->ack_timeout_ms)) == NULL) {
      s = NATS_NO_MEMORY;
      snprintf(l->err, sizeof(l->err), "connect: cannot start the publishing thread");
    }
    if (s == NATS_OK) note_url(sh, nc);
    if (s != NATS_OK) {
      natsSubscription_Destroy(sub);
      sub = NULL;
      natsConnection_Destroy(nc); /* closes it: on_closed lets go */
      nc = NULL;
    }
  }
  l->nc = nc;
  l->sub = sub;
  l->status = s;
}

int gl_nats_link_start(gatelog_t *gl, gl_nats_link *link, const gl_nats_settings *set,
                       gl_nats_shared *sh, void (*done)(gl_pool_work *w, int status)) {
  link->set = set;
  link->sh = sh;
  link->nc = NULL;
  link->sub = NULL;
  link->pub = NULL;
  link->status = NATS_OK;
  link->err[0] = '\0';
  gl_nats_shared_ref(sh);
  int err = gl_pool_work_submit(gl, &link->work, connect_work, done);
  if (err) gl_nats_link_done(link);
  return err;
}

void gl_nats_link_done(gl_nats_link *link) {
  gl_nats_shared_unref(link->sh);
  link->sh = NULL;
}

/* A connection and its subscription given up. */
typedef struct teardown {
  gl_pool_work work;
  natsConnection *nc;
  natsSubscription *sub;
  gl_nats_pub *pub;
} teardown;

/* The publisher first told to stop, then the close ends a write it may be
 * stuck in, then it is gone before the connection is freed. */
static void close_now(natsConnection *nc, natsSubscription *sub, gl_nats_pub *pub) {
  gl_nats_pub_cancel(pub);
  natsConnection_Close(nc);
  gl_nats_pub_join(pub);
  natsSubscription_Destroy(sub);
  natsConnection_Destroy(nc);
}

static void teardown_work(gl_pool_work *w) {
  teardown *t = GL_CONTAINER(w, teardown, work);
  close_now(t->nc, t->sub, t->pub);
}

static void teardown_done(gl_pool_work *w, int status) {
  teardown *t = GL_CONTAINER(w, teardown, work);
  gatelog_t *gl = w->gl;
  if (status) close_now(t->nc, t->sub, t->pub); /* it never ran on the pool */
  gl_work_end(gl);
  free(t);
  gl_schedule_pump(gl);
}

void gl_nats_give_up(gatelog_t *gl, natsConnection *nc, natsSubscription *sub, gl_nats_pub *pub) {
  if (nc == NULL) return;
  teardown *t = calloc(1, sizeof(*t));
  if (t == NULL) { /* last resort: on the loop */
    close_now(nc, sub, pub);
    return;
  }
  t->nc = nc;
  t->sub = sub;
  t->pub = pub;
  gl_work_begin(gl);
  if (gl_pool_work_submit(gl, &t->work, teardown_work, teardown_done) != 0) {
    gl_work_end(gl);
    close_now(nc, sub, pub);
    free(t);
  }
}

void gl_nats_settings_free(gl_nats_settings *st) {
  for (int i = 0; i < st->nservers; i++) free(st->servers[i]);
  free(st->servers);
  free(st->user);
  free(st->password);
  free(st->token);
  free(st->creds);
  free(st->ca);
  free(st->cert);
  free(st->key);
  free(st->name);
}
