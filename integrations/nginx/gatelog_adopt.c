/* Spools that no worker holds, delivered by a worker that finds them. */
#include "gatelog_adopt.h"

#include <dirent.h>
#include <stdio.h>
#include <string.h>

#include "gatelog_bridge.h"

static struct {
  gatelog_t *gl;
  char dir[4096];
} adopted[GLA_MAX];
static int nadopted;

/* The directory holds at least one segment file. */
static int has_segments(const char *dir) {
  DIR *d = opendir(dir);
  if (d == NULL) return 0;
  int found = 0;
  struct dirent *e;
  while (!found && (e = readdir(d)) != NULL) found = strncmp(e->d_name, "seg-", 4) == 0;
  closedir(d);
  return found;
}

int gla_scan(const char *base, const char *own, const gatelog_options_t *opts,
             void (*log)(void *data, const char *dir),
             void (*fail)(void *data, const char *dir, const char *why), void *data) {
  DIR *d = opendir(base);
  if (d == NULL) return nadopted;
  struct dirent *e;
  char why[1024];
  while (nadopted < GLA_MAX && (e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.') continue;
    char *dir = adopted[nadopted].dir;
    if (snprintf(dir, sizeof(adopted[0].dir), "%s/%s", base, e->d_name) >= (int)sizeof(adopted[0].dir))
      continue;
    if (strcmp(dir, own) == 0 || !has_segments(dir)) continue;
    gatelog_options_t o = *opts;
    o.spool_dir = dir;
    gatelog_producer_t *p;
    int rc = glb_start(&o, &adopted[nadopted].gl, &p, why, sizeof(why));
    if (rc == UV_EBUSY) continue; /* a live worker holds it */
    if (rc) {
      fail(data, dir, why);
      continue;
    }
    gatelog_producer_free(p); /* it only sends what its spool holds */
    nadopted++;
    log(data, dir);
  }
  closedir(d);
  return nadopted;
}

int gla_poll(int all, uint32_t drain_ms, void (*done)(void *data, const char *dir), void *data) {
  int kept = 0;
  for (int i = 0; i < nadopted; i++) {
    gatelog_stats_t st;
    int idle = gatelog_stats(adopted[i].gl, &st) == 0 && st.records_queued == 0 &&
               st.spool_batches == 0;
    if (all || idle) {
      gatelog_stop_thread(adopted[i].gl, all ? drain_ms : 0);
      if (idle && done) done(data, adopted[i].dir);
    } else {
      adopted[kept++] = adopted[i];
    }
  }
  nadopted = kept;
  return nadopted;
}
