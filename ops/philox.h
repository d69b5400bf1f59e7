/* philox.h — the counter-based generator of every random op: Philox 4x32-10 (Salmon et al.,
 * SC 2011, Random123 constants) plus the key, counter and uniform-float conventions of ops.def.
 *
 * One text serves C99 and OpenCL C 1.2. Under OpenCL (__OPENCL_VERSION__ defined) the header
 * includes nothing and maps the 32/64-bit types to uint/ulong; the OpenCL backend embeds this
 * file ahead of its kernels (add ops/philox.h to cl_sources) so both backends run the very same
 * function bodies. Everything below the type block uses only LMG_PHILOX_U32/U64, shifts,
 * multiplies and structs: the common subset of both languages. Functions take and return
 * structs by value so no pointer needs an address-space qualifier. */
#ifndef LMG_PHILOX_H
#define LMG_PHILOX_H

#ifdef __OPENCL_VERSION__
#define LMG_PHILOX_U32 uint
#define LMG_PHILOX_U64 ulong
#else
#include <stdint.h>
#define LMG_PHILOX_U32 uint32_t
#define LMG_PHILOX_U64 uint64_t
#endif
#ifndef LMG_PHILOX_FN
#define LMG_PHILOX_FN static inline
#endif

#define LMG_PHILOX_M0 0xD2511F53u
#define LMG_PHILOX_M1 0xCD9E8D57u
#define LMG_PHILOX_W0 0x9E3779B9u
#define LMG_PHILOX_W1 0xBB67AE85u

typedef struct lmg_philox4 {
    LMG_PHILOX_U32 w[4];
} lmg_philox4;

typedef struct lmg_philox_key2 {
    LMG_PHILOX_U32 k[2];
} lmg_philox_key2;

/* One round: two 32x32->64 products, their halves mixed with the key. */
LMG_PHILOX_FN lmg_philox4 lmg_philox_round(lmg_philox4 c, lmg_philox_key2 k)
{
    LMG_PHILOX_U64 p0 = (LMG_PHILOX_U64)LMG_PHILOX_M0 * (LMG_PHILOX_U64)c.w[0];
    LMG_PHILOX_U64 p1 = (LMG_PHILOX_U64)LMG_PHILOX_M1 * (LMG_PHILOX_U64)c.w[2];
    lmg_philox4 r;
    r.w[0] = (LMG_PHILOX_U32)(p1 >> 32) ^ c.w[1] ^ k.k[0];
    r.w[1] = (LMG_PHILOX_U32)p1;
    r.w[2] = (LMG_PHILOX_U32)(p0 >> 32) ^ c.w[3] ^ k.k[1];
    r.w[3] = (LMG_PHILOX_U32)p0;
    return r;
}

/* Philox 4x32 with 10 rounds; the key is bumped by the Weyl constants between rounds. */
LMG_PHILOX_FN lmg_philox4 lmg_philox4x32_10(lmg_philox4 ctr, lmg_philox_key2 key)
{
    int i;
    for (i = 0; i < 10; i++) {
        if (i > 0) {
            key.k[0] += LMG_PHILOX_W0;
            key.k[1] += LMG_PHILOX_W1;
        }
        ctr = lmg_philox_round(ctr, key);
    }
    return ctr;
}

/* The key of a random op from its attributes (ops.def): k0 = low 32 bits of seed, k1 = key
 * attribute (0 .. 2^32-1) xor the high 32 bits of seed, so every bit of a 64-bit seed counts
 * and a seed below 2^32 gives simply (seed, key). */
LMG_PHILOX_FN lmg_philox_key2 lmg_philox_key(LMG_PHILOX_U64 seed, LMG_PHILOX_U64 key)
{
    lmg_philox_key2 k;
    k.k[0] = (LMG_PHILOX_U32)seed;
    k.k[1] = (LMG_PHILOX_U32)key ^ (LMG_PHILOX_U32)(seed >> 32);
    return k;
}

/* The counter of element `index` (flat, row-major, of the op's output) at run step `step`. */
LMG_PHILOX_FN lmg_philox4 lmg_philox_counter(LMG_PHILOX_U64 index, LMG_PHILOX_U64 step)
{
    lmg_philox4 c;
    c.w[0] = (LMG_PHILOX_U32)index;
    c.w[1] = (LMG_PHILOX_U32)(index >> 32);
    c.w[2] = (LMG_PHILOX_U32)step;
    c.w[3] = (LMG_PHILOX_U32)(step >> 32);
    return c;
}

/* The four words of element `index`: what every random op draws from. */
LMG_PHILOX_FN lmg_philox4 lmg_philox_draw(lmg_philox_key2 key, LMG_PHILOX_U64 index,
                                          LMG_PHILOX_U64 step)
{
    return lmg_philox4x32_10(lmg_philox_counter(index, step), key);
}

/* Uniform in [0, 1) from the top 24 bits: exact in f32, so every device rounds identically. */
LMG_PHILOX_FN float lmg_philox_uniform(LMG_PHILOX_U32 w)
{
    return (float)(w >> 8) * 5.9604644775390625e-8f; /* 2^-24 */
}

/* An integer in [0, n) (n <= 2^32) by the multiply-shift of ops.def: (w * n) >> 32. */
LMG_PHILOX_FN LMG_PHILOX_U32 lmg_philox_below(LMG_PHILOX_U32 w, LMG_PHILOX_U64 n)
{
    return (LMG_PHILOX_U32)(((LMG_PHILOX_U64)w * n) >> 32);
}

#endif
