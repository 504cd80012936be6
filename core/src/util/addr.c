#include "util/addr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <uv.h>

int gl_addr_from_sockaddr(const struct sockaddr *sa, gl_addr *out) {
  if (sa == NULL || out == NULL) return UV_EINVAL;
  memset(out, 0, sizeof(*out));
  if (sa->sa_family == AF_INET) {
    const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
    memcpy(out->ip, &in->sin_addr, 4);
    out->port = ntohs(in->sin_port);
    out->family = 4;
    return 0;
  }
  if (sa->sa_family == AF_INET6) {
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
    memcpy(out->ip, &in6->sin6_addr, 16);
    out->port = ntohs(in6->sin6_port);
    out->family = 6;
    return 0;
  }
  return UV_EAFNOSUPPORT;
}

static int parse_port(const char *s, size_t len, uint16_t *out) {
  if (len == 0 || len > 5) return UV_EINVAL;
  unsigned v = 0;
  for (size_t i = 0; i < len; i++) {
    if (s[i] < '0' || s[i] > '9') return UV_EINVAL;
    v = v * 10 + (unsigned)(s[i] - '0');
  }
  if (v > 65535) return UV_EINVAL;
  *out = (uint16_t)v;
  return 0;
}

int gl_addr_parse(const char *s, size_t len, gl_addr *out) {
  char host[GL_IP_STRLEN];
  const char *colon;
  size_t hlen;
  memset(out, 0, sizeof(*out));
  if (s == NULL || len == 0 || memchr(s, '\0', len) != NULL) return UV_EINVAL;
  if (s[0] == '[') {
    const char *close = memchr(s, ']', len);
    if (close == NULL || close + 1 >= s + len || close[1] != ':') return UV_EINVAL;
    hlen = (size_t)(close - s - 1);
    colon = close + 1;
    if (hlen == 0 || hlen >= sizeof(host)) return UV_EINVAL;
    memcpy(host, s + 1, hlen);
    host[hlen] = '\0';
    if (inet_pton(AF_INET6, host, out->ip) != 1) return UV_EINVAL;
    out->family = 6;
  } else {
    colon = memchr(s, ':', len);
    if (colon == NULL) return UV_EINVAL;
    hlen = (size_t)(colon - s);
    if (hlen == 0 || hlen >= sizeof(host)) return UV_EINVAL;
    memcpy(host, s, hlen);
    host[hlen] = '\0';
    if (inet_pton(AF_INET, host, out->ip) != 1) return UV_EINVAL;
    out->family = 4;
  }
  return parse_port(colon + 1, (size_t)(s + len - colon - 1), &out->port);
}

void gl_addr_to_sockaddr(const gl_addr *a, struct sockaddr_storage *out) {
  memset(out, 0, sizeof(*out));
  if (a->family == 6) {
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)out;
    in6->sin6_family = AF_INET6;
    memcpy(&in6->sin6_addr, a->ip, 16);
    in6->sin6_port = htons(a->port);
  } else {
    struct sockaddr_in *in = (struct sockaddr_in *)out;
    in->sin_family = AF_INET;
    memcpy(&in->sin_addr, a->ip, 4);
    in->sin_port = htons(a->port);
  }
}

/* Digits of v (< 100000) written backwards from end; returns the start. */
static char *put_uint(char *end, unsigned v) {
  do {
    *--end = (char)('0' + v % 10);
    v /= 10;
  } while (v != 0);
  return end;
}

/* "0".."255", as text and length, built once. */
static char octet_text[256][4];
static uint8_t octet_len[256];
static uv_once_t octet_once = UV_ONCE_INIT;

static void octets_init(void) {
  for (unsigned i = 0; i < 256; i++) {
    char tmp[4];
    char *s = put_uint(tmp + 3, i);
    octet_len[i] = (uint8_t)(tmp + 3 - s);
    memcpy(octet_text[i], s, octet_len[i]);
  }
}

static size_t format_ip4(const uint8_t ip[4], char *out) {
  uv_once(&octet_once, octets_init);
  char *p = out;
  for (int i = 0; i < 4; i++) {
    memcpy(p, octet_text[ip[i]], 4);
    p += octet_len[ip[i]];
    *p++ = '.';
  }
  *--p = '\0';
  return (size_t)(p - out);
}

/* RFC 5952 text, as glibc's inet_ntop writes it: lowercase hex without
 * leading zeros, the longest run of two or more zero groups (the first
 * of equals) as "::", and an IPv4 tail in dotted form for ::a.b.c.d and
 * ::ffff:a.b.c.d. */
static size_t format_ip6(const uint8_t ip[16], char *out) {
  static const char hex[] = "0123456789abcdef";
  unsigned w[8];
  int best = -1, best_len = 0, run = -1, run_len = 0;
  for (int i = 0; i < 8; i++) {
    w[i] = (unsigned)ip[2 * i] << 8 | ip[2 * i + 1];
    if (w[i] == 0) {
      if (run < 0) run = i, run_len = 0;
      if (++run_len > best_len) best = run, best_len = run_len;
    } else {
      run = -1;
    }
  }
  if (best_len < 2) best = -1;
  char *p = out;
  for (int i = 0; i < 8; i++) {
    if (i == best) {
      *p++ = ':';
      if (i == 0) *p++ = ':';
      i += best_len - 1;
      continue;
    }
    if (i == 6 && best == 0 &&
        (best_len == 6 || (best_len == 7 && w[7] != 1) || (best_len == 5 && w[5] == 0xffff))) {
      p += format_ip4(ip + 12, p);
      return (size_t)(p - out);
    }
    int started = 0;
    for (int shift = 12; shift >= 0; shift -= 4) {
      unsigned d = (w[i] >> shift) & 0xf;
      if (d || started || shift == 0) *p++ = hex[d], started = 1;
    }
    if (i < 7) *p++ = ':';
  }
  *p = '\0';
  return (size_t)(p - out);
}

size_t gl_addr_format_ip(const gl_addr *a, char out[GL_IP_STRLEN]) {
  return a->family == 4 ? format_ip4(a->ip, out) : format_ip6(a->ip, out);
}

size_t gl_addr_format(const gl_addr *a, char out[GL_ADDR_STRLEN]) {
  size_t n = 0;
  if (a->family == 6) out[n++] = '[';
  n += gl_addr_format_ip(a, out + n);
  if (a->family == 6) out[n++] = ']';
  out[n++] = ':';
  char tmp[6];
  char *s = put_uint(tmp + 5, a->port);
  size_t pl = (size_t)(tmp + 5 - s);
  memcpy(out + n, s, pl);
  n += pl;
  out[n] = '\0';
  return n;
}
