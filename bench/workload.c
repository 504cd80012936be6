#include "workload.h"

#include <arpa/inet.h>
#include <string.h>

uint64_t workload_rand(workload *w) {
  /* xorshift64*: fast, deterministic, good enough for traffic shapes */
  w->rng ^= w->rng >> 12;
  w->rng ^= w->rng << 25;
  w->rng ^= w->rng >> 27;
  return w->rng * 0x2545f4914f6cdd1dULL;
}

void workload_init(workload *w, uint64_t seed) {
  w->rng = seed ? seed : 1;
  w->made = 0;
}

static void addr4(struct sockaddr_storage *ss, uint32_t ip, uint16_t port) {
  struct sockaddr_in *in = (struct sockaddr_in *)ss;
  memset(ss, 0, sizeof(*ss));
  in->sin_family = AF_INET;
  in->sin_addr.s_addr = htonl(ip);
  in->sin_port = htons(port);
}

static void addr6(struct sockaddr_storage *ss, uint64_t hi, uint64_t lo, uint16_t port) {
  struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
  memset(ss, 0, sizeof(*ss));
  in6->sin6_family = AF_INET6;
  in6->sin6_addr.s6_addr[0] = 0x20;
  in6->sin6_addr.s6_addr[1] = 0x01;
  in6->sin6_addr.s6_addr[2] = 0x0d;
  in6->sin6_addr.s6_addr[3] = 0xb8;
  memcpy(&in6->sin6_addr.s6_addr[4], &hi, 4);
  memcpy(&in6->sin6_addr.s6_addr[8], &lo, 8);
  in6->sin6_port = htons(port);
}

void workload_next(workload *w, session_plan *p) {
  static const uint16_t services[] = {443, 443, 443, 80, 22, 8443, 5432, 3306};
  uint64_t r = workload_rand(w);
  memset(p, 0, sizeof(*p));
  p->udp = r % 100 < 15;
  int v6 = (r >> 8) % 100 < 5;
  uint16_t sport = (uint16_t)(1024 + (r >> 16) % 64000);
  uint16_t dport = p->udp ? ((r >> 32) % 2 ? 53 : 51820) : services[(r >> 32) % 8];
  uint32_t client = (uint32_t)workload_rand(w);
  if (v6) {
    addr6(&p->src, client, workload_rand(w), sport);
    addr6(&p->dst, 0x22, (r >> 40) % 64, dport);
  } else {
    addr4(&p->src, 0xc6336400u | (client & 0xffff), sport); /* 198.51.0.0/16-ish */
    addr4(&p->dst, 0x0a000000u | ((r >> 40) % 64), dport);
  }
  p->resource = (int64_t)((r >> 48) % 200);
  p->steps = p->udp ? 2 + (int)((r >> 56) % 9) : 1 + (int)((r >> 56) % 5);
  w->made++;
}

uint64_t workload_bytes(workload *w) {
  uint64_t r = workload_rand(w);
  if (r % 100 < 5) return 100000 + r % 5000000;
  return 40 + (r >> 8) % 4000;
}
