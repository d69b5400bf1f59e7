/* sbuf.h — a growable string buffer for the writers in graph/ (text form, DOT, safetensors
 * headers). An allocation failure is sticky: later calls do nothing and `oom` stays set. */
#ifndef LMG_SBUF_H
#define LMG_SBUF_H

#include <stddef.h>

typedef struct lmg_sbuf {
    char *s;      /* NUL-terminated once anything was written; owned by the caller */
    size_t n, cap;
    int oom;
} lmg_sbuf;

void lmg_sbuf_put(lmg_sbuf *b, const char *s, size_t n);
void lmg_sbuf_str(lmg_sbuf *b, const char *s);
/* Formatted output of any length (never truncated). */
void lmg_sbuf_printf(lmg_sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
