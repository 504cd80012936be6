/* gatelog decode's stages (tools/cli/payload.c): base64, inflate and the
 * strict JSON reader. The first byte says where the rest goes in, so
 * that each stage is reached with inputs the earlier ones let through:
 *   % 3 == 0  the payload's text, as decode reads it
 *   % 3 == 1  a zlib stream, base64-encoded here
 *   % 3 == 2  JSON, deflated and base64-encoded here
 * and which limits apply (decode's own, or small ones, so that the
 * refusals are reached too). What decodes is printed as decode prints
 * it; JSON that went in whole must come out byte for byte. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "cli.h"
#include "fuzz.h"
#include "util/base64.h"

static FILE *null_out;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  null_out = fopen("/dev/null", "w");
  return 0;
}

/* base64 of n bytes, NUL-terminated. */
static char *encode(const unsigned char *z, size_t n) {
  char *text = malloc(gl_base64_len(n) + 1);
  if (text == NULL) abort();
  gl_base64_encode(z, n, text);
  text[gl_base64_len(n)] = '\0';
  return text;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size == 0) return 0;
  unsigned mode = data[0] % 3, small = data[0] / 3 % 2;
  const uint8_t *rest = data + 1;
  size_t n = size - 1;
  cli_payload_limits limits = {CLI_JSON_MAX, CLI_JSON_VALUES};
  if (small) limits = (cli_payload_limits){64 + n % 256, 1 + n % 32};
  char *text;
  size_t len = n;
  if (mode == 0) {
    text = malloc(n + 1);
    if (text == NULL) abort();
    memcpy(text, rest, n);
    text[n] = '\0';
  } else if (mode == 1) {
    text = encode(rest, n);
    len = strlen(text);
  } else {
    uLongf zlen = compressBound((uLong)n);
    unsigned char *z = malloc(zlen);
    if (z == NULL || compress2(z, &zlen, rest, (uLong)n, 6) != Z_OK) abort();
    text = encode(z, zlen);
    len = strlen(text);
    free(z);
  }
  cli_payload p;
  char err[512];
  if (cli_payload_decode(text, len, &limits, &p, err, sizeof(err)) == 0) {
    FUZZ_ASSERT(p.doc->type == JSON_ARRAY && p.json_len <= limits.json_max);
    if (mode == 2) FUZZ_ASSERT(p.json_len == n && memcmp(p.json, rest, n) == 0);
    json_print(null_out, p.doc, 1);
    for (const json_value *r = p.doc->child; r; r = r->next) json_print(null_out, r, 0);
    cli_payload_free(&p);
  } else {
    FUZZ_ASSERT(strncmp(err, "base64: ", 8) == 0 || strncmp(err, "zlib: ", 6) == 0 ||
                strncmp(err, "JSON: ", 6) == 0);
  }
  free(text);
  return 0;
}
