#!/usr/bin/env python3
"""PyTorch float32 baseline of the empirical denoiser, timed on the same GPU.

Same computation as the cuda backend: centred queries and training rows, logits
(x.y - |y|^2/2) / sigma^2, softmax over the training rows, weighted sum plus the mean.
Prints one line "N d B ms" per shape (the format bench_cuda_denoise --torch reads).
"""
import sys

import torch

SHAPES = [(60000, 784), (50000, 3072)]
BATCHES = [256, 1024, 4096]
REPS = 10


def denoise(x, yc, half_sq, mean, sigma):
    logits = ((x - mean) @ yc.T - half_sq) / (sigma * sigma)
    return torch.softmax(logits, dim=1) @ yc + mean


def time_ms(fn, reps):
    fn()  # warm-up
    start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(reps):
        fn()
    stop.record()
    torch.cuda.synchronize()
    return start.elapsed_time(stop) / reps


def main():
    if not torch.cuda.is_available():
        sys.exit("bench_torch.py: no CUDA device visible to PyTorch")
    torch.backends.cuda.matmul.allow_tf32 = False  # plain float32, like diffsamp
    print(f"torch {torch.__version__} on {torch.cuda.get_device_name(0)}", file=sys.stderr)
    gen = torch.Generator(device="cuda").manual_seed(1234)
    for n, d in SHAPES:
        y = torch.rand(n, d, device="cuda", generator=gen) * 2 - 1
        mean = y.mean(dim=0)
        yc = y - mean
        half_sq = 0.5 * (yc * yc).sum(dim=1)
        for b in BATCHES:
            x = y[:b] + 0.5 * torch.randn(b, d, device="cuda", generator=gen)
            with torch.no_grad():
                ms = time_ms(lambda: denoise(x, yc, half_sq, mean, 1.0), REPS)
            print(f"{n} {d} {b} {ms:.3f}", flush=True)
        del y, yc, half_sq


if __name__ == "__main__":
    main()
