/* What the libFuzzer targets of fuzz/ share: the entry points libFuzzer
 * calls, invariants, a reader of the fuzzer's bytes (fuzz.c), and Lua
 * values made from them for the targets that take a table (lua_value.c). */
#ifndef GATELOG_FUZZ_H
#define GATELOG_FUZZ_H

#include <stddef.h>
#include <stdint.h>

struct lua_State;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* An invariant of the code under test: abort (a crash the fuzzer keeps)
 * with the condition's text when it does not hold. */
#define FUZZ_ASSERT(cond) ((cond) ? (void)0 : fuzz_fail(__FILE__, __LINE__, #cond))
void fuzz_fail(const char *file, int line, const char *what) __attribute__((noreturn));

/* The fuzzer's bytes, consumed from the front; 0 once they run out. */
typedef struct fz_reader {
  const uint8_t *p, *end;
} fz_reader;

unsigned fz_byte(fz_reader *r);
uint64_t fz_u64(fz_reader *r);

/* Push one Lua value read from r: nil, a boolean, a number (small, any
 * 64-bit pattern as a double, or one of the edges: 0, -0, 2^53, 2^64,
 * inf, nan, ...), a string, one of `names` (NULL-terminated), a table
 * of such values nested up to `depth`, or a function that returns
 * nothing. */
void fz_push_value(struct lua_State *L, fz_reader *r, const char *const *names, int depth);

#endif
