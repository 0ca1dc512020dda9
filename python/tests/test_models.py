"""The Python API against the C library's own outputs (the CLI) and against
independent numpy computations."""

import os

import numpy as np
import pytest

import diffsamp as ds

SOLVERS = ["euler", "heun", "dpm2", "dpmpp2m", "dpmpp3m", "lms", "unipc", "ipndm",
           "ipndm_v", "deis", "adaptive"]


def rel(a, b):
    return np.linalg.norm(np.asarray(a) - b) / np.linalg.norm(b)


def gaussian_arrays(model, tmp_path):
    """mean, eigenvalues and eigenvectors of a Gaussian model, read from its folder."""
    model.save(tmp_path / "g")
    load = lambda name: np.load(tmp_path / "g" / name)
    return load("mean.npy").ravel(), load("eigvals.npy").ravel(), load("eigvecs.npy")


# A numpy Gaussian denoiser as a Python callable against the built-in Gaussian model, ref
# backend, every solver. The two differ only in the rounding of the denoiser (numpy's
# matrix products against the ref loops: ~d eps = 3e-15 relative per evaluation, d = 12);
# the solvers carry it forward growing at most with the evaluations (<= 35 fixed-step,
# a few hundred adaptive): < 1e-12 (the figure).
@pytest.mark.parametrize("solver", SOLVERS)
def test_callback_equals_gaussian(solver, anisotropic, tmp_path, seed):
    g = ds.Model.gaussian(anisotropic)
    mu, lam, u = gaussian_arrays(g, tmp_path)

    def gauss_denoiser(x, sigma):
        f = lam / (lam + sigma[:, None] ** 2)
        return mu + ((x - mu) @ u * f) @ u.T

    calls = []
    cb = ds.Model.from_denoiser(lambda x, s: calls.append(1) or gauss_denoiser(x, s), dim=g.d)
    for fraction in (None, 0.25):  # teleport past a quarter of the steps
        a = ds.sample(g, n=6, sampler=solver, steps=12, seed=seed, backend="ref",
                      teleport_fraction=fraction)
        b = ds.sample(cb, n=6, sampler=solver, steps=12, seed=seed, backend="ref",
                      teleport_fraction=fraction, teleport_model=g)
        assert rel(b.samples, a.samples) < 1e-12
        assert a.nfe == b.nfe
    assert len(calls) > 0


# The CLI and the Python API on the same model folder, seed and options: the same code
# on the same inputs, so equal to the precision samples.npy is written in (float64 on
# ref: 1e-13 for summation-order differences in OpenMP loops, none expected).
def test_sample_matches_cli(anisotropic, tmp_path, cli, seed):
    np.save(tmp_path / "y.npy", anisotropic)
    cli("prepare", "--data", tmp_path / "y.npy", "--model", "gmm", "--k", 3,
        "--seed", seed % 1000, "--out", tmp_path / "m")
    cli("sample", "--model-dir", tmp_path / "m", "--n", 10, "--batch", 4, "--sampler",
        "dpmpp2m", "--steps", 9, "--seed", seed, "--backend", "ref", "--out", tmp_path / "s")
    want = np.load(tmp_path / "s" / "samples.npy").astype(np.float64)
    m = ds.Model.load(tmp_path / "m")
    got = ds.sample(m, n=10, batch=4, sampler="dpmpp2m", steps=9, seed=seed, backend="ref")
    tol = 1e-13 if np.load(tmp_path / "s" / "samples.npy").dtype == np.float64 else 1.2e-7
    assert rel(got.samples, want) < tol
    sig = np.loadtxt(tmp_path / "s" / "sigmas.txt")
    assert rel(got.sigmas, sig) < 1e-15


# Fitting in Python and with `diffsamp prepare` gives the same model (same code, same
# float32 rows), so the same denoiser: equal up to OpenMP summation order, 1e-12.
def test_fit_matches_prepare(anisotropic, tmp_path, cli, seed):
    np.save(tmp_path / "y.npy", anisotropic)
    cli("prepare", "--data", tmp_path / "y.npy", "--model", "gaussian", "--out", tmp_path / "m")
    a = ds.Model.load(tmp_path / "m")
    b = ds.Model.gaussian(str(tmp_path / "y.npy"))
    x = np.random.default_rng(seed).standard_normal((7, a.d)) * 2
    for s in (0.05, 1.0, 30.0):
        assert rel(b.denoise(x, s, backend="ref"), a.denoise(x, s, backend="ref")) < 1e-12


# The empirical denoiser against a float64 numpy softmax over the training rows; cpu
# works in float32 with the products near the maximum refined in double (README): its
# relative error is bounded by a few float32 ulps of |x| |y| / sigma^2 in the logits
# relative to the weighted mean, measured < 1e-5 on these sizes; ref to 1e-12.
def test_empirical_denoise(anisotropic, seed):
    m = ds.Model.empirical(anisotropic)
    y = anisotropic.astype(np.float64)
    rng = np.random.default_rng(seed + 1)
    x = y[rng.integers(0, len(y), 5)] + rng.standard_normal((5, m.d))
    sig = np.array([0.3, 0.7, 1.0, 2.0, 5.0])
    logits = (x @ y.T - 0.5 * (y * y).sum(1)) / sig[:, None] ** 2
    w = np.exp(logits - logits.max(1, keepdims=True))
    want = (w / w.sum(1, keepdims=True)) @ y
    assert rel(m.denoise(x, sig, backend="ref"), want) < 1e-12
    assert rel(m.denoise(x, sig, backend="cpu"), want) < 1e-5


def test_no_copy_and_shapes(anisotropic):
    from diffsamp._arrays import rows_f64, rows_train

    x = np.random.default_rng(0).standard_normal((4, 12))
    assert np.shares_memory(rows_f64(x, 12), x)
    assert np.shares_memory(rows_f64(x.reshape(4, 3, 4), 12), x)
    assert np.shares_memory(rows_train(anisotropic), anisotropic)
    y64 = anisotropic.astype(np.float64)
    assert np.shares_memory(rows_train(y64), y64)
    f = np.asfortranarray(x)
    assert not np.shares_memory(rows_f64(f, 12), f)  # Fortran order: one copy
    m = ds.Model.gaussian(anisotropic)
    assert m.denoise(x[0], 1.0).shape == (12,)
    assert m.denoise(x.astype(np.float32), np.ones(4)).shape == (4, 12)


def test_list_schedule_and_defaults(anisotropic, seed):
    s = ds.schedule("edm", steps=18)
    assert len(s) == 19 and s[0] == 80.0 and s[-1] == 0.0 and abs(s[-2] - 0.002) < 1e-15
    assert np.array_equal(ds.schedule(s), s)
    m = ds.Model.gaussian(anisotropic)
    a = ds.sample(m, n=3, seed=seed, backend="ref")
    b = ds.sample(m, n=3, seed=seed, backend="ref", schedule=s)
    assert np.array_equal(a.samples, b.samples) and a.nfe == b.nfe == 35
    with pytest.raises(ValueError, match="decrease"):
        ds.schedule([1.0, 2.0, 0.0])


def test_images_and_data(tmp_path, seed):
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 256, (50, 1, 4, 4), dtype=np.uint8)
    np.save(tmp_path / "img.npy", img)
    x, labels = ds.load_data(tmp_path / "img.npy")
    assert x.shape == (50, 1, 4, 4) and labels is None
    assert np.allclose(x, img / 127.5 - 1, atol=1e-6)
    m = ds.Model.empirical(x)
    assert m.shape == (1, 4, 4)
    r = ds.sample(m, n=2, steps=4, seed=seed, trajectory=True)
    assert r.samples.shape == (2, 1, 4, 4)
    assert r.trajectory.x.shape == (5, 2, 16) and r.trajectory.denoised.shape == (4, 2, 16)
    # Heun's 4 steps make 7 NFE; certified landing (on for the empirical model) ends rows
    # whose posterior is one-hot earlier
    assert 1 <= r.nfe <= 7


def test_noise_from_seed_is_the_clis(anisotropic, seed):
    """Row i of a run started at first_row is the noise row first_row + i."""
    m = ds.Model.gaussian(anisotropic)
    a = ds.sample(m, n=6, seed=seed, backend="ref")
    b = ds.sample(m, n=3, seed=seed, first_row=3, backend="ref")
    assert np.array_equal(a.samples[3:], b.samples)


def test_errors(anisotropic, tmp_path):
    with pytest.raises(OSError, match="cannot open"):
        ds.load_data(tmp_path / "missing.npy")
    m = ds.Model.gaussian(anisotropic)
    with pytest.raises(ValueError, match="unknown sampler 'nope'"):
        ds.sample(m, n=2, sampler="nope")
    with pytest.raises(ValueError, match="unknown backend"):
        m.denoise(np.zeros((1, 12)) + 1, 1.0, backend="tpu")
    with pytest.raises(ValueError, match="sigma"):
        m.denoise(np.ones((1, 12)), -1.0)
    with pytest.raises(ValueError, match="shape"):
        m.denoise(np.ones((2, 5)), 1.0)

    class Boom(Exception):
        pass

    def bad(x, s):
        raise Boom("from the denoiser")

    cb = ds.Model.from_denoiser(bad, dim=12)
    with pytest.raises(Boom, match="from the denoiser"):
        ds.sample(cb, n=2)
    with pytest.raises(ValueError, match="expected the shape"):
        ds.sample(ds.Model.from_denoiser(lambda x, s: x[:, :3], dim=12), n=2)
    with pytest.raises(ValueError, match="cannot be saved"):
        cb.save(tmp_path / "cb")
    with pytest.raises(ValueError, match="teleport"):
        ds.sample(cb, n=2, teleport=5.0)


# GITS on a Python denoiser: the teacher runs and the DP see the callback's values,
# which differ from the built-in Gaussian's by rounding only (as above), so the same
# grid is chosen and the samples agree to 1e-12.
def test_gits_on_callback(anisotropic, tmp_path, seed):
    g = ds.Model.gaussian(anisotropic)
    mu, lam, u = gaussian_arrays(g, tmp_path)
    cb = ds.Model.from_denoiser(
        lambda x, s: mu + ((x - mu) @ u * (lam / (lam + s[:, None] ** 2))) @ u.T, dim=g.d)
    opts = dict(n=4, steps=5, schedule="gits", seed=seed, backend="ref",
                gits={"teacher_steps": 40, "warmup": 16})
    a, b = ds.sample(g, **opts), ds.sample(cb, **opts)
    assert np.array_equal(a.sigmas, b.sigmas) and len(a.sigmas) == 6
    assert rel(b.samples, a.samples) < 1e-12


def test_progress(anisotropic, capfd):
    g = ds.Model.gaussian(anisotropic)
    ds.sample(g, n=5, batch=2, steps=3, progress=True)
    assert "5 / 5 rows" in capfd.readouterr().err
