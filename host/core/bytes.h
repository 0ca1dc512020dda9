// Byte counts for people and for options.
#ifndef DS_BYTES_H
#define DS_BYTES_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

// "123", "64K", "512M", "1.5G", "2T" (powers of 1024; a trailing "B"/"iB" is allowed).
int ds_parse_bytes(const char *text, uint64_t *out);
// "1.50 GiB"
void ds_format_bytes(uint64_t bytes, char *buf, size_t size);
// The disk space a file of `bytes` takes on a file system of `block`-byte blocks: whole
// blocks (a 1-byte PNG takes 4 KiB on most file systems).
uint64_t ds_disk_bytes(uint64_t bytes, uint64_t block);
// MemAvailable of this machine (0 when unknown).
uint64_t ds_host_memory_available(void);

#ifdef __cplusplus
}
#endif

#endif
