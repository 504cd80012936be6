/* gatelog decode [--ndjson] [PAYLOAD|-]: a payload of the default codec
 * back into JSON, for reading what a collector received. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

void cli_decode_usage(FILE *out) {
  fputs("usage: gatelog decode [--ndjson] [PAYLOAD | -]\n"
        "\n"
        "Decode a payload of the default codec, base64(zlib(JSON array)), and print\n"
        "its records as indented JSON, or with --ndjson one record a line. PAYLOAD\n"
        "is the payload itself; without it, or with -, it is read from standard\n"
        "input. Whitespace in the payload (a trailing newline, line wrapping) is\n"
        "ignored.\n"
        "\n"
        "Limits: a payload of at most 16 MiB, which inflates to at most 16 MiB of\n"
        "JSON of at most 1048576 values, nested at most 512 deep.\n"
        "\n"
        "Exit status: 0, 1 if the payload does not decode (the message names the\n"
        "stage that failed: base64, zlib or JSON), 2 for bad usage.\n",
        out);
}

int cli_decode(int argc, char **argv) {
  int ndjson = 0;
  const char *arg = NULL;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
      cli_decode_usage(stdout);
      return CLI_OK;
    } else if (strcmp(argv[i], "--ndjson") == 0) {
      ndjson = 1;
    } else if ((argv[i][0] == '-' && argv[i][1] != '\0') || arg) {
      cli_error("decode", "unexpected argument '%s' (see gatelog decode --help)", argv[i]);
      return CLI_USAGE;
    } else {
      arg = argv[i];
    }
  }
  size_t len;
  char *text;
  if (arg == NULL || strcmp(arg, "-") == 0) {
    if ((text = cli_read_file("-", CLI_PAYLOAD_MAX, &len)) == NULL) {
      if (errno == EFBIG) cli_error("decode", "the payload is larger than 16 MiB (the limit)");
      else cli_error("decode", "reading standard input failed: %s", strerror(errno));
      return CLI_FAILED;
    }
  } else if ((len = strlen(arg)) > CLI_PAYLOAD_MAX) {
    cli_error("decode", "the payload is larger than 16 MiB (the limit)");
    return CLI_FAILED;
  } else if ((text = strdup(arg)) == NULL) {
    cli_error("decode", "out of memory");
    return CLI_FAILED;
  }
  cli_payload p;
  char err[512];
  static const cli_payload_limits limits = {CLI_JSON_MAX, CLI_JSON_VALUES};
  int rc = cli_payload_decode(text, len, &limits, &p, err, sizeof(err));
  free(text);
  if (rc) {
    cli_error("decode", "%s", err);
    return CLI_FAILED;
  }
  if (ndjson) {
    for (const json_value *r = p.doc->child; r; r = r->next) {
      json_print(stdout, r, 0);
      fputc('\n', stdout);
    }
  } else {
    json_print(stdout, p.doc, 1);
    fputc('\n', stdout);
  }
  cli_payload_free(&p);
  return CLI_OK;
}
