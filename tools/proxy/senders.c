/* --sender NAME=URL and --sender NAME=file:PATH: host senders
 * (gatelog_register_sender) for scripts such as scripts/newt.lua that
 * hand their payload to the host, as the reference's SetSendFunc did.
 *
 * Each payload travels in the message the reference sends its control
 * plane for access logs, {"type":"newt/access-log","data":{"compressed":
 * PAYLOAD}} (fosrl/newt: websocket/types.go's WSMessage, and the access
 * log sender set up in its client), here POSTed as the body with
 * Content-Type: application/json (a 2xx is delivery; anything else, or no
 * answer in 30 s, fails the send and gatelog retries it), or appended to
 * PATH as one line. The HTTP request or the append runs on libuv's thread
 * pool; the answer (gatelog_send_done) comes back on the loop. */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proxy.h"

#define SEND_TIMEOUT_S 30L

typedef struct send_job {
  uv_work_t work;
  gatelog_send_t *req;
  const px_sender_spec *spec;
  proxy *p;
  char *body;
  size_t len;
  int failed;
  char err[300];
} send_job;

/* The JSON message around payload: the payload as a JSON string (a
 * script may hand any bytes; base64 needs no escaping). NULL: no memory. */
static char *message(const char *payload, size_t len, int newline, size_t *out_len) {
  static const char head[] = "{\"type\":\"newt/access-log\",\"data\":{\"compressed\":\"";
  static const char tail[] = "\"}}";
  size_t cap = sizeof(head) + len * 6 + sizeof(tail) + 2;
  char *b = malloc(cap), *o = b;
  if (b == NULL) return NULL;
  memcpy(o, head, sizeof(head) - 1);
  o += sizeof(head) - 1;
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)payload[i];
    if (c == '"' || c == '\\') {
      *o++ = '\\';
      *o++ = (char)c;
    } else if (c < 0x20) {
      o += snprintf(o, 7, "\\u%04x", c);
    } else {
      *o++ = (char)c;
    }
  }
  memcpy(o, tail, sizeof(tail) - 1);
  o += sizeof(tail) - 1;
  if (newline) *o++ = '\n';
  *out_len = (size_t)(o - b);
  return b;
}

static size_t discard(char *data, size_t size, size_t n, void *user) {
  (void)data;
  (void)user;
  return size * n;
}

static void post(send_job *j) {
  CURL *c = curl_easy_init();
  if (c == NULL) {
    j->failed = 1;
    snprintf(j->err, sizeof(j->err), "sender %s: cannot start an HTTP request", j->spec->name);
    return;
  }
  struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
  curl_easy_setopt(c, CURLOPT_URL, j->spec->target);
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, j->body);
  curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)j->len);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, SEND_TIMEOUT_S);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
  CURLcode rc = curl_easy_perform(c);
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  if (rc != CURLE_OK) {
    j->failed = 1;
    snprintf(j->err, sizeof(j->err), "sender %s: POST %s: %s", j->spec->name, j->spec->target,
             curl_easy_strerror(rc));
  } else if (status < 200 || status > 299) {
    j->failed = 1;
    snprintf(j->err, sizeof(j->err), "sender %s: POST %s: HTTP %ld", j->spec->name,
             j->spec->target, status);
  }
  curl_slist_free_all(h);
  curl_easy_cleanup(c);
}

static void append(send_job *j) {
  int fd = open(j->spec->target, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  ssize_t n = fd < 0 ? -1 : write(fd, j->body, j->len);
  if (fd < 0 || n != (ssize_t)j->len) {
    j->failed = 1;
    snprintf(j->err, sizeof(j->err), "sender %s: appending to %s: %s", j->spec->name,
             j->spec->target, n < 0 ? strerror(errno) : "a short write");
    /* A short write leaves part of a line: end it, so the next line
     * stands on its own (the retry writes the whole message again). */
    if (n > 0 && write(fd, "\n", 1) < 0) { /* nothing more to do */
    }
  }
  if (fd >= 0) close(fd);
}

static void work(uv_work_t *w) {
  send_job *j = w->data;
  if (j->spec->is_file) append(j);
  else post(j);
}

static void after(uv_work_t *w, int status) {
  send_job *j = w->data;
  if (status) {
    j->failed = 1;
    snprintf(j->err, sizeof(j->err), "sender %s: %s", j->spec->name, uv_strerror(status));
  }
  gatelog_send_done(j->req, j->failed ? -1 : 0, j->failed ? j->err : NULL);
  free(j->body);
  free(j);
}

static void send_payload(gatelog_send_t *req, const char *payload, size_t len, void *data) {
  px_sender_spec *spec = data;
  proxy *p = spec->p;
  send_job *j = calloc(1, sizeof(*j));
  if (j) j->body = message(payload, len, spec->is_file, &j->len);
  if (j == NULL || j->body == NULL) {
    free(j);
    gatelog_send_done(req, -1, "gatelog-proxy: out of memory");
    return;
  }
  j->req = req;
  j->spec = spec;
  j->p = p;
  j->work.data = j;
  int err = uv_queue_work(p->loop, &j->work, work, after);
  if (err) {
    free(j->body);
    free(j);
    gatelog_send_done(req, -1, uv_strerror(err));
  }
}

int px_senders_start(proxy *p, char *err, size_t errlen) {
  for (int i = 0; i < p->opt.nsenders; i++) {
    px_sender_spec *s = &p->opt.senders[i];
    s->p = p;
    int rc = gatelog_register_sender(p->gl, s->name, send_payload, s);
    if (rc) {
      snprintf(err, errlen, "--sender %s: %s", s->name, gatelog_strerror(rc));
      return rc;
    }
    px_log(p, GATELOG_LOG_INFO, "sender %s: %s %s", s->name, s->is_file ? "appends to" : "POSTs to",
           s->target);
  }
  int rc = gatelog_check_senders(p->gl);
  if (rc) {
    const char *why = gatelog_last_error(p->gl);
    const char *q = strchr(why, '\'');
    const char *e = q ? strchr(q + 1, '\'') : NULL;
    int n = q && e ? (int)(e - q - 1) : 4;
    snprintf(err, errlen, "%s: give it with --sender %.*s=URL or --sender %.*s=file:PATH", why, n,
             q && e ? q + 1 : "NAME", n, q && e ? q + 1 : "NAME");
  }
  return rc;
}
