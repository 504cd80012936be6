/* TLS for core.tcp through OpenSSL, over memory BIOs: OpenSSL never
 * touches the socket. The tcp primitive hands this layer the ciphertext
 * it reads and writes out the ciphertext this layer produces, with its
 * own libuv stream, so nothing here blocks the loop. Building the context
 * reads the CA and certificate files: the tcp primitive does that on the
 * thread pool (gl_tls_ctx_new is safe on any thread).
 *
 * The script's settings (core.tcp.connect(host, port, cb, { tls = {...} })):
 *   ca_file, ca_dir   PEM CA bundle / hashed directory (default: the
 *                     system's store)
 *   server_name       the name to verify and to send as SNI (default: the
 *                     host connected to; an IP address is verified as one
 *                     and sent as no SNI, as RFC 6066 says)
 *   verify            false turns verification off (default true)
 *   cert, key         a client certificate chain and its key (PEM)
 *   min_version       "1.2" (default) or "1.3" */
#ifndef GATELOG_TLS_H
#define GATELOG_TLS_H

#include <lua.h>
#include <stddef.h>

typedef struct gl_tls_conf {
  char *ca_file, *ca_dir, *server_name, *cert, *key;
  int verify;
  int min_version; /* 12 or 13 */
} gl_tls_conf;

typedef struct gl_tls gl_tls;
typedef struct ssl_ctx_st gl_tls_ctx;

/* Read the tls table at idx of L into a new conf; raises on a bad field
 * (its name and what it must be). NULL when idx holds nil. */
gl_tls_conf *gl_tls_conf_from_lua(lua_State *L, int idx);
void gl_tls_conf_free(gl_tls_conf *conf);

/* The context the settings make (reads files: call it off the loop).
 * NULL with err filled ("TLS: ca_file /x: No such file ..."). */
gl_tls_ctx *gl_tls_ctx_new(const gl_tls_conf *conf, char *err, size_t errlen);
void gl_tls_ctx_free(gl_tls_ctx *ctx);

/* A client session to host over ctx (which it takes a reference of).
 * NULL with err filled. */
gl_tls *gl_tls_new(gl_tls_ctx *ctx, const gl_tls_conf *conf, const char *host, char *err,
                   size_t errlen);
void gl_tls_free(gl_tls *t);

/* Give it ciphertext read from the peer. 0, or -1 (out of memory). */
int gl_tls_feed(gl_tls *t, const char *data, size_t len);
/* Take the handshake on: 1 done, 0 waiting for the peer, -1 failed (err
 * says why: the certificate's fault as the verifier names it, or the
 * protocol's). */
int gl_tls_handshake(gl_tls *t, char *err, size_t errlen);
/* Plaintext the fed ciphertext holds: >0 bytes put in buf, 0 none yet,
 * -1 the peer closed (close_notify) or an error (err says). */
int gl_tls_read(gl_tls *t, char *buf, size_t cap, char *err, size_t errlen);
/* Encrypt plaintext (all of it). 0, or -1 with err. */
int gl_tls_write(gl_tls *t, const char *data, size_t len, char *err, size_t errlen);
/* Ciphertext waiting to go to the peer: its length; gl_tls_take copies
 * up to cap of it out. */
size_t gl_tls_pending(gl_tls *t);
size_t gl_tls_take(gl_tls *t, char *out, size_t cap);

#endif
