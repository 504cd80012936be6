/* Opening files that gatelog reads or writes on a script's behalf (the
 * script itself, its modules, core.file_append's targets) without ever
 * blocking on something that is not a regular file: a FIFO with no writer
 * blocks open(2) and read(2) forever, a device may too. */
#ifndef GATELOG_FILE_H
#define GATELOG_FILE_H

#include <stddef.h>

/* open(2) path with flags (O_CLOEXEC, O_NOCTTY and O_NONBLOCK are added),
 * then refuse what fstat does not call a regular file: a file descriptor
 * in blocking mode, or a negative UV error (UV_EISDIR for a directory,
 * UV_EFTYPE for a FIFO, socket or device; a FIFO opened for writing with
 * no reader gives UV_ENXIO). */
int gl_file_open_regular(const char *path, int flags, int mode);

/* Read the regular file at path whole: 0 with a malloc'd, NUL-terminated
 * buffer in *data (its length in *len), or a negative UV error (UV_EFBIG
 * past max bytes, and those of gl_file_open_regular). */
int gl_file_read_regular(const char *path, size_t max, char **data, size_t *len);

#endif
