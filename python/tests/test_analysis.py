"""The analyses against independent numpy computations."""

import numpy as np

import diffsamp as ds


def test_memorization_brute_force(anisotropic, seed):
    rng = np.random.default_rng(seed)
    y = anisotropic.astype(np.float64)
    x = np.vstack([y[:3] + 1e-3 * rng.standard_normal((3, 12)), rng.standard_normal((5, 12))])
    r = ds.memorization(x, anisotropic)
    dist = np.sqrt(((x[:, None, :] - y[None]) ** 2).sum(-1))
    order = np.sort(dist, 1)
    assert np.array_equal(r.nearest, dist.argmin(1))
    # distances recomputed directly in double: 1e-12 relative
    assert np.allclose(r.d1, order[:, 0], rtol=1e-12) and np.allclose(r.d2, order[:, 1], rtol=1e-12)
    assert r.memorized[:3].all() and abs(r.fraction - r.memorized.mean()) < 1e-15


def test_pca_frechet_numpy(anisotropic, seed):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((300, 12)) * 1.5
    b = anisotropic[:200].astype(np.float64)
    k = 5
    y = anisotropic.astype(np.float64)
    w, v = np.linalg.eigh(np.cov(y.T))
    basis = v[:, ::-1][:, :k]
    za, zb = (a - y.mean(0)) @ basis, (b - y.mean(0)) @ basis
    sa, sb = np.cov(za.T), np.cov(zb.T)
    ew, ev = np.linalg.eigh(sa)
    ra = ev @ np.diag(np.sqrt(ew)) @ ev.T
    m = np.linalg.eigvalsh(ra @ sb @ ra)
    want = ((za.mean(0) - zb.mean(0)) ** 2).sum() + np.trace(sa + sb) - 2 * np.sqrt(m).sum()
    # a sum of O(10) terms and cancellation in the trace: 1e-9 relative
    assert abs(ds.pca_frechet(a, b, anisotropic, k=k) - want) < 1e-9 * max(want, 1)


def test_trajectory_geometry_line():
    """Points on a straight line: deviation 0, angle 0, all variance in one component."""
    t = np.linspace(0, 1, 6)[:, None, None]
    direction = np.arange(1.0, 5.0)[None, None, :]
    x = t * direction + np.ones((6, 2, 4))
    g = ds.trajectory_geometry(x=x, denoised=x[:-1])
    assert np.abs(g.deviation).max() < 1e-12
    assert np.abs(g.angle).max() < 1e-5
    assert np.allclose(g.pca_frac[:, 0], 1.0)
    assert np.allclose(g.dist_x[0], np.linalg.norm(direction) * (1 - t.ravel()))


def test_compare_denoisers(anisotropic, seed):
    e = ds.Model.empirical(anisotropic)
    g = ds.Model.gaussian(anisotropic)
    s, rd, ev = ds.compare_denoisers(e, [g, e], anisotropic[:30], sigmas=[0.05, 1.0, 50.0],
                                     seed=seed, backend="ref")
    assert rd.shape == (2, 3) and np.all(rd[1] == 0) and np.all(ev[1] == 1)
    assert rd[0, 0] > rd[0, 2]  # the Gaussian departs from the training set at low noise
