/* file.c — reading a whole file into memory, the one loop every loader in lmgraph uses
 * (graphs, safetensors, tokenizers, corpora, command inputs). */
#include "lmg.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

lmg_status lmg_read_file(const char *path, char **data, size_t *n)
{
    *data = NULL;
    if (n) *n = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return lmg_error(LMG_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    int too_big = 0;
    while (buf) {
        len += fread(buf + len, 1, cap - len - 1, f);
        if (len + 1 < cap) break;
        /* A device or pipe that never ends (/dev/zero) must not eat all memory. */
        if (cap > ((size_t)1 << 40)) {
            too_big = 1;
            break;
        }
        char *nb = realloc(buf, cap *= 2);
        if (!nb) free(buf);
        buf = nb;
    }
    int err = ferror(f) ? errno : 0;
    fclose(f);
    if (!buf) return lmg_error(LMG_ERR_NOMEM, "%s: out of memory reading the file", path);
    if (err || too_big) {
        free(buf);
        if (too_big) return lmg_error(LMG_ERR_IO, "%s: larger than 1 TiB", path);
        return lmg_error(LMG_ERR_IO, "%s: read error: %s", path, strerror(err));
    }
    buf[len] = 0;
    *data = buf;
    if (n) *n = len;
    return LMG_OK;
}
