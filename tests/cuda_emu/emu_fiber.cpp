// The emulator's kernel execution: the blocks of a grid run one after another; the
// threads of a block are fibers with their own stacks. As on a GPU, warps run
// independently between __syncthreads: each warp in turn runs until all its threads have
// exited or reached __syncthreads, its lanes meeting at every shuffle; then the block's
// barrier is released. Threads that do not meet at the same barrier (counted per
// thread) are a divergent barrier, which stops the emulator with a message.
// DIFFSAMP_EMU_ORDER=reverse runs blocks, warps and lanes in reverse order, so that a
// race (a missing barrier) changes the results between the two orders.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <mutex>

#include "emu_device.h"

// Saves the callee-saved registers and the stack pointer into *save_sp and resumes
// the context whose stack pointer is load_sp (x86-64 System V).
extern "C" void ds_emu_switch(void **save_sp, void *load_sp);
asm(R"(
    .text
    .globl ds_emu_switch
    .type ds_emu_switch, @function
ds_emu_switch:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .size ds_emu_switch, .-ds_emu_switch
)");

enum { THREAD_READY, THREAD_AT_SHUFFLE, THREAD_AT_SYNC, THREAD_DONE };

#define MAX_THREADS 1024
#define WARP 32
#define STACK_BYTES ((size_t)256 << 10)
#define GUARD_BYTES ((size_t)4 << 10)

typedef struct {
    void *sp;
    int state;
    long syncs, shuffles; // barriers passed so far, compared between threads
    uint3 idx;
} emu_thread;

static struct {
    std::mutex lock; // one launch at a time
    char *stacks;    // MAX_THREADS stacks, each above a guard page
    emu_thread threads[MAX_THREADS];
    uint64_t slots[2][MAX_THREADS]; // shuffle exchange, alternating between shuffles
    int count, current, reverse;
    void *scheduler_sp;
    const std::function<void()> *body;
    const char *kernel;
    dim3 grid, block;
    uint3 block_idx;
} emu;

static void die(const char *what) {
    fprintf(stderr, "cuda emulator: kernel %s, block (%u, %u, %u), thread %d: %s\n", emu.kernel,
            emu.block_idx.x, emu.block_idx.y, emu.block_idx.z, emu.current, what);
    abort();
}

const uint3 &ds_emu_thread_idx() {
    return emu.threads[emu.current].idx;
}
const uint3 &ds_emu_block_idx() {
    return emu.block_idx;
}
const dim3 &ds_emu_block_dim() {
    return emu.block;
}
const dim3 &ds_emu_grid_dim() {
    return emu.grid;
}

static void thread_main() {
    (*emu.body)();
    emu_thread *t = &emu.threads[emu.current];
    t->state = THREAD_DONE;
    ds_emu_switch(&t->sp, emu.scheduler_sp);
    __builtin_unreachable();
}

static void wait(int state) {
    if (!emu.body) die("a barrier outside a kernel");
    emu_thread *t = &emu.threads[emu.current];
    t->state = state;
    ds_emu_switch(&t->sp, emu.scheduler_sp);
}

void __syncthreads() {
    emu.threads[emu.current].syncs++;
    wait(THREAD_AT_SYNC);
}

uint64_t ds_emu_shuffle_down(uint64_t bits, int delta) {
    emu_thread *t = &emu.threads[emu.current];
    uint64_t *slot = emu.slots[t->shuffles++ & 1];
    int me = emu.current, lane = me % WARP;
    slot[me] = bits;
    wait(THREAD_AT_SHUFFLE);
    return lane + delta < WARP && me + delta < emu.count ? slot[me + delta] : bits;
}

static void start_thread(int i, uint3 idx) {
    emu_thread *t = &emu.threads[i];
    // A fresh stack whose first switch "returns" into thread_main with the stack
    // aligned as after a call: a fake return address, then six zero registers.
    uintptr_t *sp = (uintptr_t *)(emu.stacks + (size_t)(i + 1) * (STACK_BYTES + GUARD_BYTES));
    *--sp = 0;
    *--sp = (uintptr_t)thread_main;
    for (int r = 0; r < 6; r++) *--sp = 0;
    t->sp = sp;
    t->state = THREAD_READY;
    t->syncs = t->shuffles = 0;
    t->idx = idx;
}

// Threads first .. first + count - 1 have stopped: the live ones must all be waiting in
// the given state at the same barrier; they are released. Returns how many were live.
static int release(int first, int count, int state, const char *what) {
    int live = 0, ref = -1;
    for (int i = first; i < first + count; i++) {
        emu_thread *t = &emu.threads[i];
        if (t->state == THREAD_DONE) continue;
        emu.current = i;
        if (t->state != state) die(what);
        if (ref < 0) ref = i;
        if (t->syncs != emu.threads[ref].syncs || t->shuffles != emu.threads[ref].shuffles)
            die(what);
        t->state = THREAD_READY;
        live++;
    }
    if (live > 0 && live < count) {
        emu.current = ref;
        die(what);
    }
    return live;
}

// Runs the lanes of one warp, meeting at its shuffles, until each has exited or reached
// __syncthreads.
static void run_warp(int first, int count) {
    for (;;) {
        int at_shuffle = 0;
        for (int k = 0; k < count; k++) {
            int i = first + (emu.reverse ? count - 1 - k : k);
            if (emu.threads[i].state != THREAD_READY) continue;
            emu.current = i;
            ds_emu_switch(&emu.scheduler_sp, emu.threads[i].sp);
            at_shuffle |= emu.threads[i].state == THREAD_AT_SHUFFLE;
        }
        if (!at_shuffle) return;
        release(first, count, THREAD_AT_SHUFFLE,
                "a warp shuffle that not every lane of the warp reached (divergent shuffle)");
    }
}

static void run_block() {
    int warps = (emu.count + WARP - 1) / WARP;
    do {
        for (int k = 0; k < warps; k++) {
            int w = emu.reverse ? warps - 1 - k : k, first = w * WARP;
            run_warp(first, emu.count - first < WARP ? emu.count - first : WARP);
        }
    } while (release(0, emu.count, THREAD_AT_SYNC,
                     "a __syncthreads that not every thread of the block reached "
                     "(divergent barrier)") > 0);
}

static int reserve_stacks() {
    if (emu.stacks) return 0;
    size_t bytes = (size_t)MAX_THREADS * (STACK_BYTES + GUARD_BYTES);
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                   -1, 0);
    if (p == MAP_FAILED) return -1;
    emu.stacks = (char *)p;
    // A guard page below each stack turns an overflow into a fault.
    for (int i = 0; i < MAX_THREADS; i++)
        if (mprotect(emu.stacks + (size_t)i * (STACK_BYTES + GUARD_BYTES), GUARD_BYTES,
                     PROT_NONE) != 0)
            return -1;
    return 0;
}

static int valid_config(dim3 grid, dim3 block) {
    unsigned long long threads = (unsigned long long)block.x * block.y * block.z;
    return grid.x >= 1 && grid.x <= 2147483647u && grid.y >= 1 && grid.y <= 65535 && grid.z >= 1 &&
           grid.z <= 65535 && threads >= 1 && threads <= MAX_THREADS && block.z <= 64;
}

static void run_block_at(unsigned bx, unsigned by, unsigned bz) {
    emu.block_idx = uint3{bx, by, bz};
    int i = 0;
    for (unsigned z = 0; z < emu.block.z; z++)
        for (unsigned y = 0; y < emu.block.y; y++)
            for (unsigned x = 0; x < emu.block.x; x++) start_thread(i++, uint3{x, y, z});
    run_block();
}

cudaError_t ds_emu_run_grid(const char *kernel, dim3 grid, dim3 block,
                            const std::function<void()> &thread_body) {
    std::lock_guard<std::mutex> hold(emu.lock);
    if (!valid_config(grid, block)) {
        fprintf(stderr,
                "cuda emulator: kernel %s: invalid launch configuration grid (%u, %u, %u), "
                "block (%u, %u, %u)\n",
                kernel, grid.x, grid.y, grid.z, block.x, block.y, block.z);
        return cudaErrorInvalidConfiguration;
    }
    if (reserve_stacks() != 0) return cudaErrorMemoryAllocation;
    emu.kernel = kernel;
    emu.grid = grid;
    emu.block = block;
    emu.count = (int)(block.x * block.y * block.z);
    emu.body = &thread_body;
    const char *order = getenv("DIFFSAMP_EMU_ORDER");
    emu.reverse = order && !strcmp(order, "reverse");
    for (unsigned z = 0; z < grid.z; z++)
        for (unsigned y = 0; y < grid.y; y++)
            for (unsigned k = 0; k < grid.x; k++)
                run_block_at(emu.reverse ? grid.x - 1 - k : k, emu.reverse ? grid.y - 1 - y : y,
                             emu.reverse ? grid.z - 1 - z : z);
    emu.body = NULL;
    return cudaSuccess;
}
