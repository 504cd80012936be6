/* gatelog, the command-line tool: what its commands share. */
#ifndef GATELOG_CLI_H
#define GATELOG_CLI_H

#include <stdint.h>

#include "gatelog.h"
#include "json.h"

/* Exit codes of every command. */
enum { CLI_OK = 0, CLI_FAILED = 1, CLI_USAGE = 2 };

/* payload.c: a payload of the default codec, decoded. */
typedef struct cli_payload {
  char *json;       /* the inflated JSON text, NUL-terminated */
  size_t json_len;
  size_t zlib_len;  /* bytes after base64 decoding */
  json_value *doc;  /* the parsed array of records (points into json) */
} cli_payload;

/* 0, or -1 with "base64: ...", "zlib: ..." or "JSON: ..." in err. */
int cli_payload_decode(const char *text, size_t len, cli_payload *out, char *err, size_t errlen);
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
};

typedef struct cli_offline_options {
  const char *script;
  const char *lua_path;
  uint64_t start_ns;      /* the clock's first reading */
} cli_offline_options;

/* 0, or -1 with gatelog_last_error(NULL) telling why. */
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
/* Read a whole file ("-": standard input); NULL with errno set on error. */
char *cli_read_file(const char *path, size_t *len);
/* "ip:port" or "[ipv6]:port" into a sockaddr; 0 or -1. */
int cli_parse_addr(const char *s, struct sockaddr_storage *out);

#endif
