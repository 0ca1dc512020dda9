// The CUDA device language on the CPU, force-included into every kernels/*.cu file that
// the test emulator compiles as C++. A kernel is a plain function; a launch runs its
// blocks one after another, and the threads of a block as fibers that run until they
// reach a barrier (__syncthreads or a warp shuffle, both block-wide here), so shared
// memory (static storage) and the barriers behave as on a GPU. translate.cmake rewrites
// `kernel<<<grid, block>>>(args)` to `ds_emu_launch(kernel, "kernel", grid, block)(args)`.
#ifndef DS_EMU_DEVICE_H
#define DS_EMU_DEVICE_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#include <functional>
#include <tuple>
#include <type_traits>
#include <utility>

#include "cuda_runtime_api.h"

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __shared__ static

const uint3 &ds_emu_thread_idx();
const uint3 &ds_emu_block_idx();
const dim3 &ds_emu_block_dim();
const dim3 &ds_emu_grid_dim();
#define threadIdx (ds_emu_thread_idx())
#define blockIdx (ds_emu_block_idx())
#define blockDim (ds_emu_block_dim())
#define gridDim (ds_emu_grid_dim())

void __syncthreads();
// Every thread of the block publishes bits and gets those of lane + delta of its warp
// (its own when that lane is past the warp's end).
uint64_t ds_emu_shuffle_down(uint64_t bits, int delta);

template <class T> T __shfl_down_sync(unsigned mask, T v, int delta) {
    static_assert(sizeof(T) <= 8 && std::is_trivially_copyable<T>::value, "8-byte shuffles");
    if (mask != 0xffffffffu) __builtin_trap(); // only full-warp shuffles are emulated
    uint64_t bits = 0;
    memcpy(&bits, &v, sizeof v);
    bits = ds_emu_shuffle_down(bits, delta);
    memcpy(&v, &bits, sizeof v);
    return v;
}

// Threads switch only at barriers, so a read-modify-write is atomic here.
template <class T> inline T atomicAdd(T *address, T value) {
    T old = *address;
    *address = old + value;
    return old;
}

template <class T> inline T min(T a, T b) {
    return a < b ? a : b;
}

// Runs thread_body for every thread of every block; returns the launch status.
cudaError_t ds_emu_run_grid(const char *kernel, dim3 grid, dim3 block,
                            const std::function<void()> &thread_body);
// cudaSuccess when bytes at p lie inside one device allocation, else a message naming
// what and an error.
cudaError_t ds_emu_check_range(const char *what, const void *p, size_t bytes);
// cudaSuccess when the first bytes at p lie in one device allocation (or p is NULL),
// else an error that names the kernel and the argument.
cudaError_t ds_emu_check_argument(const char *kernel, int index, const void *p);

template <class T> cudaError_t ds_emu_check_one(const char *kernel, int index, const T &arg) {
    if constexpr (std::is_pointer<T>::value)
        return ds_emu_check_argument(kernel, index, (const void *)arg);
    else
        return cudaSuccess;
}

template <class Tuple, size_t... I>
cudaError_t ds_emu_check_arguments(const char *kernel, const Tuple &args,
                                   std::index_sequence<I...>) {
    cudaError_t errs[] = {cudaSuccess, ds_emu_check_one(kernel, (int)I, std::get<I>(args))...};
    for (cudaError_t e : errs)
        if (e != cudaSuccess) return e;
    return cudaSuccess;
}

void ds_emu_set_last_error(cudaError_t err);
// Fault injection, a test aid: counts one device operation and returns
// cudaErrorLaunchFailure from the DIFFSAMP_EMU_FAIL_AT-th one on (see emu_runtime.cpp).
cudaError_t ds_emu_fault(void);
// 1 when [p, p + bytes) lies in one emulated device allocation.
int ds_emu_in_device(const void *p, size_t bytes);

template <class... P> struct ds_emu_launcher {
    void (*kernel)(P...);
    const char *name;
    dim3 grid, block;
    template <class... A> void operator()(A &&...args) const {
        std::tuple<P...> params(std::forward<A>(args)...);
        cudaError_t err = ds_emu_fault();
        if (err == cudaSuccess)
            err = ds_emu_check_arguments(name, params, std::index_sequence_for<P...>{});
        if (err == cudaSuccess)
            err = ds_emu_run_grid(name, grid, block, [&] { std::apply(kernel, params); });
        if (err != cudaSuccess) ds_emu_set_last_error(err);
    }
};

template <class... P>
ds_emu_launcher<P...> ds_emu_launch(void (*kernel)(P...), const char *name, dim3 grid, dim3 block) {
    return {kernel, name, grid, block};
}

#endif
