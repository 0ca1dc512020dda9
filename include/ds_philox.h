// Counter-based random numbers (Philox4x32-10, Salmon et al. 2011), written once for
// host and device so that the cpu, ref and cuda backends draw identical noise:
// element (row, col) of the noise of a run depends only on (seed, row, col).
#ifndef DS_PHILOX_H
#define DS_PHILOX_H

#include <math.h>
#include <stdint.h>

#ifdef __CUDACC__
#define DS_HOSTDEV __host__ __device__ __forceinline__
#else
#define DS_HOSTDEV static inline
#endif

typedef struct {
    uint32_t v[4];
} ds_philox_u4;

DS_HOSTDEV uint32_t ds_mulhilo32(uint32_t a, uint32_t b, uint32_t *hi) {
    uint64_t p = (uint64_t)a * (uint64_t)b;
    *hi = (uint32_t)(p >> 32);
    return (uint32_t)p;
}

DS_HOSTDEV ds_philox_u4 ds_philox4x32_10(ds_philox_u4 ctr, uint32_t k0, uint32_t k1) {
    for (int round = 0; round < 10; round++) {
        uint32_t hi0, hi1;
        uint32_t lo0 = ds_mulhilo32(0xD2511F53u, ctr.v[0], &hi0);
        uint32_t lo1 = ds_mulhilo32(0xCD9E8D57u, ctr.v[2], &hi1);
        ds_philox_u4 next = {{hi1 ^ ctr.v[1] ^ k0, lo1, hi0 ^ ctr.v[3] ^ k1, lo0}};
        ctr = next;
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
    return ctr;
}

// The four raw 32-bit outputs that cover columns 4*(col/4) .. 4*(col/4)+3 of a row.
DS_HOSTDEV ds_philox_u4 ds_philox_block(uint64_t seed, int64_t row, int64_t col) {
    uint64_t block = (uint64_t)col >> 2;
    ds_philox_u4 ctr = {{(uint32_t)block, (uint32_t)(block >> 32), (uint32_t)(uint64_t)row,
                         (uint32_t)((uint64_t)row >> 32)}};
    return ds_philox4x32_10(ctr, (uint32_t)seed, (uint32_t)(seed >> 32));
}

// Standard normal for element (row, col): Box-Muller in double precision on the pair
// of outputs (2m, 2m+1) of the block, cosine for even columns, sine for odd ones.
DS_HOSTDEV double ds_philox_normal(uint64_t seed, int64_t row, int64_t col) {
    ds_philox_u4 r = ds_philox_block(seed, row, col);
    int lane = (int)(col & 3);
    uint32_t a = (lane < 2) ? r.v[0] : r.v[2];
    uint32_t b = (lane < 2) ? r.v[1] : r.v[3];
    const double two_pow_m32 = 2.3283064365386963e-10;
    double u1 = ((double)a + 1.0) * two_pow_m32; // (0, 1]: log is finite
    double u2 = (double)b * two_pow_m32;
    double radius = sqrt(-2.0 * log(u1));
    double angle = 6.283185307179586 * u2;
    return (lane & 1) ? radius * sin(angle) : radius * cos(angle);
}

// The key of draw j of a stochastic sampler's step noise (draw j of row i is the normals
// of (ds_philox_draw_key(seed, j), i)): splitmix64 of the seed and j + 1, so no draw
// reuses the starting noise's key, `seed` itself, except by a 2^-64 coincidence.
DS_HOSTDEV uint64_t ds_philox_draw_key(uint64_t seed, int64_t j) {
    uint64_t z = seed + ((uint64_t)j + 1) * 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

#endif
