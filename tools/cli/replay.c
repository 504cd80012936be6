/* gatelog replay --script SCRIPT EVENTS: recorded session events through
 * a policy, offline, on the real core. The core's clock is the events'
 * time: it moves to each event's timestamp (never back), idle UDP flows
 * expire on it, and batches are sealed at batch_max records and at every
 * --flush-interval of it, as a gateway's flush timer would. Each batch is
 * printed (or its payload written to --out DIR) as it is sealed. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "events.h"
#include "idmap.h"
#include "tally.h"

typedef struct replay {
  cli_offline o;
  const char *out_dir;
  int ndjson;
  uint64_t flush_ns, next_flush_ns;
  uint64_t events, unknown_ids, late_events, jumps;
  idmap ids;
  tally bytes; /* of every open session */
  int failed;
} replay;

void cli_replay_usage(FILE *out) {
  fputs(
      "usage: gatelog replay --script SCRIPT [--out DIR] [--ndjson]\n"
      "                      [--flush-interval SECONDS] [--progress | --no-progress]\n"
      "                      [--lua-path TEMPLATES] EVENTS.ndjson | -\n"
      "\n"
      "Feed recorded session events through a policy offline, on the real core,\n"
      "with the events' timestamps as its clock, and print the records of each\n"
      "batch the policy would send (its send is not called).\n"
      "\n"
      "Events, one JSON object a line (other keys are ignored):\n"
      "  {\"t\":T,\"ev\":\"start\",\"proto\":\"tcp\",\"id\":\"c1\",\"resource\":42,\n"
      "   \"src\":\"203.0.113.7:51234\",\"dst\":\"10.0.0.5:443\"}\n"
      "  {\"t\":T,\"ev\":\"bytes\",\"id\":\"c1\",\"tx\":100,\"rx\":200}\n"
      "  {\"t\":T,\"ev\":\"end\",\"id\":\"c1\"}\n"
      "  {\"t\":T,\"ev\":\"packet\",\"resource\":7,\"src\":\"[2001:db8::1]:5000\",\n"
      "   \"dst\":\"10.0.0.1:53\",\"tx\":40,\"rx\":120}          (UDP: track the flow, count)\n"
      "T is seconds since the epoch or an RFC 3339 time. proto is tcp (default) or\n"
      "udp; a packet may carry an id so that a later end can end its flow.\n"
      "Limits: a line of at most 1 MiB and 65536 JSON values; T from 1970 to before\n"
      "2200-01-01T00:00:00Z; resource a 64-bit integer; a session's bytes, each way,\n"
      "at most 2^53 - 1 = 9007199254740991 in all. Between two events at most 100000\n"
      "flush ticks are stepped through; past that the clock jumps to the last one.\n"
      "\n"
      "  --out DIR              write each batch's payload to DIR/batch-NNNNNN.txt\n"
      "                         instead of printing its records\n"
      "  --ndjson               print only the records, one a line (no batch lines)\n"
      "  --flush-interval SECONDS  seal a batch this often in event time\n"
      "                         (default 60, gatelog's default)\n"
      "  --progress, --no-progress  a progress bar on standard error (default: when\n"
      "                         it is a terminal and the input is 1 MiB or more)\n"
      "  --lua-path TEMPLATES   extra package.path templates for the script\n"
      "\n"
      "Sessions still open after the last event end as a gateway's close ends\n"
      "them, with endReason \"shutdown\". A summary goes to standard error.\n"
      "Exit status: 0, 1 if the script fails to load or an event line is\n"
      "invalid (file:line: what), 2 for bad usage.\n",
      out);
}

/* ---- batches ------------------------------------------------------------ */

static void on_batch(cli_offline *o, const char *payload, size_t len, const cli_payload *d,
                     void *data) {
  replay *r = data;
  if (r->out_dir) {
    char path[4096];
    snprintf(path, sizeof(path), "%s/batch-%06llu.txt", r->out_dir, (unsigned long long)o->batches);
    FILE *f = fopen(path, "w");
    if (f == NULL || fwrite(payload, 1, len, f) != len || fputc('\n', f) == EOF) r->failed = errno;
    if (f && fclose(f) != 0) r->failed = errno;
    if (r->failed) cli_error("replay", "%s: %s", path, strerror(r->failed));
    return;
  }
  size_t n = 0;
  for (const json_value *c = d->doc->child; c; c = c->next) n++;
  if (!r->ndjson)
    printf("# batch %llu: %zu record%s, %zu bytes of JSON, %zu compressed\n",
           (unsigned long long)o->batches, n, n == 1 ? "" : "s", d->json_len, d->zlib_len);
  for (const json_value *c = d->doc->child; c; c = c->next) {
    json_print(stdout, c, 0);
    fputc('\n', stdout);
  }
}

/* ---- time --------------------------------------------------------------- */

/* Move the core's clock to t, sealing a batch at every flush tick passed
 * on the way (after the sessions that idled out before that tick). */
static void advance(replay *r, uint64_t t) {
  cli_offline *o = &r->o;
  if (t < o->now_ns) {
    r->late_events++;
    return; /* an event out of order happens "now": the clock never goes back */
  }
  if (r->next_flush_ns == 0) r->next_flush_ns = t + r->flush_ns;
  unsigned ticks = 0;
  while (r->next_flush_ns <= t) {
    gatelog_stats_t st;
    gatelog_stats(o->gl, &st);
    if (st.records_queued == 0 && st.udp_open == 0) {
      /* Nothing to seal, nothing to expire: skip to the first tick after t. */
      r->next_flush_ns += ((t - r->next_flush_ns) / r->flush_ns + 1) * r->flush_ns;
      break;
    }
    /* A flow kept open (a long udp_idle_timeout) would make every tick of
     * the gap a step: past CLI_TICKS_MAX, on to the last tick at or
     * before t at once. */
    if (++ticks == CLI_TICKS_MAX) {
      r->next_flush_ns += (t - r->next_flush_ns) / r->flush_ns * r->flush_ns;
      r->jumps++;
    }
    cli_offline_advance(o, r->next_flush_ns);
    gatelog_flush(o->gl);
    cli_offline_settle(o);
    r->next_flush_ns += r->flush_ns;
  }
  cli_offline_advance(o, t);
}

/* ---- events ------------------------------------------------------------- */

static void unknown(replay *r, const char *where, const char *id) {
  if (r->unknown_ids++ < 5) cli_error("replay", "%s: no open session has id \"%s\"; skipped", where, id);
}

static int track(replay *r, id_entry *e, const cli_event *ev) {
  return gatelog_udp_track(r->o.gl, ev->resource, (struct sockaddr *)&ev->src,
                           (struct sockaddr *)&ev->dst, &e->sid);
}

/* gatelog_add_bytes, unless the session would pass CLI_BYTES_MAX in all:
 * the core's counters are exact to 2^64, a JSON reader's (and Lua's) to
 * 2^53. Returns the core's error, or 1 for the limit (said already). */
static int add_bytes(replay *r, gatelog_sid_t sid, const cli_event *ev, const char *where) {
  if (!tally_fits(&r->bytes, sid, ev->tx, ev->rx, CLI_BYTES_MAX)) {
    cli_error("replay", "%s: the session's bytes would pass 2^53 - 1 = %llu (the limit)", where,
              (unsigned long long)CLI_BYTES_MAX);
    return 1;
  }
  int err = gatelog_add_bytes(r->o.gl, sid, ev->tx, ev->rx);
  if (err == 0) err = tally_add(&r->bytes, sid, ev->tx, ev->rx);
  return err;
}

static void on_end(void *data, const gatelog_end_info_t *info) {
  tally_remove(&((replay *)data)->bytes, info->sid);
}

static int apply(replay *r, const cli_event *ev, const char *where) {
  gatelog_t *gl = r->o.gl;
  id_entry **pp = ev->id ? idmap_find(&r->ids, ev->id) : NULL, *e = pp ? *pp : NULL, flow;
  int err = 0;
  switch (ev->kind) {
    case EV_START:
    case EV_PACKET:
      if (e && (ev->kind == EV_START || !e->udp)) {
        cli_error("replay", "%s: id \"%s\" is already open%s", where, ev->id,
                  e->udp ? "" : " as a TCP session");
        return -1;
      }
      if (e == NULL) {
        memset(&flow, 0, sizeof(flow));
        e = ev->id ? idmap_add(&r->ids, ev->id) : &flow;
        if (e == NULL) return UV_ENOMEM;
        e->udp = ev->udp;
        e->resource = ev->resource;
        e->src = ev->src;
        e->dst = ev->dst;
      }
      if (!ev->udp) err = gatelog_tcp_start(gl, ev->resource, (struct sockaddr *)&ev->src,
                                            (struct sockaddr *)&ev->dst, &e->sid);
      else err = track(r, e, ev);
      if (err == 0 && (ev->tx || ev->rx)) err = add_bytes(r, e->sid, ev, where);
      break;
    case EV_BYTES:
      if (e == NULL) {
        unknown(r, where, ev->id);
        return 0;
      }
      err = add_bytes(r, e->sid, ev, where);
      if (err == GATELOG_ENOSESSION && e->udp) { /* idled out: a gateway would track it anew */
        cli_event again = *ev;
        again.resource = e->resource;
        again.src = e->src;
        again.dst = e->dst;
        err = track(r, e, &again);
        if (err == 0) err = add_bytes(r, e->sid, ev, where);
      }
      break;
    case EV_END:
      if (e == NULL) {
        unknown(r, where, ev->id);
        return 0;
      }
      err = e->udp ? gatelog_udp_end(gl, e->sid) : gatelog_tcp_end(gl, e->sid);
      if (err == GATELOG_ENOSESSION && e->udp) err = 0; /* it had idled out already */
      idmap_remove(&r->ids, pp);
      break;
  }
  if (err < 0) cli_error("replay", "%s: %s", where, gatelog_strerror(err));
  return err;
}

/* ---- progress ----------------------------------------------------------- */

static void progress(replay *r, FILE *in, off_t size, int done) {
  static int last = -1;
  if (done) {
    fputs("\r\033[K", stderr);
    return;
  }
  long pos = ftell(in);
  int pct = size > 0 && pos >= 0 ? (int)(100.0 * (double)pos / (double)size) : -1;
  if (pct == last && (pct >= 0 || r->events % 100000 != 0)) return;
  last = pct;
  if (pct < 0) {
    fprintf(stderr, "\rreplay: %llu events", (unsigned long long)r->events);
  } else {
    char bar[41];
    memset(bar, '#', (size_t)(pct * 40 / 100));
    memset(bar + pct * 40 / 100, '.', (size_t)(40 - pct * 40 / 100));
    bar[40] = '\0';
    fprintf(stderr, "\rreplay: [%s] %3d%%  %llu events", bar, pct, (unsigned long long)r->events);
  }
  fflush(stderr);
}

/* ---- the command -------------------------------------------------------- */

static int run(replay *r, FILE *in, const char *name, int show_progress, off_t size) {
  char *line = malloc(CLI_LINE_MAX + 1), err[256], where[512];
  size_t k;
  int rc = line ? CLI_OK : CLI_FAILED, got = 0;
  unsigned long lineno = 0;
  if (line == NULL) cli_error("replay", "out of memory");
  while (line && (got = cli_read_line(in, line, CLI_LINE_MAX, &k)) != 0) {
    snprintf(where, sizeof(where), "%s:%lu", name, ++lineno);
    if (got < 0) break;
    while (k > 0 && (line[k - 1] == '\r' || line[k - 1] == ' ')) k--;
    if (k == 0) continue;
    json_value *v = json_parse(line, k, CLI_LINE_VALUES, err, sizeof(err));
    cli_event ev;
    if (v == NULL || cli_event_parse(v, &ev, err, sizeof(err)) != 0) {
      if (show_progress) progress(r, in, size, 1);
      cli_error("replay", "%s: %s", where, err);
      json_free(v);
      rc = CLI_FAILED;
      break;
    }
    r->events++;
    advance(r, ev.t_ns);
    int e = apply(r, &ev, where);
    json_free(v);
    cli_offline_settle(&r->o);
    if (e || r->failed) {
      rc = CLI_FAILED;
      break;
    }
    if (show_progress) progress(r, in, size, 0);
  }
  if (got == -1) {
    if (show_progress) progress(r, in, size, 1);
    cli_error("replay", "%s: the line is longer than 1 MiB (the limit)", where);
    rc = CLI_FAILED;
  } else if (got == -2) {
    cli_error("replay", "%s: %s", name, strerror(errno));
    rc = CLI_FAILED;
  }
  if (show_progress) progress(r, in, size, 1);
  free(line);
  return rc;
}

static void summary(const replay *r) {
  const gatelog_stats_t *st = &r->o.final;
  fprintf(stderr,
          "replay: %llu events, %llu sessions (%llu tcp, %llu udp), %llu kept, %llu filtered, "
          "%llu batches, %llu bytes of JSON, %llu compressed",
          (unsigned long long)r->events, (unsigned long long)(st->tcp_started + st->udp_started),
          (unsigned long long)st->tcp_started, (unsigned long long)st->udp_started,
          (unsigned long long)st->records_kept, (unsigned long long)st->records_filtered,
          (unsigned long long)r->o.batches, (unsigned long long)st->bytes_json,
          (unsigned long long)st->bytes_compressed);
  if (st->bytes_json)
    fprintf(stderr, " (%.1f%%)", 100.0 * (double)st->bytes_compressed / (double)st->bytes_json);
  if (st->ended_shutdown)
    fprintf(stderr, "; %llu still open at the end", (unsigned long long)st->ended_shutdown);
  if (r->unknown_ids) fprintf(stderr, "; %llu events with unknown ids", (unsigned long long)r->unknown_ids);
  if (r->late_events) fprintf(stderr, "; %llu events out of order", (unsigned long long)r->late_events);
  if (r->jumps)
    fprintf(stderr, "; %llu gap%s of more than %u flush ticks jumped", (unsigned long long)r->jumps,
            r->jumps == 1 ? "" : "s", CLI_TICKS_MAX);
  uint64_t errors = st->filter_errors + st->enrich_errors;
  if (errors) fprintf(stderr, "; %llu script errors", (unsigned long long)errors);
  fputc('\n', stderr);
}

int cli_replay(int argc, char **argv) {
  replay r;
  memset(&r, 0, sizeof(r));
  const char *script = NULL, *lua_path = NULL, *input = NULL;
  int show_progress = -1;
  double flush_s = 60;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    int has_value = i + 1 < argc;
    char *end;
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      cli_replay_usage(stdout);
      return CLI_OK;
    } else if (strcmp(a, "--script") == 0 && has_value) {
      script = argv[++i];
    } else if (strcmp(a, "--lua-path") == 0 && has_value) {
      lua_path = argv[++i];
    } else if (strcmp(a, "--out") == 0 && has_value) {
      r.out_dir = argv[++i];
    } else if (strcmp(a, "--flush-interval") == 0 && has_value) {
      flush_s = strtod(argv[++i], &end);
      if (*end || !(flush_s >= 0.001 && flush_s <= 86400 * 365)) {
        cli_error("replay", "--flush-interval '%s': want seconds from 0.001 to 365 days", argv[i]);
        return CLI_USAGE;
      }
    } else if (strcmp(a, "--ndjson") == 0) {
      r.ndjson = 1;
    } else if (strcmp(a, "--progress") == 0 || strcmp(a, "--no-progress") == 0) {
      show_progress = a[2] == 'p';
    } else if ((a[0] == '-' && a[1] != '\0') || input) {
      cli_error("replay", "unexpected argument '%s' (see gatelog replay --help)", a);
      return CLI_USAGE;
    } else {
      input = a;
    }
  }
  if (script == NULL || input == NULL) {
    cli_error("replay", "%s (see gatelog replay --help)",
              script ? "no events file given" : "--script is required");
    return CLI_USAGE;
  }
  if (r.out_dir && mkdir(r.out_dir, 0777) != 0 && errno != EEXIST) {
    cli_error("replay", "--out %s: %s", r.out_dir, strerror(errno));
    return CLI_FAILED;
  }
  FILE *in = strcmp(input, "-") == 0 ? stdin : fopen(input, "r");
  if (in == NULL) {
    cli_error("replay", "%s: %s", input, strerror(errno));
    return CLI_FAILED;
  }
  struct stat sb;
  off_t size = fstat(fileno(in), &sb) == 0 && S_ISREG(sb.st_mode) ? sb.st_size : -1;
  if (show_progress < 0) show_progress = isatty(STDERR_FILENO) && size >= (1 << 20);
  r.flush_ns = (uint64_t)(flush_s * 1e9);

  cli_offline_options opts = {"replay", script, lua_path, 0, on_end, &r};
  if (cli_offline_open(&r.o, &opts, on_batch, &r) != 0) {
    cli_error("replay", "%s", r.o.error);
    if (in != stdin) fclose(in);
    return CLI_FAILED;
  }
  int rc = run(&r, in, strcmp(input, "-") == 0 ? "<stdin>" : input, show_progress, size);
  if (in != stdin) fclose(in);
  cli_offline_close(&r.o); /* what is still open ends now, as at a gateway's close */
  idmap_free(&r.ids);
  tally_free(&r.bytes);
  fflush(stdout);
  summary(&r);
  if (r.o.bad_payloads || r.failed) rc = CLI_FAILED;
  return rc;
}
