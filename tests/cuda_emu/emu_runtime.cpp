// The emulator's CUDA runtime: device memory is host memory in a registry, filled with
// NaN bytes when allocated (as uninitialised device memory, reading it before writing
// shows), with a device size from DIFFSAMP_EMU_MEMORY_MB (default 4096) that
// cudaMalloc and cudaMemGetInfo honour. Copies check that each side is the memory its
// kind says, and kernel arguments that are pointers must be device memory.
//
// Fault injection: with DIFFSAMP_EMU_FAIL_AT=K, the K-th device operation (counted from
// 1: allocations, frees, copies, memsets, kernel launches, cuBLAS products) and every
// later one fail with cudaErrorLaunchFailure, and cudaGetLastError keeps returning it:
// a sticky fault, as a real device has after a kernel faults. DIFFSAMP_EMU_FAIL_AT=count
// only counts, and prints "cuda emulator: N device operations" at exit. After a fault,
// the frees fail too, so what was allocated stays allocated; at exit the emulator
// releases it, as the driver reclaims a faulted context's memory when the process ends
// (without a fault nothing is reclaimed, so LeakSanitizer still sees a device leak).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <atomic>
#include <map>
#include <mutex>

#include "emu_device.h"
#include "nvtx3/nvToolsExt.h"

static struct {
    std::mutex lock;
    std::map<const char *, size_t> allocations; // start -> bytes
    size_t used;
    cudaError_t last_error;
    int nvtx_depth;
} rt;

static size_t device_bytes() {
    const char *s = getenv("DIFFSAMP_EMU_MEMORY_MB");
    long long mb = s && *s ? atoll(s) : 4096;
    return (size_t)(mb > 0 ? mb : 4096) << 20;
}

static cudaError_t fail(cudaError_t err) {
    rt.last_error = err;
    return err;
}

static struct {
    std::atomic<long long> ops;
    std::atomic<bool> tripped;
    long long fail_at; // 0: never
} fault;

static void print_op_count(void) {
    fprintf(stderr, "cuda emulator: %lld device operations\n", fault.ops.load());
}

static void reclaim_after_fault(void) {
    if (!fault.tripped) return;
    std::lock_guard<std::mutex> hold(rt.lock);
    for (auto &a : rt.allocations) free((void *)a.first);
    rt.allocations.clear();
    rt.used = 0;
}

static void read_fault_setting(void) {
    const char *s = getenv("DIFFSAMP_EMU_FAIL_AT");
    if (!s || !*s) return;
    if (strcmp(s, "count") == 0) {
        atexit(print_op_count);
        return;
    }
    char *end = NULL;
    long long k = strtoll(s, &end, 10);
    if (*end || k < 1) {
        fprintf(stderr,
                "cuda emulator: DIFFSAMP_EMU_FAIL_AT=%s: expected a count from 1 or "
                "'count'\n",
                s);
        abort();
    }
    fault.fail_at = k;
    atexit(reclaim_after_fault); // runs before rt's destructor: registered after it was built
}

cudaError_t ds_emu_fault(void) {
    static std::once_flag once;
    std::call_once(once, read_fault_setting);
    long long n = ++fault.ops;
    if (fault.fail_at && n >= fault.fail_at) fault.tripped = true;
    return fault.tripped ? cudaErrorLaunchFailure : cudaSuccess;
}

void ds_emu_set_last_error(cudaError_t err) {
    std::lock_guard<std::mutex> hold(rt.lock);
    rt.last_error = err;
}

// 1 when [p, p + bytes) lies inside one device allocation.
static int in_device(const void *p, size_t bytes) {
    const char *c = (const char *)p;
    auto it = rt.allocations.upper_bound(c);
    if (it == rt.allocations.begin()) return 0;
    --it;
    return c >= it->first && (size_t)(c - it->first) + bytes <= it->second;
}

static int overlaps_device(const void *p, size_t bytes) {
    const char *c = (const char *)p;
    auto it = rt.allocations.upper_bound(c + (bytes ? bytes - 1 : 0));
    if (it == rt.allocations.begin()) return 0;
    --it;
    return c < it->first + it->second;
}

cudaError_t ds_emu_check_range(const char *what, const void *p, size_t bytes) {
    std::lock_guard<std::mutex> hold(rt.lock);
    if (p && in_device(p, bytes ? bytes : 1)) return cudaSuccess;
    fprintf(stderr, "cuda emulator: %s: %zu bytes at %p are not inside one device allocation\n",
            what, bytes, p);
    return cudaErrorInvalidDevicePointer;
}

cudaError_t ds_emu_check_argument(const char *kernel, int index, const void *p) {
    if (!p) return cudaSuccess;
    char what[160];
    snprintf(what, sizeof what, "kernel %s, argument %d", kernel, index);
    return ds_emu_check_range(what, p, 1);
}

extern "C" cudaError_t cudaMalloc(void **p, size_t bytes) {
    if (cudaError_t f = ds_emu_fault()) return f;
    std::lock_guard<std::mutex> hold(rt.lock);
    if (!p) return fail(cudaErrorInvalidValue);
    if (bytes > device_bytes() - rt.used) return fail(cudaErrorMemoryAllocation);
    char *m = (char *)malloc(bytes ? bytes : 1);
    if (!m) return fail(cudaErrorMemoryAllocation);
    memset(m, 0xFF, bytes); // NaN floats and doubles
    rt.allocations[m] = bytes;
    rt.used += bytes;
    *p = m;
    return cudaSuccess;
}

extern "C" cudaError_t cudaFree(void *p) {
    if (cudaError_t f = ds_emu_fault()) return f;
    std::lock_guard<std::mutex> hold(rt.lock);
    if (!p) return cudaSuccess;
    auto it = rt.allocations.find((const char *)p);
    if (it == rt.allocations.end()) {
        fprintf(stderr, "cuda emulator: cudaFree(%p): not a device allocation\n", p);
        return fail(cudaErrorInvalidDevicePointer);
    }
    rt.used -= it->second;
    rt.allocations.erase(it);
    free(p);
    return cudaSuccess;
}

// Whether each side of a copy is device memory as the kind says.
static int copy_sides_ok(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind) {
    int dst_dev = in_device(dst, bytes), src_dev = in_device(src, bytes);
    switch (kind) {
    case cudaMemcpyHostToDevice:
        return dst_dev && !overlaps_device(src, bytes);
    case cudaMemcpyDeviceToHost:
        return src_dev && !overlaps_device(dst, bytes);
    case cudaMemcpyDeviceToDevice:
        return dst_dev && src_dev;
    case cudaMemcpyHostToHost:
        return !overlaps_device(dst, bytes) && !overlaps_device(src, bytes);
    case cudaMemcpyDefault:
        return (dst_dev || !overlaps_device(dst, bytes)) &&
               (src_dev || !overlaps_device(src, bytes));
    }
    return 0;
}

extern "C" cudaError_t cudaMemcpy(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind) {
    if (cudaError_t f = ds_emu_fault()) return f;
    std::lock_guard<std::mutex> hold(rt.lock);
    if (bytes == 0) return cudaSuccess;
    if (!dst || !src || !copy_sides_ok(dst, src, bytes, kind)) {
        fprintf(stderr,
                "cuda emulator: cudaMemcpy of %zu bytes %p -> %p: a side is not the "
                "memory that kind %d says\n",
                bytes, src, dst, (int)kind);
        return fail(cudaErrorInvalidValue);
    }
    memmove(dst, src, bytes);
    return cudaSuccess;
}

extern "C" cudaError_t cudaMemset(void *p, int value, size_t bytes) {
    if (cudaError_t f = ds_emu_fault()) return f;
    std::lock_guard<std::mutex> hold(rt.lock);
    if (bytes == 0) return cudaSuccess;
    if (!p || !in_device(p, bytes)) {
        fprintf(stderr, "cuda emulator: cudaMemset of %zu bytes at %p: not device memory\n", bytes,
                p);
        return fail(cudaErrorInvalidValue);
    }
    memset(p, value, bytes);
    return cudaSuccess;
}

extern "C" cudaError_t cudaMemGetInfo(size_t *free_bytes, size_t *total_bytes) {
    std::lock_guard<std::mutex> hold(rt.lock);
    *total_bytes = device_bytes();
    *free_bytes = *total_bytes - rt.used;
    return cudaSuccess;
}

extern "C" cudaError_t cudaGetLastError(void) {
    std::lock_guard<std::mutex> hold(rt.lock);
    if (fault.tripped) return cudaErrorLaunchFailure; // sticky: it cannot be cleared
    cudaError_t err = rt.last_error;
    rt.last_error = cudaSuccess;
    return err;
}

extern "C" const char *cudaGetErrorString(cudaError_t err) {
    switch (err) {
    case cudaSuccess:
        return "no error";
    case cudaErrorInvalidValue:
        return "invalid argument";
    case cudaErrorMemoryAllocation:
        return "out of memory";
    case cudaErrorInvalidConfiguration:
        return "invalid configuration argument";
    case cudaErrorInvalidDevicePointer:
        return "invalid device pointer";
    case cudaErrorInvalidResourceHandle:
        return "invalid resource handle";
    case cudaErrorLaunchFailure:
        return "unspecified launch failure";
    }
    return "unrecognized error code";
}

extern "C" cudaError_t cudaGetDeviceCount(int *count) {
    *count = 1;
    return cudaSuccess;
}

extern "C" cudaError_t cudaSetDevice(int device) {
    return device == 0 ? cudaSuccess : fail(cudaErrorInvalidValue);
}

extern "C" cudaError_t cudaGetDevice(int *device) {
    *device = 0;
    return cudaSuccess;
}

extern "C" cudaError_t cudaGetDeviceProperties(cudaDeviceProp *prop, int device) {
    if (device != 0) return fail(cudaErrorInvalidValue);
    memset(prop, 0, sizeof *prop);
    snprintf(prop->name, sizeof prop->name, "diffsamp CPU emulator (not a GPU)");
    prop->major = 9;
    prop->totalGlobalMem = device_bytes();
    prop->multiProcessorCount = 1;
    return cudaSuccess;
}

// Kernels run synchronously, so an event records the host clock when it is recorded.
struct ds_emu_event {
    double ms;
    int recorded;
};

extern "C" cudaError_t cudaEventCreate(cudaEvent_t *e) {
    *e = (cudaEvent_t)calloc(1, sizeof(struct ds_emu_event));
    return *e ? cudaSuccess : fail(cudaErrorMemoryAllocation);
}

extern "C" cudaError_t cudaEventDestroy(cudaEvent_t e) {
    free(e);
    return cudaSuccess;
}

extern "C" cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t stream) {
    (void)stream;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    e->ms = (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
    e->recorded = 1;
    return cudaSuccess;
}

extern "C" cudaError_t cudaEventSynchronize(cudaEvent_t e) {
    return e->recorded ? cudaSuccess : fail(cudaErrorInvalidResourceHandle);
}

extern "C" cudaError_t cudaEventElapsedTime(float *ms, cudaEvent_t start, cudaEvent_t stop) {
    if (!start->recorded || !stop->recorded) return fail(cudaErrorInvalidResourceHandle);
    *ms = (float)(stop->ms - start->ms);
    return cudaSuccess;
}

// Kernels and copies are synchronous: a stream is a handle, and synchronising reports the
// sticky fault.
struct ds_emu_stream {
    int unused;
};

extern "C" cudaError_t cudaStreamCreate(cudaStream_t *s) {
    if (cudaError_t f = ds_emu_fault()) return f;
    *s = (cudaStream_t)calloc(1, sizeof(struct ds_emu_stream));
    return *s ? cudaSuccess : fail(cudaErrorMemoryAllocation);
}

extern "C" cudaError_t cudaStreamDestroy(cudaStream_t s) {
    free(s);
    return cudaSuccess;
}

extern "C" cudaError_t cudaStreamSynchronize(cudaStream_t s) {
    (void)s;
    return ds_emu_fault();
}

extern "C" cudaError_t cudaDeviceSynchronize(void) {
    return ds_emu_fault();
}

int ds_emu_in_device(const void *p, size_t bytes) {
    std::lock_guard<std::mutex> hold(rt.lock);
    return p && in_device(p, bytes ? bytes : 1);
}

extern "C" int nvtxRangePushA(const char *message) {
    (void)message;
    return rt.nvtx_depth++;
}

extern "C" int nvtxRangePop(void) {
    if (rt.nvtx_depth == 0) {
        fprintf(stderr, "cuda emulator: nvtxRangePop without a matching push\n");
        abort();
    }
    return --rt.nvtx_depth;
}
