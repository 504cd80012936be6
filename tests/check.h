/* A minimal check harness for the C tests: CHECK counts and reports, and
 * check_summary() prints "N passed, N failed" and gives the exit code.
 *
 * Each program names its tests in one table, run by CHECK_MAIN:
 *
 *   #define TESTS(TEST) \
 *     TEST(json)        \
 *     TEST(timefmt)
 *   CHECK_MAIN(TESTS)
 *
 * TEST(name) stands for `static void test_name(void)`. `prog NAME` runs
 * that test alone, `prog` all of them in table order, `prog --list` prints
 * the names. tests/CMakeLists.txt reads the TEST(...) lines to register
 * one ctest entry per test, each its own process, so that a crash names
 * its test; it passes the number it found as CHECK_REGISTERED, and the
 * build fails if the table holds another number (a line it did not read). */
#ifndef GATELOG_TEST_CHECK_H
#define GATELOG_TEST_CHECK_H

#include <stdio.h>
#include <string.h>

static int check_passed, check_failed;

#define CHECK(cond)                                                      \
  do {                                                                   \
    if (cond) {                                                          \
      check_passed++;                                                    \
    } else {                                                             \
      check_failed++;                                                    \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
    }                                                                    \
  } while (0)

#define CHECK_STR(got, want)                                             \
  do {                                                                   \
    const char *g_ = (got), *w_ = (want);                                \
    if (g_ != NULL && strcmp(g_, w_) == 0) {                             \
      check_passed++;                                                    \
    } else {                                                             \
      check_failed++;                                                    \
      fprintf(stderr, "%s:%d: got \"%s\", want \"%s\"\n", __FILE__, __LINE__, \
              g_ ? g_ : "(null)", w_);                                   \
    }                                                                    \
  } while (0)

static inline int check_summary(void) {
  printf("%d passed, %d failed\n", check_passed, check_failed);
  return check_failed == 0 && check_passed > 0 ? 0 : 1;
}

typedef struct check_test {
  const char *name;
  void (*fn)(void);
} check_test;

static inline int check_run(const check_test *tests, size_t n, int argc, char **argv) {
  if (argc > 2) {
    fprintf(stderr, "usage: %s [--list | NAME]\n", argv[0]);
    return 2;
  }
  if (argc == 2 && strcmp(argv[1], "--list") == 0) {
    for (size_t i = 0; i < n; i++) puts(tests[i].name);
    return 0;
  }
  size_t ran = 0;
  for (size_t i = 0; i < n; i++) {
    if (argc == 2 && strcmp(argv[1], tests[i].name) != 0) continue;
    int failed_before = check_failed;
    tests[i].fn();
    ran++;
    /* In a whole run, say which test the failures above belong to. */
    if (check_failed > failed_before)
      fprintf(stderr, "test %s: %d failed\n", tests[i].name, check_failed - failed_before);
  }
  if (ran == 0) {
    fprintf(stderr, "%s: no test named \"%s\" (--list names them)\n", argv[0], argv[1]);
    return 2;
  }
  return check_summary();
}

#define CHECK_ENTRY_(name) {#name, test_##name},

#define CHECK_MAIN(tests)                                                  \
  static const check_test check_tests_[] = {tests(CHECK_ENTRY_)};          \
  enum { check_ntests_ = sizeof(check_tests_) / sizeof(check_tests_[0]) }; \
  _Static_assert(check_ntests_ == CHECK_REGISTERED,                        \
                 "tests/CMakeLists.txt did not read every TEST(name) line"); \
  int main(int argc, char **argv) {                                        \
    return check_run(check_tests_, check_ntests_, argc, argv);             \
  }

#endif
