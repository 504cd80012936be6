/* TLS sessions over memory BIOs: see tls.h. */
#include "prims/tls.h"

#include <lauxlib.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

struct gl_tls {
  SSL *ssl;
  BIO *in;  /* ciphertext from the peer, for OpenSSL to read */
  BIO *out; /* ciphertext OpenSSL wrote, for the peer */
  char peer[256];
};

static const char *const STRING_FIELDS[] = {"ca_file", "ca_dir", "server_name", "cert", "key"};
enum { N_STRINGS = sizeof(STRING_FIELDS) / sizeof(STRING_FIELDS[0]) };

gl_tls_conf *gl_tls_conf_from_lua(lua_State *L, int idx) {
  if (lua_isnoneornil(L, idx)) return NULL;
  if (!lua_istable(L, idx)) luaL_error(L, "tls must be a table");
  /* Everything is checked before anything is allocated: a raise leaks nothing. */
  const char *s[N_STRINGS];
  int base = lua_gettop(L);
  for (int i = 0; i < N_STRINGS; i++) {
    lua_getfield(L, idx, STRING_FIELDS[i]);
    s[i] = NULL;
    if (lua_isnil(L, -1)) continue;
    if (lua_type(L, -1) != LUA_TSTRING || lua_objlen(L, -1) == 0 || lua_objlen(L, -1) > 4096)
      luaL_error(L, "tls.%s must be a non-empty string", STRING_FIELDS[i]);
    s[i] = lua_tostring(L, -1); /* kept alive on the stack until the copy */
  }
  if ((s[3] == NULL) != (s[4] == NULL)) luaL_error(L, "tls.cert and tls.key go together");
  lua_getfield(L, idx, "verify");
  int verify = 1;
  if (!lua_isnil(L, -1)) {
    if (!lua_isboolean(L, -1)) luaL_error(L, "tls.verify must be a boolean");
    verify = lua_toboolean(L, -1);
  }
  lua_getfield(L, idx, "min_version");
  int min = 12;
  if (!lua_isnil(L, -1)) {
    const char *v = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "";
    if (strcmp(v, "1.2") == 0) min = 12;
    else if (strcmp(v, "1.3") == 0) min = 13;
    else luaL_error(L, "tls.min_version must be \"1.2\" or \"1.3\"");
  }
  gl_tls_conf *c = calloc(1, sizeof(*c));
  if (c == NULL) luaL_error(L, "out of memory");
  char **dst[N_STRINGS] = {&c->ca_file, &c->ca_dir, &c->server_name, &c->cert, &c->key};
  int ok = 1;
  for (int i = 0; i < N_STRINGS; i++)
    if (s[i] && (*dst[i] = strdup(s[i])) == NULL) ok = 0;
  lua_settop(L, base);
  c->verify = verify;
  c->min_version = min;
  if (!ok) {
    gl_tls_conf_free(c);
    luaL_error(L, "out of memory");
  }
  return c;
}

void gl_tls_conf_free(gl_tls_conf *c) {
  if (c == NULL) return;
  free(c->ca_file);
  free(c->ca_dir);
  free(c->server_name);
  free(c->cert);
  free(c->key);
  free(c);
}

/* OpenSSL's first queued error, as text, after prefix; the queue is
 * emptied (it is per thread, and the next call must not see this one). */
static void ssl_error(char *err, size_t errlen, const char *prefix) {
  unsigned long e = ERR_get_error();
  char why[256] = "unknown error";
  if (e) ERR_error_string_n(e, why, sizeof(why));
  ERR_clear_error();
  snprintf(err, errlen, "%s: %s", prefix, why);
}

gl_tls_ctx *gl_tls_ctx_new(const gl_tls_conf *conf, char *err, size_t errlen) {
  ERR_clear_error();
  SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
  if (ctx == NULL) {
    ssl_error(err, errlen, "TLS: cannot make a context");
    return NULL;
  }
  SSL_CTX_set_min_proto_version(ctx, conf->min_version == 13 ? TLS1_3_VERSION : TLS1_2_VERSION);
  SSL_CTX_set_verify(ctx, conf->verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, NULL);
  char what[4200];
  int ok = 1;
  if (conf->ca_file || conf->ca_dir) {
    ok = SSL_CTX_load_verify_locations(ctx, conf->ca_file, conf->ca_dir) == 1;
    snprintf(what, sizeof(what), "TLS: cannot load the CA %s %s", conf->ca_file ? "file" : "directory",
             conf->ca_file ? conf->ca_file : conf->ca_dir);
  } else if (conf->verify) {
    ok = SSL_CTX_set_default_verify_paths(ctx) == 1;
    snprintf(what, sizeof(what), "TLS: cannot load the system's CA store");
  }
  if (ok && conf->cert) {
    snprintf(what, sizeof(what), "TLS: cannot load the client certificate %s or key %s", conf->cert,
             conf->key);
    ok = SSL_CTX_use_certificate_chain_file(ctx, conf->cert) == 1 &&
         SSL_CTX_use_PrivateKey_file(ctx, conf->key, SSL_FILETYPE_PEM) == 1 &&
         SSL_CTX_check_private_key(ctx) == 1;
  }
  if (!ok) {
    ssl_error(err, errlen, what);
    SSL_CTX_free(ctx);
    return NULL;
  }
  return ctx;
}

void gl_tls_ctx_free(gl_tls_ctx *ctx) { SSL_CTX_free(ctx); }

static int is_ip(const char *name) {
  unsigned char buf[16];
  return uv_inet_pton(AF_INET, name, buf) == 0 || uv_inet_pton(AF_INET6, name, buf) == 0;
}

gl_tls *gl_tls_new(gl_tls_ctx *ctx, const gl_tls_conf *conf, const char *host, char *err,
                   size_t errlen) {
  ERR_clear_error();
  gl_tls *t = calloc(1, sizeof(*t));
  if (t == NULL) {
    snprintf(err, errlen, "TLS: out of memory");
    return NULL;
  }
  const char *name = conf->server_name ? conf->server_name : host;
  snprintf(t->peer, sizeof(t->peer), "%s", name);
  t->ssl = SSL_new(ctx);
  t->in = BIO_new(BIO_s_mem());
  t->out = BIO_new(BIO_s_mem());
  if (t->ssl == NULL || t->in == NULL || t->out == NULL) {
    BIO_free(t->in);
    BIO_free(t->out);
    SSL_free(t->ssl);
    free(t);
    ssl_error(err, errlen, "TLS: cannot make a session");
    return NULL;
  }
  SSL_set_bio(t->ssl, t->in, t->out); /* the session owns them now */
  SSL_set_connect_state(t->ssl);
  int ok = 1;
  if (is_ip(name)) {
    ok = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(t->ssl), name) == 1;
  } else {
    ok = SSL_set_tlsext_host_name(t->ssl, name) == 1 && SSL_set1_host(t->ssl, name) == 1;
  }
  if (!ok) {
    ssl_error(err, errlen, "TLS: bad server name");
    gl_tls_free(t);
    return NULL;
  }
  return t;
}

void gl_tls_free(gl_tls *t) {
  if (t == NULL) return;
  SSL_free(t->ssl);
  free(t);
}

int gl_tls_feed(gl_tls *t, const char *data, size_t len) {
  return BIO_write(t->in, data, (int)len) == (int)len ? 0 : -1;
}

/* Why the session failed: the verifier's verdict when it refused the
 * peer's certificate (the usual fault, and the one an operator fixes), or
 * OpenSSL's error. */
static void failure(gl_tls *t, int rc, char *err, size_t errlen) {
  long v = SSL_get_verify_result(t->ssl);
  if (v != X509_V_OK) {
    snprintf(err, errlen, "TLS: the certificate of %s does not verify: %s", t->peer,
             X509_verify_cert_error_string(v));
    ERR_clear_error();
    return;
  }
  int e = SSL_get_error(t->ssl, rc);
  if (e == SSL_ERROR_SSL) {
    char prefix[300];
    snprintf(prefix, sizeof(prefix), "TLS with %s failed", t->peer);
    ssl_error(err, errlen, prefix);
  } else {
    snprintf(err, errlen, "TLS with %s failed (SSL error %d)", t->peer, e);
    ERR_clear_error();
  }
}

int gl_tls_handshake(gl_tls *t, char *err, size_t errlen) {
  ERR_clear_error();
  int rc = SSL_do_handshake(t->ssl);
  if (rc == 1) return 1;
  int e = SSL_get_error(t->ssl, rc);
  if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return 0;
  failure(t, rc, err, errlen);
  return -1;
}

int gl_tls_read(gl_tls *t, char *buf, size_t cap, char *err, size_t errlen) {
  ERR_clear_error();
  int n = SSL_read(t->ssl, buf, (int)cap);
  if (n > 0) return n;
  int e = SSL_get_error(t->ssl, n);
  if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return 0;
  if (e == SSL_ERROR_ZERO_RETURN) {
    snprintf(err, errlen, "EOF");
    return -1;
  }
  failure(t, n, err, errlen);
  return -1;
}

int gl_tls_write(gl_tls *t, const char *data, size_t len, char *err, size_t errlen) {
  ERR_clear_error();
  /* A memory BIO takes all of it: no partial writes to carry over. */
  if (len == 0) return 0;
  int n = SSL_write(t->ssl, data, (int)len);
  if (n == (int)len) return 0;
  failure(t, n, err, errlen);
  return -1;
}

size_t gl_tls_pending(gl_tls *t) { return BIO_ctrl_pending(t->out); }

size_t gl_tls_take(gl_tls *t, char *out, size_t cap) {
  int n = BIO_read(t->out, out, (int)cap);
  return n > 0 ? (size_t)n : 0;
}
