/* The sandbox's own C: the bounded pattern functions and sort give
 * LuaJIT's results (compared on generated patterns and subjects) and stop
 * at the time budget; files that are not regular are refused without
 * blocking. Behaviour through a whole core is in spec/hostile/. */
#include <fcntl.h>
#include <lauxlib.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "check.h"
#include "gatelog.h"
#include "runtime/bounded.h"
#include "prims/pool.h"
#include "runtime/budget.h"
#include "util/file.h"

/* A state with LuaJIT's string and table libraries and, in the global
 * table B, the bounded find, match, gmatch, gsub and sort. */
static lua_State *both_state(gl_budget *b) {
  lua_State *L = b ? gl_budget_newstate(b) : luaL_newstate();
  luaL_openlibs(L);
  lua_newtable(L);
  gl_bounded_patterns(L, -1, b);
  gl_bounded_sort(L, -1, b);
  lua_setglobal(L, "B");
  return L;
}

/* Run Lua code; print its error. 0 if it ran. */
static int run(lua_State *L, const char *code) {
  if (luaL_loadstring(L, code) == 0 && lua_pcall(L, 0, 0, 0) == 0) return 0;
  fprintf(stderr, "%s\n", lua_tostring(L, -1));
  lua_pop(L, 1);
  return -1;
}

/* Random patterns of every kind of item, on subjects over a small
 * alphabet, through find (plain and not, every init), match, gmatch and
 * gsub (string, function and table replacements, a limit): the results,
 * or the error messages, must be LuaJIT's. */
static const char differential[] =
    "local S, B = string, B\n"
    "math.randomseed(12)\n"
    "local alphabet = { 'a', 'b', 'c', 'f', 'x', 'z', 'A', 'F', 'Z', '0', '9', '_', '(', ')', '[',\n"
    "  ']', '%', '-', '.', ' ', '\\n', '\\0', '\\127', '\\255', '!', '~' }\n"
    "local items = { 'a', 'b', '.', '%a', '%d', '%s', '%w', '%x', '%p', '%u', '%l', '%c', '%g',\n"
    "  '%z', '%A', '%S', '%W', '%D', '%X', '%P', '%C', '%G', '%L', '%U', '%e', '%%', '%(', '%.', '[ab]', '[^a]', '[a-c]', '[%a_]', '[%]]', '[]a]',\n"
    "  '[^]]', '%b()', '%f[%a]', '%f[%A]', '%1', '(', ')', '()', '$', '^', '%', '[a', '%b', '%f',\n"
    "  '\\0', '%Z', '[%z]' }\n"
    "local quant = { '', '', '', '*', '+', '-', '?' }\n"
    "local function pick(t) return t[math.random(#t)] end\n"
    "local function subject()\n"
    "  local n, out = math.random(0, 12), {}\n"
    "  for i = 1, n do out[i] = pick(alphabet) end\n"
    "  return table.concat(out)\n"
    "end\n"
    "local function pattern()\n"
    "  local n, out = math.random(0, 6), {}\n"
    "  if math.random(5) == 1 then out[1] = '^' end\n"
    "  for i = 1, n do\n"
    "    local it = pick(items)\n"
    "    if #it <= 4 and it ~= '(' and it ~= ')' and it ~= '()' then it = it .. pick(quant) end\n"
    "    out[#out + 1] = it\n"
    "  end\n"
    "  return table.concat(out)\n"
    "end\n"
    "local function strip(msg) return (tostring(msg):gsub('^[^:]*:%d+: ', '')) end\n"
    "local function pack(ok, ...)\n"
    "  if not ok then return 'error: ' .. strip(...) end\n"
    "  local t = { n = select('#', ...), ... }\n"
    "  for i = 1, t.n do t[i] = type(t[i]) .. ':' .. tostring(t[i]) end\n"
    "  return table.concat(t, ',', 1, t.n)\n"
    "end\n"
    "local function gm(f, s, p)\n"
    "  local out = {}\n"
    "  for a, b in f(s, p) do\n"
    "    out[#out + 1] = tostring(a) .. '|' .. tostring(b)\n"
    "    if #out > 50 then break end\n"
    "  end\n"
    "  return table.concat(out, ';')\n"
    "end\n"
    "local repls = { '<%0>', '%1%1', 'x%', '%%', '', 5,\n"
    "  function(a, b) if a == 'a' then return nil end return '{' .. tostring(a) .. '}' end,\n"
    "  { a = 'A', b = false, ['('] = 1 }, function() return {} end }\n"
    "local diffs, cases = 0, 0\n"
    "local function same(what, s, p, a, b)\n"
    "  cases = cases + 1\n"
    "  if a ~= b then\n"
    "    diffs = diffs + 1\n"
    "    if diffs <= 10 then\n"
    "      print(('%s(%q, %q): LuaJIT %s, bounded %s'):format(what, s, p, a, b))\n"
    "    end\n"
    "  end\n"
    "end\n"
    "for _ = 1, 20000 do\n"
    "  local s, p = subject(), pattern()\n"
    "  local init = math.random(-6, 14)\n"
    "  local plain = math.random(4) == 1\n"
    "  same('find', s, p, pack(pcall(S.find, s, p, init, plain)), pack(pcall(B.find, s, p, init, plain)))\n"
    "  same('find', s, p, pack(pcall(S.find, s, p)), pack(pcall(B.find, s, p)))\n"
    "  same('match', s, p, pack(pcall(S.match, s, p, init)), pack(pcall(B.match, s, p, init)))\n"
    "  same('gmatch', s, p, pack(pcall(gm, S.gmatch, s, p)), pack(pcall(gm, B.gmatch, s, p)))\n"
    "  local r, n = pick(repls), math.random(-1, 4)\n"
    "  if n == 4 then n = nil end\n"
    "  same('gsub', s, p, pack(pcall(S.gsub, s, p, r, n)), pack(pcall(B.gsub, s, p, r, n)))\n"
    "end\n"
    "-- Arguments: types, a missing replacement, numbers as strings.\n"
    "for _, a in ipairs({ { 12, 2 }, { 'a1', 1 }, { nil, 'a' }, { 'a', nil }, { 'aaa', 'a', true } }) do\n"
    "  same('find', a[1], a[2], pack(pcall(S.find, a[1], a[2])), pack(pcall(B.find, a[1], a[2])))\n"
    "  same('gsub', a[1], a[2], pack(pcall(S.gsub, a[1], a[2], a[3])), pack(pcall(B.gsub, a[1], a[2], a[3])))\n"
    "end\n"
    "-- Deep recursion: 'pattern too complex' at the same depth.\n"
    "for _, k in ipairs({ 150, 199, 200, 201, 400 }) do\n"
    "  local s, p = ('a'):rep(k), ('a?'):rep(k)\n"
    "  same('match', s, 'deep ' .. k, pack(pcall(S.match, s, p)), pack(pcall(B.match, s, p)))\n"
    "end\n"
    "assert(diffs == 0, diffs .. ' of ' .. cases .. ' results differ')\n"
    "assert(cases > 100000)\n";

/* Run code in a fresh both_state, without a budget. */
static void run_in_both(const char *code) {
  lua_State *L = both_state(NULL);
  CHECK(run(L, code) == 0);
  lua_close(L);
}

static void test_patterns_differential(void) { run_in_both(differential); }

static const char sort_same[] =
    "math.randomseed(7)\n"
    "for round = 1, 300 do\n"
    "  local n = math.random(0, 300)\n"
    "  local a, b = {}, {}\n"
    "  for i = 1, n do\n"
    "    local v = round % 2 == 0 and math.random(1, 50) or tostring(math.random(1, 50))\n"
    "    a[i], b[i] = v, v\n"
    "  end\n"
    "  local cmp = round % 3 == 0 and function(x, y) return x > y end or nil\n"
    "  table.sort(a, cmp)\n"
    "  B.sort(b, cmp)\n"
    "  for i = 1, n do assert(a[i] == b[i], 'round ' .. round .. ' differs at ' .. i) end\n"
    "end\n"
    "-- Errors: a table to sort, a function to compare, comparable values.\n"
    "assert(not pcall(B.sort, 1))\n"
    "assert(not pcall(B.sort, {}, 1))\n"
    "assert(not pcall(B.sort, { 1, 'x', 2 }))\n"
    "-- An inconsistent comparator cannot take it out of bounds.\n"
    "local t = { 5, 3, 8, 1, 9, 2 }\n"
    "B.sort(t, function() return true end)\n"
    "assert(#t == 6)\n";

static void test_sort_same(void) { run_in_both(sort_same); }

static double cpu_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Each of these runs for far longer than a second in LuaJIT's own
 * functions; under a 10 ms budget each stops with the budget's error. */
static void test_bounded_stop(void) {
  static const char *const runaway[] = {
      "string.find(('a'):rep(3000), ('a*'):rep(4) .. 'b')",
      "string.match(('a'):rep(3000), ('a-'):rep(5) .. 'b')",
      "for _ in string.gmatch(('a'):rep(3000), ('a*'):rep(4) .. 'b') do end",
      "string.gsub(('('):rep(20000), '%b()', '')",
      "string.gsub(('x'):rep(4000), '.', ('y'):rep(4000))",
      "local t = {} for i = 1, 3e5 do t[i] = (i * 7919) % 1000003 end "
      "local c = os.clock() while os.clock() - c < 0.005 do end table.sort(t) table.sort(t) table.sort(t)",
  };
  gl_budget b = {0};
  b.time_ns = 10000000;
  lua_State *L = gl_budget_newstate(&b);
  luaL_openlibs(L);
  lua_getglobal(L, "string");
  gl_bounded_patterns(L, -1, &b);
  lua_getglobal(L, "table");
  gl_bounded_sort(L, -1, &b);
  lua_pop(L, 2);
  gl_budget_arm(L, &b, 1);
  for (size_t i = 0; i < sizeof(runaway) / sizeof(runaway[0]); i++) {
    CHECK(luaL_loadstring(L, runaway[i]) == 0);
    double t0 = cpu_seconds();
    gl_budget_begin(L, &b);
    int status = lua_pcall(L, 0, 0, 0);
    int kind = gl_budget_end(L, &b);
    double spent = cpu_seconds() - t0;
    const char *msg = status ? lua_tostring(L, -1) : "returned";
    if (getenv("GATELOG_TEST_VERBOSE") || kind != GL_BUDGET_TIME || spent > 0.5)
      fprintf(stderr, "%s: %s after %.3f s of CPU\n", runaway[i], msg, spent);
    CHECK(status != 0 && kind == GL_BUDGET_TIME);
    CHECK(msg && strstr(msg, "script budget of 10 ms exceeded") != NULL);
    /* Generous: the budget is 10 ms; a loaded machine's watchdog is late. */
    CHECK(spent < 0.5);
    lua_settop(L, 0);
  }
  gl_budget_release(&b);
  lua_close(L);
}

/* LuaJIT's plain find compares the needle at every place its first
 * byte occurs: minutes for this one. memmem is linear. */
static void test_plain_find_linear(void) {
  lua_State *L = both_state(NULL);
  double t0 = cpu_seconds();
  CHECK(run(L, "local s, n = ('a'):rep(4e6), ('a'):rep(2e6) .. 'b'\n"
               "assert(B.find(s, n, 1, true) == nil and B.find(s, n) == nil)\n"
               "assert(B.find(s .. 'b', n, 1, true) == 2e6 + 1)\n") == 0);
  CHECK(cpu_seconds() - t0 < 2);
  lua_close(L);
}

static void test_file_regular(void) {
  char dir[] = "/tmp/gatelog-test-XXXXXX";
  CHECK(mkdtemp(dir) != NULL);
  char fifo[64], file[64];
  snprintf(fifo, sizeof(fifo), "%s/fifo", dir);
  snprintf(file, sizeof(file), "%s/file", dir);
  CHECK(mkfifo(fifo, 0600) == 0);
  FILE *f = fopen(file, "w");
  CHECK(f != NULL && fputs("text", f) >= 0 && fclose(f) == 0);

  /* A FIFO with no writer would block open(2) and read(2) for good. */
  char *data = NULL;
  size_t len = 0;
  CHECK(gl_file_read_regular(fifo, 100, &data, &len) == UV_EFTYPE);
  CHECK(gl_file_open_regular(fifo, O_WRONLY | O_APPEND, 0) == UV_ENXIO); /* no reader */
  int reader = open(fifo, O_RDONLY | O_NONBLOCK);
  CHECK(gl_file_open_regular(fifo, O_WRONLY | O_APPEND, 0) == UV_EFTYPE);
  close(reader);
  CHECK(gl_file_read_regular(dir, 100, &data, &len) == UV_EISDIR);
  CHECK(gl_file_read_regular("/dev/zero", 100, &data, &len) == UV_EFTYPE);
  CHECK(gl_file_read_regular(file, 3, &data, &len) == UV_EFBIG);
  CHECK(gl_file_read_regular(file, 4, &data, &len) == 0 && len == 4 && strcmp(data, "text") == 0);
  free(data);
  int fd = gl_file_open_regular(file, O_WRONLY | O_APPEND, 0);
  CHECK(fd >= 0 && (fcntl(fd, F_GETFL) & O_NONBLOCK) == 0);
  if (fd >= 0) close(fd);

  unlink(fifo);
  unlink(file);
  rmdir(dir);
}

/* ---- the script's share of the thread pool ----------------------------- */

/* send starts six compressions that take a good part of a second each
 * (level 9 on 8 MB that LZ77 cannot shorten: a 64 KiB random block,
 * repeated beyond zlib's 32 KiB window). */
static const char pool_script[] =
    "local core = require 'gatelog.core'\n"
    "local block = {}\n"
    "for i = 1, 65536 do block[i] = string.char(math.random(0, 255)) end\n"
    "local data = table.concat(block):rep(128)\n"
    "return { send = function(b, done)\n"
    "  for i = 1, 6 do core.zlib(data, function() core.log('info', 'zlib done') end, 9) end\n"
    "  -- Name lookups wait behind them (a close forgets them).\n"
    "  core.tcp.connect('localhost', 9, function() end)\n"
    "  core.udp.send('localhost', 9, 'x', function() end)\n"
    "  core.log('info', 'started')\n"
    "  done(true)\n"
    "end }\n";

typedef struct pool_ctx {
  uv_loop_t loop;
  uv_timer_t guard; /* keeps the loop running (gatelog's handles do not); fails a hang */
  int expired;
  uv_work_t work;
  gatelog_t *gl;
  int zlib_done;
  int zlib_done_at_gateway_job; /* -1 until the gateway's job completed */
  unsigned most_running;         /* the script's jobs on libuv's pool, at most */
  size_t waiting_at_start;       /* its jobs waiting for a slot when send returned */
  int started;
  int closed;
} pool_ctx;

static void gateway_work(uv_work_t *w) { (void)w; }

static void gateway_done(uv_work_t *w, int status) {
  pool_ctx *x = w->data;
  CHECK(status == 0);
  x->zlib_done_at_gateway_job = x->zlib_done;
}

static void pool_log(void *data, int level, const char *msg) {
  pool_ctx *x = data;
  (void)level;
  if (x->gl && x->gl->pool_running > x->most_running) x->most_running = x->gl->pool_running;
  if (strcmp(msg, "script: zlib done") == 0) x->zlib_done++;
  if (strcmp(msg, "script: started") != 0) return;
  x->started = 1;
  x->waiting_at_start = 0;
  for (gl_link *n = x->gl->pool_waiting.next; n != &x->gl->pool_waiting; n = n->next) x->waiting_at_start++;
  /* The gateway's own job, queued after the script's six. */
  x->work.data = x;
  CHECK(uv_queue_work(&x->loop, &x->work, gateway_work, gateway_done) == 0);
}

static void on_guard(uv_timer_t *t) {
  pool_ctx *x = t->data;
  x->expired = 1;
  uv_stop(&x->loop);
}

static void pool_closed(gatelog_t *gl, void *data) {
  (void)gl;
  ((pool_ctx *)data)->closed = 1;
}

/* A core on pool_script whose send has run. */
static void pool_start(pool_ctx *x, const char *script) {
  memset(x, 0, sizeof(*x));
  x->zlib_done_at_gateway_job = -1;
  CHECK(uv_loop_init(&x->loop) == 0);
  uv_timer_init(&x->loop, &x->guard);
  x->guard.data = x;
  uv_timer_start(&x->guard, on_guard, 120000, 0);
  gatelog_options_t o;
  gatelog_options_init(&o);
  o.script = script;
  o.access_log = 0;
  o.script_budget_ms = 0; /* sanitizers are slow */
  o.script_memory_max = 1u << 30; /* the copies in flight: 6 x 16 MB */
  o.log = pool_log;
  o.log_data = x;
  CHECK(gatelog_new(&x->loop, &o, &x->gl) == 0);
  struct sockaddr_in src, dst;
  uv_ip4_addr("10.0.0.1", 1000, &src);
  uv_ip4_addr("10.0.0.2", 80, &dst);
  gatelog_sid_t sid;
  CHECK(gatelog_tcp_start(x->gl, 1, (struct sockaddr *)&src, (struct sockaddr *)&dst, &sid) == 0);
  CHECK(gatelog_tcp_end(x->gl, sid) == 0);
  CHECK(gatelog_flush(x->gl) == 0);
  while (!x->started && !x->expired) uv_run(&x->loop, UV_RUN_ONCE);
  CHECK(x->started);
}

static void pool_finish(pool_ctx *x) {
  CHECK(gatelog_close(x->gl, 100, pool_closed, x) == 0);
  while (!x->closed && !x->expired) uv_run(&x->loop, UV_RUN_ONCE);
  CHECK(x->closed && !x->expired);
  uv_close((uv_handle_t *)&x->guard, NULL);
  uv_run(&x->loop, UV_RUN_DEFAULT);
  CHECK(uv_loop_close(&x->loop) == 0);
}

static const char *pool_script_file(char *path, size_t size) {
  snprintf(path, size, "/tmp/gatelog-pool-%d.lua", (int)getpid());
  FILE *f = fopen(path, "w");
  CHECK(f != NULL && fputs(pool_script, f) >= 0 && fclose(f) == 0);
  return path;
}

/* libuv's pool has 4 threads; the script's jobs may take 2 of them, so
 * the gateway's own job finds a free thread instead of waiting behind a
 * compression. Checked on the share's own counts, not on which callback came
 * first: on a loaded machine the gateway's thread can be scheduled late. */
static void test_pool_share(void) {
  char path[64];
  unsetenv("UV_THREADPOOL_SIZE");
  CHECK(gl_pool_share() == 2);
  pool_ctx x;
  pool_start(&x, pool_script_file(path, sizeof(path)));
  while (x.zlib_done < 6 && !x.expired) uv_run(&x.loop, UV_RUN_ONCE);
  CHECK(x.zlib_done == 6);
  CHECK(x.most_running == 2);
  CHECK(x.waiting_at_start == 6); /* four compressions and two name lookups */
  while (x.zlib_done_at_gateway_job < 0 && !x.expired) uv_run(&x.loop, UV_RUN_ONCE);
  CHECK(x.zlib_done_at_gateway_job >= 0);
  pool_finish(&x);
  unlink(path);
}

/* A close while script jobs wait for their share: those never run, the
 * running ones finish, nothing leaks (ASan). */
static void test_pool_close_waiting(void) {
  char path[64];
  pool_ctx x;
  pool_start(&x, pool_script_file(path, sizeof(path)));
  pool_finish(&x);
  /* The drain (100 ms) may still see a running compression answer; the
   * jobs waiting for the share never start, so not all six answer. */
  CHECK(x.zlib_done <= 2);
  unlink(path);
}

#define TESTS(TEST)             \
  TEST(patterns_differential)   \
  TEST(sort_same)               \
  TEST(bounded_stop)            \
  TEST(plain_find_linear)       \
  TEST(file_regular)            \
  TEST(pool_share)              \
  TEST(pool_close_waiting)
CHECK_MAIN(TESTS)
