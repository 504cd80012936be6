/* gatelog check SCRIPT: load a policy as a reload would (gatelog_new runs
 * the same checks, filter and enrich on a synthetic record included), then
 * run a few sample sessions through it on the real core and print the
 * records it would send. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define T0_MS 1795773600000ull /* 2026-11-27T10:00:00Z: fixed, so the output is stable */
#define AT(ms) ((T0_MS + (ms)) * 1000000ull)

typedef struct sample {
  const char *proto, *src, *dst, *what;
  int64_t resource;
  uint64_t tx, rx;
  gatelog_sid_t sid;
  int kept;
} sample;

static sample samples[] = {
    {"tcp", "203.0.113.7:51234", "10.0.0.5:443", "a TCP connection over IPv4", 42, 517, 4380, 0, 0},
    {"udp", "[2001:db8::1]:5000", "[2001:db8::2]:4500", "a UDP flow over IPv6", 7, 1200, 800, 0, 0},
    {"udp", "192.0.2.10:53000", "10.0.0.1:53", "a DNS query", 9, 40, 120, 0, 0},
};
#define NSAMPLES (sizeof(samples) / sizeof(samples[0]))

/* Their lives, in time order: milliseconds after T0, which sample, start
 * (with its bytes) or end. */
static const struct {
  uint64_t ms;
  int sample, start;
} timeline[] = {{0, 0, 1}, {1000, 1, 1}, {2000, 2, 1}, {2020, 2, 0}, {4000, 1, 0}, {5250, 0, 0}};

void cli_check_usage(FILE *out) {
  fputs("usage: gatelog check [--lua-path TEMPLATES] SCRIPT\n"
        "\n"
        "Load a policy script and validate it as a reload would, run its filter and\n"
        "enrich on three sample sessions (a TCP connection over IPv4, a UDP flow over\n"
        "IPv6, a DNS query), and print the records it would send, one JSON object a\n"
        "line, on standard output; which samples were kept or filtered out goes to\n"
        "standard error. The script's send is not called.\n"
        "\n"
        "Exit status: 0 if the script is valid and ran cleanly on every sample, 1 if\n"
        "it does not load or raised an error (the message has file and line), 2 for\n"
        "bad usage.\n",
        out);
}

static void on_batch(cli_offline *o, const char *payload, size_t len, const cli_payload *d,
                     void *data) {
  (void)o;
  (void)payload;
  (void)len;
  (void)data;
  for (const json_value *r = d->doc->child; r; r = r->next) {
    const json_value *id = json_get(r, "sessionId");
    for (size_t i = 0; i < NSAMPLES; i++) {
      char hex[17];
      snprintf(hex, sizeof(hex), "%016llx", (unsigned long long)samples[i].sid);
      if (id && id->type == JSON_STRING && strcmp(id->string, hex) == 0) samples[i].kept = 1;
    }
    json_print(stdout, r, 0);
    fputc('\n', stdout);
  }
}

static int run_samples(cli_offline *o) {
  gatelog_t *gl = o->gl;
  for (size_t i = 0; i < sizeof(timeline) / sizeof(timeline[0]); i++) {
    sample *s = &samples[timeline[i].sample];
    int tcp = strcmp(s->proto, "tcp") == 0, err;
    cli_offline_advance(o, AT(timeline[i].ms));
    if (timeline[i].start) {
      struct sockaddr_storage a, b;
      cli_parse_addr(s->src, &a);
      cli_parse_addr(s->dst, &b);
      err = (tcp ? gatelog_tcp_start : gatelog_udp_track)(gl, s->resource, (struct sockaddr *)&a,
                                                          (struct sockaddr *)&b, &s->sid);
      if (err == 0) err = gatelog_add_bytes(gl, s->sid, s->tx, s->rx);
    } else {
      err = (tcp ? gatelog_tcp_end : gatelog_udp_end)(gl, s->sid);
      if (err == GATELOG_ENOSESSION && !tcp) err = 0; /* the script's udp_idle_timeout ended it */
    }
    if (err) return err;
  }
  gatelog_flush(gl);
  cli_offline_settle(o);
  return 0;
}

int cli_check(int argc, char **argv) {
  const char *script = NULL, *lua_path = NULL;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
      cli_check_usage(stdout);
      return CLI_OK;
    } else if (strcmp(argv[i], "--lua-path") == 0 && i + 1 < argc) {
      lua_path = argv[++i];
    } else if (argv[i][0] == '-' || script) {
      cli_error("check", "unexpected argument '%s' (see gatelog check --help)", argv[i]);
      return CLI_USAGE;
    } else {
      script = argv[i];
    }
  }
  if (script == NULL) {
    cli_error("check", "no script given (see gatelog check --help)");
    return CLI_USAGE;
  }

  cli_offline o;
  cli_offline_options opts = {"check", script, lua_path, AT(0), NULL, NULL};
  if (cli_offline_open(&o, &opts, on_batch, NULL) != 0) {
    cli_error("check", "%s", o.error);
    return CLI_FAILED;
  }
  gatelog_script_info_t info;
  gatelog_script_info(o.gl, &info);
  int err = run_samples(&o);
  cli_offline_close(&o);
  if (err) {
    cli_error("check", "the sample sessions failed: %s", gatelog_strerror(err));
    return CLI_FAILED;
  }
  const gatelog_stats_t *st = &o.final;
  for (size_t i = 0; i < NSAMPLES; i++)
    fprintf(stderr, "sample %zu, %s (%s %s -> %s): %s\n", i + 1, samples[i].what, samples[i].proto,
            samples[i].src, samples[i].dst, samples[i].kept ? "kept" : "filtered out");
  uint64_t errors = st->filter_errors + st->enrich_errors + st->budget_exceeded + st->memory_exceeded;
  if (errors || o.bad_payloads) {
    cli_error("check", "%s: the script failed on the samples (%llu error%s, above)", script,
              (unsigned long long)errors, errors == 1 ? "" : "s");
    return CLI_FAILED;
  }
  fprintf(stderr, "%s: ok (sha256 %s): %llu kept, %llu filtered out\n", script, info.sha256,
          (unsigned long long)st->records_kept, (unsigned long long)st->records_filtered);
  return CLI_OK;
}
