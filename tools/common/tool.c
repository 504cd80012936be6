#include "tool.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

const char *tool_script_problem(const char *path) {
  struct stat st;
  if (stat(path, &st) != 0) return NULL;
  if (S_ISDIR(st.st_mode)) return "is a directory, not a script file";
  if (!S_ISREG(st.st_mode)) return "is not a regular file (a FIFO, a device or a socket)";
  return NULL;
}

static char notice[1024];
static int notice_set, registered;

static void print_notice(void) {
  if (notice_set) fprintf(stderr, "%s\n", notice);
}

void tool_exit_notice(const char *text) {
  notice_set = text != NULL;
  if (text) snprintf(notice, sizeof(notice), "%s", text);
  if (text && !registered) registered = atexit(print_notice) == 0;
}
