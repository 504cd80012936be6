#include "util/file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

int gl_file_open_regular(const char *path, int flags, int mode) {
  /* O_NONBLOCK: open(2) of a FIFO waits for its other end otherwise. */
  int fd = open(path, flags | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, mode);
  if (fd < 0) return uv_translate_sys_error(errno);
  struct stat st;
  int err = 0;
  if (fstat(fd, &st) != 0) err = uv_translate_sys_error(errno);
  else if (S_ISDIR(st.st_mode)) err = UV_EISDIR;
  else if (!S_ISREG(st.st_mode)) err = UV_EFTYPE;
  /* A regular file never blocks; blocking mode keeps write(2) whole. */
  else if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) != 0)
    err = uv_translate_sys_error(errno);
  if (err) {
    close(fd);
    return err;
  }
  return fd;
}

int gl_file_read_regular(const char *path, size_t max, char **data, size_t *len) {
  int fd = gl_file_open_regular(path, O_RDONLY, 0);
  if (fd < 0) return fd;
  size_t cap = 8192, n = 0;
  char *buf = malloc(cap + 1);
  int err = buf ? 0 : UV_ENOMEM;
  while (err == 0) {
    if (n == cap) {
      if (n > max) break;
      char *more = realloc(buf, cap * 2 + 1);
      if (more == NULL) {
        err = UV_ENOMEM;
        break;
      }
      buf = more;
      cap *= 2;
    }
    ssize_t r = read(fd, buf + n, cap - n);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) err = uv_translate_sys_error(errno);
    else if (r == 0) break;
    else n += (size_t)r;
  }
  if (err == 0 && n > max) err = UV_EFBIG;
  close(fd);
  if (err) {
    free(buf);
    return err;
  }
  buf[n] = '\0';
  *data = buf;
  *len = n;
  return 0;
}
