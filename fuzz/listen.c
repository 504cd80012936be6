/* gatelog-proxy's --listen SPEC (tools/proxy/args.c), without resolving
 * its hosts (the resolver would go to the network). What is accepted
 * must hold ports in range and host names that fit, NUL-terminated. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "proxy.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *s = malloc(size + 1), err[512];
  if (s == NULL) abort();
  memcpy(s, data, size);
  s[size] = '\0';
  px_listen_spec spec;
  if (px_parse_listen(s, &spec, err, sizeof(err)) == 0) {
    FUZZ_ASSERT(spec.proto == PX_TCP || spec.proto == PX_UDP);
    FUZZ_ASSERT(spec.port >= 0 && spec.port <= 65535 && spec.up_port >= 1 && spec.up_port <= 65535);
    FUZZ_ASSERT(memchr(spec.host, '\0', PX_HOST_MAX) && memchr(spec.up_host, '\0', PX_HOST_MAX));
    FUZZ_ASSERT(spec.host[0] && spec.up_host[0]);
  } else {
    FUZZ_ASSERT(strncmp(err, "--listen '", 10) == 0);
  }
  free(s);
  return 0;
}
