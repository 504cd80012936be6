/* What the command-line tool and the reference gateway share, beside the
 * public header: checks and messages about their input that the core
 * cannot give as clearly. */
#ifndef GATELOG_TOOL_H
#define GATELOG_TOOL_H

/* Why `path` cannot be a policy script, or NULL. A directory, a FIFO, a
 * device or a socket is named here, before the core would read it (the
 * core says "i/o error" for a directory, and a FIFO blocks it). A path
 * that does not exist gives NULL: the core's message names it. */
const char *tool_script_problem(const char *path);

/* While a notice is set, a process that exits prints it on standard
 * error. LuaJIT ends the process with exit(1) and no word when an error
 * is raised outside a protected call (a bug of the core); the notice
 * says that this is what happened. NULL clears it (a normal exit). The
 * text is copied. */
void tool_exit_notice(const char *text);

#endif
