/* The string address parsers: the core's (core/src/util/addr.c: the Lua
 * module's and the record's "ip:port" and "[v6]:port") and the replay's
 * (tools/cli/util.c). What the core's parser accepts must format and
 * parse back to the same address, and format the same way again. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "fuzz.h"
#include "util/addr.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  gl_addr a, b;
  char text[GL_ADDR_STRLEN], again[GL_ADDR_STRLEN], ip[GL_IP_STRLEN];
  if (gl_addr_parse((const char *)data, size, &a) == 0) {
    FUZZ_ASSERT(a.family == 4 || a.family == 6);
    size_t n = gl_addr_format(&a, text);
    FUZZ_ASSERT(n == strlen(text) && n < GL_ADDR_STRLEN);
    FUZZ_ASSERT(gl_addr_format_ip(&a, ip) < GL_IP_STRLEN);
    FUZZ_ASSERT(gl_addr_parse(text, n, &b) == 0 && memcmp(&a, &b, sizeof(a)) == 0);
    FUZZ_ASSERT(gl_addr_format(&b, again) == n && memcmp(text, again, n) == 0);
    struct sockaddr_storage ss;
    gl_addr_to_sockaddr(&a, &ss);
    FUZZ_ASSERT(gl_addr_from_sockaddr((struct sockaddr *)&ss, &b) == 0 && memcmp(&a, &b, sizeof(a)) == 0);
  }
  char *s = malloc(size + 1);
  if (s == NULL) abort();
  memcpy(s, data, size);
  s[size] = '\0';
  struct sockaddr_storage ss;
  if (cli_parse_addr(s, &ss) == 0) FUZZ_ASSERT(ss.ss_family == AF_INET || ss.ss_family == AF_INET6);
  free(s);
  return 0;
}
