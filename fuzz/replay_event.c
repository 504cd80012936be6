/* The replay's input (tools/cli/events.c, replay.c). Even first byte: the
 * rest is lines, read with replay's line reader (its bound made small,
 * so that the fuzzer reaches it), each parsed with replay's value limit
 * and then as an event; what is accepted must lie within the documented
 * bounds. Odd: the rest is an events file, replayed whole through the
 * default script on the real core (gatelog replay --ndjson FILE), so
 * that the sessions, the byte totals and the clock see what the parser
 * let through. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "events.h"
#include "fuzz.h"

#define LINE_MAX_FUZZ 512

static char events_path[256];

static void remove_events(void) { unlink(events_path); }

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  /* The replay prints records: they are not what is checked. */
  if (freopen("/dev/null", "w", stdout) == NULL) abort();
  const char *tmp = getenv("TMPDIR");
  snprintf(events_path, sizeof(events_path), "%s/gatelog-fuzz-events-%d.ndjson",
           tmp && *tmp ? tmp : "/tmp", (int)getpid());
  atexit(remove_events);
  return 0;
}

static void parse_lines(const uint8_t *data, size_t size) {
  FILE *f = fmemopen((void *)data, size, "r");
  char line[LINE_MAX_FUZZ + 1], err[256];
  size_t len;
  if (f == NULL) return; /* fmemopen refuses size 0 */
  while (cli_read_line(f, line, LINE_MAX_FUZZ, &len) > 0) {
    FUZZ_ASSERT(len <= LINE_MAX_FUZZ);
    json_value *v = json_parse(line, len, CLI_LINE_VALUES, err, sizeof(err));
    cli_event ev;
    if (v && cli_event_parse(v, &ev, err, sizeof(err)) == 0) {
      FUZZ_ASSERT(ev.t_ns < CLI_T_END_S * 1000000000ull);
      FUZZ_ASSERT(ev.tx <= CLI_BYTES_MAX && ev.rx <= CLI_BYTES_MAX);
      FUZZ_ASSERT(ev.kind == EV_PACKET || ev.id != NULL);
      if (ev.kind == EV_START || ev.kind == EV_PACKET)
        FUZZ_ASSERT((ev.src.ss_family == AF_INET || ev.src.ss_family == AF_INET6) &&
                    (ev.dst.ss_family == AF_INET || ev.dst.ss_family == AF_INET6));
    }
    json_free(v);
  }
  fclose(f);
}

static void replay_file(const uint8_t *data, size_t size) {
  FILE *f = fopen(events_path, "wb");
  if (f == NULL || fwrite(data, 1, size, f) != size || fclose(f) != 0) abort();
  char *argv[] = {"replay", "--script", GATELOG_SOURCE_DIR "/scripts/default.lua", "--ndjson",
                  "--no-progress", events_path, NULL};
  int rc = cli_replay(6, argv);
  FUZZ_ASSERT(rc == CLI_OK || rc == CLI_FAILED);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size == 0) return 0;
  if (data[0] % 2 == 0) parse_lines(data + 1, size - 1);
  else replay_file(data + 1, size - 1);
  return 0;
}
