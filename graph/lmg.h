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

/* Read a whole file into a malloc'd buffer with a NUL after the last byte (not counted in
 * *n; n may be NULL). Errors start with the path: "f.pb: cannot open: No such file". */
lmg_status lmg_read_file(const char *path, char **data, size_t *n);

#endif
