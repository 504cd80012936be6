/* Replacements for the C functions of LuaJIT's library that can run
 * longer than the time budget in one call, where no hook runs: pattern
 * matching (backtracking is exponential) and table.sort (n log n over a
 * table as large as the memory budget allows). Both poll the budget
 * (gl_budget_poll) and stop with its error. The other library functions
 * a script can reach are linear in the bytes they read and write, which
 * the memory budget bounds (README, "The sandbox"). */
#ifndef GATELOG_BOUNDED_H
#define GATELOG_BOUNDED_H

#include <lua.h>

#include "runtime/budget.h"

/* Set find, match, gmatch and gsub in the table at idx (the state's
 * string library) to bounded ones polling b (NULL: no time budget). */
void gl_bounded_patterns(lua_State *L, int idx, gl_budget *b);
/* Set sort in the table at idx (the state's table library). */
void gl_bounded_sort(lua_State *L, int idx, gl_budget *b);

#endif
