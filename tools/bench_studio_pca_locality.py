#!/usr/bin/env python3
"""diffsamp's cpu pca_locality against analytic-diffusion-studio's PyTorch one, same CPU, same run.

The studio's forward pass (src/local_diffusion/models/pca_locality.py, PCALocalityDenoiser:
_projection_mask and denoise, with its WeightedStreamingSoftmax) is transcribed below with
torch; torch is needed by this script only, never by diffsamp. Its dataloader is one batch
holding the whole training set: only then does its per-batch softmax equal the exact one
(issue 17), and it is the setting whose output diffsamp must match.

Conventions: the studio works in DDPM time. At noise level sigma (diffsamp's VE
convention) alpha_bar = 1 / (1 + sigma^2), its latents are sqrt(alpha_bar) x and its
output pred_x0 is D(x; sigma). Its Wiener components (U, LA, Vh, mean) come from the
covariance with ddof 1 through torch.linalg.svd, as its resolve_wiener_components does;
here the covariance and its SVD are computed in float64 and then kept in float32 (the
studio's buffers), so that the two masks differ only by float32 rounding.

The script writes the training rows and the queries as .npy, runs bench_cpu_denoise
(diffsamp cpu) on them in the same run, and prints per sigma: the studio's ms per query,
diffsamp's ms per query (its batch of B_DIFFSAMP queries), the ratio, and the relative L2
difference of the two outputs on the studio's queries.

usage: tools/bench_studio_pca_locality.py BUILD_DIR fashion|cifar-random SIGMAS
           [B_STUDIO] [B_DIFFSAMP] [REPEATS]
"""
import gzip
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch

DEFAULT_DATA = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"


def fashion():
    raw = gzip.open(DEFAULT_DATA).read()
    x = np.frombuffer(raw, np.uint8, offset=16).reshape(-1, 1, 28, 28)
    return (x.astype(np.float32) / np.float32(127.5) - np.float32(1.0))


def cifar_random(seed=11):
    """50,000 random 3 x 32 x 32 images with local correlations: per channel a 5 x 5 box
    mean of normal noise plus one of a noise plane shared by the channels."""
    rng = np.random.default_rng(seed)
    out = np.empty((50000, 3, 32, 32), np.float32)
    for start in range(0, 50000, 5000):
        z = rng.standard_normal((5000, 4, 32, 32)).astype(np.float32)
        box = np.zeros_like(z)
        for da in range(-2, 3):
            for db in range(-2, 3):
                box += np.roll(z, (da, db), axis=(2, 3))
        out[start:start + 5000] = 0.06 * box[:, :3] + 0.1 * box[:, 3:4]
    return out


class WeightedStreamingSoftmax:
    """The studio's running weighted softmax (per dataloader batch, then averaged)."""

    def __init__(self, eps=1e-8):
        self.sum_weighted = None
        self.sum_weights = None
        self.eps = eps

    def add(self, x0b, logits):
        logits_max, _ = logits.max(dim=1, keepdim=True)
        logits_exp = torch.exp(logits - logits_max)
        weights = logits_exp / logits_exp.sum(dim=1, keepdim=True)
        weighted_sum = torch.einsum("bkn,kn->bn", weights, x0b)
        weight_sum = weights.sum(dim=1)
        if self.sum_weighted is None:
            self.sum_weighted, self.sum_weights = weighted_sum, weight_sum
        else:
            self.sum_weighted += weighted_sum
            self.sum_weights += weight_sum

    def get_average(self):
        return self.sum_weighted / (self.sum_weights + self.eps)


class StudioPCALocality:
    """PCALocalityDenoiser's mask and denoise, alpha_prod_t given directly."""

    def __init__(self, U, LA, Vh, batches, temperature=1.0, mask_threshold=0.02):
        self.U, self.LA, self.Vh = U, LA, Vh
        self.batches = batches  # the dataloader: a list of [k, n] tensors
        self.temperature = temperature
        self.mask_threshold = mask_threshold
        self.eps = 1e-6

    def projection_mask(self, alpha_prod_t):
        beta_prod_t = 1 - alpha_prod_t
        shrink_factors = alpha_prod_t * self.LA / (beta_prod_t + alpha_prod_t * self.LA)
        LLt = self.U @ torch.diag(shrink_factors) @ self.Vh
        denom = torch.diagonal(LLt).unsqueeze(1).clone()
        denom[denom.abs() < self.eps] = 1.0
        mask = LLt / denom
        if self.mask_threshold > 0:
            threshold = mask.abs().max() * self.mask_threshold
            mask = torch.where(mask.abs() >= threshold, torch.ones_like(mask),
                               torch.zeros_like(mask))
        return mask, beta_prod_t

    @torch.no_grad()
    def denoise(self, latents, alpha_prod_t):
        mask, beta_prod_t = self.projection_mask(alpha_prod_t)
        sqrt_alpha = torch.sqrt(alpha_prod_t).to(latents.dtype)
        xt = latents.flatten(start_dim=1)
        first_moment = WeightedStreamingSoftmax()
        for x0b in self.batches:
            delta = (xt.unsqueeze(1) - sqrt_alpha * x0b.unsqueeze(0)) ** 2  # [b, k, n]
            ds_chunk = torch.einsum("bkn,nm->bkm", delta, mask)
            logits = -ds_chunk / (2 * beta_prod_t * self.temperature)
            first_moment.add(x0b, logits)
        return first_moment.get_average().view_as(latents)


def wiener_components(rows):
    """Mean, covariance (ddof 1) and its SVD in float64, kept in float32 as the studio."""
    y = torch.from_numpy(rows).double()
    mean = y.mean(0)
    yc = y - mean
    cov = yc.T @ yc / (y.shape[0] - 1)
    U, LA, Vh = torch.linalg.svd(cov)
    return U.float(), LA.float(), Vh.float()


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    build, which, sigmas = sys.argv[1], sys.argv[2], [float(s) for s in sys.argv[3].split(",")]
    b_studio = int(sys.argv[4]) if len(sys.argv) > 4 else 2
    b_diffsamp = int(sys.argv[5]) if len(sys.argv) > 5 else 64
    repeats = int(sys.argv[6]) if len(sys.argv) > 6 else 1
    images = fashion() if which == "fashion" else cifar_random()
    n = images.shape[0]
    rows = images.reshape(n, -1)
    d = rows.shape[1]
    rng = np.random.default_rng(1)
    idx = (np.arange(b_diffsamp) * 233) % n
    print(f"machine: {os.cpu_count()} cores, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads; data {which} N={n} d={d}; "
          f"studio B={b_studio} (one dataloader batch of N), diffsamp B={b_diffsamp}", flush=True)
    U, LA, Vh = wiener_components(rows)
    studio = StudioPCALocality(U, LA, Vh, [torch.from_numpy(rows)])
    with tempfile.TemporaryDirectory() as tmp:
        np.save(f"{tmp}/data.npy", images)
        for sigma in sigmas:
            x = (rows[idx] + sigma * rng.standard_normal((b_diffsamp, d))).astype(np.float32)
            np.save(f"{tmp}/x.npy", x)
            a = torch.tensor(1.0 / (1.0 + sigma * sigma), dtype=torch.float32)
            latents = torch.sqrt(a) * torch.from_numpy(x[:b_studio])
            times = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                got = studio.denoise(latents, a)
                times.append(time.perf_counter() - t0)
            studio_ms = 1e3 * float(np.median(times)) / b_studio
            cmd = [f"{build}/bench_cpu_denoise", "local", "pca_locality", str(b_diffsamp),
                   str(repeats), f"{tmp}/data.npy", repr(sigma), f"{tmp}/x.npy", f"{tmp}/out"]
            text = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
            line = [l for l in text.splitlines() if "ms_per_query" in l][0].split()
            ours_ms = float(line[line.index("ms_per_query") + 1])
            density = float(line[line.index("mask_density") + 1])
            ours = np.load(f"{tmp}/out.{sigma:g}.npy")[:b_studio]
            ref = got.numpy().astype(np.float64)
            rel = np.linalg.norm(ours - ref) / np.linalg.norm(ref)
            print(f"sigma {sigma:g} mask_density {density:.4f} studio_ms_per_query {studio_ms:.1f} "
                  f"diffsamp_ms_per_query {ours_ms:.2f} ratio {studio_ms / ours_ms:.1f} "
                  f"rel_l2_difference {rel:.2e}", flush=True)


if __name__ == "__main__":
    main()
