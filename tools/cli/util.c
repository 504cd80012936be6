/* Helpers the commands share. */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

void cli_error(const char *cmd, const char *fmt, ...) {
  va_list ap;
  fprintf(stderr, "gatelog %s: ", cmd);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
}

char *cli_read_file(const char *path, size_t *len) {
  FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
  if (f == NULL) return NULL;
  size_t cap = 65536, n = 0;
  char *buf = malloc(cap + 1);
  while (buf) {
    n += fread(buf + n, 1, cap - n, f);
    if (n < cap) break;
    char *bigger = realloc(buf, cap * 2 + 1);
    if (bigger == NULL) {
      free(buf);
      buf = NULL;
      errno = ENOMEM;
      break;
    }
    buf = bigger;
    cap *= 2;
  }
  int failed = ferror(f);
  if (f != stdin) fclose(f);
  if (buf == NULL || failed) {
    free(buf);
    if (failed) errno = EIO;
    return NULL;
  }
  buf[n] = '\0';
  *len = n;
  return buf;
}

int cli_parse_addr(const char *s, struct sockaddr_storage *out) {
  char ip[64];
  const char *colon = strrchr(s, ':'), *ipstart = s, *ipend = colon;
  if (colon == NULL || colon[1] == '\0') return -1;
  if (s[0] == '[') {
    ipstart = s + 1;
    ipend = colon - 1;
    if (ipend < ipstart || *ipend != ']') return -1;
  }
  if ((size_t)(ipend - ipstart) >= sizeof(ip)) return -1;
  memcpy(ip, ipstart, (size_t)(ipend - ipstart));
  ip[ipend - ipstart] = '\0';
  char *end;
  long port = strtol(colon + 1, &end, 10);
  if (*end != '\0' || port < 0 || port > 65535) return -1;
  memset(out, 0, sizeof(*out));
  if (s[0] == '[') return uv_ip6_addr(ip, (int)port, (struct sockaddr_in6 *)out) ? -1 : 0;
  return uv_ip4_addr(ip, (int)port, (struct sockaddr_in *)out) ? -1 : 0;
}

