/* lmg.h — the types every layer of lmgraph shares (status codes, dtypes, shapes: the public
 * part lives in include/lmgraph.h) and the library-internal error recorders. */
#ifndef LMG_H
#define LMG_H

#include "../include/lmgraph.h"

/* Record an error message (printf format) and return `code`, for `return lmg_error(...)`. */
lmg_status lmg_error(lmg_status code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Prefix the current message with more context ("loading g.pb: ...") and return `code`. */
lmg_status lmg_error_prefix(lmg_status code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* As lmg_error, but newlines and tabs are kept (a compiler's build log); every other
 * control character is escaped, as lmg_error escapes all of them so one error is one line. */
lmg_status lmg_error_log(lmg_status code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Escape, in place, what lmg_error escapes (for a line a command formats itself). */
void lmg_escape_line(char *buf, size_t cap);

/* Read a whole file into a malloc'd buffer with a NUL after the last byte (not counted in
 * *n; n may be NULL). Errors start with the path: "f.pb: cannot open: No such file".
 * Only regular files are read (a FIFO or device is refused without blocking), and no more
 * than their size; _max refuses a file larger than `max` bytes before reading it. */
lmg_status lmg_read_file(const char *path, char **data, size_t *n);
/* "dir/name" in a malloc'd string (no second '/' when dir ends with one); NULL when out of
 * memory. */
char *lmg_path_join(const char *dir, const char *name);
lmg_status lmg_read_file_max(const char *path, uint64_t max, char **data, size_t *n);
/* Open a regular file for reading (never blocks on a FIFO); its size in *size (may be NULL). */
lmg_status lmg_open_regular(const char *path, int *fd, uint64_t *size);

/* The one atomic writer: bytes go to "<path>.tmp<PID>" beside the target, which is fsynced,
 * renamed over `path`, and the folder fsynced; a reader sees the old file or the new one,
 * never a mix. Temporary files left by killed writers of the same path are removed when
 * their process is gone. put records the first error; commit reports it and removes the
 * temporary file; abort discards everything. An existing target that is not a regular file
 * (a device, a FIFO) is refused. */
typedef struct lmg_file_writer {
    int fd, err;
    char *path, *tmp;
} lmg_file_writer;
lmg_status lmg_file_writer_open(lmg_file_writer *w, const char *path);
void lmg_file_writer_put(lmg_file_writer *w, const void *data, size_t n);
lmg_status lmg_file_writer_commit(lmg_file_writer *w);
void lmg_file_writer_abort(lmg_file_writer *w);
lmg_status lmg_write_file_atomic(const char *path, const void *data, size_t n);

/* Length of the longest prefix of s[0..n) that is valid UTF-8 (no overlong forms, no
 * surrogates, nothing above U+10FFFF): n when all of it is, as protobuf requires of strings. */
size_t lmg_utf8_valid_prefix(const char *s, size_t n);

#endif
