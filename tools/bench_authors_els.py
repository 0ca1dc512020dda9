#!/usr/bin/env python3
"""diffsamp's cpu els against Kamb & Ganguli's PyTorch ELS machine, same CPU, same run.

The authors' code: github.com/Kambm/convolutional_diffusion, read in the copy
henhen724/convolutional_diffusion at the authors' last commit
6a87f3f7c6c72474ee5cffda384c1af0277e63f7 (Kambm, 2025-06-19), utils/idealscore.py:
LocalEquivScoreModule.forward (the ELS machine) and circular_convolution_native. Its
forward pass is transcribed below (authors_els), the DataLoader replaced by a list of
image batches and the label filter dropped (unconditional); torch is needed by this
script only, never by diffsamp.

Their conventions, as read in that file:
- VP/DDPM time: x_t = a_t y + b_t eps with b_t^2 = schedule(t) (1 - alpha_bar) and
  a_t^2 = alpha_bar; the machine returns the score -(x_t - a_t E[y centre]) / b_t^2.
  diffsamp's VE noise level sigma maps to alpha_bar = 1 / (1 + sigma^2), x_t = a_t x;
  the denoiser is D = (x_t + b_t^2 score) / a_t.
- The patch is k x k (kernel_size, default 3; per-timestep calibrated scales in
  files/scales_*.pt), all channels.
- Boundary: the query is padded circularly (F.pad mode 'circular', and the dot products
  are a circular convolution), the training patches are only those inside the image
  (F.unfold with padding 0: (H - k + 1)(W - k + 1) positions per image).
- Each DataLoader batch adds torch.mean over its candidates to both the numerator and the
  denominator, which is the exact softmax only when every batch has the same size: N is
  taken as a multiple of the batch (64, their default) here.
- The running maximum is shared by the queries of a call (amax over dims 0 and 1), which
  can underflow a query far below another one; each query is its own call here.

diffsamp's els pads both the query and the training images with zeros and takes the
patches at every position (README, els). The two machines therefore differ at every
pixel (an interior pixel's softmax also runs over the boundary candidates). The script
runs the authors' function twice: as published ("authors") and with the boundary lines
switched to diffsamp's zero padding ("authors-zeros": x zero-padded for its norms and its
convolution, the images zero-padded by k // 2 before unfold; nothing else changed), and
each in float32 (theirs, timed) and float64 (the same code under float64 tensors, which
isolates the float32 rounding of their expanded distances |x|^2 - 2 a x.p + a^2 |p|^2).

Prints per sigma: the authors' ms per query, diffsamp's ms per query, the ratio, and the
relative L2 differences of the outputs.

usage: tools/bench_authors_els.py BUILD_DIR fashion|cifar-random N SIGMAS [PATCH] [B] [REPEATS]
"""
import gzip
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
from torch.nn import functional as F

DEFAULT_DATA = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"
LOADER_BATCH = 64  # LocalEquivScoreModule's default batch_size


def fashion(n):
    raw = gzip.open(DEFAULT_DATA).read()
    x = np.frombuffer(raw, np.uint8, offset=16).reshape(-1, 1, 28, 28)[:n]
    return x.astype(np.float32) / np.float32(127.5) - np.float32(1.0)


def cifar_random(n, seed=11):
    """n random 3 x 32 x 32 images with local correlations (as
    tools/bench_studio_pca_locality.py): per channel a 5 x 5 box sum of normal noise plus
    one of a noise plane shared by the channels."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, 4, 32, 32)).astype(np.float32)
    box = np.zeros_like(z)
    for da in range(-2, 3):
        for db in range(-2, 3):
            box += np.roll(z, (da, db), axis=(2, 3))
    return (0.06 * box[:, :3] + 0.1 * box[:, 3:4]).astype(np.float32)


def circular_convolution_native(input_signal, kernel):
    """utils/idealscore.py's circular_convolution_native."""
    pad_h = kernel.size(2) // 2
    pad_w = kernel.size(3) // 2
    input_padded = F.pad(input_signal, (pad_w, pad_w, pad_h, pad_h), mode="circular")
    return F.conv2d(input_padded, kernel, padding=0)


@torch.no_grad()
def authors_els(x, at, bt, batches, k, zeros=False):
    """LocalEquivScoreModule.forward (label None, k given): the score at x (VP latents,
    b x c x h x w). zeros=True: diffsamp's boundary (the three marked lines)."""
    b, c, h, w = x.shape
    d = k // 2
    if zeros:  # boundary line 1: the query zero-padded
        xpadded = F.pad(x, (d, d, d, d), value=0)
    else:
        xpadded = F.pad(x, (d, d, d, d), mode="circular")
    xpatches = F.unfold(xpadded, k, stride=1, padding=0)
    xnorms = torch.norm(xpatches, dim=1) ** 2
    xnorms = xnorms.reshape(b, h, w)
    numerator = torch.zeros(x.shape, dtype=x.dtype)
    denominator = torch.zeros(b, h, w, dtype=x.dtype)
    subtraction = None
    for images in batches:
        if zeros:  # boundary line 2: every position, the images zero-padded
            images_p = F.pad(images, (d, d, d, d), value=0)
        else:
            images_p = images
        patches = F.unfold(images_p, k, stride=1, padding=0)
        patches = torch.permute(patches, (2, 0, 1))  # [h*w, 64, k^2 *c]
        patches = patches.reshape(patches.shape[0] * patches.shape[1], c, k, k)  # [NP, c, k, k]
        pnorms = torch.sum(patches**2, dim=(1, 2, 3))  # [NP]
        pcenters = patches[:, :, k // 2, k // 2]  # [NP, c]
        if zeros:  # boundary line 3: zero-padded convolution
            pdotx = F.conv2d(x, patches, padding=d)
        else:
            pdotx = circular_convolution_native(x, patches)
        exp_args = -(xnorms[:, None, :, :] - 2 * at * pdotx + (at**2) * pnorms[None, :, None, None]) / (
            2 * bt**2
        )  # [b, NP, h,w]
        if subtraction is None:
            subtraction = torch.amax(exp_args, dim=(0, 1), keepdim=True)
        else:
            new_subtraction = torch.amax(exp_args, dim=(0, 1), keepdim=True)
            delta_subtraction = (new_subtraction > subtraction) * new_subtraction + (
                subtraction >= new_subtraction
            ) * subtraction
            numerator /= torch.exp(delta_subtraction - subtraction)
            denominator /= torch.exp(delta_subtraction - subtraction)[:, 0, :, :]
            subtraction = delta_subtraction
        exp_vals = torch.exp(exp_args - subtraction)  # [b, NP, h, w]
        num_vals = x[:, None, :, :, :] - at * pcenters[None, :, :, None, None]  # [b,NP,c,h,w]
        numerator += torch.mean(exp_vals[:, :, None, :, :] * num_vals, dim=1)
        denominator += torch.mean(exp_vals, dim=1)
    return -numerator / denominator[:, None, :, :] / bt**2


def authors_denoise(x_ve, sigma, images, k, zeros, dtype):
    """D(x; sigma) through the authors' machine, one query per call: VE -> VP latents,
    their score, back to x0."""
    ab = 1.0 / (1.0 + sigma * sigma)
    at = torch.tensor(ab**0.5, dtype=dtype)
    bt = torch.tensor((1.0 - ab) ** 0.5, dtype=dtype)
    imgs = torch.from_numpy(images).to(dtype)
    batches = [imgs[i : i + LOADER_BATCH] for i in range(0, imgs.shape[0], LOADER_BATCH)]
    out = []
    for q in range(x_ve.shape[0]):
        xt = at * torch.from_numpy(x_ve[q : q + 1]).to(dtype)
        score = authors_els(xt, at, bt, batches, k, zeros)
        out.append(((xt + bt**2 * score) / at).double().numpy())
    return np.concatenate(out)


def rel(a, b):
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def main():
    if len(sys.argv) < 5:
        sys.exit(__doc__)
    build, which, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    sigmas = [float(s) for s in sys.argv[4].split(",")]
    k = int(sys.argv[5]) if len(sys.argv) > 5 else 3
    b = int(sys.argv[6]) if len(sys.argv) > 6 else 2
    repeats = int(sys.argv[7]) if len(sys.argv) > 7 else 1
    if n % LOADER_BATCH:
        sys.exit(f"N = {n}: take a multiple of {LOADER_BATCH} (their per-batch mean, above)")
    images = fashion(n) if which == "fashion" else cifar_random(n)
    shape = images.shape[1:]
    d = int(np.prod(shape))
    rng = np.random.default_rng(1)
    print(f"machine: {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}, torch "
          f"{torch.__version__}, {torch.get_num_threads()} threads; data {which} N={n} "
          f"shape={shape} patch={k} B={b}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        np.save(f"{tmp}/data.npy", images)
        for sigma in sigmas:
            idx = (np.arange(b) * 233) % n
            x = (images.reshape(n, d)[idx] + sigma * rng.standard_normal((b, d))).astype(np.float32)
            np.save(f"{tmp}/x.npy", x)
            xq = x.reshape((b,) + shape)
            times = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                theirs = authors_denoise(xq, sigma, images, k, False, torch.float32)
                times.append(time.perf_counter() - t0)
            theirs_ms = 1e3 * float(np.median(times)) / b
            theirs64 = authors_denoise(xq, sigma, images, k, False, torch.float64)
            zeros32 = authors_denoise(xq, sigma, images, k, True, torch.float32)
            zeros64 = authors_denoise(xq, sigma, images, k, True, torch.float64)
            cmd = [f"{build}/bench_cpu_denoise", "local", f"els:{k}", str(b), str(repeats),
                   f"{tmp}/data.npy", repr(sigma), f"{tmp}/x.npy", f"{tmp}/out"]
            text = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
            line = [l for l in text.splitlines() if "ms_per_query" in l][0].split()
            ours_ms = float(line[line.index("ms_per_query") + 1])
            ours = np.load(f"{tmp}/out.{sigma:g}.npy").reshape(b, d)
            flat = lambda a: a.reshape(b, d)
            print(f"sigma {sigma:g} authors_ms_per_query {theirs_ms:.1f} "
                  f"diffsamp_ms_per_query {ours_ms:.1f} ratio {theirs_ms / ours_ms:.2f} "
                  f"rel_l2 diffsamp_vs_authors_zeros_f64 {rel(ours, flat(zeros64)):.2e} "
                  f"diffsamp_vs_authors_zeros_f32 {rel(ours, flat(zeros32)):.2e} "
                  f"diffsamp_vs_authors_f64 {rel(ours, flat(theirs64)):.2e} "
                  f"authors_f32_vs_f64 {rel(flat(theirs), flat(theirs64)):.2e} "
                  f"load {os.getloadavg()[0]:.2f}", flush=True)


if __name__ == "__main__":
    main()
