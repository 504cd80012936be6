/* docs/options.md's options table and options.def must agree: the same
 * options, the same Lua names and units, the same defaults; and its list
 * of options a script cannot set must be the table's. (The file is
 * generated from the table by tools/docs/options_md.c: this reads it as a
 * reader would, so a generator that says the wrong thing fails here.) Also what the table
 * drives: gatelog_options_init's defaults and gatelog_new's ranges. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "options.h"

static char *read_all(const char *path) {
  FILE *f = fopen(path, "rb");
  if (f == NULL) return NULL;
  fseek(f, 0, SEEK_END);
  long len = ftell(f);
  rewind(f);
  char *text = malloc((size_t)len + 1);
  if (text && fread(text, 1, (size_t)len, f) != (size_t)len) {
    free(text);
    text = NULL;
  }
  if (text) text[len] = '\0';
  fclose(f);
  return text;
}

/* The first `name` of s into out; the text after it, or NULL. */
static const char *quoted(const char *s, char *out, size_t n) {
  const char *a = strchr(s, '`'), *b = a ? strchr(a + 1, '`') : NULL;
  if (b == NULL || (size_t)(b - a) > n) return NULL;
  memcpy(out, a + 1, (size_t)(b - a - 1));
  out[b - a - 1] = '\0';
  return b + 1;
}

/* The docs' default as C units, or -1 if it does not read as o's. */
static int64_t readme_default(const gl_option *o, const char *cell) {
  char want[32];
  char *end;
  int64_t v;
  switch (o->type) {
  case GL_T_BOOL:
    v = strncmp(cell, "on", 2) == 0 ? 1 : strncmp(cell, "off", 3) == 0 ? 0 : -1;
    end = (char *)cell + (v == 1 ? 2 : 3);
    break;
  case GL_T_ENUM:
    for (v = 0; v <= o->max; v++) {
      const char *p = o->names;
      for (int64_t i = 0; i < v; i++) p += strcspn(p, " ") + 1;
      snprintf(want, sizeof(want), "\"%.*s\"", (int)strcspn(p, " "), p);
      if (strstr(cell, want)) return v;
    }
    return -1;
  case GL_T_INT:
    v = (int64_t)strtoll(cell, &end, 10);
    if (end == cell) return -1;
    if (strncmp(end, " KiB", 4) == 0) v <<= 10, end += 4;
    if (strncmp(end, " MiB", 4) == 0) v <<= 20, end += 4;
    if (strncmp(end, " GiB", 4) == 0) v <<= 30, end += 4;
    break;
  default:
    return o->def; /* a path or a function: prose, nothing to compare */
  }
  return *end == '\0' || strncmp(end, " (", 2) == 0 ? v : -1;
}

/* The trimmed cells of a table row, at most n of them; how many. */
static int split_row(char *row, char **cells, int n) {
  int k = 0;
  char *save;
  for (char *c = strtok_r(row, "|", &save); c && k < n; c = strtok_r(NULL, "|", &save)) {
    size_t len = strlen(c);
    while (len > 0 && c[len - 1] == ' ') c[--len] = '\0';
    cells[k++] = c + strspn(c, " ");
  }
  return k;
}

/* One row of the table: | `field`[, ...] | `lua` [(unit)] | default | meaning | */
static void check_row(char *row, int *seen) {
  char field[64], lua[64];
  char *cells[4];
  if (split_row(row, cells, 4) != 4 || !quoted(cells[0], field, sizeof(field)) ||
      !quoted(cells[1], lua, sizeof(lua))) {
    CHECK(!"a docs/options.md row: | `field` | `lua` | default | meaning |");
    return;
  }
  const gl_option *o = gl_option_find(lua);
  if (o == NULL || strcmp(o->field, field) != 0) {
    fprintf(stderr, "docs/options.md lists %s (%s), options.def does not\n", field, lua);
    CHECK(0);
    return;
  }
  seen[o - gl_options]++;
  CHECK((o->unit == GL_U_MS) == (strstr(cells[1], "(s)") != NULL));
  CHECK((o->unit == GL_U_BYTES) == (strstr(cells[1], "(bytes)") != NULL));
  if (readme_default(o, cells[2]) != o->def) {
    fprintf(stderr, "docs/options.md's default of %s is '%s', options.def's %lld\n", field, cells[2],
            (long long)o->def);
    CHECK(0);
  }
}

/* "`a`, `b` ... are options only": exactly the options a script cannot set. */
static void check_options_only(const char *text) {
  int only[64] = {0};
  char lua[64];
  const char *end = strstr(text, "are options only");
  CHECK(end != NULL && gl_options_count <= 64);
  for (const char *p = text; end && (p = quoted(p, lua, sizeof(lua))) && p <= end;) {
    const gl_option *o = gl_option_find(lua);
    if (o == NULL || o->scope != GL_S_HOST) fprintf(stderr, "docs/options.md: %s is not options only\n", lua);
    CHECK(o != NULL && o->scope == GL_S_HOST);
    if (o) only[o - gl_options]++;
  }
  for (size_t i = 0; i < gl_options_count; i++)
    if ((gl_options[i].scope == GL_S_HOST) != (only[i] == 1)) {
      fprintf(stderr, "docs/options.md: %s %s listed as options only\n", gl_options[i].lua,
              only[i] ? "is" : "is not");
      CHECK(0);
    }
}

static void test_docs(void) {
  char *text = read_all(GATELOG_SOURCE_DIR "/docs/options.md");
  int seen[64] = {0};
  CHECK(text != NULL && gl_options_count <= 64);
  char *line = text ? strstr(text, "\n## The options\n") : NULL;
  line = line ? strstr(line, "\n|---") : NULL; /* under the header row */
  CHECK(line != NULL);
  if (line == NULL) {
    free(text);
    return;
  }
  char *next;
  for (line = strchr(line + 1, '\n') + 1; line[0] == '|'; line = next) {
    next = line + strcspn(line, "\n");
    if (*next) *next++ = '\0';
    check_row(line, seen);
  }
  for (size_t i = 0; i < gl_options_count; i++)
    if (seen[i] != 1) {
      fprintf(stderr, "docs/options.md lists %s %d times\n", gl_options[i].field, seen[i]);
      CHECK(0);
    }
  check_options_only(line);
  free(text);
}

static void test_defaults(void) {
  gatelog_options_t o;
  gatelog_options_init(&o);
  CHECK(o.flush_interval_ms == 60000 && o.batch_max_records == 100 && o.queue_max_records == 500);
  CHECK(o.udp_idle_timeout_ms == 120000 && o.log_level == GATELOG_LOG_INFO && o.sandbox == 1);
  CHECK(o.script_memory_max == 64u << 20 && o.compress_nice == 10 && o.script == NULL);
  for (size_t i = 0; i < gl_options_count; i++) {
    const gl_option *d = &gl_options[i];
    char why[160];
    CHECK(gl_option_find(d->lua) == d); /* Lua names are unique */
    if (d->type == GL_T_STR || d->type == GL_T_CODE) continue;
    CHECK(gl_option_get(d, &o, d->off) == d->def);
    CHECK(gl_option_check(d, d->def, why, sizeof(why)) == 0);
  }
}

/* gatelog_new holds C options to the same ranges. */
static void expect_bad(const gatelog_options_t *o, const char *says) {
  uv_loop_t loop;
  gatelog_t *gl = NULL;
  CHECK(uv_loop_init(&loop) == 0);
  CHECK(gatelog_new(&loop, o, &gl) == GATELOG_ECONFIG && gl == NULL);
  CHECK_STR(gatelog_last_error(NULL), says);
  CHECK(uv_loop_close(&loop) == 0);
}

static void test_c_ranges(void) {
  gatelog_options_t o;
  gatelog_options_init(&o);
  o.script = GATELOG_SOURCE_DIR "/spec/fixtures/capture.lua";
  o.flush_interval_ms = GL_YEAR_MS + 1;
  expect_bad(&o, "options: flush_interval_ms must be from 1 ms to 365 days");
  o.flush_interval_ms = GL_YEAR_MS;
  o.compress_nice = 20;
  expect_bad(&o, "options: compress_nice must be from 0 to 19");
  o.compress_nice = 10;
  o.table_full = 2;
  expect_bad(&o, "options: table_full must be from 0 to 1 (evict refuse)");
}

#define TESTS(TEST) \
  TEST(defaults)    \
  TEST(c_ranges)    \
  TEST(docs)
CHECK_MAIN(TESTS)
