/* The replay's event format (see events.c). */
#ifndef GATELOG_CLI_EVENTS_H
#define GATELOG_CLI_EVENTS_H

#include "cli.h"

typedef enum { EV_START, EV_BYTES, EV_END, EV_PACKET } cli_event_kind;

typedef struct cli_event {
  cli_event_kind kind;
  uint64_t t_ns;    /* wall-clock nanoseconds since the epoch */
  int udp;          /* start: proto udp; packet: always */
  const char *id;   /* points into the parsed line; NULL for a packet without one */
  int64_t resource;
  struct sockaddr_storage src, dst;
  uint64_t tx, rx;
} cli_event;

/* 0, or -1 with the reason in err (which key, what it must be). */
int cli_event_parse(const json_value *obj, cli_event *ev, char *err, size_t errlen);

#endif
