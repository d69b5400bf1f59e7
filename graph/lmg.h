/* lmg.h — the types every layer of lmgraph shares: status codes, dtypes, shapes and the
 * last-error message. Library code returns an lmg_status and never prints or exits. */
#ifndef LMG_H
#define LMG_H

#include <stddef.h>
#include <stdint.h>

/* Status codes. OpenCL's own error numbers (-1 .. -99) pass through unchanged, so a failing
 * clXxx call reports its real code; lmgraph's own codes sit in a separate range. */
typedef int lmg_status;
enum {
    LMG_OK = 0,
    LMG_ERR_NOMEM = -1001,       /* host allocation failed */
    LMG_ERR_IO = -1002,          /* a file could not be read or written */
    LMG_ERR_PARSE = -1003,       /* malformed bytes or text */
    LMG_ERR_VERSION = -1004,     /* ir_version or opset newer than this reader */
    LMG_ERR_INVALID = -1005,     /* a graph fails verification */
    LMG_ERR_ARG = -1006,         /* a bad argument from the caller */
    LMG_ERR_UNSUPPORTED = -1007, /* an op or feature a backend cannot run */
    LMG_ERR_DEVICE = -1008,      /* device setup or memory problem (details in the message) */
    LMG_ERR_NOT_FOUND = -1009,   /* a named value, file or device does not exist */
    LMG_ERR_DATA = -1010,        /* bad training data or tokenizer input */
};

/* The message of the last error on this thread ("" when none). */
const char *lmg_last_error(void);
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
void lmg_error_clear(void);
/* Escape, in place, what lmg_error escapes (for a line a command formats itself). */
void lmg_escape_line(char *buf, size_t cap);
const char *lmg_status_name(lmg_status s);

/* Read a whole file into a malloc'd buffer with a NUL after the last byte (not counted in
 * *n; n may be NULL). Errors start with the path: "f.pb: cannot open: No such file".
 * Only regular files are read (a FIFO or device is refused without blocking), and no more
 * than their size; _max refuses a file larger than `max` bytes before reading it. */
lmg_status lmg_read_file(const char *path, char **data, size_t *n);
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

#define LMG_TRY(expr)                       \
    do {                                    \
        lmg_status lmg_try_s_ = (expr);     \
        if (lmg_try_s_ != LMG_OK) return lmg_try_s_; \
    } while (0)

/* Element types. The numbers are the on-disk enum values of proto/lmg.proto. */
typedef enum {
    LMG_DTYPE_UNDEFINED = 0,
    LMG_DTYPE_F32 = 1,
    LMG_DTYPE_I32 = 2,
    LMG_DTYPE_F16 = 3,  /* reserved: no op accepts it yet */
    LMG_DTYPE_BF16 = 4, /* reserved */
} lmg_dtype;

size_t lmg_dtype_size(lmg_dtype t); /* 0 for UNDEFINED */
const char *lmg_dtype_name(lmg_dtype t); /* "f32", "i32", ... */
int lmg_dtype_from_name(const char *name); /* -1 if unknown */

/* A static shape. Rank 0 is a scalar with one element. */
#define LMG_MAX_DIMS 8
typedef struct lmg_shape {
    int rank;
    int64_t dims[LMG_MAX_DIMS];
} lmg_shape;

int64_t lmg_shape_numel(const lmg_shape *s);
int lmg_shape_equal(const lmg_shape *a, const lmg_shape *b);
lmg_shape lmg_shape_make(int rank, const int64_t *dims);
/* Writes "[2,3,4]" into buf (always NUL-terminated); returns buf. */
char *lmg_shape_str(const lmg_shape *s, char *buf, size_t n);

#endif
