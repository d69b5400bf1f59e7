/* safetensors.c — safetensors reader (strict: hostile files give LMG_ERR_PARSE, never a
 * crash) and writer (temporary file, fsync, rename: never half-written). */
#include "safetensors.h"

lmg_st_writer *lmg_st_writer_new(void) { return NULL; }
void lmg_st_writer_free(lmg_st_writer *w) { (void)w; }
lmg_status lmg_st_writer_add(lmg_st_writer *w, const char *name, lmg_dtype t,
                             const lmg_shape *s, const void *data)
{
    (void)w, (void)name, (void)t, (void)s, (void)data;
    return lmg_error(LMG_ERR_UNSUPPORTED, "safetensors: not implemented yet");
}
lmg_status lmg_st_writer_meta(lmg_st_writer *w, const char *key, const char *value)
{
    (void)w, (void)key, (void)value;
    return lmg_error(LMG_ERR_UNSUPPORTED, "safetensors: not implemented yet");
}
lmg_status lmg_st_writer_commit(lmg_st_writer *w, const char *path)
{
    (void)w, (void)path;
    return lmg_error(LMG_ERR_UNSUPPORTED, "safetensors: not implemented yet");
}
lmg_status lmg_st_writer_range(const lmg_st_writer *w, const char *name, uint64_t *offset,
                               uint64_t *length)
{
    (void)w, (void)name, (void)offset, (void)length;
    return lmg_error(LMG_ERR_UNSUPPORTED, "safetensors: not implemented yet");
}
lmg_status lmg_st_open(const char *path, lmg_st_file **out)
{
    (void)path, (void)out;
    return lmg_error(LMG_ERR_UNSUPPORTED, "safetensors: not implemented yet");
}
lmg_status lmg_st_open_bytes(const void *buf, size_t n, const char *name, lmg_st_file **out)
{
    (void)buf, (void)n, (void)name, (void)out;
    return lmg_error(LMG_ERR_UNSUPPORTED, "safetensors: not implemented yet");
}
void lmg_st_close(lmg_st_file *f) { (void)f; }
int lmg_st_count(const lmg_st_file *f) { (void)f; return 0; }
const char *lmg_st_name(const lmg_st_file *f, int i) { (void)f, (void)i; return NULL; }
lmg_status lmg_st_find(const lmg_st_file *f, const char *name, lmg_dtype *t, lmg_shape *s,
                       const void **data, size_t *nbytes)
{
    (void)f, (void)name, (void)t, (void)s, (void)data, (void)nbytes;
    return lmg_error(LMG_ERR_UNSUPPORTED, "safetensors: not implemented yet");
}
lmg_status lmg_st_range(const lmg_st_file *f, const char *name, uint64_t *offset,
                        uint64_t *length)
{
    (void)f, (void)name, (void)offset, (void)length;
    return lmg_error(LMG_ERR_UNSUPPORTED, "safetensors: not implemented yet");
}
const char *lmg_st_meta(const lmg_st_file *f, const char *key) { (void)f, (void)key; return NULL; }
int lmg_st_meta_count(const lmg_st_file *f) { (void)f; return 0; }
const char *lmg_st_meta_key(const lmg_st_file *f, int i) { (void)f, (void)i; return NULL; }
