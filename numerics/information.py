r"""Latent information of Gaussian encoders (Part L): rate, ``I(A;Z)``, ``I(M;Z)``,
``KL(qbar || p)``, prior coverage, and the L4 collapse threshold for any mode geometry.

Setting (docs/theory.md, Part L): ``N`` demonstrations ``a_i`` at one observation, encoder
posteriors ``q_i = N(mu_i, diag(exp(logvar_i)))`` on ``R^d``, prior ``p = N(0, I)``,
aggregate posterior ``qbar = (1/N) sum_i q_i``. With ``A`` uniform on the ``N``
demonstrations every quantity below is an expectation under the mixture, computed by
Monte Carlo with ``n_draws`` draws ``z ~ q_i`` per demonstration (standard errors from the
sample spread of the per-draw terms); ``log qbar`` is exact (a log-sum-exp over the ``N``
components), so only the outer expectation is sampled.

`collapse_threshold` computes L4's ``beta*`` from the reduced CVAE objective for point
modes of any geometry (centres ``[K, D]``, weights ``[K]``) and squared, L1 or Huber
losses; docs/numerics.md (sections 3 and 4) has the derivations, the accuracy and the
measured numbers.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from dataclasses import dataclass
from typing import Any, Literal, overload

import numpy as np
from scipy import optimize, special, stats

import theory
from numerics import _inputs
from numerics.modes import _json_float, as_numpy, clopper_pearson
from theory import _args

__all__ = [
    "LatentInformation", "latent_information", "gaussian_rate", "HeldOutModeTerms",
    "held_out_mode_terms", "PriorCoverage",
    "prior_coverage", "CollapseThreshold", "collapse_threshold", "collapse_ratio",
]

Loss = Literal["l2", "l1", "huber"]
_LOG_2PI = math.log(2 * math.pi)
# Size limits of the Monte Carlo estimators (each documented in its Raises section): the
# work is (draws) x (posteriors) density evaluations, memory one chunk of it.
_MAX_PAIRS = 1 << 28
_MAX_CHUNK_ENTRIES = 1 << 22
_MAX_DRAWS = 1 << 20
_EPS = float(np.finfo(float).eps)


def _encoder(mu: Any, logvar: Any) -> tuple[np.ndarray, np.ndarray]:
    m, lv = as_numpy(mu, "mu"), as_numpy(logvar, "logvar")
    if m.ndim != 2 or m.shape[0] < 1 or m.shape[1] < 1:
        raise ValueError(f"mu must have shape [N, d] with N, d >= 1, got {m.shape}")
    if lv.shape != m.shape:
        raise ValueError(f"logvar must have the shape of mu {m.shape}, got {lv.shape}")
    if np.any(np.abs(lv) > 50):
        raise ValueError("logvar must lie in [-50, 50] (variances e^-50..e^50); "
                         "clamp the encoder's log-variance")
    if np.any(np.abs(m) > 1e100):
        raise ValueError("mu must lie in [-1e100, 1e100] (its square enters the KL)")
    return m, lv


def _work(draws: int, n: int, what: str) -> None:
    if draws * n > _MAX_PAIRS:
        raise ValueError(f"{what}: {draws} draws x {n} posteriors = {draws * n:.3g} density "
                         f"evaluations exceeds the limit {_MAX_PAIRS:.3g}; pass fewer "
                         "demonstrations or fewer draws")


def _mean_se(t: np.ndarray) -> tuple[float, float]:
    """Mean and standard error; the spread in units of the largest deviation, since terms
    of size 1e180 (``mu`` near its limit 1e100) would overflow when squared."""
    if t.size == 1:
        return float(t[0]), math.inf
    mean = float(t.mean())
    dev = t - mean
    top = float(np.max(np.abs(dev)))
    sd = top * float(np.std(dev / top, ddof=1)) if 0 < top < math.inf else (
        0.0 if top == 0 else math.inf)
    return mean, sd / math.sqrt(t.size)


def gaussian_rate(mu: Any, logvar: Any) -> tuple[float, float]:
    r"""Rate of a diagonal Gaussian encoder against ``N(0, I)``, and its standard error.

    .. math:: R = \frac1N \sum_i KL_i, \qquad
              KL_i = \tfrac12 \sum_j \big(e^{lv_{ij}} + \mu_{ij}^2 - 1 - lv_{ij}\big)

    (closed form). The standard error ``sd(KL_i) / sqrt(N)`` is that of ``R`` as an
    estimate of the population rate ``E_a KL(q(.|a) || p)``.

    Parameters
    ----------
    mu, logvar : (N, d) array_like or torch.Tensor
        Posterior means (``|mu| <= 1e100``) and log-variances (in ``[-50, 50]``).

    Returns
    -------
    rate : float
        ``R`` in nats.
    rate_se : float
        Its standard error; ``inf`` for ``N = 1`` (one posterior says nothing about the
        spread of ``KL_i``, and ``inf`` keeps every interval built from it conservative).

    Raises
    ------
    ValueError
        Shapes other than ``[N, d]``, different shapes, non-finite entries, values out of
        range.
    TypeError
        Non-real input (strings, bytes, complex, bool).

    References
    ----------
    docs/theory.md, L1; docs/numerics.md, section 3.

    Examples
    --------
    >>> gaussian_rate(np.array([[1.0], [-1.0]]), np.zeros((2, 1)))   # KL = mu^2 / 2 each
    (0.5, 0.0)
    >>> gaussian_rate(np.array([[1.0]]), np.zeros((1, 1)))
    (0.5, inf)
    """
    m, lv = _encoder(mu, logvar)
    kl = 0.5 * np.sum(np.exp(lv) + m * m - 1.0 - lv, axis=1)
    return _mean_se(kl)


def _log_densities(z: np.ndarray, m: np.ndarray, lv: np.ndarray) -> np.ndarray:
    """``[M, N]`` ``log q_j(z_r)`` for diagonal Gaussians, by matrix products (no [M, N, d]).

    The expansion ``|z|^2 - 2 z.m + |m|^2`` (in the metric of ``q_j``) cancels when
    ``|mu| / sigma`` is large: its rounding error is a few ``eps (|z|^2 + |m|^2)`` there
    (``2e7`` at ``mu = 1``, ``logvar = -50``, where the quadratic form is O(1)). The rows
    where that bound exceeds 1e-8 are recomputed from the differences ``z - m_j``, exact to
    rounding; for ordinary encoders there are none and the products stand.
    """
    prec = np.exp(-lv)
    zz = (z * z) @ prec.T
    mm = np.sum(m * m * prec, axis=1)
    quad = zz - 2.0 * z @ (m * prec).T + mm
    redo = np.nonzero(np.any(8 * _EPS * (zz + mm) > 1e-8, axis=1))[0]
    if redo.size:
        scale = np.exp(-0.5 * lv)
        rows = max(1, _MAX_CHUNK_ENTRIES // m.size)
        for start in range(0, redo.size, rows):
            r = redo[start:start + rows]
            u = (z[r, None, :] - m[None]) * scale[None]
            quad[r] = np.einsum("rnd,rnd->rn", u, u)
    return -0.5 * (quad + np.sum(lv, axis=1) + m.shape[1] * _LOG_2PI)


@dataclass(frozen=True)
class LatentInformation:
    """Information terms of a Gaussian encoder over ``N`` demonstrations (nats).

    Attributes
    ----------
    rate, rate_se : float
        ``R`` (closed form) and its standard error over demonstrations (`gaussian_rate`).
    mutual_information, mutual_information_se : float
        ``I(A;Z)`` for ``A`` uniform on the demonstrations (Monte Carlo, MC standard
        error). As an estimate of the population ``I(A;Z)`` it is the InfoNCE lower bound
        in expectation (``<= log N``).
    mutual_information_upper, mutual_information_upper_se : float
        The leave-one-out estimate, an upper bound on the population ``I(A;Z)`` in
        expectation.
    mode_information, mode_information_se : float or None
        ``I(M;Z)`` (None without mode labels); ``<= H(M) <= log K``.
    marginal_kl, marginal_kl_se : float
        ``KL(qbar || p)`` by direct Monte Carlo.
    marginal_kl_from_rate : float
        ``R - I(A;Z)`` (L1); equals ``marginal_kl`` up to MC error.
    n, n_draws, seed : int
        Demonstrations, draws per posterior, the draws' seed.

    Standard errors of a single term (one draw in all) are ``inf``; with ``N = 1`` the
    information terms are exactly 0 (``qbar = q_1``) with standard error 0.
    """

    rate: float
    rate_se: float
    mutual_information: float
    mutual_information_se: float
    mutual_information_upper: float
    mutual_information_upper_se: float
    mode_information: float | None
    mode_information_se: float | None
    marginal_kl: float
    marginal_kl_se: float
    marginal_kl_from_rate: float
    n: int
    n_draws: int
    seed: int


def _labels(modes: Any, n: int, relabel: bool = True) -> np.ndarray:
    """``modes`` as ``[n]`` integers; with ``relabel`` the distinct labels become
    ``0..K'-1`` (for estimators that only group by label), else they are kept (labels that
    index a weight vector)."""
    try:
        lab = np.asarray(modes.detach().cpu().numpy() if hasattr(modes, "detach") else modes)
    except ValueError as exc:   # ragged nested sequences
        raise ValueError(f"modes must be an integer array of shape [{n}]: {exc}") from None
    if lab.shape != (n,) or not np.issubdtype(lab.dtype, np.integer):
        raise ValueError(f"modes must be an integer array of shape [{n}], got "
                         f"{lab.dtype} {lab.shape}")
    if not relabel:
        return lab.astype(np.int64)
    return np.unique(lab, return_inverse=True)[1].reshape(n)


def latent_information(mu: Any, logvar: Any, modes: Any = None, *, n_draws: int = 8,
                       seed: int = 0, chunk: int = 2048) -> LatentInformation:
    r"""Rate, ``I(A;Z)``, ``I(M;Z)`` and ``KL(qbar || p)`` of a Gaussian encoder.

    With ``z_{ir} ~ q_i`` (``r = 1..n_draws``) and ``qbar = (1/N) sum_j q_j``:

    .. math::
        I(A;Z) &= \frac1N \sum_i E_{q_i}\big[\log q_i(z) - \log \bar q(z)\big], \\
        I(M;Z) &= \frac1N \sum_i E_{q_i}\big[\log \bar q_{m_i}(z) - \log \bar q(z)\big],
            \quad \bar q_m = \frac{1}{N_m} \sum_{j: m_j = m} q_j, \\
        KL(\bar q \| p) &= \frac1N \sum_i E_{q_i}\big[\log \bar q(z) - \log p(z)\big]
            = R - I(A;Z) \quad \text{(L1)}.

    The leave-one-out variant replaces ``qbar`` by ``(1/(N-1)) sum_{j != i} q_j`` in the
    first line (Poole et al. 2019, an upper bound in expectation on the population
    ``I(A;Z)``; the first line is then InfoNCE's lower bound, van den Oord et al. 2018).

    Parameters
    ----------
    mu, logvar : (N, d) array_like or torch.Tensor
        Posterior means and log-variances (as in `gaussian_rate`).
    modes : (N,) integer array_like, optional
        Mode labels of the demonstrations; ``I(M;Z)`` is computed only with them.
    n_draws : int
        Monte Carlo draws per posterior, in ``[1, 2^20]``.
    seed : int
        Seed of the draws (``>= 0``).
    chunk : int
        Draws processed at once, ``>= 1`` (memory ``chunk * N`` floats, capped at
        ``2^22``).

    Returns
    -------
    LatentInformation

    Raises
    ------
    ValueError
        Bad shapes or ranges; ``N * n_draws * N > 2^28`` density evaluations (pass fewer
        demonstrations or draws).
    TypeError
        Non-real input.

    References
    ----------
    docs/theory.md, L1-L2; docs/numerics.md, section 3; Hoffman & Johnson, "ELBO surgery",
    2016; Alemi et al. 2018.

    Examples
    --------
    >>> mu = np.r_[np.full(20, -20.0), np.full(20, 20.0)][:, None]   # two far-apart groups
    >>> info = latent_information(mu, np.zeros_like(mu), np.repeat([0, 1], 20))
    >>> round(info.mode_information, 6), round(math.log(2), 6)
    (0.693147, 0.693147)
    """
    m, lv = _encoder(mu, logvar)
    n, d = m.shape
    n_draws = _args.integer_at_least(n_draws, "n_draws", 1, _MAX_DRAWS)
    seed = _inputs.seed(seed)
    chunk = _args.integer_at_least(chunk, "chunk", 1)
    _work(n * n_draws, n, "latent_information")
    chunk = min(chunk, max(1, _MAX_CHUNK_ENTRIES // n))
    labels = None if modes is None else _labels(modes, n)
    rate, rate_se = gaussian_rate(m, lv)

    rng = np.random.default_rng(seed)
    owner = np.repeat(np.arange(n), n_draws)
    z = m[owner] + np.exp(0.5 * lv[owner]) * rng.standard_normal((owner.size, d))
    own, loo, marginal, mode_t = [], [], [], []
    for start in range(0, owner.size, chunk):
        zc, oc = z[start:start + chunk], owner[start:start + chunk]
        logq = _log_densities(zc, m, lv)
        rows = np.arange(oc.size)
        log_own = logq[rows, oc]
        log_qbar = special.logsumexp(logq, axis=1) - math.log(n)
        own.append(log_own - log_qbar)
        marginal.append(log_qbar + 0.5 * np.sum(zc * zc, axis=1) + 0.5 * d * _LOG_2PI)
        if n > 1:
            others = logq.copy()
            others[rows, oc] = -np.inf
            loo.append(log_own - special.logsumexp(others, axis=1) + math.log(n - 1))
        if labels is not None:
            same = labels[None, :] == labels[oc][:, None]
            log_qm = (special.logsumexp(np.where(same, logq, -np.inf), axis=1)
                      - np.log(same.sum(axis=1)))
            mode_t.append(log_qm - log_qbar)
    kl, kl_se = _mean_se(np.concatenate(marginal))
    if n == 1:
        # qbar = q_1: every information term is exactly 0, whatever the draws.
        mi = mi_se = up = up_se = 0.0
        mode_mi, mode_se = (None, None) if labels is None else (0.0, 0.0)
    else:
        mi, mi_se = _mean_se(np.concatenate(own))
        up, up_se = _mean_se(np.concatenate(loo))
        mode_mi, mode_se = _mean_se(np.concatenate(mode_t)) if mode_t else (None, None)
    return LatentInformation(
        rate=rate, rate_se=rate_se, mutual_information=mi, mutual_information_se=mi_se,
        mutual_information_upper=up, mutual_information_upper_se=up_se,
        mode_information=mode_mi, mode_information_se=mode_se, marginal_kl=kl,
        marginal_kl_se=kl_se, marginal_kl_from_rate=rate - mi, n=n, n_draws=n_draws,
        seed=seed)


@dataclass(frozen=True)
class HeldOutModeTerms:
    """Per-demonstration terms of the held-out mode-information estimate (nats).

    Attributes:
        evaluated: indices of the evaluated demonstrations (the odd ones).
        terms: ``log qbar_{m_i}(z_i) - log qbar(z_i)`` at each evaluated demonstration;
            their mean estimates ``I(M; Z)`` (``I(M; Z | O)`` with groups).
        predicted: the Bayes rule's mode ``argmax_m w_m qbar_m(z_i)``.
    """

    evaluated: np.ndarray
    terms: np.ndarray
    predicted: np.ndarray


def held_out_mode_terms(mu: Any, logvar: Any, z: Any, modes: Any, weights: Any,
                        groups: Any = None) -> HeldOutModeTerms:
    r"""Held-out estimate of ``I(M; Z)`` and the Bayes rule that reads the mode from ``z``.

    The demonstrations are split in halves: the posteriors of the even ones (A) define
    the per-mode aggregate posteriors ``qbar_m = mean_{a in A, m_a = m} q_a`` (within the
    demonstration's group, e.g. its observation, when ``groups`` is given), and every
    odd one (B), with its own draw ``z_i ~ q_i``, gives one term

    .. math:: t_i = \log \bar q_{m_i}(z_i) - \log \sum_m w_m \bar q_m(z_i),

    whose mean estimates ``I(M; Z)`` (per group: ``I(M; Z | O)``), and one reading
    ``argmax_m w_m \bar q_m(z_i)`` of the mode. ``w`` are the demonstrator's mode
    weights (not the sample's frequencies). The mismatch between ``qbar_m`` from half A
    and the true aggregate posterior biases the estimate low (conservative for the rate
    bounds L1, L2, L5). A term of a group whose half A misses one of the modes is 0 (the
    marginal ``sum_m w_m qbar_m`` is then unknown; leaving a mode out of it would bias
    the estimate high).

    Parameters
    ----------
    mu, logvar, z : (N, d) array_like
        Posterior means, log-variances, and one draw from each posterior.
    modes : (N,) integer array_like
        Mode labels in ``[0, K)``.
    weights : (K,) array_like
        Mode weights, positive, summing to 1.
    groups : (N,) array_like, optional
        Group labels (observations); mixtures are formed within a group.

    Returns
    -------
    HeldOutModeTerms

    Examples
    --------
    >>> mu = np.r_[np.full(20, -20.0), np.full(20, 20.0)][:, None]
    >>> t = held_out_mode_terms(mu, np.zeros_like(mu), mu, np.repeat([0, 1], 20), [0.5, 0.5])
    >>> round(float(t.terms.mean()), 6), int((t.predicted != np.repeat([0, 1], 20)[1::2]).sum())
    (0.693147, 0)
    """
    m, lv = _encoder(mu, logvar)
    n = m.shape[0]
    draws = as_numpy(z, "z")
    if draws.shape != m.shape:
        raise ValueError(f"z must have the shape of mu {m.shape}, got {draws.shape}")
    # the labels index the weights: never relabelled (a sample holding only mode 1 must
    # be read against w_1, not w_0)
    labels = _labels(modes, n, relabel=False)
    w = _args.weight_vector(weights, "weights")
    if labels.min() < 0 or labels.max() >= w.size:
        raise ValueError(f"modes must lie in [0, {w.size - 1}] for {w.size} weights")
    if groups is None:
        g = np.zeros(n, dtype=np.int64)
    else:
        g = np.asarray(groups)
        if g.shape != (n,):
            raise ValueError(f"groups must have shape [{n}], got {g.shape}")
        _, g = np.unique(g, return_inverse=True)
    if n < 2:
        raise ValueError("need at least 2 demonstrations (one to fit, one to evaluate)")
    a, b = np.arange(0, n, 2), np.arange(1, n, 2)
    _work(b.size, a.size, "held-out terms")
    logq = _log_densities(draws[b], m[a], lv[a])                              # [n_B, n_A]
    same = g[b][:, None] == g[a][None, :]
    log_qm = np.full((b.size, w.size), -np.inf)
    complete = np.ones(b.size, dtype=bool)
    for k in range(w.size):
        member = same & (labels[a][None, :] == k)
        count = member.sum(axis=1)
        complete &= count > 0
        with np.errstate(divide="ignore"):
            lse = special.logsumexp(np.where(member, logq, -np.inf), axis=1)
        log_qm[:, k] = np.where(count > 0, lse - np.log(np.maximum(count, 1)), -np.inf)
    log_joint = log_qm + np.log(w)[None, :]
    log_marg = special.logsumexp(log_joint, axis=1)
    rows = np.arange(b.size)
    with np.errstate(invalid="ignore"):
        terms = log_qm[rows, labels[b]] - log_marg
    # A group whose half A misses a mode has no estimate of the marginal: summing the
    # present modes only leaves out w_k qbar_k and inflates every term (by -log of the
    # present weight when the posteriors coincide: 0.011 nats for a collapsed encoder with
    # 8 modes and 32 half-A demonstrations per observation, enough to fail L1 falsely).
    # Its terms are 0: the group's I(M; Z | O = o) >= 0 is then under-estimated.
    terms = np.where(np.isfinite(terms) & complete, terms, 0.0)
    return HeldOutModeTerms(evaluated=b, terms=terms, predicted=log_joint.argmax(axis=1))


# --------------------------------------------------------------------------- prior coverage


@dataclass(frozen=True)
class PriorCoverage:
    """Prior mass of the latent region the posteriors cover (L5).

    Attributes
    ----------
    mass : float
        ``p(C)`` estimated from ``n`` prior draws.
    interval : tuple of float
        Its Clopper-Pearson interval at ``confidence``.
    posterior_mass : float
        ``qbar(C)`` (``= level``: exactly for "ellipsoids", by the choice of the density
        level for "density").
    region : str
        ``"ellipsoids"`` or ``"density"``.
    level : float
        The posteriors' mass level.
    n, confidence, seed
        The prior draws, the interval's level, the seed.
    """

    mass: float
    interval: tuple[float, float]
    posterior_mass: float
    region: str
    level: float
    n: int
    confidence: float
    seed: int


def prior_coverage(mu: Any, logvar: Any, level: float = 0.95, *,
                   region: Literal["ellipsoids", "density"] = "ellipsoids",
                   n_prior: int = 20_000, confidence: float = 0.95, seed: int = 0,
                   chunk: int = 2048) -> PriorCoverage:
    r"""Prior mass ``p(C)`` of the region ``C`` covered by the posteriors (L5).

    Regions:

    - ``"ellipsoids"``: ``C = union_i {z : sum_j (z_j - mu_ij)^2 / sigma_ij^2 <=
      chi2_d^{-1}(level)}``, each posterior's central ellipsoid of mass ``level``; so
      ``qbar(C) >= level`` exactly.
    - ``"density"``: ``C = {z : qbar(z) >= t}``, ``t`` the level at which
      ``qbar(C) = level`` (estimated from ``n_prior`` draws of ``qbar``): the smallest
      region holding that much posterior mass.

    L5 then says: a decoder trained on ``C`` is queried inside ``C`` with probability
    ``p(C)`` at deployment (``z ~ p``), and ``p(C) >= c*`` with ``kl_bin(qbar(C) || c*) =
    KL(qbar || p)`` (`theory.min_prior_coverage`).

    Parameters
    ----------
    mu, logvar : (N, d) array_like or torch.Tensor
        Posterior means and log-variances (as in `gaussian_rate`).
    level : float
        The posteriors' mass level, in ``(0, 1)``.
    region : {"ellipsoids", "density"}
    n_prior : int
        Prior draws ``z ~ N(0, I)``, in ``[1, 2^28 / N]`` (Monte Carlo, exact binomial
        interval).
    confidence : float
        Level of the interval, in ``(0, 1)``.
    seed, chunk : int
        Seed (``>= 0``) and draws processed at once (``>= 1``).

    Returns
    -------
    PriorCoverage

    Raises
    ------
    ValueError
        Bad shapes, ranges or region; ``n_prior * N > 2^28``.
    TypeError
        Non-real input.

    References
    ----------
    docs/theory.md, L5; docs/numerics.md, section 3.

    Examples
    --------
    >>> cov = prior_coverage(np.zeros((1, 1)), np.zeros((1, 1)), 0.9, n_prior=10_000)
    >>> cov.interval[0] < 0.9 < cov.interval[1]      # posterior = prior: p(C) = 0.9
    True
    """
    m, lv = _encoder(mu, logvar)
    n, d = m.shape
    level = _inputs.real_scalar(level, "level", _args.open_probability)
    confidence = _inputs.real_scalar(confidence, "confidence", _args.open_probability)
    n_prior = _args.integer_at_least(n_prior, "n_prior", 1)
    seed = _inputs.seed(seed)
    chunk = _args.integer_at_least(chunk, "chunk", 1)
    region = _args.choice(region, "region", ("ellipsoids", "density"))
    _work(n_prior * (2 if region == "density" else 1), n, "prior_coverage")
    chunk = min(chunk, max(1, _MAX_CHUNK_ENTRIES // n))
    rng = np.random.default_rng(seed)
    prior = rng.standard_normal((n_prior, d))

    def chunked(f, x):
        return np.concatenate([f(x[s:s + chunk]) for s in range(0, x.shape[0], chunk)])

    if region == "ellipsoids":
        r2 = stats.chi2.ppf(level, d)
        # Mahalanobis distance to posterior j = -2 log q_j(z) minus its normaliser.
        norm = np.sum(lv, axis=1) + d * _LOG_2PI
        inside = chunked(lambda x: np.any(-2 * _log_densities(x, m, lv) - norm <= r2, axis=1),
                         prior)
    else:
        owner = rng.integers(0, n, n_prior)
        zq = m[owner] + np.exp(0.5 * lv[owner]) * rng.standard_normal((n_prior, d))

        def log_qbar(x):
            return special.logsumexp(_log_densities(x, m, lv), axis=1)

        t = np.quantile(chunked(log_qbar, zq), 1 - level)
        inside = chunked(log_qbar, prior) >= t
    count = int(inside.sum())
    lo, hi = clopper_pearson(count, n_prior, confidence)
    return PriorCoverage(mass=count / n_prior, interval=(float(lo), float(hi)),
                         posterior_mass=float(level), region=region, level=level,
                         n=n_prior, confidence=confidence, seed=seed)


# --------------------------------------------------------------------------- L4 numerically
#
# Reduced objective (docs/numerics.md, section 4): point modes c_k with weights w_k, the
# encoder of mode k is N(m_k, S) with S shared, prior N(0, I), the decoder optimal at every
# z. With the signal-to-noise vectors v_k = S^{-1/2} m_k ([K, d]) the reconstruction gain
# over collapse, gain(v) = J_0 - Rec(v), depends on v only, and the KL minimised over S is
# (1/2) log det(I + Cov_w(v)); beta* = sup_v gain(v) / KL(v).
#
# Units: the l2 and l1 gains are homogeneous in the centres (degree 2 and 1: the posterior
# mean and the weighted median are equivariant), so the centres are divided by sigma and by
# their largest spread and beta* is scaled back at the end; Huber is solved in units of
# sigma (c / sigma, delta / sigma), where it is not homogeneous.

_MAX_MODES = 8
_MAX_CENTRE_ENTRIES = 1 << 24    # K * D of the centres
_MAX_COORDINATES = 256           # Huber: distinct coordinates; l1: distinct mode orderings
_MAX_LATENT_DIM = 1 << 16        # accepted; only min(latent_dim, K - 1) dimensions matter
_MAX_STARTS = 32
# Largest |v_kj| searched. A light mode's optimum sits near u ~ sqrt(2 log(1 / w_min)) + O(1)
# (< 38.6 for any positive float64 weight): 40 covers every input.
_V_MAX = 40.0
_HALF_WIDTH = 8.5                # quadrature reaches 8.5 sd past every v_k: tail < 1e-17
_GRID_MAX_POINTS = 1 << 21       # exact 2-D quadrature up to here, quasi-Monte Carlo beyond
_QMC_SEARCH = 9                  # 2^9 Sobol points (and their negatives) per mode: search
_QMC_CHECK = (8, 11)             # 8 independent scrambles of 2^11 (+ negatives): estimate
_ASCENTS = 4                     # local ascents, from the best scale scans
_TIE = 4.5e-16                   # per mode: the rounding of a sum of weights near 1/2
# The L1 ratio of two modes near a tie peaks at u = L / a with a -> a* = 0.6120 (the root
# of phi(a) = 2 a Phi(-a)); the search grid is refined around it (docs/numerics.md).
_A_STAR = 0.6120


@dataclass(frozen=True)
class CollapseThreshold:
    """L4 collapse threshold of one mode geometry, and how the collapse happens.

    Attributes
    ----------
    threshold : float
        ``beta*``: the latent collapses (``I(M;Z) = 0`` at the global optimum of the
        reduced objective) iff ``beta >= beta*``; ``inf`` when no finite ``beta`` does.
    local : float
        The ``v -> 0`` limit of the gain-to-KL ratio: for ``beta`` below it the collapsed
        encoder is unstable. Squared loss: ``lambda_max(Cov_w(c)) / sigma^2`` (the
        linear-VAE value, `theory.collapse_threshold_local`); L1: 0 with a unique
        weighted median (collapse is locally stable at every ``beta > 0``), ``inf`` at a
        tie; Huber: the same eigenvalue problem with the Huber curvature.
    jump : bool
        ``threshold > local``: at ``beta*`` an informative encoder (`snr`) ties with
        collapse, so ``I(M;Z)`` drops from `mode_information` to 0 (first order). False:
        the informative optimum fades continuously into collapse at ``beta* = local``.
    snr : tuple of tuple of float or None
        ``[K][d]`` signal-to-noise vectors ``v_k`` of that informative encoder (centred,
        in the latent coordinates searched); None without a jump.
    mode_information : float
        ``I(M;Z)`` (nats) of the `snr` encoder; 0 without a jump.
    direction_thresholds : tuple of float
        Squared loss: the eigenvalues of ``Cov_w(c) / sigma^2``, largest first (the
        linear conditional VAE, Dang et al. 2024: latent direction ``i`` is active iff
        ``beta < theta_i``). Empty for the other losses.
    loss : str
        ``"l2"``, ``"l1"`` or ``"huber"``.
    latent_dim : int
        Latent dimensions searched, ``min(latent_dim, K - 1)``.
    method : str
        ``"closed form"``, ``"local"`` (the ``v -> 0`` limit is the supremum),
        ``"quadrature"`` (an exact rule; error `accuracy`) or ``"quasi-Monte Carlo"``.
    accuracy : float
        Relative accuracy of `threshold` as computed for the encoder found.
    """

    threshold: float
    local: float
    jump: bool
    snr: tuple[tuple[float, ...], ...] | None
    mode_information: float
    direction_thresholds: tuple[float, ...]
    loss: str
    latent_dim: int
    method: str
    accuracy: float

    def to_dict(self) -> dict:
        """Strict-JSON dict (non-finite floats as the strings ``"inf"``, ``"nan"``)."""
        out = dataclasses.asdict(self)
        out["threshold"], out["local"] = _json_float(self.threshold), _json_float(self.local)
        out["snr"] = None if self.snr is None else [list(r) for r in self.snr]
        out["direction_thresholds"] = [_json_float(t) for t in self.direction_thresholds]
        return out


# ----------------------------------------------------------------- shared numerics


def _posterior(x: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``log sum_k w_k e^{x_k}`` and ``P - w`` for logits ``x = v_k.z - |v_k|^2/2`` ([M, K]).

    Near ``x = 0`` through ``expm1`` (``P_k - w_k = w_k (e_k - s) / (1 + s)``, ``e =
    expm1(x)``, ``s = w.e``), so a gain of order ``|v|^2`` keeps its relative accuracy as
    ``v -> 0`` (a plain softmax would lose it to ``P - w`` cancellation); else log-sum-exp.
    """
    y = x + np.log(w)
    top = np.max(y, axis=1, keepdims=True)
    p = np.exp(y - top)
    total = np.sum(p, axis=1, keepdims=True)
    log_s = (top + np.log(total))[:, 0]
    dp = p / total - w
    small = np.max(np.abs(x), axis=1) <= 0.5
    if np.any(small):
        e = np.expm1(x[small])
        s = e @ w
        dp[small] = w * (e - s[:, None]) / (1.0 + s)[:, None]
        log_s[small] = np.log1p(s)
    return log_s, dp


def _kl(v: np.ndarray, w: np.ndarray) -> tuple[float, np.ndarray]:
    """``(1/2) log det(I + Cov_w(v))`` and its gradient ``w_k (I + V)^{-1} (v_k - vbar)``."""
    vt = v - w @ v
    lam, u = np.linalg.eigh(vt.T @ (w[:, None] * vt))
    lam = np.maximum(lam, 0.0)
    return 0.5 * float(np.sum(np.log1p(lam))), (w[:, None] * vt) @ (u / (1.0 + lam)) @ u.T


def _span(v: np.ndarray) -> float:
    diff = v[:, None, :] - v[None]
    return float(np.sqrt(np.max(np.sum(diff * diff, axis=-1))))


def _step(v: np.ndarray) -> float:
    span = _span(v)
    return min(0.5, 0.8 / span) if span > 0 else 0.5


def _grid_size(v: np.ndarray) -> float:
    return float(np.prod((np.ptp(v, axis=0) + 2 * _HALF_WIDTH) / _step(v) + 1))


def _grid(v: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Trapezoid nodes ``z`` ([M, d]), their logits ([M, K]) and ``qbar(z) x cell volume``
    ... as ``(z, x, log_weight)`` with ``log_weight = log phi_d(z) + log(cell volume)``.

    The integrands are analytic in a strip of half-width ``~ pi / span(v)`` (the nearest
    complex zero of ``qbar``), so the trapezoidal rule with step ``h`` errs by about
    ``exp(-2 pi^2 / (h span))``: ``h span <= 0.8`` gives < 1e-10, and ``h <= 0.5`` keeps
    the Gaussian factor's own error ``exp(-2 pi^2 / h^2)`` below 1e-17.
    """
    h = _step(v)
    axes = [np.arange(v[:, j].min() - _HALF_WIDTH, v[:, j].max() + _HALF_WIDTH + h / 2, h)
            for j in range(v.shape[1])]
    z = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, v.shape[1])
    log_weight = (-0.5 * np.sum(z * z, axis=1) - 0.5 * v.shape[1] * _LOG_2PI
                  + v.shape[1] * math.log(h))
    return z, z @ v.T - 0.5 * np.sum(v * v, axis=1), log_weight


@functools.lru_cache(maxsize=16)
def _normal_points(dim: int, log2_n: int, seed: int) -> np.ndarray:
    """Scrambled Sobol standard normal points and their negatives (antithetic), fixed by
    ``seed``: common random numbers make the estimate a smooth function of ``v``."""
    x = special.ndtri(stats.qmc.Sobol(dim, scramble=True, seed=seed).random_base2(log2_n))
    out = np.concatenate([x, -x])
    out.flags.writeable = False
    return out


def _qmc_nodes(v: np.ndarray, xi: np.ndarray, w: np.ndarray):
    """Nodes ``z = v_k + xi_i`` ([K n, d]), their logits and weights ``w_k / n``."""
    z = (v[:, None, :] + xi[None]).reshape(-1, v.shape[1])
    return (z, z @ v.T - 0.5 * np.sum(v * v, axis=1),
            np.repeat(w / xi.shape[0], xi.shape[0]))


def _mode_information(v: np.ndarray, w: np.ndarray) -> float:
    """``I(M;Z) = E_z KL(P(.|z) || w)`` of the encoder ``v`` (grid for d <= 2, else QMC)."""
    if v.shape[1] <= 2 and _grid_size(v) <= _GRID_MAX_POINTS:
        _, x, log_weight = _grid(v)
        log_s, dp = _posterior(x, w)
        q = np.exp(log_s + log_weight)
    else:
        _, x, q = _qmc_nodes(v, _normal_points(v.shape[1], _QMC_CHECK[1], 0), w)
        log_s, dp = _posterior(x, w)
    # log(P_k / w_k) = x_k - log sum_l w_l e^{x_l}
    return max(0.0, float(q @ np.sum((w + dp) * (x - log_s[:, None]), axis=1)))


def _normal_interval(m: np.ndarray, h: np.ndarray) -> np.ndarray:
    """``Phi(m + h) - Phi(m - h)`` without cancellation for small ``h`` (Gauss-Legendre
    on ``[-h, h]``: 16 nodes are exact to rounding for ``h <= 0.5``)."""
    t, wt = np.polynomial.legendre.leggauss(16)
    small = h <= 0.5
    hs = np.where(small, h, 0.0)
    quad = np.sum(wt * np.exp(-0.5 * (m[..., None] + hs[..., None] * t) ** 2), axis=-1)
    quad = quad * hs / math.sqrt(2 * math.pi)
    return np.where(small, quad, special.ndtr(m + h) - special.ndtr(m - h))


# ----------------------------------------------------------------- the three losses


class _SquaredLoss:
    """``|a - y|^2 / 2`` on centred, scaled centres ``x`` (the gain sees their Gram matrix)."""

    name = "l2"
    smooth = True          # the QMC estimate is differentiable in v
    exact_dims = 2         # exact quadrature up to this latent dimension
    accuracy = 1e-9

    def __init__(self, x: np.ndarray, w: np.ndarray):
        self.w = w
        self.gram = x @ x.T

    def _terms(self, dp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        g = dp @ self.gram                       # (G P)_k = c_k . m(z), since G w = 0
        return g, 0.5 * np.sum(g * dp, axis=1)   # |m(z)|^2 / 2, m = E[c | z] - cbar

    def gain(self, v: np.ndarray, grad: bool = False):
        """Exact rule (d <= 2): ``int qbar(z) |m(z)|^2 / 2 dz``, and its gradient."""
        z, x, log_weight = _grid(v)
        log_s, dp = _posterior(x, self.w)
        q = np.exp(log_s + log_weight)
        g, f = self._terms(dp)
        if not grad:
            return float(q @ f), None
        # d/dv_k [qbar |m|^2 / 2] = q P_k (z - v_k) (c_k . m - |m|^2 / 2)
        coef = q[:, None] * (self.w + dp) * (g - f[:, None])
        return float(q @ f), coef.T @ z - np.sum(coef, axis=0)[:, None] * v

    def gain_qmc(self, v: np.ndarray, xi: np.ndarray, grad: bool = False):
        """``sum_k w_k mean_i |m(v_k + xi_i)|^2 / 2`` and its exact gradient in ``v``."""
        z, x, wk = _qmc_nodes(v, xi, self.w)
        _, dp = _posterior(x, self.w)
        g, f = self._terms(dp)
        if not grad:
            return float(wk @ f), None
        p = self.w + dp
        t = p * (g - np.sum(p * g, axis=1)[:, None]) * wk[:, None]     # dF / d logit
        own = (t @ v).reshape(v.shape[0], xi.shape[0], -1).sum(axis=1)  # via z = v_k + xi
        return float(wk @ f), own + t.T @ z - np.sum(t, axis=0)[:, None] * v


class _CoordinateLoss:
    """L1 or Huber loss per coordinate on deduplicated coordinates ``cols`` ([K, J], each
    centred at its collapsed minimiser, so ``y0 = 0``) with multiplicities ``mult``."""

    smooth = False
    exact_dims = 1

    def __init__(self, name: str, cols: np.ndarray, mult: np.ndarray, w: np.ndarray,
                 delta: float):
        self.name, self.cols, self.mult, self.w, self.delta = name, cols, mult, w, delta
        self.accuracy = 1e-9 if name == "l1" else 1e-5
        self.order = np.argsort(cols, axis=0, kind="stable")
        self.base = self._rho(cols) @ mult          # loss of the collapsed decoder, per mode
        if name == "huber":
            # F(y) = sum_k P_k clip(y - c_k, -delta, delta) is linear between the
            # breakpoints c_k +- delta: its values there give the root exactly.
            self.breaks = [np.unique(np.r_[c - delta, c + delta]) for c in cols.T]
            self.clips = [np.clip(b[:, None] - c[None], -delta, delta)
                          for b, c in zip(self.breaks, cols.T, strict=True)]
        else:
            self._l1_groups(cols, mult)

    def _l1_groups(self, cols: np.ndarray, mult: np.ndarray) -> None:
        """Coordinates with the same ordering of the modes (and the same ties) share the
        decoder's switching points, and their gain is linear in their values: each group is
        one table ``T[k, i] = sum_j mult_j (|c_kj| - |c_kj - c_(i)j|)``, the gain of mode
        ``k`` when the decoder outputs the ``i``-th smallest value (``y0 = 0``)."""
        k = self.w.size
        by_order: dict = {}
        for j in range(cols.shape[1]):
            c, o = cols[:, j], self.order[:, j]
            cuts = tuple(bool(c[o[i]] < c[o[i + 1]]) for i in range(k - 1))
            by_order.setdefault((tuple(o.tolist()), cuts), []).append(j)
        if len(by_order) > _MAX_COORDINATES:
            raise ValueError(f"centres have {len(by_order)} distinct orderings of the modes "
                             f"across coordinates, more than the {_MAX_COORDINATES} the l1 "
                             "threshold handles; drop coordinates where the modes agree")
        # prefix sets (the lower modes of an ordering, cut between distinct values): the
        # decoder changes where their posterior mass crosses 1/2
        sets: dict = {}
        self.groups = []
        for (order, cuts), js in by_order.items():
            o, c, m = np.array(order), cols[:, js], mult[js]
            ids = [sets.setdefault(tuple(sorted(order[:i + 1])), len(sets))
                   for i in range(k - 1) if cuts[i]]
            table = (np.abs(c) @ m)[:, None] - np.abs(c[:, None, :] - c[o][None]) @ m
            self.groups.append((o, np.array(ids, dtype=int), table))
        self.sets = np.zeros((len(sets), k), bool)
        for key, i in sets.items():
            self.sets[i, list(key)] = True

    def _rho(self, r: np.ndarray) -> np.ndarray:
        a = np.abs(r)
        if self.name == "l1":
            return a
        return np.where(a <= self.delta, 0.5 * r * r, self.delta * (a - 0.5 * self.delta))

    def gain_terms(self, p: np.ndarray) -> np.ndarray:
        """``[M, K]``: ``loss(c_k, y0) - loss(c_k, y(P))`` summed over coordinates, ``y(P) =
        argmin_y sum_k P_k loss(c_k - y)`` the optimal output for the posterior ``P``."""
        if self.name == "l1":
            out = np.zeros_like(p)
            for order, _, table in self.groups:
                cum = np.cumsum(p[:, order], axis=1)
                out += table[:, np.minimum(np.argmax(cum >= 0.5, axis=1), p.shape[1] - 1)].T
            return out
        y = np.empty((p.shape[0], self.cols.shape[1]))
        rows = np.arange(p.shape[0])
        for j in range(self.cols.shape[1]):
            b, f = self.breaks[j], p @ self.clips[j].T         # F at the breakpoints
            i = np.clip(np.argmax(f > 0, axis=1) - 1, 0, b.size - 2)
            lo, hi = f[rows, i], f[rows, i + 1]
            frac = np.where(hi > lo, -lo / np.where(hi > lo, hi - lo, 1.0), 0.5)
            y[:, j] = b[i] + np.clip(frac, 0.0, 1.0) * (b[i + 1] - b[i])
        return self.base - np.einsum("mkj,j->mk", self._rho(self.cols[None] - y[:, None, :]),
                                     self.mult)

    def gain(self, v: np.ndarray, grad: bool = False):
        """One latent dimension: exact breakpoints (l1) or the trapezoidal rule (Huber)."""
        if self.name == "l1":
            return self._l1_gain(v[:, 0], grad)
        span = _span(v)
        # The Huber integrand is C^1 with kinks in its second derivative (where y(z)
        # crosses c_k +- delta): trapezoid error O(h^2), measured < 4e-7 relative at
        # h = 5e-3 against h = 5e-4 (3e-6 at h = 1e-2).
        h = min(5e-3, 0.8 / span) if span > 0 else 5e-3
        z = np.arange(v.min() - _HALF_WIDTH, v.max() + _HALF_WIDTH + h / 2, h)[:, None]
        log_s, dp = _posterior(z @ v.T - 0.5 * np.sum(v * v, axis=1), self.w)
        q = np.exp(log_s - 0.5 * z[:, 0] ** 2 - 0.5 * _LOG_2PI) * h
        p = self.w + dp
        coef = q[:, None] * p * self.gain_terms(p)
        if not grad:
            return float(np.sum(coef)), None
        # envelope: y(z) minimises the posterior loss, so only w_k phi(z - v_k) moves
        return float(np.sum(coef)), coef.T @ z - np.sum(coef, axis=0)[:, None] * v

    def _roots(self, v: np.ndarray) -> list[np.ndarray]:
        """Roots in z of the log-odds ``f_A(z) = log P(A|z) - log P(A^c|z)`` of every prefix
        set ``A``: sign changes on a grid of step ``0.2 / span`` (``f_A`` bends on the scale
        ``1 / span``), then safeguarded Newton steps (``f_A'`` is the difference of the
        posterior means of ``v`` on ``A`` and ``A^c``), vectorised over all brackets."""
        span = float(np.ptp(v))
        h = min(0.2, 0.2 / span) if span > 0 else 0.2
        zs = np.arange(v.min() - _HALF_WIDTH, v.max() + _HALF_WIDTH + h / 2, h)
        logw = np.log(self.w)

        def f(z: np.ndarray, sets: np.ndarray, slope: bool = False):
            lz = logw + z[..., None] * v - 0.5 * v * v
            out = []
            for part in (np.where(sets, lz, -np.inf), np.where(sets, -np.inf, lz)):
                top = np.max(part, axis=-1, keepdims=True)
                e = np.exp(part - top)
                total = np.sum(e, axis=-1)
                out.append(((top[..., 0] + np.log(total)), (e @ v) / total if slope else 0))
            return out[0][0] - out[1][0], out[0][1] - out[1][1]

        fz = f(zs[None, :], self.sets[:, None, :])[0]                     # [S, M]
        s_idx, g_idx = np.nonzero(np.sign(fz[:, :-1]) != np.sign(fz[:, 1:]))
        lo, hi = zs[g_idx], zs[g_idx + 1]
        f_lo, f_hi = fz[s_idx, g_idx], fz[s_idx, g_idx + 1]
        sets = self.sets[s_idx]
        z = lo - f_lo * (hi - lo) / (f_hi - f_lo)                         # secant start
        for _ in range(12):
            fv, df = f(z, sets, slope=True)
            if not np.any(np.abs(fv) > 1e-13):
                break
            left = np.sign(fv) == np.sign(f_lo)
            lo, f_lo, hi = np.where(left, z, lo), np.where(left, fv, f_lo), np.where(left, hi, z)
            step = z - fv / np.where(df != 0, df, np.inf)
            z = np.where((step > lo) & (step < hi), step, 0.5 * (lo + hi))
        return [z[s_idx == s] for s in range(self.sets.shape[0])]

    def _l1_gain(self, v: np.ndarray, grad: bool):
        """``sum_j sum_r sum_k w_k dl_kjr P(z in I_jr | k)``: the decoder of coordinate ``j``
        is constant on the intervals ``I_jr`` between the roots of its prefix sets, so each
        term is a difference of normal CDFs; by the envelope argument the moving roots do
        not enter the gradient (the posterior loss is continuous across them)."""
        k = v.size
        roots = self._roots(v)
        value, gradient = 0.0, np.zeros(k)
        for order, ids, table in self.groups:
            mine = [roots[s] for s in ids]
            edges = np.r_[-np.inf, np.sort(np.concatenate(mine)) if mine else [], np.inf]
            lo_e, hi_e = edges[:-1], edges[1:]
            inner = edges.copy()           # a point inside each interval, also the end ones
            inner[0] = inner[1] - 2.0 if edges.size > 2 else -1.0
            inner[-1] = inner[-2] + 2.0 if edges.size > 2 else 1.0
            mid = 0.5 * (inner[:-1] + inner[1:])
            _, dp = _posterior(mid[:, None] * v - 0.5 * v * v, self.w)
            cum = np.cumsum((self.w + dp)[:, order], axis=1)
            dl = table[:, np.minimum(np.argmax(cum >= 0.5, axis=1), k - 1)].T          # [R, K]
            a, b = lo_e[:, None] - v, hi_e[:, None] - v
            mass = np.where(a > 0, special.ndtr(-a) - special.ndtr(-b),
                            special.ndtr(b) - special.ndtr(a))
            value += float(np.sum(self.w * dl * mass))
            if grad:
                dens = (np.exp(-0.5 * np.where(np.isfinite(a), a, 0.0) ** 2) * np.isfinite(a)
                        - np.exp(-0.5 * np.where(np.isfinite(b), b, 0.0) ** 2) * np.isfinite(b))
                gradient += np.sum(self.w * dl * dens, axis=0) / math.sqrt(2 * math.pi)
        return value, (gradient[:, None] if grad else None)

    def gain_qmc(self, v: np.ndarray, xi: np.ndarray, grad: bool = False):
        """``E_{z ~ qbar} sum_k P_k(z) dl_k(z)`` over ``z = v_k + xi_i`` (no gradient: the
        estimate is piecewise constant in ``v`` for l1)."""
        _, x, wk = _qmc_nodes(v, xi, self.w)
        _, dp = _posterior(x, self.w)
        p = self.w + dp
        return float(wk @ np.sum(p * self.gain_terms(p), axis=1)), None


# ----------------------------------------------------------------- geometry and validation


def _huber_root(p: np.ndarray, c: np.ndarray, delta: float) -> tuple[float, bool]:
    """The minimiser of ``sum_k p_k rho_delta(c_k - y)`` and whether it is unique."""
    b = np.unique(np.r_[c - delta, c + delta])
    f = np.clip(b[:, None] - c[None], -delta, delta) @ p
    tol = p.size * _TIE * delta
    flat = np.abs(f) <= tol
    if np.any(flat[:-1] & flat[1:]):
        return float(b[np.argmax(flat)]), False
    i = int(np.clip(np.argmax(f > 0) - 1, 0, b.size - 2))
    frac = -f[i] / (f[i + 1] - f[i]) if f[i + 1] > f[i] else 0.5
    return float(b[i] + min(max(frac, 0.0), 1.0) * (b[i + 1] - b[i])), True


def _columns(loss: str, x: np.ndarray, w: np.ndarray, delta: float):
    """Coordinates of the centres, each shifted to its collapsed minimiser, sign-normalised
    (both losses are symmetric) and, for l1, scaled to max 1 (the l1 gain is linear in a
    coordinate's scale); equal patterns merge. Returns ``(cols, mult, tie)``."""
    pats, mult, tie = [], [], False
    for c in x.T:
        if loss == "l1":
            values, inverse = np.unique(c, return_inverse=True)
            cum = np.cumsum(np.bincount(inverse, weights=w))
            tie |= bool(np.any(np.abs(cum[:-1] - 0.5) <= w.size * _TIE))
            y0 = values[np.argmax(cum >= 0.5 - w.size * _TIE)]   # at a tie: the lower end
        else:
            y0, unique = _huber_root(w, c, delta)
            tie |= not unique
        col = c - y0
        scale = float(np.max(np.abs(col)))
        if scale == 0:
            continue
        nz = col[np.abs(col) > 0]
        col = col * (1.0 if nz[0] > 0 else -1.0)
        if loss == "l1":
            pats.append(col / scale)
            mult.append(scale)
        else:
            pats.append(col)
            mult.append(1.0)
    if not pats:
        return np.zeros((w.size, 0)), np.zeros(0), tie
    uniq, inverse = np.unique(np.array(pats), axis=0, return_inverse=True)
    if loss == "huber" and uniq.shape[0] > _MAX_COORDINATES:
        raise ValueError(f"centres have {uniq.shape[0]} distinct coordinate patterns, more "
                         f"than the {_MAX_COORDINATES} the {loss} threshold handles (its cost "
                         "grows with them); merge or drop coordinates (e.g. keep the chunk "
                         "steps where the modes differ)")
    return uniq.T.copy(), np.bincount(inverse.reshape(-1), weights=np.array(mult)), tie


def _huber_local(cols: np.ndarray, mult: np.ndarray, w: np.ndarray, delta: float) -> float:
    """``v -> 0`` limit of the Huber ratio: ``lambda_max(B^T W B)`` with
    ``B_kj = psi(-c_kj) sqrt(mult_j / W_j)``, ``psi = clip(., -delta, delta)``, ``W_j`` the
    weight of the modes on the quadratic part of coordinate ``j`` (``|c_kj| <= delta``; a
    mode exactly at ``+-delta`` makes the limit one-sided, this is its larger side)."""
    if cols.shape[1] == 0:
        return 0.0
    psi = np.clip(-cols, -delta, delta)
    quad = (np.abs(cols) <= delta).astype(float)
    b = psi * np.sqrt(mult / (w @ quad))
    m = np.sqrt(w)[:, None] * b
    return float(max(np.linalg.eigvalsh(m @ m.T)[-1], 0.0))


def _centres(separation, centres, n_modes) -> np.ndarray:
    if centres is not None:
        if separation is not None:
            raise ValueError("pass either centres or separation (with n_modes), not both: "
                             "centres fix the whole geometry")
        c = as_numpy(centres, "centres")
        if c.ndim == 1:
            c = c[:, None]
        if c.ndim != 2 or not 2 <= c.shape[0] <= _MAX_MODES or c.shape[1] < 1:
            raise ValueError(f"centres must have shape [K] or [K, D] with K in [2, "
                             f"{_MAX_MODES}] and D >= 1, got {c.shape}")
        if c.size > _MAX_CENTRE_ENTRIES:
            raise ValueError(f"centres must have at most {_MAX_CENTRE_ENTRIES} entries, got "
                             f"{c.size}")
        if n_modes is not None and _args.integer_at_least(n_modes, "n_modes", 2) != c.shape[0]:
            raise ValueError(f"n_modes={n_modes} contradicts centres with {c.shape[0]} rows")
        return c
    if separation is None:
        raise TypeError("collapse_threshold needs separation (with n_modes) or centres")
    delta = _args.positive(separation, "separation")
    if np.ndim(delta) != 0:
        raise ValueError("separation must be a scalar (one geometry per call)")
    k = 2 if n_modes is None else _args.integer_at_least(n_modes, "n_modes", 2, _MAX_MODES)
    # K = 2: +-Delta/2 on a line; K > 2: the simplex vertices (Delta / sqrt 2) e_k
    if k == 2:
        return np.array([[-delta / 2], [delta / 2]])
    return delta / math.sqrt(2) * np.eye(k)


@dataclass(frozen=True)
class _Setup:
    problem: Any            # _SquaredLoss or _CoordinateLoss; None: all centres equal
    w: np.ndarray
    factor: float           # beta* (original units) = factor * beta* (solved units)
    local: float            # in solved units
    directions: tuple       # structured rank-1 search directions ([K] each)
    direction_thresholds: tuple[float, ...]
    tie: bool


def _setup(loss, separation, sigma, centres, n_modes, weights, huber_delta) -> _Setup:
    loss = _args.choice(loss, "loss", ("l2", "l1", "huber"))
    if sigma is None:
        raise TypeError("collapse_threshold needs sigma, the decoder likelihood scale")
    sigma = _args.positive(sigma, "sigma")
    if np.ndim(sigma) != 0:
        raise ValueError("sigma must be a scalar")
    delta = _args.positive(huber_delta, "huber_delta")
    if np.ndim(delta) != 0:
        raise ValueError("huber_delta must be a scalar")
    c = _centres(separation, centres, n_modes)
    k = c.shape[0]
    w = (np.full(k, 1.0 / k) if weights is None
         else _args.weight_vector(weights, "weights", max_size=_MAX_MODES))
    if w.size != k:
        raise ValueError(f"weights must have one weight per mode ({k}), got {w.size}")
    w = w / w.sum()
    with np.errstate(over="ignore"):
        x = c / sigma
    if not np.all(np.isfinite(x)):
        raise ValueError("centres / sigma must be finite (sigma too small for the centres)")
    one_vs_rest = tuple(np.eye(k)[i] for i in range(k))
    if loss == "l2":
        xc = x - w @ x
        scale = float(np.max(np.abs(xc)))
        if scale == 0:
            return _Setup(None, w, 1.0, 0.0, (), (0.0,), False)
        xc = xc / scale
        lam, vec = np.linalg.eigh(xc.T @ (w[:, None] * xc) if xc.shape[1] <= k
                                  else (np.sqrt(w)[:, None] * xc) @ (np.sqrt(w)[:, None] * xc).T)
        # one implementation of the local value: theory's (its spectrum is lam's)
        local = float(theory.collapse_threshold_local(xc, 1.0, w))
        if xc.shape[1] <= k:
            dirs = tuple(xc @ vec[:, -i] for i in range(1, min(3, lam.size) + 1))
        else:
            dirs = tuple(vec[:, -i] / np.sqrt(w) for i in range(1, min(3, k) + 1))
        with np.errstate(over="ignore"):
            factor = scale * scale
            thetas = tuple(float(t) * factor for t in np.maximum(lam[::-1], 0.0)[:k - 1])
        return _Setup(_SquaredLoss(xc, w), w, factor, local, dirs + one_vs_rest, thetas,
                      False)
    cols, mult, tie = _columns(loss, x, w, delta / sigma)
    if cols.shape[1] == 0:
        return _Setup(None, w, 1.0, 0.0, (), (), False)
    factor = 1.0
    if loss == "l1":
        factor = float(mult.max())
        mult = mult / factor
        local = math.inf if tie else 0.0
    else:
        local = math.inf if tie else _huber_local(cols, mult, w, delta / sigma)
    prob = _CoordinateLoss(loss, cols, mult, w, delta / sigma)
    splits = []
    if loss == "l1":
        # near-tie splits first: they carry the largest thresholds
        cum = prob.sets.astype(float) @ w
        for i in np.argsort(np.abs(cum - 0.5))[:8]:
            splits.append(prob.sets[i].astype(float))
    return _Setup(prob, w, factor, local, tuple(splits) + one_vs_rest, (), tie)


# ----------------------------------------------------------------- the search


def _ratio_and_grad(v: np.ndarray, problem, gain_fn) -> tuple[float, np.ndarray]:
    kl, kl_grad = _kl(v, problem.w)
    if kl <= 1e-300:
        return 0.0, np.zeros_like(v)
    g, g_grad = gain_fn(v)
    r = g / kl
    return r, (g_grad - r * kl_grad) / kl


def _maximise_from(v0: np.ndarray, problem, gain_fn, smooth: bool, max_iter: int):
    """Local maximisation of ``gain / KL`` from ``v0`` in the rescaled variable ``v / s0``
    (``s0 = span(v0)``, so near-tie starts of size 1e-6 are as easy as size-1 ones)."""
    s0 = max(_span(v0), 1e-300)
    shape = v0.shape

    if smooth:
        def fun(t):
            r, grad = _ratio_and_grad(s0 * t.reshape(shape), problem,
                                      lambda v: gain_fn(v, True))
            return -r, -s0 * grad.ravel()

        res = optimize.minimize(fun, (v0 / s0).ravel(), jac=True, method="L-BFGS-B",
                                bounds=[(-_V_MAX / s0, _V_MAX / s0)] * v0.size,
                                options=dict(maxiter=max_iter, ftol=1e-15, gtol=1e-11))
    else:
        def fun(t):
            v = s0 * np.clip(t, -_V_MAX / s0, _V_MAX / s0).reshape(shape)
            kl = _kl(v, problem.w)[0]
            return -gain_fn(v, False)[0] / kl if kl > 1e-300 else 0.0

        res = optimize.minimize(fun, (v0 / s0).ravel(), method="Nelder-Mead",
                                options=dict(maxfev=max_iter, xatol=1e-6, fatol=1e-10))
    v = s0 * np.clip(res.x, -_V_MAX / s0, _V_MAX / s0).reshape(shape)
    return -float(res.fun), v - problem.w @ v


def _scan_spans(setup: _Setup) -> np.ndarray:
    """Encoder spans ``max_kl |v_k - v_l|`` scanned along each direction. Below: 0.02, or
    1/20 of the smallest L1 tie gap ``|log(W/(1-W))|`` (the optimum sits at ~1.6 gaps).
    Above: ``sqrt(2 log(1/w_min)) + 6``, where even the lightest mode is told apart with
    error < Phi(-3) and the gain saturates while the KL still grows like ``log u``."""
    low = 0.02
    if setup.problem.name == "l1":
        cum = np.clip(setup.problem.sets.astype(float) @ setup.w, _EPS, 1 - _EPS)
        gap = float(np.min(np.abs(np.log(cum) - np.log1p(-cum)))) if cum.size else 1.0
        low = min(low, gap / 20)
    high = min(2 * _V_MAX, math.sqrt(2 * math.log(1 / float(setup.w.min()))) + 6)
    decades = math.log10(high / low)
    return np.geomspace(low, high, max(16, int(4 * decades)))


def _rank1_search(setup: _Setup, n_starts: int, rng: np.random.Generator):
    """Best one-dimensional encoder: scan the scale along every start direction, then a
    gradient ascent (exact quadrature and its exact gradient) from the best few scans."""
    prob, w = setup.problem, setup.w
    spans = _scan_spans(setup)
    starts = list(setup.directions) + [rng.standard_normal(w.size) for _ in range(n_starts)]
    scans = []
    for d in starts:
        d = d - w @ d
        if np.ptp(d) == 0:
            continue
        d = d / np.ptp(d)
        vals = [prob.gain(s * d[:, None])[0] / _kl(s * d[:, None], w)[0] for s in spans]
        i = int(np.argmax(vals))
        scans.append((vals[i], spans[i] * d[:, None]))
    scans.sort(key=lambda t: -t[0])
    best = (0.0, None)
    for _, v0 in scans[:_ASCENTS]:
        r, v = _maximise_from(v0, prob, prob.gain, True, 200)
        if r > best[0]:
            best = (r, v)
    return best


def _evaluate(v: np.ndarray, prob) -> tuple[float, float, str]:
    """``(ratio, relative accuracy, method)`` at ``v``, by the most accurate rule its rank
    allows: ``v`` is rotated onto its span (rank ``r``); exact quadrature for
    ``r <= exact_dims`` (and a grid that fits), else independent QMC replicates."""
    vt = v - prob.w @ v
    _, sv, vh = np.linalg.svd(np.sqrt(prob.w)[:, None] * vt, full_matrices=False)
    rank = max(1, int(np.sum(sv > 1e-9 * sv[0]))) if sv[0] > 0 else 1
    vr = vt @ vh[:rank].T
    kl = _kl(vr, prob.w)[0]
    if kl <= 1e-300:
        return 0.0, 0.0, "quadrature"
    if rank <= prob.exact_dims and (rank == 1 or _grid_size(vr) <= _GRID_MAX_POINTS):
        return prob.gain(vr)[0] / kl, prob.accuracy, "quadrature"
    reps, log2_n = _QMC_CHECK
    vals = np.array([prob.gain_qmc(vr, _normal_points(rank, log2_n, 1000 + i))[0] / kl
                     for i in range(reps)])
    mean = float(vals.mean())
    return mean, 3 * float(vals.std(ddof=1)) / math.sqrt(reps) / max(mean, 1e-300), \
        "quasi-Monte Carlo"


def _higher_rank_search(setup: _Setup, d: int, v1: np.ndarray, n_starts: int,
                        rng: np.random.Generator) -> list[np.ndarray]:
    """Encoders of rank up to ``d`` that beat the best rank-1 encoder ``v1`` on a fixed QMC
    rule: ascents from ``v1`` (perturbed), from 'one light mode per axis' and from random
    encoders. Squared loss: L-BFGS with the exact gradient of the rule (60 iterations).
    L1/Huber: a Nelder-Mead probe (150 evaluations from two starts), since their QMC
    estimate is piecewise constant or only piecewise smooth in ``v``."""
    prob, w = setup.problem, setup.w
    k = w.size
    xi = _normal_points(d, _QMC_SEARCH if prob.smooth else _QMC_SEARCH - 1, 0)
    if v1 is None:
        v1 = rng.standard_normal((k, 1))
    span = max(_span(v1), 1.0)
    embedded = np.c_[v1, np.zeros((k, d - 1))]
    starts = [embedded + np.c_[np.zeros((k, 1)), 0.1 * span * rng.standard_normal((k, d - 1))]]
    axes = np.zeros((k, d))
    for j, m in enumerate(np.argsort(w)[:d]):
        axes[m, j] = span
    starts.append(axes)
    if prob.smooth:
        starts += [span * rng.standard_normal((k, d)) for _ in range(n_starts // 4)]

    def gain(v, g=False):
        return prob.gain_qmc(v, xi, g)

    reference = gain(embedded)[0] / _kl(embedded, w)[0]
    found = [_maximise_from(v0, prob, gain, prob.smooth, 60 if prob.smooth else 150)
             for v0 in starts]
    # the rule's own error is ~1e-3: only a clearly better encoder is worth an estimate
    return [v for r, v in found if r > reference * (1 + 2e-3)]


def _l1_two_modes(w: np.ndarray, cols: np.ndarray, mult: np.ndarray):
    """Two L1 modes: ``beta* = |c_1 - c_2|_1 sup_u r(u)`` in closed form,

    ``r(u) = [w_lo (Phi(u/2 - L/u) - Phi(-u/2 - L/u)) - (w_hi - w_lo) Phi(-u/2 - L/u)]
    / ((1/2) log(1 + w_1 w_2 u^2))``, ``L = log(w_hi / w_lo)`` (the decoder outputs the
    light mode where its posterior exceeds 1/2, i.e. past ``z = u/2 + L/u``)."""
    dist = float(np.sum(np.abs(cols[0] - cols[1]) * mult))
    lo_i = int(np.argmin(w))
    w_lo, w_hi = float(w[lo_i]), float(w[1 - lo_i])
    gap = w_hi - w_lo
    big_l = math.log1p(gap / w_lo)

    def ratio(u):
        m, h = -big_l / u, u / 2
        gain = w_lo * _normal_interval(m, h) - gap * special.ndtr(m - h)
        return gain / (0.5 * np.log1p(w_lo * w_hi * u * u))

    lo, hi = math.log(min(big_l / 20, 1e-2)), math.log(2 * _V_MAX)
    grid = np.union1d(np.linspace(lo, hi, int(12 * (hi - lo)) + 1),
                      math.log(big_l / _A_STAR) + np.linspace(-0.5, 0.5, 21))
    vals = ratio(np.exp(grid))
    i = int(np.argmax(vals))
    res = optimize.minimize_scalar(lambda t: -float(ratio(np.exp(np.array([t])))[0]),
                                   bounds=(grid[max(i - 1, 0)], grid[min(i + 1, grid.size - 1)]),
                                   method="bounded", options=dict(xatol=1e-10))
    r, u = (-float(res.fun), math.exp(res.x)) if -res.fun > vals[i] else (
        float(vals[i]), math.exp(grid[i]))
    v = np.zeros((2, 1))
    v[1 - lo_i, 0] = -w_lo * u
    v[lo_i, 0] = w_hi * u
    return dist * r, v


def _solve(setup: _Setup, loss: str, d: int, n_starts: int, seed: int) -> CollapseThreshold:
    def result(threshold, local, v=None, method="local", accuracy=0.0):
        jump = v is not None
        with np.errstate(over="ignore"):
            t, loc = threshold * setup.factor, local * setup.factor
        return CollapseThreshold(
            threshold=float(t), local=float(loc), jump=jump,
            snr=None if v is None else tuple(tuple(float(a) for a in r) for r in v),
            mode_information=_mode_information(v, setup.w) if jump else 0.0,
            direction_thresholds=setup.direction_thresholds, loss=loss,
            latent_dim=d, method=method, accuracy=accuracy)

    if setup.tie:
        return result(math.inf, math.inf, method="closed form")
    prob = setup.problem
    if prob is None:                  # all centres equal: nothing to encode
        return result(0.0, 0.0, method="closed form")
    if loss == "l1" and setup.w.size == 2:
        r, v = _l1_two_modes(setup.w, prob.cols, prob.mult)
        return result(r, 0.0, v, "closed form", 1e-10)
    rng = np.random.default_rng(seed)
    best, v_best = _rank1_search(setup, n_starts, rng)
    method, accuracy = "quadrature", prob.accuracy
    if d >= 2:
        for v in _higher_rank_search(setup, d, v_best, n_starts, rng):
            r, acc, how = _evaluate(v, prob)
            if r * (1 - acc) > best * (1 + accuracy):
                best, v_best, method, accuracy = r, v, how, acc
    if best <= setup.local * (1 + 10 * max(accuracy, 1e-9)) or v_best is None:
        return result(setup.local, setup.local)
    return result(best, setup.local, v_best, method, accuracy)


@overload
def collapse_threshold(separation: float | None = ..., sigma: float | None = ...,
                       loss: Loss = ..., n_modes: int | None = ..., weights: Any = ...,
                       latent_dim: int = ..., huber_delta: float = ..., *,
                       centres: Any = ..., n_starts: int = ..., seed: int = ...,
                       details: Literal[False] = ...) -> float: ...
@overload
def collapse_threshold(separation: float | None = ..., sigma: float | None = ...,
                       loss: Loss = ..., n_modes: int | None = ..., weights: Any = ...,
                       latent_dim: int = ..., huber_delta: float = ..., *,
                       centres: Any = ..., n_starts: int = ..., seed: int = ...,
                       details: Literal[True]) -> CollapseThreshold: ...


def collapse_threshold(separation: float | None = None, sigma: float | None = None,
                       loss: Loss = "l2", n_modes: int | None = None, weights: Any = None,
                       latent_dim: int = 1, huber_delta: float = 1.0, *,
                       centres: Any = None, n_starts: int = 4, seed: int = 0,
                       details: bool = False) -> float | CollapseThreshold:
    r"""L4's collapse threshold ``beta*`` for any point-mode geometry and loss.

    Reduced objective (docs/numerics.md, section 4): point modes ``c_k`` with weights
    ``w_k``, Gaussian encoder ``N(m_k, S)`` per mode with a shared covariance, ``N(0, I)``
    prior, unconstrained (optimal) decoder. With ``v_k = S^{-1/2} m_k`` the encoder's
    signal-to-noise vectors, ``J_beta(v) = Rec(v) + beta KL(v)`` with
    ``KL(v) = (1/2) log det(I + Cov_w(v))``, and the latent collapses (``v = 0``,
    ``I(M;Z) = 0``, is a global minimiser) iff ``beta >= beta*``,

    .. math:: \beta^* = \sup_{v \ne 0} \frac{J_0 - Rec(v)}{KL(v)}
              \;\ge\; \beta_{loc} = \lim_{v \to 0} \frac{J_0 - Rec(v)}{KL(v)} .

    Squared loss: ``beta_loc = lambda_max(Cov_w(c)) / sigma^2`` (the linear-VAE value,
    below which ``v = 0`` is unstable); ``beta* = beta_loc`` (a continuous fade) or
    ``beta* > beta_loc`` (a jump from an informative encoder). Two modes: ``beta* =
    w_1 w_2 Delta^2 / sigma^2`` exactly while ``w_1 w_2 >= 1/5``; beyond, a jump (+4.4%
    at ``w_1 = 0.8``, +34% at ``0.9``). L1 loss: ``beta* = inf`` when a coordinate's
    weighted median is not unique (a tie: e.g. two equal weights), else finite; near a
    tie of two modes (weights ``1/2 +- eps``) ``beta* ~ 0.1012 |c_1 - c_2|_1 / (sigma
    eps)``, computed in closed form.

    Parameters
    ----------
    separation : float, optional
        ``Delta > 0`` for the default layout: ``+-Delta/2`` (``n_modes = 2``) or the
        simplex vertices ``(Delta / sqrt 2) e_k`` (``n_modes > 2``). Omit with ``centres``.
    sigma : float
        Decoder likelihood scale ``> 0`` (required). Losses per chunk: ``"l2"``:
        ``|a - y|^2 / (2 sigma^2)``; ``"l1"``: ``|a - y|_1 / sigma`` (Laplace scale,
        ACT); ``"huber"``: ``sum_j rho_delta(a_j - y_j) / sigma^2``.
    loss : {"l2", "l1", "huber"}
    n_modes : int, optional
        ``K`` in ``[2, 8]`` for the default layout (default 2).
    weights : (K,) array_like, optional
        Mode weights, positive, summing to 1 (default equal).
    latent_dim : int
        The CVAE's latent dimension ``>= 1``; ``min(latent_dim, K - 1)`` dimensions are
        searched (the posterior sees ``z`` through the span of the ``v_k`` only).
    huber_delta : float
        Huber's ``delta > 0`` (same units as the centres).
    centres : (K,) or (K, D) array_like, optional
        Mode centres (``K`` in ``[2, 8]``, at most ``2^24`` entries), instead of
        ``separation``; at most 256 distinct coordinates (up to shift and sign) for Huber,
        256 distinct orderings of the modes across coordinates for L1.
    n_starts : int
        Random start directions of the search in addition to the structured ones, in
        ``[0, 32]``.
    seed : int
        Seed of the random starts.
    details : bool
        Return a `CollapseThreshold` (local value, jump, encoder, ``I(M;Z)``, method)
        instead of the float.

    Returns
    -------
    float or CollapseThreshold
        ``beta*`` (``inf`` when no finite beta collapses the latent, or beyond
        ``1.8e308``).

    Raises
    ------
    ValueError
        Out-of-range, NaN or inconsistent arguments, sizes beyond the limits above.
    TypeError
        Non-real numbers (str, bytes, complex, bool), a missing ``sigma`` or geometry.

    Notes
    -----
    Method: squared and L1 losses in units where the centres' spread is 1 (the ratio is
    homogeneous of degree 2 and 1 in ``c / sigma``). One latent dimension: exact rules
    (the trapezoidal rule on the analytic l2 integrand, error < 1e-10; the L1 decoder's
    breakpoints and normal CDFs; Huber's trapezoid, ~1e-6), maximised by L-BFGS with
    the exact gradient from a scale scan along structured and random directions. Two L1
    modes: closed form in ``u``. More dimensions: a search on a fixed quasi-Monte Carlo
    rule, each result re-evaluated exactly when its rank allows (two dimensions for l2)
    or by 8 independent QMC replicates (``accuracy`` = 3 standard errors); a
    higher-rank encoder replaces the rank-1 one only when it is better beyond these
    errors. The value is the best encoder found: a lower estimate of the supremum if
    the search missed a better one (tested against independent minimisations, see
    docs/numerics.md). Time: under 1 s for one latent dimension; a few seconds at
    ``K = 8``, ``latent_dim >= 7``.

    References
    ----------
    docs/theory.md, L4; docs/numerics.md, section 4 (our extension); Lucas et al.,
    NeurIPS 2019 (linear VAE); Dang et al., ICLR 2024.

    Examples
    --------
    >>> round(collapse_threshold(2.0, 1.0), 6)                      # Delta^2 / (4 sigma^2)
    1.0
    >>> round(collapse_threshold(sigma=1.0, centres=[-3.0, -1.0, 1.0, 3.0]), 6)
    5.0
    >>> r = collapse_threshold(2.0, 0.5, weights=[0.9, 0.1], details=True)
    >>> round(r.local, 4), round(r.threshold, 4), r.jump
    (1.44, 1.9281, True)
    >>> collapse_threshold(2.0, 1.0, "l1")                          # a tie: never collapses
    inf
    >>> round(collapse_threshold(2.0, 1.0, "l1", weights=[0.51, 0.49]), 2)
    20.25
    """
    setup = _setup(loss, separation, sigma, centres, n_modes, weights, huber_delta)
    d = min(_args.integer_at_least(latent_dim, "latent_dim", 1, _MAX_LATENT_DIM),
            setup.w.size - 1)
    n_starts = _args.integer_at_least(n_starts, "n_starts", 0, _MAX_STARTS)
    seed = _inputs.seed(seed)
    if not isinstance(details, (bool, np.bool_)):
        raise TypeError(f"details must be a bool, got {type(details).__name__}")
    res = _solve(setup, loss, d, n_starts, seed)
    return res if details else res.threshold


def collapse_ratio(v: Any, separation: float | None = None, sigma: float | None = None,
                   loss: Loss = "l2", *, centres: Any = None, weights: Any = None,
                   huber_delta: float = 1.0) -> float:
    r"""``(J_0 - Rec(v)) / KL(v)``: the KL weight at which the encoder ``v`` ties with collapse.

    The ratio whose supremum over ``v`` is `collapse_threshold` (same geometry arguments):
    ``v`` (``[K, d]``) are the encoder's signal-to-noise vectors, ``Rec(v) = sum_k w_k
    E_xi loss(c_k, D(v_k + xi))`` with the optimal decoder ``D``, ``J_0`` the collapsed
    reconstruction and ``KL(v) = (1/2) log det(I + Cov_w(v))``. Two equal-weight modes,
    ``d = 1``, ``v = (-u, u)``: ``J_0 - Rec = (Delta^2 / (8 sigma^2)) (1 - g(u))`` with
    `theory.binary_channel_mmse` ``g`` and ``KL = (1/2) log(1 + u^2)`` (docs/theory.md, L4).

    Parameters
    ----------
    v : (K, d) array_like
        Signal-to-noise vectors, finite, ``|v_kj| <= 40`` (the supremum is attained
        there), not all equal.
    separation, sigma, loss, centres, weights, huber_delta
        As in `collapse_threshold` (``n_modes`` is ``K``, the rows of ``v``).

    Returns
    -------
    float
        The ratio; exact rules when ``v`` has rank 1 (or 2 for ``"l2"``), else 8
        quasi-Monte Carlo replicates (~1e-4 relative).

    Raises
    ------
    ValueError
        Shapes, ranges, a constant ``v`` (0/0).
    TypeError
        Non-real input.

    References
    ----------
    docs/numerics.md, section 4.

    Examples
    --------
    >>> import theory
    >>> u = 0.5
    >>> r = collapse_ratio([[-u], [u]], 2.0, 1.0)
    >>> closed = (1 - theory.binary_channel_mmse(u)) / 2 / (0.5 * math.log1p(u * u))
    >>> abs(r - closed) < 1e-12
    True
    """
    v = as_numpy(v, "v")
    if v.ndim != 2 or v.shape[0] < 2 or v.shape[1] < 1:
        raise ValueError(f"v must have shape [K, d] with K >= 2, d >= 1, got {v.shape}")
    if np.any(np.abs(v) > _V_MAX):
        raise ValueError(f"v must lie in [-{_V_MAX:g}, {_V_MAX:g}] (the supremum of the ratio "
                         "is attained there)")
    k = v.shape[0]
    setup = _setup(loss, separation, sigma, centres, None if centres is not None else k,
                   weights, huber_delta)
    if setup.w.size != k:
        raise ValueError(f"v must have one row per mode ({setup.w.size}), got {k}")
    if _kl(v, setup.w)[0] <= 1e-300:
        raise ValueError("v must not be constant across modes (the encoder would carry "
                         "no information and the ratio is 0/0)")
    if setup.problem is None:          # all centres equal: no gain
        return 0.0
    return float(_evaluate(v, setup.problem)[0] * setup.factor)
