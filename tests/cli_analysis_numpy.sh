#!/bin/sh
# diffsamp analyze cross-checked against numpy on small random inputs: trajectory
# geometry, memorisation (a duplicated training row, a sample on a training row), the
# PCA-Frechet distance (k >= samples, 2 samples), analyze error, and the denoiser
# comparison with the Philox noise reproduced in numpy. Each quantity is recomputed
# from the README's definitions; the CSV files print 6 significant digits, hence the
# relative tolerance of 2e-5 (1e-4 for the denoisers: float32 data summed in another order).
. "$(dirname "$0")/shell_common.sh"
require_numpy
$PY - "$BIN" "$T" <<'PY'
import csv, os, subprocess, sys
import numpy as np

BIN, T = sys.argv[1], sys.argv[2]
rng = np.random.default_rng([int(__import__('os').environ['DIFFSAMP_TEST_SEED']), 1])
worst = {}


def run(*args):
    r = subprocess.run([BIN] + list(args), capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit("FAIL: diffsamp %s: %s" % (" ".join(args), r.stderr.strip()))
    return r.stdout


def run_fails(expect, *args):
    r = subprocess.run([BIN] + list(args), capture_output=True, text=True)
    if r.returncode == 0 or expect not in r.stderr:
        sys.exit("FAIL: diffsamp %s: expected an error with '%s', got rc %d: %s" %
                 (" ".join(args), expect, r.returncode, r.stderr.strip()))


def table(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def close(what, got, want, rtol=2e-5, atol=1e-9):
    got, want = np.asarray(got, float), np.asarray(want, float)
    both_nan = np.isnan(got) & np.isnan(want)
    err = np.where(both_nan, 0, np.abs(got - want) / (np.abs(want) + atol / rtol))
    worst[what] = max(worst.get(what, 0), float(np.nanmax(err)) if err.size else 0)
    if not np.all(both_nan | (np.abs(got - want) <= rtol * np.abs(want) + atol)):
        sys.exit("FAIL: %s: diffsamp %s, numpy %s" % (what, got, want))


def stats_row(row, v):
    v = np.asarray(v, float)
    v = v[~np.isnan(v)]
    want = [v.mean()] + list(np.quantile(v, [0.05, 0.25, 0.5, 0.75, 0.95])) + [v.max()]
    got = [float(row[c]) for c in ("mean", "q05", "q25", "q50", "q75", "q95", "max")]
    close("summary " + row["metric"], got, want)
    assert int(row["n"]) == len(v), row


# ---- trajectory ----
def traj_check(S, B, d, nd):
    x = rng.standard_normal((S, B, d)) + np.linspace(0, 3, S)[:, None, None] * rng.standard_normal(
        (1, B, d))
    den = rng.standard_normal((nd, B, d))
    sig = np.geomspace(80, 0.002, S)
    p = os.path.join(T, "traj")
    np.save(p + "_x.npy", x)
    np.save(p + "_denoised.npy", den.astype(np.float32))
    np.save(p + "_sigmas.npy", sig)
    out = os.path.join(T, "atraj")
    run("analyze", "trajectory", "--trajectory", p, "--out", out)
    dev = np.zeros((B, S))
    ang = np.zeros((B, max(S - 2, 0)))
    pca = np.zeros((B, 3))
    for i in range(B):
        P = x[:, i]
        u = P[-1] - P[0]
        for s in range(S):
            v = P[s] - P[0]
            dev[i, s] = np.linalg.norm(v - (v @ u) / (u @ u) * u) / np.linalg.norm(u)
        st = np.diff(P, axis=0)
        for s in range(S - 2):
            c = st[s] @ st[s + 1] / np.linalg.norm(st[s]) / np.linalg.norm(st[s + 1])
            ang[i, s] = np.degrees(np.arccos(np.clip(c, -1, 1)))
        sv = np.linalg.svd(P - P.mean(0), compute_uv=False) ** 2
        sv = np.concatenate([sv, np.zeros(3)])
        pca[i] = np.cumsum(sv)[:3] / sv.sum()
    dist_x = np.linalg.norm(x - x[-1][None], axis=2)  # S x B
    dist_d = np.linalg.norm(den.astype(np.float32).astype(float) - x[-1][None], axis=2)
    rows = table(os.path.join(out, "trajectory_samples.csv"))
    close("traj max_deviation", [float(r["max_deviation"]) for r in rows], dev.max(1))
    if S > 2:
        close("traj mean_angle", [float(r["mean_angle"]) for r in rows], ang.mean(1), 1e-4, 1e-6)
    for k in range(3):
        close("traj pca%d" % (k + 1), [float(r["pca%d" % (k + 1)]) for r in rows], pca[:, k])
    steps = table(os.path.join(out, "trajectory_steps.csv"))
    close("traj sigma", [float(r["sigma"]) for r in steps], sig)
    close("traj deviation_mean", [float(r["deviation_mean"]) for r in steps], dev.mean(0), 2e-5,
          1e-7)
    close("traj deviation_q95", [float(r["deviation_q95"]) for r in steps],
          np.quantile(dev, 0.95, axis=0), 2e-5, 1e-7)
    close("traj dist_x_mean", [float(r["dist_x_mean"]) for r in steps], dist_x.mean(1), 2e-5, 1e-7)
    close("traj dist_denoised_mean", [float(r["dist_denoised_mean"]) for r in steps[:nd]],
          dist_d.mean(1))
    if S > 2:
        close("traj angle_mean", [float(r["angle_mean"]) for r in steps[:S - 2]], ang.mean(0), 1e-3)
    summ = {r["metric"]: r for r in table(os.path.join(out, "trajectory_summary.csv"))}
    stats_row(summ["max_deviation"], dev.max(1))
    if S > 2:
        stats_row(summ["mean_angle_deg"], ang.mean(1))
    stats_row(summ["pca1_fraction"], pca[:, 0])


traj_check(7, 5, 6, 7)
traj_check(9, 4, 2, 8)  # d < 3: the PCA fractions saturate
traj_check(2, 3, 5, 1)  # two points: no angles

# A sample that never moves has no chord: its deviation is NaN, not 0 (straight).
xs = rng.standard_normal((6, 3, 4))
xs[:, 1] = xs[0, 1]
p = os.path.join(T, "still")
for suffix, a in (("_x", xs), ("_denoised", xs), ("_sigmas", np.geomspace(80, 0.002, 6))):
    np.save(p + suffix + ".npy", a)
run("analyze", "trajectory", "--trajectory", p, "--out", os.path.join(T, "astill"))
rows = table(os.path.join(T, "astill", "trajectory_samples.csv"))
assert np.isnan(float(rows[1]["max_deviation"])), rows[1]
assert all(np.isnan(float(rows[1]["pca%d" % k])) for k in (1, 2, 3)), rows[1]
assert not np.isnan(float(rows[0]["max_deviation"])), rows[0]
summ = {r["metric"]: r for r in table(os.path.join(T, "astill", "trajectory_summary.csv"))}
assert summ["max_deviation"]["n"] == "2" and summ["pca1_fraction"]["n"] == "2", summ


# ---- memorisation ----
def mem_ref(train, xs):
    d2 = ((xs[:, None, :] - train[None, :, :]) ** 2).sum(2)
    order = np.argsort(d2, axis=1, kind="stable")
    a = np.sqrt(d2[np.arange(len(xs)), order[:, 0]])
    b = np.sqrt(d2[np.arange(len(xs)), order[:, 1]])
    return order[:, 0], a, b


train = rng.standard_normal((300, 7)).astype(np.float32)
train[5] = train[17]  # a duplicated training row
samples = rng.standard_normal((40, 7))
samples[0] = train[3]  # a training row itself
samples[1] = train[17]  # a duplicated training row: d1 = d2 = 0
samples[2] = train[17] + 0.5 * rng.standard_normal(7)  # near the duplicated row: d1 = d2
samples[3] = train[8] + 1e-4 * rng.standard_normal(7)  # memorised
np.save(os.path.join(T, "train.npy"), train)
np.save(os.path.join(T, "samples.npy"), samples)
out = os.path.join(T, "amem")
run("analyze", "memorization", "--samples", os.path.join(T, "samples.npy"), "--data",
    os.path.join(T, "train.npy"), "--out", out)
near, d1, d2 = mem_ref(train.astype(float), samples)
ratio = np.where(d2 > 0, d1 / np.where(d2 > 0, d2, 1), 0.0)
rows = table(os.path.join(out, "memorization.csv"))
got_near = np.array([int(r["nearest"]) for r in rows])
tie = (np.abs(d1 - d2) <= 1e-12 * (1 + d2))
assert np.all((got_near == near) | tie), (got_near, near)
assert got_near[1] in (5, 17) and got_near[0] == 3 and got_near[3] == 8, got_near[:4]
close("mem d1", [float(r["d1"]) for r in rows], d1, 2e-5, 1e-12)
close("mem d2", [float(r["d2"]) for r in rows], d2, 2e-5, 1e-12)
close("mem ratio", [float(r["ratio"]) for r in rows], ratio, 2e-5, 1e-12)
memo = ratio < 1 / 3
assert [int(r["memorized"]) for r in rows] == list(memo.astype(int)), "memorised flags"
assert memo[0] and memo[1] and memo[3] and not memo[2], memo[:4]
summ = {r["metric"]: r for r in table(os.path.join(out, "memorization_summary.csv"))}
stats_row(summ["nearest_distance"], d1)
stats_row(summ["nearest_ratio"], ratio)
stats_row(summ["memorized"], memo.astype(float))


# ---- PCA-Frechet distance ----
def sqrtm(a):
    w, v = np.linalg.eigh((a + a.T) / 2)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def frechet(a, b):
    ma, mb = a.mean(0), b.mean(0)
    sa, sb = np.atleast_2d(np.cov(a, rowvar=False)), np.atleast_2d(np.cov(b, rowvar=False))
    r = sqrtm(sa)
    return ((ma - mb) ** 2).sum() + np.trace(sa + sb - 2 * sqrtm(r @ sb @ r))


def pca_fd(train, a, b, k):
    t = train.astype(float)
    mu = t.mean(0)
    w, v = np.linalg.eigh(np.cov(t, rowvar=False))
    basis = v[:, np.argsort(w)[::-1][:k]]
    return frechet((a - mu) @ basis, (b - mu) @ basis)


scales = np.geomspace(3, 0.1, 10)
trainf = (rng.standard_normal((500, 10)) * scales).astype(np.float32)
held = (rng.standard_normal((120, 10)) * scales + 0.2).astype(np.float32)
for n, k in ((60, 4), (60, 10), (5, 8), (2, 1)):  # (5, 8), (2, 1): k >= samples, 2 samples
    s = rng.standard_normal((n, 10)) * scales * 1.3
    np.save(os.path.join(T, "s.npy"), s)
    np.save(os.path.join(T, "trainf.npy"), trainf)
    np.save(os.path.join(T, "held.npy"), held)
    out = os.path.join(T, "afid")
    run("analyze", "fid", "--samples", os.path.join(T, "s.npy"), "--data",
        os.path.join(T, "trainf.npy"), "--heldout", os.path.join(T, "held.npy"), "--pca-k", str(k),
        "--out", out)
    rows = table(os.path.join(out, "fid.csv"))
    hf = held.astype(float)
    close("fid samples", float(rows[0]["frechet"]), pca_fd(trainf, s, hf, k), 2e-5, 1e-9)
    close("fid baseline", float(rows[1]["frechet"]), pca_fd(trainf, trainf[:n].astype(float), hf, k),
          2e-5, 1e-9)

# Constant training data has no principal components: refused, not an arbitrary basis.
np.save(os.path.join(T, "const.npy"), np.full((20, 10), 0.25, np.float32))
run_fails("rows are equal", "analyze", "fid", "--samples", os.path.join(T, "s.npy"), "--data",
          os.path.join(T, "const.npy"), "--heldout", os.path.join(T, "held.npy"), "--pca-k", "2",
          "--out", out)

# ---- analyze error ----
ref = rng.standard_normal((30, 9))
x = ref + rng.uniform(0.001, 0.3) * rng.standard_normal((30, 9))
np.save(os.path.join(T, "x.npy"), x.astype(np.float32))
np.save(os.path.join(T, "ref.npy"), ref)
out = os.path.join(T, "aerr")
run("analyze", "error", "--samples", os.path.join(T, "x.npy"), "--reference",
    os.path.join(T, "ref.npy"), "--out", out)
xf = x.astype(np.float32).astype(float)
stats_row(table(os.path.join(out, "error.csv"))[0],
          np.linalg.norm(xf - ref, axis=1) / np.linalg.norm(ref, axis=1))


# ---- denoiser comparison (Philox noise reproduced in numpy) ----
def philox_normal(seed, rows, cols):
    r, c = np.meshgrid(np.arange(rows, dtype=np.uint64), np.arange(cols, dtype=np.uint64),
                       indexing="ij")
    M = np.uint64(0xFFFFFFFF)
    blk = c >> np.uint64(2)
    v = [blk & M, blk >> np.uint64(32), r & M, r >> np.uint64(32)]
    k0, k1 = np.uint64(seed & 0xFFFFFFFF), np.uint64(seed >> 32)
    for _ in range(10):
        p0 = np.uint64(0xD2511F53) * v[0]
        p1 = np.uint64(0xCD9E8D57) * v[2]
        v = [(p1 >> np.uint64(32)) ^ v[1] ^ k0, p1 & M, (p0 >> np.uint64(32)) ^ v[3] ^ k1, p0 & M]
        k0 = (k0 + np.uint64(0x9E3779B9)) & M
        k1 = (k1 + np.uint64(0xBB67AE85)) & M
    lane = (c & np.uint64(3)).astype(int)
    a = np.where(lane < 2, v[0], v[2]).astype(float)
    b = np.where(lane < 2, v[1], v[3]).astype(float)
    u1, u2 = (a + 1.0) * 2.0 ** -32, b * 2.0 ** -32
    rad, ang = np.sqrt(-2 * np.log(u1)), 2 * np.pi * u2
    return np.where(lane & 1, rad * np.sin(ang), rad * np.cos(ang))


def d_empirical(train, x, s):
    l = -((x[:, None, :] - train[None]) ** 2).sum(2) / (2 * s * s)
    w = np.exp(l - l.max(1, keepdims=True))
    return (w / w.sum(1, keepdims=True)) @ train


def d_gaussian(train, x, s):
    mu, C = train.mean(0), np.cov(train, rowvar=False, bias=True)
    return mu + (x - mu) @ np.linalg.solve(C + s * s * np.eye(len(mu)), C).T


dtrain = (rng.standard_normal((200, 5)) * [2, 1, 0.5, 0.3, 0.1]).astype(np.float32)
dheld = (rng.standard_normal((60, 5)) * [2, 1, 0.5, 0.3, 0.1]).astype(np.float32)
np.save(os.path.join(T, "dtrain.npy"), dtrain)
np.save(os.path.join(T, "dheld.npy"), dheld)
seed, npts, thr = int(rng.integers(0, 2 ** 40)), 24, 0.2
out = os.path.join(T, "aden")
run("analyze", "denoisers", "--data", os.path.join(T, "dtrain.npy"), "--heldout",
    os.path.join(T, "dheld.npy"), "--models", "empirical,gaussian", "--n", str(npts), "--levels", "9",
    "--sigma-min", "0.01", "--sigma-max", "50", "--seed", str(seed), "--threshold", str(thr),
    "--backend", "ref", "--out", out)
sig = np.geomspace(0.01, 50, 9)
noise = philox_normal(seed, npts, 5)
rows = table(os.path.join(out, "denoisers.csv"))
cross = {r["points"]: float(r["crossover_sigma"]) for r in table(os.path.join(out, "denoisers_crossover.csv"))}
tf = dtrain.astype(float)
for pts, src in (("train", tf), ("heldout", dheld.astype(float))):
    y = src[np.arange(npts) * len(src) // npts]
    rel, ev = [], []
    for s in sig:
        x = y + s * noise
        de, dg = d_empirical(tf, x, s), d_gaussian(tf, x, s)
        rel.append(np.linalg.norm(dg - de) / np.linalg.norm(de))
        ev.append(1 - ((dg - de) ** 2).sum() / ((de - x) ** 2).sum())
    got = [r for r in rows if r["points"] == pts]
    close("denoisers rel_diff", [float(r["rel_diff"]) for r in got], rel, 1e-4, 1e-9)
    close("denoisers score_ev", [float(r["score_ev"]) for r in got], ev, 1e-4, 1e-6)
    rel = np.array(rel)
    above = np.nonzero(rel > thr)[0]
    want = np.nan
    if len(above):
        i = above[-1]
        want = sig[i]
        if i + 1 < len(sig):
            t = (np.log(rel[i]) - np.log(thr)) / (np.log(rel[i]) - np.log(rel[i + 1]))
            want = np.exp(np.log(sig[i]) + t * (np.log(sig[i + 1]) - np.log(sig[i])))
    close("denoisers crossover", cross[pts], want, 1e-3, 1e-9)

for what, e in sorted(worst.items()):
    print("%-28s max rel discrepancy %.2e" % (what, e))
PY
