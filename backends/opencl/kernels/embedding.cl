/* embedding.cl — Embedding (a row gather) and EmbeddingGrad without atomics: positions are
 * sorted by (id, position) with a bitonic sort, then each run of one id is summed in position
 * order by one work-item per column, so the result is deterministic. */

__kernel void embedding_gather(__global float *y, ulong y_off, __global const float *table,
                               ulong table_off, __global const int *ids, ulong ids_off, int V,
                               int D, int n)
{
    int i = get_global_id(0);
    if (i >= n) return;
    int row = i / D, d = i % D;
    int id = ids[ids_off + row];
    y[y_off + i] = id >= 0 && id < V ? table[table_off + (ulong)id * (ulong)D + d] : 0.0f;
}

/* keys[i] = id << 32 | i for the N positions (id V for skipped ids), then padding that sorts
 * last. `keys` is 8-byte aligned scratch passed as words. */
__kernel void embedding_keys(__global uint *keys_w, ulong keys_off, __global const int *ids,
                             ulong ids_off, int N, int V, int P)
{
    int i = get_global_id(0);
    if (i >= P) return;
    __global ulong *keys = (__global ulong *)(keys_w + keys_off);
    ulong k = 0xFFFFFFFFFFFFFFFFul;
    if (i < N) {
        int id = ids[ids_off + i];
        uint v = id >= 0 && id < V ? (uint)id : (uint)V;
        k = ((ulong)v << 32) | (ulong)(uint)i;
    }
    keys[i] = k;
}

/* One compare-exchange step (stage k, distance j) of an ascending bitonic sort of P keys:
 * work-item t handles the pair (i, i + j). */
__kernel void bitonic_step(__global uint *keys_w, ulong keys_off, int j, int k)
{
    int t = get_global_id(0);
    __global ulong *keys = (__global ulong *)(keys_w + keys_off);
    int i = 2 * j * (t / j) + (t % j);
    int p = i + j;
    ulong a = keys[i], b = keys[p];
    int up = (i & k) == 0;
    if ((a > b) == up) {
        keys[i] = b;
        keys[p] = a;
    }
}

/* Every stage with distance below `block` for one block of keys in local memory; the stage k
 * loop starts at k0 (the first call runs k = 2 .. block, later calls finish a larger k). */
__kernel void bitonic_local(__global uint *keys_w, ulong keys_off, int k0, int k1,
                            __local ulong *tmp)
{
    int l = get_local_id(0), L = get_local_size(0); /* L = block / 2 */
    int base = get_group_id(0) * 2 * L;
    __global ulong *keys = (__global ulong *)(keys_w + keys_off) + base;
    tmp[l] = keys[l];
    tmp[l + L] = keys[l + L];
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int k = k0; k <= k1; k <<= 1) {
        int jstart = k0 == k1 ? L : k / 2;
        for (int j = jstart; j > 0; j >>= 1) {
            int i = 2 * j * (l / j) + (l % j);
            int p = i + j;
            ulong a = tmp[i], b = tmp[p];
            int up = ((base + i) & k) == 0;
            if ((a > b) == up) {
                tmp[i] = b;
                tmp[p] = a;
            }
            barrier(CLK_LOCAL_MEM_FENCE);
        }
    }
    keys[l] = tmp[l];
    keys[l + L] = tmp[l + L];
}

/* Work-item (p, d): when sorted position p starts the run of an id, sum dy over that run in
 * position order into dtable[id, d]. Rows no position names keep the zeros filled before. */
__kernel void embedding_grad_runs(__global float *dt, ulong dt_off, __global const float *dy,
                                  ulong dy_off, __global const uint *keys_w, ulong keys_off,
                                  int N, int D, int V)
{
    int i = get_global_id(0);
    if (i >= N * D) return;
    __global const ulong *keys = (__global const ulong *)(keys_w + keys_off);
    int p = i / D, d = i % D;
    ulong k = keys[p];
    uint id = (uint)(k >> 32);
    if (id >= (uint)V) return;
    if (p > 0 && (uint)(keys[p - 1] >> 32) == id) return;
    float s = 0.0f;
    for (int q = p; q < N; q++) {
        ulong kq = keys[q];
        if ((uint)(kq >> 32) != id) break;
        s += dy[dy_off + (ulong)(uint)kq * (ulong)D + d];
    }
    dt[dt_off + (ulong)id * (ulong)D + d] = s;
}

/* TakeAlong: y[r,j] = x[r, idx[r,j]] along the last axis (0 outside [0,N)); f32 and i32 are
 * moved as 4-byte words. */
__kernel void take_along(__global uint *y, ulong y_off, __global const uint *x, ulong x_off,
                         __global const int *idx, ulong idx_off, int N, int M, int n)
{
    int i = get_global_id(0);
    if (i >= n) return;
    int row = i / M;
    int k = idx[idx_off + i];
    y[y_off + i] = k >= 0 && k < N ? x[x_off + (ulong)row * (ulong)N + k] : 0u;
}
