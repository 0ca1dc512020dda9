// Recomputes the CRC of every chunk of a PNG held in memory, so that hand-made or
// mutated bytes pass libpng's CRC checks and reach its parser (shared by the tests
// and the PNG fuzz targets). Stops at a chunk that runs past the end.
#ifndef DS_TEST_PNG_CHUNKS_H
#define DS_TEST_PNG_CHUNKS_H

#include <stddef.h>
#include <stdint.h>
#include <zlib.h>

static inline void png_fix_crcs(unsigned char *p, size_t n) {
    size_t at = 8; // after the signature
    while (at + 12 <= n) {
        uint32_t len = (uint32_t)p[at] << 24 | (uint32_t)p[at + 1] << 16 |
                       (uint32_t)p[at + 2] << 8 | p[at + 3];
        if (len > n - at - 12) return;
        uLong crc = crc32(0L, p + at + 4, (uInt)len + 4); // type and data
        unsigned char *c = p + at + 8 + len;
        c[0] = (unsigned char)(crc >> 24), c[1] = (unsigned char)(crc >> 16);
        c[2] = (unsigned char)(crc >> 8), c[3] = (unsigned char)crc;
        at += 12 + len;
    }
}

#endif
