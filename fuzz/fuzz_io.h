/* io_stub.c: the directory the script target's file appends go to. */
#ifndef GATELOG_FUZZ_IO_H
#define GATELOG_FUZZ_IO_H

extern char fuzz_io_dir[256];

#endif
