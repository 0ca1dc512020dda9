#!/usr/bin/python3
"""Numpy (float64) transcription of the reference sampling loops that diffsamp must
reproduce (requirement 6), with the closed-form Gaussian denoiser, or the empirical
(exact-score) denoiser of a set of training rows, in place of a network.

torch is not available here, so this is a line-by-line transcription of the reference
code, not the reference code itself:
  k-diffusion (crowsonkb/k-diffusion, k_diffusion/sampling.py): sample_euler,
      sample_heun (with EDM's churn), sample_dpm_2, sample_lms, sample_dpmpp_2m, and the
      stochastic sample_euler_ancestral, sample_dpmpp_sde, sample_dpmpp_2m_sde and
      sample_dpmpp_3m_sde, whose noise is read from DIR/step_noise.npy (draws x B x d) in the
      order k-diffusion draws it;
  diff-sampler (zju-pi/diff-sampler, diff-solvers-main/solvers.py and solver_utils.py):
      euler, heun, dpm_2, ipndm, ipndm_v, deis (tab), dpm_pp, unipc (predict_x0=True).
The network call net(x, t) becomes the denoiser D, and every call is counted.

Usage: reference_samplers.py DIR IMPL SAMPLER [key=value ...]
       reference_samplers.py DIR --cases FILE
DIR holds mean.npy (d), eigvecs.npy (d x d, columns), eigvals.npy (d) for a Gaussian, or
rows.npy (N x d, float64 training rows) for the empirical denoiser, and noise.npy (B x d)
and sigmas.npy. One run writes DIR/out.npy and prints "nfe N". With --cases, each line
"ID N IMPL SAMPLER [key=value ...]" runs on the first N sigmas, writes DIR/out_ID.npy and
prints "ID nfe N draws K".
Keys (diff-sampler): max_order, afs, denoise_to_zero, lower_order_final, variant;
(k-diffusion lms): order; (k-diffusion stochastic): s_churn, s_tmin, s_tmax,
s_noise, eta, r, solver_type.
"""
import math
import os
import sys

import numpy as np


class Gaussian:
    """D(x; sigma) = mu + U diag(lam / (lam + sigma^2)) U^T (x - mu); counts evaluations."""

    def __init__(self, mean, eigvecs, eigvals):
        self.mean, self.u, self.lam = mean, eigvecs, eigvals
        self.nfe = 0

    def __call__(self, x, sigma):
        self.nfe += 1
        sigma = float(sigma)
        proj = (x - self.mean) @ self.u
        return self.mean + (proj * (self.lam / (self.lam + sigma**2))) @ self.u.T


class Empirical:
    """D(x; sigma) = sum_i softmax_i(-|x - y_i|^2 / (2 sigma^2)) y_i over the rows y_i
    (the max-shifted softmax); counts evaluations."""

    def __init__(self, rows):
        self.y = rows
        self.nfe = 0

    def __call__(self, x, sigma):
        self.nfe += 1
        sigma = float(sigma)
        logits = -((x[:, None, :] - self.y[None, :, :]) ** 2).sum(-1) / (2 * sigma**2)
        w = np.exp(logits - logits.max(axis=1, keepdims=True))
        return (w @ self.y) / w.sum(axis=1, keepdims=True)


# ---------------------------------------------------------------- k-diffusion


def to_d(x, sigma, denoised):
    return (x - denoised) / sigma


class InjectedNoise:
    """k-diffusion's torch.randn_like / noise_sampler(sigma, sigma_next), fed the slices of
    DIR/step_noise.npy (draws x B x d) in order; counts the draws."""

    def __init__(self, folder):
        self.folder, self.v, self.draws = folder, None, 0

    def __call__(self, *sigmas):
        if self.v is None:
            self.v = np.load(f'{self.folder}/step_noise.npy').astype(np.float64)
        self.draws += 1
        return self.v[self.draws - 1]


def kd_churn(x, sigmas, i, noise, s_churn, s_tmin, s_tmax, s_noise):
    """EDM's churn at the top of step i of sample_euler / sample_heun. k-diffusion draws eps
    at every step, also at s_churn = 0 where it is unused; the transcription draws only
    when s_churn > 0 (diffsamp then is the ODE solver and draws nothing)."""
    gamma = min(s_churn / (len(sigmas) - 1), 2**0.5 - 1) if s_tmin <= sigmas[i] <= s_tmax else 0.
    sigma_hat = sigmas[i] * (gamma + 1)
    if s_churn > 0:
        eps = noise() * s_noise
        if gamma > 0:
            x = x + eps * (sigma_hat**2 - sigmas[i]**2) ** 0.5
    return x, sigma_hat


def kd_sample_euler(model, x, sigmas, noise=None, s_churn=0., s_tmin=0., s_tmax=math.inf,
                    s_noise=1.):
    for i in range(len(sigmas) - 1):
        x, sigma_hat = kd_churn(x, sigmas, i, noise, s_churn, s_tmin, s_tmax, s_noise)
        denoised = model(x, sigma_hat)
        d = to_d(x, sigma_hat, denoised)
        dt = sigmas[i + 1] - sigma_hat
        x = x + d * dt
    return x


def kd_sample_heun(model, x, sigmas, noise=None, s_churn=0., s_tmin=0., s_tmax=math.inf,
                   s_noise=1.):
    for i in range(len(sigmas) - 1):
        x, sigma_hat = kd_churn(x, sigmas, i, noise, s_churn, s_tmin, s_tmax, s_noise)
        denoised = model(x, sigma_hat)
        d = to_d(x, sigma_hat, denoised)
        dt = sigmas[i + 1] - sigma_hat
        if sigmas[i + 1] == 0:
            x = x + d * dt
        else:
            x_2 = x + d * dt
            denoised_2 = model(x_2, sigmas[i + 1])
            d_2 = to_d(x_2, sigmas[i + 1], denoised_2)
            d_prime = (d + d_2) / 2
            x = x + d_prime * dt
    return x


def kd_get_ancestral_step(sigma_from, sigma_to, eta=1.):
    if not eta:
        return sigma_to, 0.
    sigma_up = min(sigma_to, eta * (sigma_to**2 * (sigma_from**2 - sigma_to**2) / sigma_from**2) ** 0.5)
    sigma_down = (sigma_to**2 - sigma_up**2) ** 0.5
    return sigma_down, sigma_up


def kd_sample_euler_ancestral(model, x, sigmas, noise=None, eta=1., s_noise=1.):
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i])
        sigma_down, sigma_up = kd_get_ancestral_step(sigmas[i], sigmas[i + 1], eta=eta)
        d = to_d(x, sigmas[i], denoised)
        dt = sigma_down - sigmas[i]
        x = x + d * dt
        if sigmas[i + 1] > 0:
            x = x + noise(sigmas[i], sigmas[i + 1]) * s_noise * sigma_up
    return x


def kd_sample_dpmpp_sde(model, x, sigmas, noise=None, eta=1., s_noise=1., r=1 / 2):
    """k-diffusion draws from a Brownian tree by default; here `noise` is the injected one."""
    sigma_fn = lambda t: math.exp(-t)
    t_fn = lambda sigma: -math.log(sigma) if sigma > 0 else math.inf
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i])
        if sigmas[i + 1] == 0:
            d = to_d(x, sigmas[i], denoised)
            dt = sigmas[i + 1] - sigmas[i]
            x = x + d * dt
        else:
            t, t_next = t_fn(sigmas[i]), t_fn(sigmas[i + 1])
            h = t_next - t
            s = t + h * r
            fac = 1 / (2 * r)
            sd, su = kd_get_ancestral_step(sigma_fn(t), sigma_fn(s), eta)
            s_ = t_fn(sd)
            x_2 = (sigma_fn(s_) / sigma_fn(t)) * x - math.expm1(t - s_) * denoised
            x_2 = x_2 + noise(sigma_fn(t), sigma_fn(s)) * s_noise * su
            denoised_2 = model(x_2, sigma_fn(s))
            sd, su = kd_get_ancestral_step(sigma_fn(t), sigma_fn(t_next), eta)
            t_next_ = t_fn(sd)
            denoised_d = (1 - fac) * denoised + fac * denoised_2
            x = (sigma_fn(t_next_) / sigma_fn(t)) * x - math.expm1(t - t_next_) * denoised_d
            x = x + noise(sigma_fn(t), sigma_fn(t_next)) * s_noise * su
    return x


def kd_sample_dpmpp_2m_sde(model, x, sigmas, noise=None, eta=1., s_noise=1.,
                           solver_type='midpoint'):
    old_denoised = None
    h_last = None
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i])
        if sigmas[i + 1] == 0:
            x = denoised
        else:
            t, s = -math.log(sigmas[i]), -math.log(sigmas[i + 1])
            h = s - t
            eta_h = eta * h
            x = sigmas[i + 1] / sigmas[i] * math.exp(-eta_h) * x + -math.expm1(-h - eta_h) * denoised
            if old_denoised is not None:
                r = h_last / h
                if solver_type == 'heun':
                    x = x + (-math.expm1(-h - eta_h) / (-h - eta_h) + 1) * (1 / r) * (denoised - old_denoised)
                elif solver_type == 'midpoint':
                    x = x + 0.5 * -math.expm1(-h - eta_h) * (1 / r) * (denoised - old_denoised)
            if eta:
                x = x + noise(sigmas[i], sigmas[i + 1]) * sigmas[i + 1] * math.sqrt(-math.expm1(-2 * eta_h)) * s_noise
        old_denoised = denoised
        h_last = h
    return x


def kd_sample_dpmpp_3m_sde(model, x, sigmas, noise=None, eta=1., s_noise=1.):
    denoised_1, denoised_2 = None, None
    h, h_1, h_2 = None, None, None
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i])
        if sigmas[i + 1] == 0:
            x = denoised
        else:
            t, s = -math.log(sigmas[i]), -math.log(sigmas[i + 1])
            h = s - t
            h_eta = h * (eta + 1)
            x = math.exp(-h_eta) * x + -math.expm1(-h_eta) * denoised
            if h_2 is not None:
                r0 = h_1 / h
                r1 = h_2 / h
                d1_0 = (denoised - denoised_1) / r0
                d1_1 = (denoised_1 - denoised_2) / r1
                d1 = d1_0 + (d1_0 - d1_1) * r0 / (r0 + r1)
                d2 = (d1_0 - d1_1) / (r0 + r1)
                phi_2 = math.expm1(-h_eta) / h_eta + 1
                phi_3 = phi_2 / h_eta - 0.5
                x = x + phi_2 * d1 - phi_3 * d2
            elif h_1 is not None:
                r = h_1 / h
                d = (denoised - denoised_1) / r
                phi_2 = math.expm1(-h_eta) / h_eta + 1
                x = x + phi_2 * d
            if eta:
                x = x + noise(sigmas[i], sigmas[i + 1]) * sigmas[i + 1] * math.sqrt(-math.expm1(-2 * h * eta)) * s_noise
        denoised_1, denoised_2 = denoised, denoised_1
        h_1, h_2 = h, h_1
    return x


def kd_sample_dpm_2(model, x, sigmas):
    for i in range(len(sigmas) - 1):
        sigma_hat = sigmas[i]
        denoised = model(x, sigma_hat)
        d = to_d(x, sigma_hat, denoised)
        if sigmas[i + 1] == 0:
            dt = sigmas[i + 1] - sigma_hat
            x = x + d * dt
        else:
            # sigma_hat.log().lerp(sigmas[i + 1].log(), 0.5).exp()
            ls, ln = math.log(sigma_hat), math.log(sigmas[i + 1])
            sigma_mid = math.exp(ls + 0.5 * (ln - ls))
            dt_1 = sigma_mid - sigma_hat
            dt_2 = sigmas[i + 1] - sigma_hat
            x_2 = x + d * dt_1
            denoised_2 = model(x_2, sigma_mid)
            d_2 = to_d(x_2, sigma_mid, denoised_2)
            x = x + d_2 * dt_2
    return x


def kd_linear_multistep_coeff(order, t, i, j):
    def fn(tau):
        prod = 1.0
        for k in range(order):
            if j == k:
                continue
            prod *= (tau - t[i - k]) / (t[i - j] - t[i - k])
        return prod

    try:  # k-diffusion: scipy.integrate.quad(fn, t[i], t[i + 1], epsrel=1e-4)[0]
        from scipy import integrate

        return integrate.quad(fn, t[i], t[i + 1], epsrel=1e-4)[0]
    except ImportError:  # fn is a polynomial of degree < 4: 4-point Gauss-Legendre is exact
        nodes, weights = np.polynomial.legendre.leggauss(4)
        a, b = t[i], t[i + 1]
        return 0.5 * (b - a) * sum(w * fn(0.5 * (b - a) * z + 0.5 * (a + b)) for z, w in zip(nodes, weights))


def kd_sample_lms(model, x, sigmas, order=4):
    ds = []
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i])
        d = to_d(x, sigmas[i], denoised)
        ds.append(d)
        if len(ds) > order:
            ds.pop(0)
        cur_order = min(i + 1, order)
        coeffs = [kd_linear_multistep_coeff(cur_order, sigmas, i, j) for j in range(cur_order)]
        x = x + sum(coeff * d for coeff, d in zip(coeffs, reversed(ds)))
    return x


def kd_sample_dpmpp_2m(model, x, sigmas):
    sigma_fn = lambda t: math.exp(-t)
    t_fn = lambda sigma: -math.log(sigma) if sigma > 0 else math.inf
    old_denoised = None
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i])
        t, t_next = t_fn(sigmas[i]), t_fn(sigmas[i + 1])
        h = t_next - t
        if old_denoised is None or sigmas[i + 1] == 0:
            x = (sigma_fn(t_next) / sigma_fn(t)) * x - math.expm1(-h) * denoised
        else:
            h_last = t - t_fn(sigmas[i - 1])
            r = h_last / h
            denoised_d = (1 + 1 / (2 * r)) * denoised - (1 / (2 * r)) * old_denoised
            x = (sigma_fn(t_next) / sigma_fn(t)) * x - math.expm1(-h) * denoised_d
        old_denoised = denoised
    return x


# ---------------------------------------------------------------- diff-sampler


def afs_slope(x_cur, t_cur):
    return x_cur / math.sqrt(1 + t_cur**2)


def ds_euler(net, latents, t_steps, afs=False, denoise_to_zero=False, **kw):
    x_next = latents * t_steps[0]
    for i, (t_cur, t_next) in enumerate(zip(t_steps[:-1], t_steps[1:])):
        x_cur = x_next
        if afs and i == 0:
            d_cur = afs_slope(x_cur, t_cur)
        else:
            denoised = net(x_cur, t_cur)
            d_cur = (x_cur - denoised) / t_cur
        x_next = x_cur + (t_next - t_cur) * d_cur
    if denoise_to_zero:
        x_next = net(x_next, t_next)
    return x_next


def ds_heun(net, latents, t_steps, afs=False, denoise_to_zero=False, **kw):
    x_next = latents * t_steps[0]
    for i, (t_cur, t_next) in enumerate(zip(t_steps[:-1], t_steps[1:])):
        x_cur = x_next
        if afs and i == 0:
            d_cur = afs_slope(x_cur, t_cur)
        else:
            denoised = net(x_cur, t_cur)
            d_cur = (x_cur - denoised) / t_cur
        x_next = x_cur + (t_next - t_cur) * d_cur
        denoised = net(x_next, t_next)
        d_prime = (x_next - denoised) / t_next
        x_next = x_cur + (t_next - t_cur) * (0.5 * d_cur + 0.5 * d_prime)
    if denoise_to_zero:
        x_next = net(x_next, t_next)
    return x_next


def ds_dpm_2(net, latents, t_steps, afs=False, denoise_to_zero=False, r=0.5, **kw):
    x_next = latents * t_steps[0]
    for i, (t_cur, t_next) in enumerate(zip(t_steps[:-1], t_steps[1:])):
        x_cur = x_next
        if afs and i == 0:
            d_cur = afs_slope(x_cur, t_cur)
        else:
            denoised = net(x_cur, t_cur)
            d_cur = (x_cur - denoised) / t_cur
        t_mid = (t_next**r) * (t_cur ** (1 - r))
        x_next = x_cur + (t_mid - t_cur) * d_cur
        denoised = net(x_next, t_mid)
        d_prime = (x_next - denoised) / t_mid
        x_next = x_cur + (t_next - t_cur) * ((1 / (2 * r)) * d_prime + (1 - 1 / (2 * r)) * d_cur)
    if denoise_to_zero:
        x_next = net(x_next, t_next)
    return x_next


def ds_update_buffer(buffer_model, d_cur, max_order):
    if len(buffer_model) == max_order - 1:
        for k in range(max_order - 2):
            buffer_model[k] = buffer_model[k + 1]
        buffer_model[-1] = d_cur
    else:
        buffer_model.append(d_cur)


def ds_ipndm(net, latents, t_steps, afs=False, denoise_to_zero=False, max_order=4, **kw):
    x_next = latents * t_steps[0]
    buffer_model = []
    for i, (t_cur, t_next) in enumerate(zip(t_steps[:-1], t_steps[1:])):
        x_cur = x_next
        if afs and i == 0:
            d_cur = afs_slope(x_cur, t_cur)
        else:
            denoised = net(x_cur, t_cur)
            d_cur = (x_cur - denoised) / t_cur
        order = min(max_order, i + 1)
        if order == 1:
            x_next = x_cur + (t_next - t_cur) * d_cur
        elif order == 2:
            x_next = x_cur + (t_next - t_cur) * (3 * d_cur - buffer_model[-1]) / 2
        elif order == 3:
            x_next = x_cur + (t_next - t_cur) * (23 * d_cur - 16 * buffer_model[-1] + 5 * buffer_model[-2]) / 12
        elif order == 4:
            x_next = x_cur + (t_next - t_cur) * (
                55 * d_cur - 59 * buffer_model[-1] + 37 * buffer_model[-2] - 9 * buffer_model[-3]) / 24
        ds_update_buffer(buffer_model, d_cur, max_order)
    if denoise_to_zero:
        x_next = net(x_next, t_next)
    return x_next


def ds_ipndm_v(net, latents, t_steps, afs=False, denoise_to_zero=False, max_order=4, **kw):
    x_next = latents * t_steps[0]
    buffer_model = []
    for i, (t_cur, t_next) in enumerate(zip(t_steps[:-1], t_steps[1:])):
        x_cur = x_next
        if afs and len(buffer_model) == 0:
            d_cur = afs_slope(x_cur, t_cur)
        else:
            denoised = net(x_cur, t_cur)
            d_cur = (x_cur - denoised) / t_cur
        order = min(max_order, i + 1)
        if order == 1:
            x_next = x_cur + (t_next - t_cur) * d_cur
        elif order == 2:
            h_n = t_next - t_cur
            h_n_1 = t_cur - t_steps[i - 1]
            coeff1 = (2 + (h_n / h_n_1)) / 2
            coeff2 = -(h_n / h_n_1) / 2
            x_next = x_cur + (t_next - t_cur) * (coeff1 * d_cur + coeff2 * buffer_model[-1])
        elif order == 3:
            h_n = t_next - t_cur
            h_n_1 = t_cur - t_steps[i - 1]
            h_n_2 = t_steps[i - 1] - t_steps[i - 2]
            temp = (1 - h_n / (3 * (h_n + h_n_1)) * (h_n * (h_n + h_n_1)) / (h_n_1 * (h_n_1 + h_n_2))) / 2
            coeff1 = (2 + (h_n / h_n_1)) / 2 + temp
            coeff2 = -(h_n / h_n_1) / 2 - (1 + h_n_1 / h_n_2) * temp
            coeff3 = temp * h_n_1 / h_n_2
            x_next = x_cur + (t_next - t_cur) * (coeff1 * d_cur + coeff2 * buffer_model[-1] + coeff3 * buffer_model[-2])
        elif order == 4:
            h_n = t_next - t_cur
            h_n_1 = t_cur - t_steps[i - 1]
            h_n_2 = t_steps[i - 1] - t_steps[i - 2]
            h_n_3 = t_steps[i - 2] - t_steps[i - 3]
            temp1 = (1 - h_n / (3 * (h_n + h_n_1)) * (h_n * (h_n + h_n_1)) / (h_n_1 * (h_n_1 + h_n_2))) / 2
            temp2 = ((1 - h_n / (3 * (h_n + h_n_1))) / 2 + (1 - h_n / (2 * (h_n + h_n_1))) * h_n / (6 * (h_n + h_n_1 + h_n_2))) \
                * (h_n * (h_n + h_n_1) * (h_n + h_n_1 + h_n_2)) / (h_n_1 * (h_n_1 + h_n_2) * (h_n_1 + h_n_2 + h_n_3))
            coeff1 = (2 + (h_n / h_n_1)) / 2 + temp1 + temp2
            coeff2 = -(h_n / h_n_1) / 2 - (1 + h_n_1 / h_n_2) * temp1 - (1 + (h_n_1 / h_n_2) + (h_n_1 * (h_n_1 + h_n_2) / (h_n_2 * (h_n_2 + h_n_3)))) * temp2
            coeff3 = temp1 * h_n_1 / h_n_2 + ((h_n_1 / h_n_2) + (h_n_1 * (h_n_1 + h_n_2) / (h_n_2 * (h_n_2 + h_n_3))) * (1 + h_n_2 / h_n_3)) * temp2
            coeff4 = -temp2 * (h_n_1 * (h_n_1 + h_n_2) / (h_n_2 * (h_n_2 + h_n_3))) * h_n_1 / h_n_2
            x_next = x_cur + (t_next - t_cur) * (coeff1 * d_cur + coeff2 * buffer_model[-1] + coeff3 * buffer_model[-2] + coeff4 * buffer_model[-3])
        ds_update_buffer(buffer_model, d_cur, max_order)
    if denoise_to_zero:
        x_next = net(x_next, t_next)
    return x_next


def ds_edm2t(edm_steps, epsilon_s=1e-3, sigma_min=0.002, sigma_max=80):
    vp_sigma_inv = lambda beta_d, beta_min: lambda sigma: (np.sqrt(beta_min**2 + 2 * beta_d * np.log(sigma**2 + 1)) - beta_min) / beta_d
    vp_beta_d = 2 * (np.log(sigma_min**2 + 1) / epsilon_s - np.log(sigma_max**2 + 1)) / (epsilon_s - 1)
    vp_beta_min = np.log(sigma_max**2 + 1) - 0.5 * vp_beta_d
    t_steps = vp_sigma_inv(vp_beta_d, vp_beta_min)(np.asarray(edm_steps))
    return t_steps, vp_beta_min, vp_beta_d + vp_beta_min


def ds_cal_poly(prev_t, j, taus):
    poly = 1
    for k in range(prev_t.shape[0]):
        if k == j:
            continue
        poly *= (taus - prev_t[k]) / (prev_t[j] - prev_t[k])
    return poly


def ds_cal_intergrand(beta_0, beta_1, taus):
    alpha = np.exp(-0.5 * taus**2 * (beta_1 - beta_0) - taus * beta_0)
    d_log_alpha_dtau = -(taus * (beta_1 - beta_0) + beta_0)  # torch autograd of log(alpha)
    return -0.5 * d_log_alpha_dtau / np.sqrt(alpha * (1 - alpha))


def ds_get_deis_coeff_list(t_steps, max_order, N=10000):
    t_steps, beta_0, beta_1 = ds_edm2t(t_steps)
    C = []
    for i, (t_cur, t_next) in enumerate(zip(t_steps[:-1], t_steps[1:])):
        order = min(i + 1, max_order)
        if order == 1:
            C.append([])
        else:
            taus = np.linspace(t_cur, t_next, N)
            dtau = (t_next - t_cur) / N
            prev_t = t_steps[[i - k for k in range(order)]]
            coeff_temp = []
            integrand = ds_cal_intergrand(beta_0, beta_1, taus)
            for j in range(order):
                poly = ds_cal_poly(prev_t, j, taus)
                coeff_temp.append(np.sum(integrand * poly) * dtau)
            C.append(coeff_temp)
    return C


def ds_deis(net, latents, t_steps, afs=False, denoise_to_zero=False, max_order=4, **kw):
    coeff_list = ds_get_deis_coeff_list(t_steps, max_order)
    x_next = latents * t_steps[0]
    buffer_model = []
    for i, (t_cur, t_next) in enumerate(zip(t_steps[:-1], t_steps[1:])):
        x_cur = x_next
        if afs and len(buffer_model) == 0:
            d_cur = afs_slope(x_cur, t_cur)
        else:
            denoised = net(x_cur, t_cur)
            d_cur = (x_cur - denoised) / t_cur
        order = min(max_order, i + 1)
        if order == 1:
            x_next = x_cur + (t_next - t_cur) * d_cur
        else:
            x_next = x_cur + coeff_list[i][0] * d_cur
            for k in range(1, order):
                x_next = x_next + coeff_list[i][k] * buffer_model[-k]
        ds_update_buffer(buffer_model, d_cur, max_order)
    if denoise_to_zero:
        x_next = net(x_next, t_next)
    return x_next


def dynamic_thresholding_fn(x0):
    p = 0.995
    s = np.quantile(np.abs(x0).reshape((x0.shape[0], -1)), p, axis=1)
    s = np.maximum(s, 1.0)[:, None]
    return np.clip(x0, -s, s) / s


def dpm_solver_first_update(x, s, t, model_s):
    lambda_s, lambda_t = -math.log(s), -math.log(t)
    h = lambda_t - lambda_s
    phi_1 = math.expm1(-h)
    return (t / s) * x - phi_1 * model_s


def multistep_dpm_solver_second_update(x, model_prev_list, t_prev_list, t):
    model_prev_1, model_prev_0 = model_prev_list[-2], model_prev_list[-1]
    t_prev_1, t_prev_0 = t_prev_list[-2], t_prev_list[-1]
    lambda_prev_1, lambda_prev_0, lambda_t = -math.log(t_prev_1), -math.log(t_prev_0), -math.log(t)
    h_0 = lambda_prev_0 - lambda_prev_1
    h = lambda_t - lambda_prev_0
    r0 = h_0 / h
    D1_0 = (1.0 / r0) * (model_prev_0 - model_prev_1)
    phi_1 = math.expm1(-h)
    return (t / t_prev_0) * x - phi_1 * model_prev_0 - 0.5 * phi_1 * D1_0


def multistep_dpm_solver_third_update(x, model_prev_list, t_prev_list, t):
    model_prev_2, model_prev_1, model_prev_0 = model_prev_list[-3], model_prev_list[-2], model_prev_list[-1]
    t_prev_2, t_prev_1, t_prev_0 = t_prev_list[-3], t_prev_list[-2], t_prev_list[-1]
    lambda_prev_2, lambda_prev_1 = -math.log(t_prev_2), -math.log(t_prev_1)
    lambda_prev_0, lambda_t = -math.log(t_prev_0), -math.log(t)
    h_1 = lambda_prev_1 - lambda_prev_2
    h_0 = lambda_prev_0 - lambda_prev_1
    h = lambda_t - lambda_prev_0
    r0, r1 = h_0 / h, h_1 / h
    D1_0 = (1.0 / r0) * (model_prev_0 - model_prev_1)
    D1_1 = (1.0 / r1) * (model_prev_1 - model_prev_2)
    D1 = D1_0 + (r0 / (r0 + r1)) * (D1_0 - D1_1)
    D2 = (1.0 / (r0 + r1)) * (D1_0 - D1_1)
    phi_1 = math.expm1(-h)
    phi_2 = phi_1 / h + 1.0
    phi_3 = phi_2 / h - 0.5
    return (t / t_prev_0) * x - phi_1 * model_prev_0 + phi_2 * D1 - phi_3 * D2


def dpm_pp_update(x, model_prev_list, t_prev_list, t, order):
    if order == 1:
        return dpm_solver_first_update(x, t_prev_list[-1], t, model_prev_list[-1])
    if order == 2:
        return multistep_dpm_solver_second_update(x, model_prev_list, t_prev_list, t)
    return multistep_dpm_solver_third_update(x, model_prev_list, t_prev_list, t)


def ds_dpm_pp(net, latents, t_steps, afs=False, denoise_to_zero=False, max_order=3,
              lower_order_final=True, **kw):
    num_steps = len(t_steps)
    x_next = latents * t_steps[0]
    buffer_model, buffer_t = [], []
    for i, (t_cur, t_next) in enumerate(zip(t_steps[:-1], t_steps[1:])):
        x_cur = x_next
        if afs and i == 0:
            d_cur = afs_slope(x_cur, t_cur)
            denoised = x_cur - t_cur * d_cur
        else:
            denoised = net(x_cur, t_cur)
        buffer_model.append(dynamic_thresholding_fn(denoised))
        buffer_t.append(t_cur)
        if lower_order_final:
            order = i + 1 if i + 1 < max_order else min(max_order, num_steps - (i + 1))
        else:
            order = min(max_order, i + 1)
        x_next = dpm_pp_update(x_cur, buffer_model, buffer_t, t_next, order)
        buffer_model, buffer_t = buffer_model[-3:], buffer_t[-3:]
    if denoise_to_zero:
        x_next = net(x_next, t_next)
    return x_next


def unipc_update(x, model_prev_list, t_prev_list, t, order, net, variant='bh1', use_corrector=True):
    t_prev_0 = t_prev_list[-1]
    lambda_prev_0 = -math.log(t_prev_0)
    lambda_t = -math.log(t)
    model_prev_0 = model_prev_list[-1]
    h = lambda_t - lambda_prev_0
    rks, D1s = [], []
    for i in range(1, order):
        t_prev_i = t_prev_list[-(i + 1)]
        model_prev_i = model_prev_list[-(i + 1)]
        lambda_prev_i = -math.log(t_prev_i)
        rk = (lambda_prev_i - lambda_prev_0) / h
        rks.append(rk)
        D1s.append((model_prev_i - model_prev_0) / rk)
    rks.append(1.0)
    rks = np.array(rks)
    R, b = [], []
    hh = -h
    h_phi_1 = math.expm1(hh)
    h_phi_k = h_phi_1 / hh - 1
    factorial_i = 1
    B_h = hh if variant == 'bh1' else math.expm1(hh)
    for i in range(1, order + 1):
        R.append(np.power(rks, i - 1))
        b.append(h_phi_k * factorial_i / B_h)
        factorial_i *= i + 1
        h_phi_k = h_phi_k / hh - 1 / factorial_i
    R = np.stack(R)
    b = np.array(b)
    use_predictor = len(D1s) > 0
    if len(D1s) > 0:
        D1s = np.stack(D1s, axis=1)  # (B, K, d)
        rhos_p = np.array([0.5]) if order == 2 else np.linalg.solve(R[:-1, :-1], b[:-1])
    else:
        D1s = None
    if use_corrector:
        rhos_c = np.array([0.5]) if order == 1 else np.linalg.solve(R, b)
    model_t = None
    x_t_ = t / t_prev_0 * x - h_phi_1 * model_prev_0
    pred_res = np.einsum('k,bkd->bd', rhos_p, D1s) if use_predictor else 0
    x_t = x_t_ - B_h * pred_res
    if use_corrector:
        model_t = dynamic_thresholding_fn(net(x_t, t))
        corr_res = np.einsum('k,bkd->bd', rhos_c[:-1], D1s) if D1s is not None else 0
        D1_t = model_t - model_prev_0
        x_t = x_t_ - B_h * (corr_res + rhos_c[-1] * D1_t)
    return x_t, model_t


def ds_unipc(net, latents, t_steps, afs=False, denoise_to_zero=False, max_order=3,
             lower_order_final=True, variant='bh2', **kw):
    num_steps = len(t_steps)
    x_next = latents * t_steps[0]
    if afs:
        d_next = afs_slope(x_next, t_steps[0])
        denoised = x_next - t_steps[0] * d_next
    else:
        denoised = net(x_next, t_steps[0])
    buffer_model = [dynamic_thresholding_fn(denoised)]
    buffer_t = [t_steps[0]]
    for i, (t_cur, t_next) in enumerate(zip(t_steps[:-1], t_steps[1:])):
        x_cur = x_next
        if i + 1 < max_order:
            order = i + 1
            x_next, model_out = unipc_update(x_cur, buffer_model, buffer_t, t_next, order, net,
                                             variant=variant, use_corrector=True)
            buffer_model.append(model_out)
            buffer_t.append(t_next)
        else:
            order = min(max_order, num_steps - i - 1) if lower_order_final else max_order
            use_corrector = False if i == num_steps - 2 else True
            x_next, model_out = unipc_update(x_cur, buffer_model, buffer_t, t_next, order, net,
                                             variant=variant, use_corrector=use_corrector)
            for k in range(max_order - 1):
                buffer_model[k] = buffer_model[k + 1]
                buffer_t[k] = buffer_t[k + 1]
            buffer_t[-1] = t_next
            if i < num_steps - 2:
                buffer_model[-1] = model_out
    if denoise_to_zero:
        x_next = net(x_next, t_next)
    return x_next


KDIFFUSION = {'euler': kd_sample_euler, 'heun': kd_sample_heun, 'dpm_2': kd_sample_dpm_2,
              'lms': kd_sample_lms, 'dpmpp_2m': kd_sample_dpmpp_2m,
              'euler_ancestral': kd_sample_euler_ancestral, 'dpmpp_sde': kd_sample_dpmpp_sde,
              'dpmpp_2m_sde': kd_sample_dpmpp_2m_sde, 'dpmpp_3m_sde': kd_sample_dpmpp_3m_sde}
STOCHASTIC = {'euler', 'heun', 'euler_ancestral', 'dpmpp_sde', 'dpmpp_2m_sde', 'dpmpp_3m_sde'}
DIFFSAMPLER = {'euler': ds_euler, 'heun': ds_heun, 'dpm_2': ds_dpm_2, 'ipndm': ds_ipndm,
               'ipndm_v': ds_ipndm_v, 'deis': ds_deis, 'dpm_pp': ds_dpm_pp, 'unipc': ds_unipc}


def parse_value(v):
    for cast in (int, float):
        try:
            return cast(v)
        except ValueError:
            pass
    return {'true': True, 'false': False}.get(v.lower(), v)


def run(folder, impl, name, args, count=None):
    kw = {k: parse_value(v) for k, v in (a.split('=', 1) for a in args)}
    load = lambda f: np.load(f'{folder}/{f}.npy').astype(np.float64)
    if os.path.exists(f'{folder}/rows.npy'):
        net = Empirical(load('rows'))
    else:
        net = Gaussian(load('mean'), load('eigvecs'), load('eigvals'))
    noise, sigmas = load('noise'), [float(s) for s in load('sigmas')]
    sigmas = sigmas[:count] if count else sigmas
    steps = InjectedNoise(folder)
    if impl == 'k-diffusion':
        if name in STOCHASTIC:
            kw['noise'] = steps
        out = KDIFFUSION[name](net, noise * sigmas[0], sigmas, **kw)
    elif impl == 'diff-sampler':
        out = DIFFSAMPLER[name](net, noise, sigmas, **kw)
    else:
        sys.exit(f'unknown implementation {impl}')
    return out, net.nfe, steps.draws


def main(argv):
    if len(argv) == 4 and argv[2] == '--cases':
        with open(argv[3]) as f:
            for line in f:
                ident, count, impl, name, *args = line.split()
                out, nfe, draws = run(argv[1], impl, name, args, int(count))
                np.save(f'{argv[1]}/out_{ident}.npy', out)
                print(f'{ident} nfe {nfe} draws {draws}')
        return
    if len(argv) < 4:
        sys.exit(__doc__)
    out, nfe, draws = run(argv[1], argv[2], argv[3], argv[4:])
    np.save(f'{argv[1]}/out.npy', out)
    print(f'nfe {nfe} draws {draws}')


if __name__ == '__main__':
    main(sys.argv)
