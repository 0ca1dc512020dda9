#!/usr/bin/env python3
"""PyTorch float32 baseline of the empirical denoiser, timed on the same GPU.

The computation of diffsamp's empirical denoiser, D(x) = sum_i w_i y_i with
w = softmax_i(-|x - y_i|^2 / (2 sigma^2)), written as plain PyTorch does it best: on
centred rows, logits (x.y - |y|^2/2) / sigma^2 by one addmm (the |x|^2 term is the
same for every i and cancels in the softmax), a softmax over the training rows, and
the weighted sum plus the mean by a second addmm. Float32 with TF32 off, like diffsamp.

Before timing, each shape's result on 8 queries is checked against the same formula
in float64 on uncentred rows (-|x - y|^2 expanded), at sigma = 1 and 20.

Writes one line "N d B ms" per shape (the format bench_cuda_denoise --torch reads) to
the file named by the first argument, or to stdout; the rest goes to stderr. ms is the
median of REPS calls, each timed by CUDA events, after a warm-up call.
Usage: tools/bench_torch.py [OUT.tsv]
"""
import statistics
import sys

import torch

SHAPES = [(60000, 784), (50000, 3072)]
BATCHES = [256, 1024, 4096]
REPS = 10
CHECK_ROWS, CHECK_TOL = 8, 1e-4


def denoise(x, yc, half_sq, mean, sigma):
    inv = 1.0 / (sigma * sigma)
    logits = torch.addmm(half_sq, x - mean, yc.T, beta=-inv, alpha=inv)
    return torch.addmm(mean, torch.softmax(logits, dim=1), yc)


def denoise_f64(x, y, sigma):
    x, y = x.double(), y.double()
    sq_dist = (x * x).sum(1, keepdim=True) - 2 * x @ y.T + (y * y).sum(1)
    return torch.softmax(-sq_dist / (2 * sigma * sigma), dim=1) @ y


def time_ms(fn, reps):
    fn()  # warm-up: cuBLAS handles, kernel selection, the caching allocator
    times = []
    for _ in range(reps):
        start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        stop.record()
        stop.synchronize()
        times.append(start.elapsed_time(stop))
    return statistics.median(times)


def plain_float32():
    """TF32 off, through the API this torch has (mixing the two raises in new versions)."""
    matmul = torch.backends.cuda.matmul
    if hasattr(matmul, "fp32_precision"):
        matmul.fp32_precision = "ieee"
        return f"fp32_precision={matmul.fp32_precision}"
    matmul.allow_tf32 = False
    return f"allow_tf32={matmul.allow_tf32}"


def main():
    if len(sys.argv) > 2:
        sys.exit("usage: bench_torch.py [OUT.tsv]")
    if not torch.cuda.is_available():
        sys.exit("bench_torch.py: no CUDA device visible to PyTorch")
    out = open(sys.argv[1], "w") if len(sys.argv) == 2 else sys.stdout
    precision = plain_float32()
    print(f"torch {torch.__version__} on {torch.cuda.get_device_name(0)}, {precision}",
          file=sys.stderr)
    gen = torch.Generator(device="cuda").manual_seed(1234)
    failed = False
    with torch.no_grad():
        for n, d in SHAPES:
            y = torch.rand(n, d, device="cuda", generator=gen) * 2 - 1
            mean = y.mean(dim=0)
            yc = y - mean
            half_sq = 0.5 * (yc * yc).sum(dim=1)
            for b in BATCHES:
                x = y[:b] + 0.5 * torch.randn(b, d, device="cuda", generator=gen)
                if b == BATCHES[0]:
                    for sigma in (1.0, 20.0):
                        got = denoise(x[:CHECK_ROWS], yc, half_sq, mean, sigma).double()
                        want = denoise_f64(x[:CHECK_ROWS], y, sigma)
                        err = (torch.linalg.norm(got - want) / torch.linalg.norm(want)).item()
                        ok = err < CHECK_TOL
                        failed |= not ok
                        print(f"check N={n} d={d} sigma={sigma:g}: relative error {err:.2e} "
                              f"against float64 ({'ok' if ok else 'FAILED'}, tolerance "
                              f"{CHECK_TOL:g})", file=sys.stderr)
                ms = time_ms(lambda: denoise(x, yc, half_sq, mean, 1.0), REPS)
                print(f"{n} {d} {b} {ms:.3f}", file=out, flush=True)
            del y, mean, yc, half_sq, x
    if out is not sys.stdout:
        out.close()
    if failed:
        sys.exit("bench_torch.py: the float32 result disagrees with float64 (see above)")


if __name__ == "__main__":
    main()
