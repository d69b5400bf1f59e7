/* npy.h — NumPy's .npy arrays (read and write) and .npz archives (write: an uncompressed zip
 * of .npy members), so inputs and outputs of lmgraph can be compared with NumPy directly. */
#ifndef LMG_NPY_H
#define LMG_NPY_H

#include "../graph/lmg.h"

/* Parse .npy bytes: little-endian f4 and i4 load as they are; f8 narrows to f32 and i8 to
 * i32 (an integer outside i32 is an error naming the element). C order only. *data is
 * malloc'd. `name` is used in messages. */
lmg_status lmg_npy_parse(const void *buf, size_t n, const char *name, lmg_dtype *t, lmg_shape *s,
                         void **data);
lmg_status lmg_npy_load(const char *path, lmg_dtype *t, lmg_shape *s, void **data);
/* Encode an f32 or i32 array as .npy bytes (malloc'd). */
lmg_status lmg_npy_encode(lmg_dtype t, const lmg_shape *s, const void *data, void **buf, size_t *n);

/* An .npz archive: members added by name ("x" becomes "x.npy"), written atomically. Data is
 * copied when added. */
typedef struct lmg_npz lmg_npz;
lmg_npz *lmg_npz_new(void);
void lmg_npz_free(lmg_npz *z); /* free(NULL) is a no-op */
lmg_status lmg_npz_add(lmg_npz *z, const char *name, lmg_dtype t, const lmg_shape *s,
                       const void *data);
lmg_status lmg_npz_commit(lmg_npz *z, const char *path);

#endif
