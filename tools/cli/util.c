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

char *cli_read_file(const char *path, size_t max, size_t *len) {
  FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
  if (f == NULL) return NULL;
  /* One byte past max tells a file of exactly max bytes from a longer one. */
  size_t cap = max < 65536 ? max + 1 : 65536, n = 0;
  char *buf = malloc(cap + 1);
  int too_long = 0;
  while (buf) {
    n += fread(buf + n, 1, cap - n, f);
    if (n < cap) break;
    if (n > max) {
      too_long = 1;
      break;
    }
    size_t next = cap * 2 > max + 1 ? max + 1 : cap * 2;
    char *bigger = realloc(buf, next + 1);
    if (bigger == NULL) {
      free(buf);
      buf = NULL;
      break;
    }
    buf = bigger;
    cap = next;
  }
  int failed = ferror(f);
  if (f != stdin) fclose(f);
  if (buf == NULL || failed || too_long) {
    free(buf);
    errno = too_long ? EFBIG : failed ? EIO : ENOMEM;
    return NULL;
  }
  buf[n] = '\0';
  *len = n;
  return buf;
}

int cli_read_line(FILE *f, char *buf, size_t max, size_t *len) {
  size_t n = 0;
  int c;
  while ((c = getc_unlocked(f)) != EOF && c != '\n') {
    if (n == max) return -1;
    buf[n++] = (char)c;
  }
  if (c == EOF && ferror(f)) return -2;
  if (c == EOF && n == 0) return 0;
  buf[n] = '\0';
  *len = n;
  return 1;
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

