/* safetensors.h — a small reader and writer of the safetensors format: an 8-byte
 * little-endian header length, a JSON header naming each tensor's dtype, shape and byte
 * range, then the raw little-endian data. Used for external weights and for checkpoints. */
#ifndef LMG_SAFETENSORS_H
#define LMG_SAFETENSORS_H

#include "lmg.h"

/* ---- writer ------------------------------------------------------------------------ */
/* Collects tensors and metadata, then writes them in one go: to a temporary file in the
 * target's directory, fsync, rename, so a reader never sees a half-written file. */
typedef struct lmg_st_writer lmg_st_writer;

lmg_st_writer *lmg_st_writer_new(void); /* NULL on out-of-memory */
void lmg_st_writer_free(lmg_st_writer *w); /* free(NULL) is a no-op */
/* Add a tensor (f32 or i32). `data` (numel * 4 bytes) is BORROWED: it must stay valid until
 * commit returns. Names must be unique and non-empty. Tensors are stored in the order added. */
lmg_status lmg_st_writer_add(lmg_st_writer *w, const char *name, lmg_dtype t,
                             const lmg_shape *s, const void *data);
/* Add (or replace) a metadata string; both strings are copied. Order of first addition is kept. */
lmg_status lmg_st_writer_meta(lmg_st_writer *w, const char *key, const char *value);
/* Write everything to `path` atomically. */
lmg_status lmg_st_writer_commit(lmg_st_writer *w, const char *path);
/* After a successful commit: the absolute byte range of tensor `name` in the file. */
lmg_status lmg_st_writer_range(const lmg_st_writer *w, const char *name, uint64_t *offset,
                               uint64_t *length);

/* ---- reader ------------------------------------------------------------------------ */
/* A whole file read into memory and validated: offsets in range and non-overlapping,
 * dtypes known, shape * dtype size == length, JSON well formed. Any problem is
 * LMG_ERR_PARSE with a message naming the file. */
typedef struct lmg_st_file lmg_st_file;

lmg_status lmg_st_open(const char *path, lmg_st_file **out);
/* The same from bytes already in memory (copied); `name` is used in error messages. */
lmg_status lmg_st_open_bytes(const void *buf, size_t n, const char *name, lmg_st_file **out);
void lmg_st_close(lmg_st_file *f); /* free(NULL) is a no-op */
/* Only the header, checked against the file's size; the data is not read (lmg_st_find
 * gives data NULL). For a large file beside a graph. */
lmg_status lmg_st_open_header(const char *path, lmg_st_file **out);
/* LMG_ERR_PARSE naming `file` and the tensor unless f's header has tensor `name` with
 * dtype t, shape s and absolute byte range [offset, offset + length). */
lmg_status lmg_st_check_tensor(const lmg_st_file *f, const char *file, const char *name,
                               lmg_dtype t, const lmg_shape *s, uint64_t offset, uint64_t length);

int lmg_st_count(const lmg_st_file *f);                 /* number of tensors */
const char *lmg_st_name(const lmg_st_file *f, int i);   /* in file order; NULL out of range */
/* Look a tensor up: LMG_ERR_NOT_FOUND (message names it) when absent. Any out-pointer may
 * be NULL. `data` points into the file's memory (valid until close; 8-byte aligned when
 * the writer was this one). `offset` is the absolute byte offset of the data in the file. */
lmg_status lmg_st_find(const lmg_st_file *f, const char *name, lmg_dtype *t, lmg_shape *s,
                       const void **data, size_t *nbytes);
lmg_status lmg_st_range(const lmg_st_file *f, const char *name, uint64_t *offset,
                        uint64_t *length);
/* Metadata value, NULL when absent. */
const char *lmg_st_meta(const lmg_st_file *f, const char *key);
int lmg_st_meta_count(const lmg_st_file *f);
const char *lmg_st_meta_key(const lmg_st_file *f, int i); /* NULL out of range */

#endif
