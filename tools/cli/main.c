/* gatelog: the command-line tool. `gatelog COMMAND ...` with the commands
 * check, replay and decode. */
#include <string.h>

#include "cli.h"

static void usage(FILE *out) {
  fputs("usage: gatelog COMMAND [ARGS]\n"
        "\n"
        "  check SCRIPT                      validate a policy and show what it makes\n"
        "                                    of sample sessions\n"
        "  replay --script SCRIPT EVENTS     run recorded session events through a\n"
        "                                    policy offline and show its batches\n"
        "  decode [PAYLOAD | -]              turn a payload back into JSON\n"
        "\n"
        "gatelog COMMAND --help describes each one. gatelog --version.\n",
        out);
}

int main(int argc, char **argv) {
  static const struct {
    const char *name;
    int (*run)(int, char **);
    void (*usage)(FILE *);
  } commands[] = {{"check", cli_check, cli_check_usage},
                  {"replay", cli_replay, cli_replay_usage},
                  {"decode", cli_decode, cli_decode_usage}};
  const char *cmd = argc > 1 ? argv[1] : "";
  if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
    for (size_t i = 0; argc > 2 && i < 3; i++)
      if (strcmp(argv[2], commands[i].name) == 0) {
        commands[i].usage(stdout);
        return CLI_OK;
      }
    usage(stdout);
    return CLI_OK;
  }
  if (strcmp(cmd, "--version") == 0) {
    printf("gatelog %d.%d.%d\n", GATELOG_VERSION_MAJOR, GATELOG_VERSION_MINOR, GATELOG_VERSION_PATCH);
    return CLI_OK;
  }
  for (size_t i = 0; i < 3; i++)
    if (strcmp(cmd, commands[i].name) == 0) return commands[i].run(argc - 1, argv + 1);
  if (*cmd) fprintf(stderr, "gatelog: unknown command '%s'\n", cmd);
  usage(stderr);
  return CLI_USAGE;
}
