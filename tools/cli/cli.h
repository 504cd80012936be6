/* gatelog, the command-line tool: what its commands share. */
#ifndef GATELOG_CLI_H
#define GATELOG_CLI_H

#include <stdint.h>

#include "gatelog.h"
#include "json.h"

/* Exit codes of every command. */
enum { CLI_OK = 0, CLI_FAILED = 1, CLI_USAGE = 2 };

/* The bounds of what the commands read (README, "gatelog: the
 * command-line tool"); past one, the input is refused with the reason.
 * They keep what a command holds in memory proportional to the bound,
 * not to the input, and every number inside what the core and a JSON
 * reader hold exactly. */
#define CLI_LINE_MAX (1u << 20)          /* replay: an event line, its newline aside */
#define CLI_LINE_VALUES 65536            /* replay: JSON values in one line */
#define CLI_T_END_S 7258118400ull        /* replay: times are before 2200-01-01T00:00:00Z */
#define CLI_BYTES_MAX ((1ull << 53) - 1) /* replay: a session's bytes in each direction */
#define CLI_TICKS_MAX 100000u            /* replay: flush ticks stepped between two events */
#define CLI_PAYLOAD_MAX (16u << 20)      /* decode: the payload's text */
#define CLI_JSON_MAX (16u << 20)         /* decode: the JSON it inflates to */
#define CLI_JSON_VALUES (1u << 20)       /* decode: the values in that JSON */

/* payload.c: a payload of the default codec, decoded. */
typedef struct cli_payload {
  char *json;       /* the inflated JSON text, NUL-terminated */
  size_t json_len;
  size_t zlib_len;  /* bytes after base64 decoding */
  json_value *doc;  /* the parsed array of records (points into json) */
} cli_payload;

/* What a decode may produce: the inflated JSON's bytes and its values (0:
 * the built-in 1 GiB and no count, for the core's own payloads). */
typedef struct cli_payload_limits {
  size_t json_max;
  size_t values_max;
} cli_payload_limits;

/* 0, or -1 with "base64: ...", "zlib: ..." or "JSON: ..." in err. */
int cli_payload_decode(const char *text, size_t len, const cli_payload_limits *limits,
                       cli_payload *out, char *err, size_t errlen);
void cli_payload_free(cli_payload *p);

/* offline.c: the real core on a loop of its own, with a virtual clock,
 * its batches captured instead of sent. */
typedef struct cli_offline cli_offline;
typedef void (*cli_batch_fn)(cli_offline *o, const char *payload, size_t len,
                             const cli_payload *decoded, void *data);

struct cli_offline {
  uv_loop_t loop;
  gatelog_t *gl;
  uint64_t now_ns;        /* the clock the core sees; only moves forward */
  cli_batch_fn on_batch;
  void *data;
  uint64_t batches;       /* captured */
  int bad_payloads;       /* batches whose payload did not decode (a core bug) */
  gatelog_stats_t final;  /* the counters at the close */
  int closed;
  char error[1024];       /* why cli_offline_open failed */
};

typedef struct cli_offline_options {
  const char *cmd;        /* check, replay: for messages */
  const char *script;
  const char *lua_path;
  uint64_t start_ns;      /* the clock's first reading */
  gatelog_end_fn on_end;  /* optional: every session that ends */
  void *on_end_data;
} cli_offline_options;

/* 0, or -1 with o->error telling why. */
int cli_offline_open(cli_offline *o, const cli_offline_options *opts, cli_batch_fn fn, void *data);
/* Run the loop until every sealed batch has been captured. */
void cli_offline_settle(cli_offline *o);
/* Move the clock forward to t (never back) and end what has idled out. */
void cli_offline_advance(cli_offline *o, uint64_t t);
/* gatelog_close: open sessions end with "shutdown"; everything is
 * captured; o->final holds the counters. */
void cli_offline_close(cli_offline *o);

/* The commands. */
int cli_check(int argc, char **argv);
int cli_replay(int argc, char **argv);
int cli_decode(int argc, char **argv);
void cli_check_usage(FILE *out);
void cli_replay_usage(FILE *out);
void cli_decode_usage(FILE *out);

/* main.c: "gatelog CMD: msg" on standard error. */
void cli_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Read a whole file ("-": standard input) of at most max bytes; NULL with
 * errno set on error (EFBIG: longer than max). */
char *cli_read_file(const char *path, size_t max, size_t *len);
/* One line of f, its newline removed, into buf (which holds max + 1
 * bytes; a NUL is added): 1 and its length in *len, 0 at the end of the
 * input, -1 if it is longer than max bytes (read up to there), -2 on a
 * read error (errno). A last line without a newline counts. */
int cli_read_line(FILE *f, char *buf, size_t max, size_t *len);
/* "ip:port" or "[ipv6]:port" into a sockaddr; 0 or -1. */
int cli_parse_addr(const char *s, struct sockaddr_storage *out);

#endif
