// Byte counts: parsed from the command line, printed for people, and the memory this
// machine has available.
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "ds_error.h"

int ds_parse_bytes(const char *text, uint64_t *out) {
    char *end;
    double v = strtod(text, &end);
    if (end == text || !(v >= 0) || !isfinite(v)) goto bad;
    static const char units[] = "KMGT";
    double scale = 1;
    if (*end) {
        const char *u = strchr(units, toupper((unsigned char)*end));
        if (!u) goto bad;
        scale = ldexp(1.0, 10 * (int)(u - units + 1));
        end++;
        if (*end == 'i') end++;
    }
    if (*end == 'B' || *end == 'b') end++;
    if (*end || v * scale >= 18446744073709551616.0) goto bad;
    *out = (uint64_t)(v * scale);
    return 0;
bad: // a long value is quoted by its first 64 characters, so that the line stays whole
    return ds_fail("bad memory size '%.64s%s' (expected bytes with an optional K, M, G or T "
                   "suffix, e.g. 512M or 1.5G)",
                   text, strlen(text) > 64 ? "..." : "");
}

void ds_format_bytes(uint64_t bytes, char *buf, size_t size) {
    static const char *units[] = {"bytes", "KiB", "MiB", "GiB", "TiB"};
    double v = (double)bytes;
    int u = 0;
    while (v >= 1024 && u < 4) v /= 1024, u++;
    if (u == 0)
        snprintf(buf, size, "%llu bytes", (unsigned long long)bytes);
    else
        snprintf(buf, size, "%.2f %s", v, units[u]);
}

uint64_t ds_disk_bytes(uint64_t bytes, uint64_t block) {
    if (block < 1) block = 1;
    return (bytes / block + (bytes % block != 0)) * block;
}

uint64_t ds_host_memory_available(void) {
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f) return 0;
    char line[256];
    unsigned long long kib = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "MemAvailable: %llu kB", &kib) == 1) break;
    fclose(f);
    return (uint64_t)kib * 1024;
}
