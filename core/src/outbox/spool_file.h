/* The spool's on-disk format: segment files of checksummed entries, and
 * what reads them back. No gatelog type here: the format can be tested,
 * and a segment read, on its own.
 *
 * A segment (seg-<16 hex digits>.gls) is a 104-byte header, then entries,
 * each at an 8-byte aligned offset, appended and never rewritten:
 *
 *   header   "GLSPOOL\0", u32 version 1, u32 header size 104, u64 segment
 *            number, u64 creation (wall ms), 64 bytes instance id (NUL
 *            padded), u32 reserved, u32 crc32 of the 100 bytes before it
 *   entry    64-byte head, then body_len bytes of body, zero-padded to 8:
 *     0  u32 magic "GSE1"        4  u8 type, u8 flags, u16 0
 *     8  u64 batch id           16  u64 seq
 *    24  u64 time (wall ms)     32  u32 records    36  u32 attempt
 *    40  u32 body_len           44  u32 reasons_len
 *    48  u32 json_len           52  u32 crc32 of the body
 *    56  u32 0                  60  u32 crc32 of bytes 0..59
 *   a batch's body: its records' end reasons ('\n' after each), the end
 *   offset of each record in its JSON (u32 each), the zlib stream.
 *
 * Integers are little-endian; checksums are zlib's CRC-32. The head has a
 * checksum of its own so that a scan can trust a length without reading
 * the body, and find the next entry after a damaged one. */
#ifndef GATELOG_SPOOL_FILE_H
#define GATELOG_SPOOL_FILE_H

#include <stddef.h>
#include <stdint.h>

#define GL_SEG_HEAD 104
#define GL_ENTRY_HEAD 64
#define GL_INSTANCE_MAX 64
/* Sanity bounds that a head which passes its checksum must also meet. */
#define GL_ENTRY_BODY_MAX (256u << 20)
#define GL_ENTRY_RECORDS_MAX (1u << 26)

enum gl_entry_type {
  GL_ENTRY_BATCH = 1,   /* a sealed batch */
  GL_ENTRY_ACK = 2,     /* the batch is done: acknowledged or dropped for good */
  GL_ENTRY_ATTEMPT = 3  /* a send of the batch started (attempt, first attempt's time) */
};

typedef struct gl_entry {
  int type;
  int flags;
  uint64_t id;
  uint64_t seq;
  uint64_t time_ms;
  uint32_t count;
  uint32_t attempt;
  uint32_t body_len;
  uint32_t reasons_len;
  uint32_t json_len;
  uint32_t body_crc;
} gl_entry;

static inline uint64_t gl_align8(uint64_t n) { return (n + 7) & ~(uint64_t)7; }
/* Bytes the entry takes in its segment. */
static inline uint64_t gl_entry_size(const gl_entry *e) {
  return GL_ENTRY_HEAD + gl_align8(e->body_len);
}

void gl_seg_head_encode(unsigned char out[GL_SEG_HEAD], uint64_t number, uint64_t created_ms,
                        const char *instance);
/* 0, or -1 if it is not a version 1 segment head with a good checksum. */
int gl_seg_head_decode(const unsigned char in[GL_SEG_HEAD], uint64_t *number,
                       char instance[GL_INSTANCE_MAX + 1]);

void gl_entry_encode(unsigned char out[GL_ENTRY_HEAD], const gl_entry *e);
/* 0, or why the head is not one: "no entry magic", "bad head checksum",
 * "impossible lengths". */
const char *gl_entry_decode(const unsigned char in[GL_ENTRY_HEAD], gl_entry *e);

/* A batch entry, whole (head, body, padding), into out, which has room
 * for gl_entry_size(e) bytes once e's lengths are set: e->type, id, seq,
 * time_ms, count, attempt and json_len are the caller's; the lengths and
 * the checksum are set here. */
void gl_entry_batch_lengths(gl_entry *e, size_t reasons_len, size_t zlib_len);
void gl_entry_batch_encode(unsigned char *out, gl_entry *e, const char *reasons,
                           const uint32_t *ends, const unsigned char *zlib);
/* The parts of a batch entry's body: its reasons (e->reasons_len bytes),
 * its ends into ends[e->count], its zlib stream. */
void gl_entry_batch_parts(const gl_entry *e, const unsigned char *body, uint32_t *ends,
                          const unsigned char **zlib, size_t *zlib_len);

/* What a scan of one segment found, entry by entry. */
typedef struct gl_scan_cb {
  void *data;
  /* A good head at off (its body is checked when it is read back). */
  void (*entry)(void *data, const gl_entry *e, uint64_t off);
  /* Damage at off: `why`; the scan goes on at next (the next good head,
   * or the end of the file). */
  void (*damage)(void *data, uint64_t off, uint64_t next, const char *why);
} gl_scan_cb;

/* Scan the entries of an open segment of `size` bytes after its head.
 * 0, or a negative UV error if reading failed. */
int gl_seg_scan(int fd, uint64_t size, const gl_scan_cb *cb);

/* Read the entry at off and check it is `want_id` with a good body: 0 with
 * *e and a malloc'd *body, or UV_EILSEQ (damaged; *why says how), or a
 * negative UV error of the read. */
int gl_entry_read(int fd, uint64_t off, uint64_t want_id, gl_entry *e, unsigned char **body,
                  const char **why);

/* Write all of n bytes with write(); 0, or a negative UV error (what part
 * was written is in *done). */
int gl_write_all(int fd, const void *p, size_t n, size_t *done);

#endif
