/* status.c — the last-error message, dtype names and shape helpers shared by every layer. */
#include "lmg.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char last_msg[1024];

const char *lmg_last_error(void) { return last_msg; }

void lmg_error_clear(void) { last_msg[0] = 0; }

size_t lmg_utf8_valid_prefix(const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t len = c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
        if (len == 0 || i + len > n) return i;
        /* The second byte's range excludes overlong forms, surrogates and > U+10FFFF. */
        unsigned lo = 0x80, hi = 0xbf;
        if (c == 0xe0) lo = 0xa0;
        else if (c == 0xed) hi = 0x9f;
        else if (c == 0xf0) lo = 0x90;
        else if (c == 0xf4) hi = 0x8f;
        if (s[i + 1] < lo || s[i + 1] > hi) return i;
        for (size_t k = 2; k < len; k++)
            if ((s[i + k] & 0xc0) != 0x80) return i;
        i += len;
    }
    return n;
}

/* Rewrites `msg` in place so that it cannot span lines or drive a terminal: control
 * characters (C0, DEL, and C1 as UTF-8) and bytes that are not UTF-8 become \xNN. Names
 * and paths come from files and users, so this is done once here for every message. */
static void escape_msg(char *msg, size_t cap, int keep_newlines)
{
    char out[sizeof last_msg];
    size_t o = 0, n = strlen(msg);
    for (size_t i = 0; i < n && o + 5 < sizeof out;) {
        unsigned char c = (unsigned char)msg[i];
        size_t len = c < 0x80 ? 1 : c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
        int control = c < 0x20 || c == 0x7f;
        if (keep_newlines && (c == '\n' || c == '\t')) control = 0;
        if (c >= 0x80 && lmg_utf8_valid_prefix(msg + i, len <= n - i ? len : n - i) < len)
            control = 1, len = 1; /* not UTF-8: one byte at a time */
        else if (c == 0xc2 && (unsigned char)msg[i + 1] < 0xa0)
            control = 1; /* C1 (U+0080..U+009F): CSI and friends */
        if (control) {
            for (size_t k = 0; k < len && o + 5 < sizeof out; k++)
                o += (size_t)snprintf(out + o, sizeof out - o, "\\x%02x", (unsigned char)msg[i + k]);
        } else {
            if (o + len >= sizeof out) break;
            memcpy(out + o, msg + i, len);
            o += len;
        }
        i += len;
    }
    out[o] = 0;
    snprintf(msg, cap, "%s", out);
}

void lmg_escape_line(char *buf, size_t cap)
{
    if (cap) escape_msg(buf, cap, 0);
}

lmg_status lmg_error(lmg_status code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_msg, sizeof last_msg, fmt, ap);
    va_end(ap);
    escape_msg(last_msg, sizeof last_msg, 0);
    return code;
}

lmg_status lmg_error_log(lmg_status code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_msg, sizeof last_msg, fmt, ap);
    va_end(ap);
    escape_msg(last_msg, sizeof last_msg, 1);
    return code;
}

lmg_status lmg_error_prefix(lmg_status code, const char *fmt, ...)
{
    char prefix[512], old[sizeof last_msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    escape_msg(prefix, sizeof prefix, 0);
    memcpy(old, last_msg, sizeof old);
    snprintf(last_msg, sizeof last_msg, "%s: %s", prefix, old);
    return code;
}

const char *lmg_status_name(lmg_status s)
{
    switch (s) {
    case LMG_OK: return "ok";
    case LMG_ERR_NOMEM: return "out of memory";
    case LMG_ERR_IO: return "i/o error";
    case LMG_ERR_PARSE: return "parse error";
    case LMG_ERR_VERSION: return "unsupported version";
    case LMG_ERR_INVALID: return "invalid graph";
    case LMG_ERR_ARG: return "bad argument";
    case LMG_ERR_UNSUPPORTED: return "unsupported";
    case LMG_ERR_DEVICE: return "device error";
    case LMG_ERR_NOT_FOUND: return "not found";
    case LMG_ERR_DATA: return "bad data";
    default: return s < 0 && s > -100 ? "OpenCL error" : "unknown error";
    }
}

size_t lmg_dtype_size(lmg_dtype t)
{
    switch (t) {
    case LMG_DTYPE_F32: case LMG_DTYPE_I32: return 4;
    case LMG_DTYPE_F16: case LMG_DTYPE_BF16: return 2;
    default: return 0;
    }
}

static const char *const dtype_names[] = {"undefined", "f32", "i32", "f16", "bf16"};

const char *lmg_dtype_name(lmg_dtype t)
{
    return (unsigned)t < sizeof dtype_names / sizeof *dtype_names ? dtype_names[t] : "?";
}

int lmg_dtype_from_name(const char *name)
{
    for (int i = 1; i < (int)(sizeof dtype_names / sizeof *dtype_names); i++)
        if (strcmp(name, dtype_names[i]) == 0) return i;
    return -1;
}

/* Saturates at INT64_MAX: shapes not yet checked against the 2^40-element limit (attributes
 * read by shape inference) must compare as too large, not wrap (signed overflow is UB). */
int64_t lmg_shape_numel(const lmg_shape *s)
{
    for (int i = 0; i < s->rank; i++)
        if (s->dims[i] == 0) return 0;
    int64_t n = 1;
    for (int i = 0; i < s->rank; i++)
        if (__builtin_mul_overflow(n, s->dims[i], &n)) return INT64_MAX;
    return n;
}

int lmg_shape_equal(const lmg_shape *a, const lmg_shape *b)
{
    if (a->rank != b->rank) return 0;
    for (int i = 0; i < a->rank; i++)
        if (a->dims[i] != b->dims[i]) return 0;
    return 1;
}

lmg_shape lmg_shape_make(int rank, const int64_t *dims)
{
    lmg_shape s = {0};
    s.rank = rank;
    for (int i = 0; i < rank && i < LMG_MAX_DIMS; i++) s.dims[i] = dims[i];
    return s;
}

char *lmg_shape_str(const lmg_shape *s, char *buf, size_t n)
{
    size_t k = 0;
    if (n == 0) return buf;
    k += (size_t)snprintf(buf + k, n - k, "[");
    for (int i = 0; i < s->rank && k < n; i++)
        k += (size_t)snprintf(buf + k, n - k, i ? ",%lld" : "%lld", (long long)s->dims[i]);
    if (k < n) snprintf(buf + k, n - k, "]");
    buf[n - 1] = 0;
    return buf;
}
