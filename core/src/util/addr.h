/* Endpoint addresses as a session stores them, and their text forms:
 * "203.0.113.7:51234" and, bracketed, "[2001:db8::1]:5000". */
#ifndef GATELOG_ADDR_H
#define GATELOG_ADDR_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* Longest "[v6]:port" plus NUL. */
#define GL_ADDR_STRLEN 56
#define GL_IP_STRLEN 46

typedef struct gl_addr {
  uint8_t ip[16]; /* IPv4 uses the first 4 bytes */
  uint16_t port;  /* host order */
  uint8_t family; /* 4 or 6 */
  uint8_t pad;
} gl_addr;

/* 0, UV_EINVAL (NULL) or UV_EAFNOSUPPORT (not AF_INET / AF_INET6). */
int gl_addr_from_sockaddr(const struct sockaddr *sa, gl_addr *out);

/* Parse "a.b.c.d:port" or "[v6]:port". 0 or UV_EINVAL. */
int gl_addr_parse(const char *s, size_t len, gl_addr *out);

/* The address as a sockaddr (for callers of the public API). */
void gl_addr_to_sockaddr(const gl_addr *a, struct sockaddr_storage *out);

/* Write the IP alone / "ip:port" (bracketed for IPv6); return the length. */
size_t gl_addr_format_ip(const gl_addr *a, char out[GL_IP_STRLEN]);
size_t gl_addr_format(const gl_addr *a, char out[GL_ADDR_STRLEN]);

#endif
