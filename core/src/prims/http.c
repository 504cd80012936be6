/* core.http.request(req, cb): HTTP(S) through libcurl's multi-socket
 * interface, driven by the core's loop: curl tells which sockets to watch
 * (CURLMOPT_SOCKETFUNCTION, one uv_poll_t each) and when to wake it
 * (CURLMOPT_TIMERFUNCTION, one uv_timer_t); events go back to
 * curl_multi_socket_action, and finished transfers (CURLMSG_DONE) to the
 * script's callback. TLS with certificate verification, keep-alive (one
 * multi handle per core, so its connection cache is shared by every
 * request), proxies and redirects are libcurl's.
 *
 * curl_global_init runs once per process, on the first request. It is
 * not thread-safe in every libcurl build: a host that uses libcurl on
 * other threads should call curl_global_init itself before starting
 * gatelog. curl_global_cleanup is never called (the process's exit
 * does it). */
#include <ctype.h>
#include <curl/curl.h>
#include <lauxlib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "prims/io.h"
#include "runtime/runtime.h"

#define DEFAULT_TIMEOUT_MS 30000
#define CONNECT_TIMEOUT_MS 10000
#define DEFAULT_MAX_RESPONSE (8u << 20)
#define DEFAULT_MAX_REDIRECTS 5
#define STR_(x) #x
#define STR(x) STR_(x)
#define USER_AGENT \
  "gatelog/" STR(GATELOG_VERSION_MAJOR) "." STR(GATELOG_VERSION_MINOR) "." STR(GATELOG_VERSION_PATCH)

typedef struct gl_http {
  gl_io io;        /* the client as a whole: abandoned at the close; io.gl is its core */
  CURLM *multi;
  uv_timer_t timer;
  gl_link reqs;    /* transfers in flight */
  gl_link socks;   /* sockets watched */
  int handles;     /* the timer and the polls, until their close callbacks */
  int closing;
} gl_http;

typedef struct http_sock {
  gl_link node;
  uv_poll_t poll;
  curl_socket_t fd;
  gl_http *h;
} http_sock;

typedef struct http_req {
  gl_link node;
  CURL *easy;
  gl_io_refs refs; /* the callback and the policy, once started */
  int too_big;
  int no_room;     /* gl_io_hold refused the response's next bytes */
  gatelog_t *gl;
  size_t held;     /* gl_io_hold'd: the request body, the response so far */
  size_t max_response;
  struct curl_slist *headers;
  gl_buf body;     /* of the response */
  gl_buf head;     /* header lines of the last response */
  char *req_body;
  char errbuf[CURL_ERROR_SIZE];
} http_req;

static uv_once_t global_once = UV_ONCE_INIT;
static CURLcode global_rc;

static void global_init(void) { global_rc = curl_global_init(CURL_GLOBAL_DEFAULT); }

/* ---- the multi handle on the loop ------------------------------------ */

static void maybe_free(gl_http *h) {
  if (h->closing && h->handles == 0) free(h);
}

static void on_handle_closed(uv_handle_t *handle) {
  gl_http *h = handle->data;
  gatelog_t *gl = h->io.gl;
  h->handles--;
  maybe_free(h);
  gl_io_handle_closed(gl);
}

static void on_sock_closed(uv_handle_t *handle) {
  http_sock *k = handle->data;
  gl_http *h = k->h;
  gatelog_t *gl = h->io.gl;
  free(k);
  h->handles--;
  maybe_free(h);
  gl_io_handle_closed(gl);
}

static void sock_close(http_sock *k) {
  if (uv_is_closing((uv_handle_t *)&k->poll)) return;
  gl_list_remove(&k->node);
  uv_poll_stop(&k->poll);
  uv_close((uv_handle_t *)&k->poll, on_sock_closed);
}

static void finish_req(gl_http *h, http_req *r, CURLcode rc);

/* Hand every finished transfer to its callback. */
static void check_done(gl_http *h) {
  CURLMsg *msg;
  int left;
  while (!h->closing && (msg = curl_multi_info_read(h->multi, &left)) != NULL) {
    if (msg->msg != CURLMSG_DONE) continue;
    CURL *easy = msg->easy_handle;
    CURLcode rc = msg->data.result; /* msg dies with the remove below */
    http_req *r = NULL;
    curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&r);
    curl_multi_remove_handle(h->multi, easy);
    finish_req(h, r, rc);
  }
}

static void on_poll(uv_poll_t *p, int status, int events) {
  http_sock *k = p->data;
  gl_http *h = k->h;
  int flags = 0, running;
  if (status < 0) flags = CURL_CSELECT_ERR;
  if (events & UV_READABLE) flags |= CURL_CSELECT_IN;
  if (events & UV_WRITABLE) flags |= CURL_CSELECT_OUT;
  curl_multi_socket_action(h->multi, k->fd, flags, &running);
  check_done(h);
}

static void on_timer(uv_timer_t *t) {
  gl_http *h = t->data;
  int running;
  curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &running);
  check_done(h);
}

/* CURLMOPT_SOCKETFUNCTION: watch s for what curl wants, or stop. */
static int on_curl_socket(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp) {
  gl_http *h = userp;
  http_sock *k = socketp;
  (void)easy;
  if (what == CURL_POLL_REMOVE) {
    if (k) {
      sock_close(k);
      curl_multi_assign(h->multi, s, NULL);
    }
    return 0;
  }
  if (h->closing) return 0;
  if (k == NULL) {
    k = calloc(1, sizeof(*k));
    if (k == NULL) return -1;
    if (uv_poll_init_socket(h->io.gl->loop, &k->poll, s) != 0) {
      free(k);
      return -1;
    }
    k->fd = s;
    k->h = h;
    k->poll.data = k;
    h->handles++;
    gl_io_handle_opened(h->io.gl, (uv_handle_t *)&k->poll);
    gl_list_push(&h->socks, &k->node);
    curl_multi_assign(h->multi, s, k);
  }
  int events = 0;
  if (what & CURL_POLL_IN) events |= UV_READABLE;
  if (what & CURL_POLL_OUT) events |= UV_WRITABLE;
  uv_poll_start(&k->poll, events, on_poll);
  return 0;
}

/* CURLMOPT_TIMERFUNCTION: wake curl in timeout_ms (-1: never). Curl is
 * not called back from here: a 0 ms timer does it on the next turn. */
static int on_curl_timer(CURLM *multi, long timeout_ms, void *userp) {
  gl_http *h = userp;
  (void)multi;
  if (h->closing) return 0;
  if (timeout_ms < 0) uv_timer_stop(&h->timer);
  else uv_timer_start(&h->timer, on_timer, (uint64_t)timeout_ms, 0);
  return 0;
}

static void free_req(http_req *r) {
  gl_io_refs_release(&r->refs);
  if (r->gl) gl_io_unhold(r->gl, r->held);
  if (r->easy) curl_easy_cleanup(r->easy);
  curl_slist_free_all(r->headers);
  gl_buf_free(&r->body);
  gl_buf_free(&r->head);
  free(r->req_body);
  free(r);
}

/* The core is closing: drop every transfer without a callback, stop
 * watching, and let curl close its connections. */
static void abandon(gl_io *io) {
  gl_http *h = GL_CONTAINER(io, gl_http, io);
  h->closing = 1;
  h->io.gl->http = NULL;
  while (!gl_list_empty(&h->reqs)) {
    http_req *r = GL_CONTAINER(h->reqs.next, http_req, node);
    gl_list_remove(&r->node);
    curl_multi_remove_handle(h->multi, r->easy);
    free_req(r);
  }
  /* Forget the sockets before curl closes them, so that its last
   * CURL_POLL_REMOVE calls find nothing of ours. */
  while (!gl_list_empty(&h->socks)) {
    http_sock *k = GL_CONTAINER(h->socks.next, http_sock, node);
    curl_multi_assign(h->multi, k->fd, NULL);
    sock_close(k);
  }
  curl_multi_cleanup(h->multi); /* closes the connection cache's sockets */
  h->multi = NULL;
  uv_close((uv_handle_t *)&h->timer, on_handle_closed);
}

static gl_http *http_get(gatelog_t *gl) {
  if (gl->http) return gl->http;
  uv_once(&global_once, global_init);
  if (global_rc != CURLE_OK) return NULL;
  gl_http *h = calloc(1, sizeof(*h));
  if (h == NULL) return NULL;
  h->multi = curl_multi_init();
  if (h->multi == NULL) {
    free(h);
    return NULL;
  }
  h->io.gl = gl;
  gl_list_init(&h->reqs);
  gl_list_init(&h->socks);
  curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket);
  curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
  curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
  curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
  uv_timer_init(gl->loop, &h->timer);
  h->timer.data = h;
  h->handles = 1;
  gl_io_handle_opened(gl, (uv_handle_t *)&h->timer);
  gl_io_track(gl, &h->io, abandon);
  gl->http = h;
  return h;
}

/* ---- one request ------------------------------------------------------ */

static size_t on_body(char *data, size_t size, size_t n, void *userp) {
  http_req *r = userp;
  size_t len = size * n;
  if (r->body.len + len > r->max_response) {
    r->too_big = 1;
    return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
  }
  if (gl_io_hold(r->gl, len) != 0) {
    r->no_room = 1;
    return 0;
  }
  r->held += len;
  return gl_buf_append(&r->body, data, len) == 0 ? len : 0;
}

static size_t on_header(char *data, size_t size, size_t n, void *userp) {
  http_req *r = userp;
  size_t len = size * n;
  /* A status line starts a response (after a redirect or a 100
   * Continue): keep only the last response's headers. */
  if (len >= 5 && memcmp(data, "HTTP/", 5) == 0) gl_buf_reset(&r->head);
  else if (gl_buf_append(&r->head, data, len) != 0) return 0;
  return len;
}

/* The response's headers as a table: names lowercased, values trimmed,
 * repeated headers joined with ", ". */
static void push_headers(lua_State *L, const gl_buf *head) {
  lua_newtable(L);
  const char *p = head->data, *end = head->data ? head->data + head->len : NULL;
  while (p && p < end) {
    const char *eol = memchr(p, '\n', (size_t)(end - p));
    if (eol == NULL) eol = end;
    const char *colon = memchr(p, ':', (size_t)(eol - p));
    if (colon && colon > p) {
      char name[256];
      size_t nl = (size_t)(colon - p) < sizeof(name) ? (size_t)(colon - p) : sizeof(name) - 1;
      for (size_t i = 0; i < nl; i++) name[i] = (char)tolower((unsigned char)p[i]);
      const char *v = colon + 1, *ve = eol;
      while (v < ve && (*v == ' ' || *v == '\t')) v++;
      while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t')) ve--;
      lua_pushlstring(L, name, nl);
      lua_pushvalue(L, -1);
      lua_rawget(L, -3);
      if (lua_isstring(L, -1)) {
        lua_pushliteral(L, ", ");
        lua_pushlstring(L, v, (size_t)(ve - v));
        lua_concat(L, 3);
      } else {
        lua_pop(L, 1);
        lua_pushlstring(L, v, (size_t)(ve - v));
      }
      lua_rawset(L, -3);
    }
    p = eol + 1;
  }
}

static const char *curl_err_name(CURLcode rc) {
  switch (rc) {
    case CURLE_OPERATION_TIMEDOUT: return "ETIMEDOUT";
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY: return "EAI_NONAME";
    case CURLE_COULDNT_CONNECT: return "ECONNREFUSED";
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING: return "ECONNRESET";
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE: return "ETLS";
    case CURLE_TOO_MANY_REDIRECTS: return "EREDIRECT";
    case CURLE_OUT_OF_MEMORY: return "ENOMEM";
    default: return "ECURL";
  }
}

/* Push what the callback gets for a finished transfer: the response, or
 * nil and the error. Returns how many values. */
static int push_result(lua_State *L, http_req *r, CURLcode rc) {
  if (rc == CURLE_OK) {
    long status = 0;
    curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
    lua_createtable(L, 0, 3);
    lua_pushinteger(L, status);
    lua_setfield(L, -2, "status");
    push_headers(L, &r->head);
    lua_setfield(L, -2, "headers");
    lua_pushlstring(L, r->body.data ? r->body.data : "", r->body.len);
    lua_setfield(L, -2, "body");
    return 1;
  }
  lua_pushnil(L);
  if (r->too_big)
    lua_pushfstring(L, "EMSGSIZE: response body larger than %d bytes", (int)r->max_response);
  else if (r->no_room)
    lua_pushliteral(L, "ENOBUFS: the script's I/O in flight holds script_memory_max bytes");
  else
    lua_pushfstring(L, "%s: %s", curl_err_name(rc),
                    r->errbuf[0] ? r->errbuf : curl_easy_strerror(rc));
  return 2;
}

static void finish_req(gl_http *h, http_req *r, CURLcode rc) {
  lua_State *L = gl_io_refs_target(&r->refs);
  (void)h;
  gl_list_remove(&r->node);
  if (L) gl_io_refs_call(&r->refs, push_result(L, r, rc), 0);
  free_req(r); /* the policy reference goes last */
}

/* ---- the Lua call ------------------------------------------------------ */

static double opt_number(lua_State *L, const char *key, double dflt, double lo, double hi) {
  lua_getfield(L, 1, key);
  double v = dflt;
  if (!lua_isnil(L, -1)) {
    v = lua_type(L, -1) == LUA_TNUMBER ? lua_tonumber(L, -1) : NAN;
    if (!(v >= lo && v <= hi))
      luaL_argerror(L, 1, lua_pushfstring(L, "%s must be a number from %f to %f", key, lo, hi));
  }
  lua_pop(L, 1);
  return v;
}

static const char *opt_string(lua_State *L, const char *key, size_t *len) {
  lua_getfield(L, 1, key);
  const char *s = NULL;
  if (!lua_isnil(L, -1)) {
    if (lua_type(L, -1) != LUA_TSTRING)
      luaL_argerror(L, 1, lua_pushfstring(L, "%s must be a string", key));
    s = lua_tolstring(L, -1, len);
  }
  lua_pop(L, 1); /* still referenced by the request table */
  return s;
}

static int has_crlf(const char *s, size_t len) {
  return memchr(s, '\r', len) != NULL || memchr(s, '\n', len) != NULL;
}

/* req.headers = { Name = "value", ... }: raise on a name or value that
 * would split the request (checked before anything is allocated). */
static void check_headers(lua_State *L) {
  lua_getfield(L, 1, "headers");
  if (!lua_isnil(L, -1)) {
    if (!lua_istable(L, -1)) luaL_argerror(L, 1, "headers must be a table of name = value");
    lua_pushnil(L);
    while (lua_next(L, -2) != 0) {
      size_t nl, vl;
      if (lua_type(L, -2) != LUA_TSTRING || !lua_isstring(L, -1))
        luaL_argerror(L, 1, "headers must be a table of name = value (strings)");
      const char *name = lua_tolstring(L, -2, &nl);
      const char *value = lua_tolstring(L, -1, &vl);
      if (nl == 0 || has_crlf(name, nl) || memchr(name, ':', nl) || has_crlf(value, vl))
        luaL_argerror(L, 1, lua_pushfstring(L, "bad header '%s'", name));
      lua_pop(L, 1);
    }
  }
  lua_pop(L, 1);
}

/* The checked headers as curl's list. 0, or -1 out of memory. */
static int build_headers(lua_State *L, http_req *r) {
  int expect = 0;
  char line[8192];
  lua_getfield(L, 1, "headers");
  if (lua_istable(L, -1)) {
    lua_pushnil(L);
    while (lua_next(L, -2) != 0) {
      size_t nl, vl;
      const char *name = lua_tolstring(L, -2, &nl);
      const char *value = lua_tolstring(L, -1, &vl);
      if (nl == 6 && strncasecmp(name, "expect", 6) == 0) expect = 1;
      char *text = nl + vl + 3 <= sizeof(line) ? line : malloc(nl + vl + 3);
      if (text == NULL) return lua_pop(L, 3), -1;
      snprintf(text, nl + vl + 3, "%s: %s", name, value);
      struct curl_slist *next = curl_slist_append(r->headers, text);
      if (text != line) free(text);
      lua_pop(L, 1);
      if (next == NULL) return lua_pop(L, 2), -1;
      r->headers = next;
    }
  }
  lua_pop(L, 1);
  /* Collectors rarely answer 100 Continue: do not wait for one. */
  if (!expect) {
    struct curl_slist *next = curl_slist_append(r->headers, "Expect:");
    if (next == NULL) return -1;
    r->headers = next;
  }
  return 0;
}

static void check_url(lua_State *L, const char *url) {
  CURLU *u = curl_url();
  if (u == NULL) luaL_error(L, "out of memory");
  char *scheme = NULL;
  int ok = curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
           curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
           (strcmp(scheme, "http") == 0 || strcmp(scheme, "https") == 0);
  curl_free(scheme);
  curl_url_cleanup(u);
  if (!ok) luaL_argerror(L, 1, lua_pushfstring(L, "url '%s' is not an http or https URL", url));
}

static int core_http_request(lua_State *L) {
  gl_runtime *p = lua_touserdata(L, lua_upvalueindex(1));
  luaL_checktype(L, 1, LUA_TTABLE);
  luaL_checktype(L, 2, LUA_TFUNCTION);
  size_t len;
  const char *url = opt_string(L, "url", &len);
  if (url == NULL) return luaL_argerror(L, 1, "url is required");
  check_url(L, url);
  const char *method = opt_string(L, "method", &len);
  size_t body_len = 0;
  const char *body = opt_string(L, "body", &body_len);
  if (method == NULL) method = body ? "POST" : "GET";
  for (const char *m = method; *m; m++)
    if (!isupper((unsigned char)*m)) return luaL_argerror(L, 1, "method must be upper-case letters");
  if (*method == '\0') return luaL_argerror(L, 1, "method must be upper-case letters");
  double timeout = opt_number(L, "timeout", DEFAULT_TIMEOUT_MS / 1000.0, 0.001, 86400);
  double max_response = opt_number(L, "max_response", DEFAULT_MAX_RESPONSE, 0, 1 << 30);
  const char *ca = opt_string(L, "ca", &len);
  const char *proxy = opt_string(L, "proxy", &len);
  long redirects = 0;
  lua_getfield(L, 1, "follow");
  if (lua_isboolean(L, -1)) redirects = lua_toboolean(L, -1) ? DEFAULT_MAX_REDIRECTS : 0;
  else if (lua_type(L, -1) == LUA_TNUMBER && lua_tonumber(L, -1) >= 0 && lua_tonumber(L, -1) <= 50)
    redirects = (long)lua_tonumber(L, -1);
  else if (!lua_isnil(L, -1))
    return luaL_argerror(L, 1, "follow must be a boolean or a number of redirects (0 to 50)");
  lua_pop(L, 1);
  check_headers(L);
  gl_io_check_usable(L, p);

  gl_http *h = http_get(p->gl);
  if (h == NULL) return luaL_error(L, "cannot start libcurl");
  if (gl_io_hold(p->gl, body_len) != 0) return luaL_error(L, "not enough memory for I/O in flight");
  http_req *r = calloc(1, sizeof(*r));
  if (r == NULL) {
    gl_io_unhold(p->gl, body_len);
    return luaL_error(L, "out of memory");
  }
  r->gl = p->gl;
  r->held = body_len;
  if ((r->easy = curl_easy_init()) == NULL || build_headers(L, r) != 0 ||
      (body && (r->req_body = malloc(body_len ? body_len : 1)) == NULL)) {
    free_req(r);
    return luaL_error(L, "out of memory");
  }
  if (body) memcpy(r->req_body, body, body_len);
  CURL *e = r->easy;
  r->max_response = (size_t)max_response;
  curl_easy_setopt(e, CURLOPT_PRIVATE, r);
  curl_easy_setopt(e, CURLOPT_URL, url);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->errbuf);
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_USERAGENT, USER_AGENT);
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)ceil(timeout * 1000));
  long connect_ms = (long)ceil(timeout * 1000);
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, connect_ms < CONNECT_TIMEOUT_MS ? connect_ms : CONNECT_TIMEOUT_MS);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, r);
  if (redirects) {
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(e, CURLOPT_MAXREDIRS, redirects);
  }
  if (ca) curl_easy_setopt(e, CURLOPT_CAINFO, ca);
  if (proxy) curl_easy_setopt(e, CURLOPT_PROXY, proxy);
  if (strcmp(method, "HEAD") == 0) {
    curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
  } else if (body) {
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->req_body);
    if (strcmp(method, "POST") != 0) curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
  } else if (strcmp(method, "GET") != 0) {
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
  }
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->headers);
  if (curl_multi_add_handle(h->multi, e) != CURLM_OK) {
    free_req(r);
    return luaL_error(L, "cannot start the request");
  }
  gl_list_push(&h->reqs, &r->node);
  gl_io_refs_init(&r->refs, p, 1);
  gl_io_refs_set_cb(&r->refs, L, 2);
  return 0;
}

void gl_prims_http_install(lua_State *L, gl_runtime *p) {
  lua_createtable(L, 0, 1);
  lua_pushlightuserdata(L, p);
  lua_pushcclosure(L, core_http_request, 1);
  lua_setfield(L, -2, "request");
  lua_setfield(L, -2, "http");
}
