/* gatelog_set_attr and gatelog_p_set_attr: fields the gateway attaches to
 * a session reach filter, enrich and the record; bad input is refused with
 * its error and changes nothing. The policy (spec/fixtures/attrs.lua)
 * drops records whose field drop is "yes", copies upstreamAddr into
 * enrichSaw, upper-cases serverName, and appends records to a file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "gatelog.h"

static char output[256];

static void quiet(void *data, int level, const char *msg) {
  (void)data;
  if (level <= GATELOG_LOG_WARN) fprintf(stderr, "gatelog: %s\n", msg);
}

static void options(gatelog_options_t *o) {
  snprintf(output, sizeof(output), "/tmp/gatelog-attrs-%d.ndjson", (int)getpid());
  unlink(output);
  setenv("GATELOG_OUTPUT", output, 1);
  gatelog_options_init(o);
  o->script = GATELOG_SOURCE_DIR "/spec/fixtures/attrs.lua";
  o->log = quiet;
}

static struct sockaddr_storage addr(int port) {
  struct sockaddr_storage ss;
  uv_ip4_addr("192.0.2.7", port, (struct sockaddr_in *)&ss);
  return ss;
}

/* The output's line of session sid ("" if none), in a static buffer. */
static const char *line_of(gatelog_sid_t sid) {
  static char line[4096];
  char key[40];
  snprintf(key, sizeof(key), "\"sessionId\":\"%016llx\"", (unsigned long long)sid);
  FILE *f = fopen(output, "r");
  if (f == NULL) return "";
  while (fgets(line, sizeof(line), f))
    if (strstr(line, key)) {
      fclose(f);
      return line;
    }
  fclose(f);
  return "";
}

static int has(const char *line, const char *field) { return strstr(line, field) != NULL; }

static void on_closed(gatelog_t *gl, void *data) {
  (void)gl;
  *(int *)data = 1;
}

static void test_loop_thread(void) {
  uv_loop_t loop;
  gatelog_options_t o;
  gatelog_t *gl;
  options(&o);
  CHECK(uv_loop_init(&loop) == 0);
  CHECK(gatelog_new(&loop, &o, &gl) == 0);
  struct sockaddr_storage src = addr(40000), dst = addr(443);
  gatelog_sid_t a, b, c;
  CHECK(gatelog_tcp_start(gl, 1, (struct sockaddr *)&src, (struct sockaddr *)&dst, &a) == 0);
  CHECK(gatelog_udp_track(gl, 2, (struct sockaddr *)&src, (struct sockaddr *)&dst, &b) == 0);
  CHECK(gatelog_tcp_start(gl, 3, (struct sockaddr *)&src, (struct sockaddr *)&dst, &c) == 0);

  CHECK(gatelog_set_attr(gl, a, "upstreamAddr", "10.0.0.9:443") == 0);
  CHECK(gatelog_set_attr(gl, a, "upstreamAddr", "10.0.0.9:8443") == 0); /* replaces */
  CHECK(gatelog_set_attr(gl, a, "serverName", "example.org") == 0);
  CHECK(gatelog_set_attr(gl, b, "drop", "yes") == 0);
  /* Refused, and nothing changes. */
  CHECK(gatelog_set_attr(gl, a, "bad-key", "x") == UV_EINVAL);
  CHECK(gatelog_set_attr(gl, a, "", "x") == UV_EINVAL);
  CHECK(gatelog_set_attr(gl, a, "sessionId", "x") == UV_EINVAL);
  CHECK(gatelog_set_attr(gl, a, "endReason", "x") == UV_EINVAL);
  CHECK(gatelog_set_attr(gl, a, NULL, "x") == UV_EINVAL);
  CHECK(gatelog_set_attr(gl, a, "k", NULL) == UV_EINVAL);
  char big[1026];
  memset(big, 'v', sizeof(big) - 1);
  big[1025] = '\0';
  CHECK(gatelog_set_attr(gl, a, "big", big) == UV_EINVAL);
  big[1024] = '\0';
  CHECK(gatelog_set_attr(gl, c, "big", big) == 0); /* 1024 bytes fit */
  CHECK(gatelog_set_attr(gl, 12345, "k", "v") == GATELOG_ENOSESSION);
  char key[8];
  for (int i = 1; i < 16; i++) {
    snprintf(key, sizeof(key), "f%d", i);
    CHECK(gatelog_set_attr(gl, c, key, "1") == 0);
  }
  CHECK(gatelog_set_attr(gl, c, "f16", "1") == UV_ENOSPC);
  CHECK(gatelog_set_attr(gl, c, "f1", "2") == 0); /* replacing still works */

  CHECK(gatelog_tcp_end_reason(gl, a, "upstream_failed") == 0);
  CHECK(gatelog_udp_end(gl, b) == 0);
  CHECK(gatelog_set_attr(gl, a, "late", "x") == GATELOG_ENOSESSION); /* ended */
  int closed = 0;
  CHECK(gatelog_close(gl, 5000, on_closed, &closed) == 0);
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK(closed);
  CHECK(uv_loop_close(&loop) == 0);

  const char *la = line_of(a);
  CHECK(has(la, "\"upstreamAddr\":\"10.0.0.9:8443\""));
  CHECK(has(la, "\"enrichSaw\":\"10.0.0.9:8443\""));
  CHECK(has(la, "\"serverName\":\"EXAMPLE.ORG\""));
  CHECK(!has(la, "bad-key") && !has(la, "late"));
  CHECK(strcmp(line_of(b), "") == 0); /* filter saw drop = "yes" */
  const char *lc = line_of(c);
  CHECK(has(lc, "\"enrichSaw\":\"nothing\""));
  CHECK(has(lc, "\"f1\":\"2\"") && has(lc, "\"f15\":\"1\"") && !has(lc, "\"f16\""));
  CHECK(has(lc, "vvvvvvvv"));
  unlink(output);
}

static void test_producer(void) {
  gatelog_options_t o;
  gatelog_t *gl;
  gatelog_producer_t *p;
  options(&o);
  CHECK(gatelog_start_thread(&o, &gl) == 0);
  CHECK(gatelog_producer_new(gl, &p) == 0);
  struct sockaddr_storage src = addr(40001), dst = addr(443);
  gatelog_sid_t a, b;
  CHECK(gatelog_p_tcp_start(p, 1, (struct sockaddr *)&src, (struct sockaddr *)&dst, &a) == 0);
  CHECK(gatelog_p_tcp_start(p, 1, (struct sockaddr *)&src, (struct sockaddr *)&dst, &b) == 0);
  CHECK(gatelog_p_set_attr(p, a, "upstreamAddr", "10.0.0.1:22") == 0);
  CHECK(gatelog_p_set_attr(p, b, "drop", "yes") == 0);
  /* What the caller's thread can check is refused at once. */
  CHECK(gatelog_p_set_attr(p, a, "sourceAddr", "x") == UV_EINVAL);
  CHECK(gatelog_p_set_attr(p, a, "a b", "x") == UV_EINVAL);
  CHECK(gatelog_p_set_attr(p, 0, "k", "v") == GATELOG_ENOSESSION);
  CHECK(gatelog_p_set_attr(NULL, a, "k", "v") == UV_EINVAL);
  /* An unknown session is found out on the loop: counted. */
  CHECK(gatelog_p_set_attr(p, 999, "k", "v") == 0);
  CHECK(gatelog_p_tcp_end(p, a) == 0);
  CHECK(gatelog_p_tcp_end(p, b) == 0);
  CHECK(gatelog_flush(gl) == 0);
  gatelog_stats_t st;
  CHECK(gatelog_stats(gl, &st) == 0);
  CHECK(st.producer_failed == 1);
  gatelog_producer_free(p);
  CHECK(gatelog_stop_thread(gl, 5000) == 0);
  CHECK(has(line_of(a), "\"upstreamAddr\":\"10.0.0.1:22\""));
  CHECK(strcmp(line_of(b), "") == 0);
  unlink(output);
}

#define TESTS(TEST)   \
  TEST(loop_thread) \
  TEST(producer)
CHECK_MAIN(TESTS)
