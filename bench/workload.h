/* The benchmark's traffic: sessions a gateway would see, from a seeded
 * generator so that every run and every variant sees the same ones. */
#ifndef GATELOG_BENCH_WORKLOAD_H
#define GATELOG_BENCH_WORKLOAD_H

#include <stdint.h>
#include <sys/socket.h>

#include "gatelog.h"

typedef struct session_plan {
  struct sockaddr_storage src, dst;
  int64_t resource;
  int udp;
  int steps;       /* packets (UDP) or byte updates (TCP) still to come */
  gatelog_sid_t sid;
} session_plan;

typedef struct workload {
  uint64_t rng;
  uint64_t made;   /* sessions planned so far */
} workload;

void workload_init(workload *w, uint64_t seed);
/* Plan the next session: 85% TCP, 15% UDP flows of 2 to 10 packets, 5%
 * IPv6, varied addresses, ports, resources, step counts. */
void workload_next(workload *w, session_plan *p);
/* A byte count for one step: mostly small, sometimes large. */
uint64_t workload_bytes(workload *w);
uint64_t workload_rand(workload *w);

#endif
