/* io.c — binary .pb load and save (the only code that touches protobuf-c types), with
 * large tensors kept in a safetensors file next to the .pb. */
#include "graph.h"
#include "proto/lmg.pb-c.h"

lmg_status lmg_graph_load(const char *path, lmg_graph **out)
{
    (void)path, (void)out;
    return lmg_error(LMG_ERR_UNSUPPORTED, "load: not implemented yet");
}
lmg_status lmg_graph_load_bytes(const void *buf, size_t n, const char *base_dir, lmg_graph **out)
{
    (void)buf, (void)n, (void)base_dir, (void)out;
    return lmg_error(LMG_ERR_UNSUPPORTED, "load: not implemented yet");
}
lmg_status lmg_graph_save(const lmg_graph *g, const char *path, size_t external_min_bytes)
{
    (void)g, (void)path, (void)external_min_bytes;
    return lmg_error(LMG_ERR_UNSUPPORTED, "save: not implemented yet");
}
lmg_status lmg_graph_save_bytes(const lmg_graph *g, void **buf, size_t *n)
{
    (void)g, (void)buf, (void)n;
    return lmg_error(LMG_ERR_UNSUPPORTED, "save: not implemented yet");
}
