r"""Latent information of Gaussian encoders (Part L): rate, ``I(A;Z)``, ``I(M;Z)``,
``KL(qbar || p)``, prior coverage, and the L4 collapse threshold for other losses.

Setting (THEORY.md, Part L): ``N`` demonstrations ``a_i`` at one observation, encoder
posteriors ``q_i = N(mu_i, diag(exp(logvar_i)))`` on ``R^d``, prior ``p = N(0, I)``,
aggregate posterior ``qbar = (1/N) sum_i q_i``. With ``A`` uniform on the ``N``
demonstrations every quantity below is an expectation under the mixture, computed by
Monte Carlo with ``n_draws`` draws ``z ~ q_i`` per demonstration (standard errors from the
sample spread of the per-draw terms); ``log qbar`` is exact (a log-sum-exp over the ``N``
components), so only the outer expectation is sampled.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from scipy import optimize, special, stats

from numerics.modes import as_numpy, clopper_pearson
from theory import _args

__all__ = [
    "LatentInformation", "latent_information", "gaussian_rate", "PriorCoverage",
    "prior_coverage", "collapse_threshold", "collapse_ratio",
]

Loss = Literal["l2", "l1", "huber"]
_LOG_2PI = math.log(2 * math.pi)
# Smallest encoder KL (nats) at which the reduced L4 objective is evaluated.
_MIN_KL = 1e-6


def _encoder(mu: Any, logvar: Any) -> tuple[np.ndarray, np.ndarray]:
    m, lv = as_numpy(mu, "mu"), as_numpy(logvar, "logvar")
    if m.ndim != 2 or m.shape[0] < 1 or m.shape[1] < 1:
        raise ValueError(f"mu must have shape [N, d] with N, d >= 1, got {m.shape}")
    if lv.shape != m.shape:
        raise ValueError(f"logvar must have the shape of mu {m.shape}, got {lv.shape}")
    if np.any(np.abs(lv) > 50):
        raise ValueError("logvar must lie in [-50, 50] (variances e^-50..e^50); "
                         "clamp the encoder's log-variance")
    return m, lv


def gaussian_rate(mu: Any, logvar: Any) -> tuple[float, float]:
    r"""Rate ``R = (1/N) sum_i KL(N(mu_i, diag e^{logvar_i}) || N(0, I))`` and its standard error.

    .. math:: KL_i = \tfrac12 \sum_j (e^{lv_{ij}} + \mu_{ij}^2 - 1 - lv_{ij})

    (closed form). The standard error ``sd(KL_i) / sqrt(N)`` is that of ``R`` as an
    estimate of the population rate ``E_a KL(q(.|a) || p)``.

    Args:
        mu, logvar: ``[N, d]`` posterior means and log-variances.
    """
    m, lv = _encoder(mu, logvar)
    kl = 0.5 * np.sum(np.exp(lv) + m * m - 1.0 - lv, axis=1)
    se = float(np.std(kl, ddof=1) / math.sqrt(kl.size)) if kl.size > 1 else math.nan
    return float(kl.mean()), se


def _log_densities(z: np.ndarray, m: np.ndarray, lv: np.ndarray) -> np.ndarray:
    """``[M, N]`` ``log q_j(z_r)`` for diagonal Gaussians, by matrix products (no [M, N, d])."""
    prec = np.exp(-lv)
    quad = (z * z) @ prec.T - 2.0 * z @ (m * prec).T + np.sum(m * m * prec, axis=1)
    return -0.5 * (quad + np.sum(lv, axis=1) + m.shape[1] * _LOG_2PI)


@dataclass(frozen=True)
class LatentInformation:
    """Information terms of a Gaussian encoder over ``N`` demonstrations (nats).

    Attributes:
        rate, rate_se: ``R`` (closed form) and its standard error over demonstrations.
        mutual_information, mutual_information_se: ``I(A;Z)`` for ``A`` uniform on the
            demonstrations (Monte Carlo, MC standard error). As an estimate of the
            population ``I(A;Z)`` it is the InfoNCE lower bound in expectation (<= log N).
        mutual_information_upper, mutual_information_upper_se: the leave-one-out
            estimate, an upper bound on the population ``I(A;Z)`` in expectation.
        mode_information, mode_information_se: ``I(M;Z)`` (None without mode labels);
            ``<= H(M) <= log K``.
        marginal_kl, marginal_kl_se: ``KL(qbar || p)`` by direct Monte Carlo.
        marginal_kl_from_rate: ``R - I(A;Z)`` (L1); equals ``marginal_kl`` up to MC error.
        n: demonstrations; n_draws: draws per posterior; seed: the draws' seed.
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


def _mean_se(t: np.ndarray) -> tuple[float, float]:
    return float(t.mean()), float(t.std(ddof=1) / math.sqrt(t.size)) if t.size > 1 else 0.0


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

    Args:
        mu, logvar: ``[N, d]`` posterior means and log-variances (NumPy or torch).
        modes: optional ``[N]`` integer mode labels of the demonstrations.
        n_draws: Monte Carlo draws per posterior (``>= 1``).
        seed: seed of the draws.
        chunk: draws processed at once (memory ``chunk * N`` floats).

    Reference: THEORY.md L1-L2; Hoffman & Johnson, "ELBO surgery", 2016; Alemi et al. 2018.
    """
    m, lv = _encoder(mu, logvar)
    n, d = m.shape
    n_draws = _args.integer_at_least(n_draws, "n_draws", 1)
    seed = _args.integer_at_least(seed, "seed", 0)
    chunk = _args.integer_at_least(chunk, "chunk", 1)
    labels = None
    if modes is not None:
        lab = np.asarray(modes.detach().cpu().numpy() if hasattr(modes, "detach") else modes)
        if lab.shape != (n,) or not np.issubdtype(lab.dtype, np.integer):
            raise ValueError(f"modes must be an integer array of shape [{n}], got "
                             f"{lab.dtype} {lab.shape}")
        _, labels = np.unique(lab, return_inverse=True)
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
    mi, mi_se = _mean_se(np.concatenate(own))
    # N = 1: qbar = q_1, so I(A;Z) = 0 and there is no "other" component to leave out.
    up, up_se = _mean_se(np.concatenate(loo)) if loo else (0.0, 0.0)
    kl, kl_se = _mean_se(np.concatenate(marginal))
    mode_mi, mode_se = _mean_se(np.concatenate(mode_t)) if mode_t else (None, None)
    return LatentInformation(
        rate=rate, rate_se=rate_se, mutual_information=mi, mutual_information_se=mi_se,
        mutual_information_upper=up, mutual_information_upper_se=up_se,
        mode_information=mode_mi, mode_information_se=mode_se, marginal_kl=kl,
        marginal_kl_se=kl_se, marginal_kl_from_rate=rate - mi, n=n, n_draws=n_draws,
        seed=seed)


# --------------------------------------------------------------------------- prior coverage


@dataclass(frozen=True)
class PriorCoverage:
    """Prior mass of the latent region the posteriors cover (L5).

    Attributes:
        mass: ``p(C)`` estimated from ``n`` prior draws; interval: its Clopper-Pearson
            interval at ``confidence``.
        posterior_mass: ``qbar(C)`` (``>= level`` by construction for "ellipsoids";
            estimated for "density").
        region: "ellipsoids" or "density"; level: the posteriors' mass level.
        n, confidence, seed: the prior draws, the interval's level, the seed.
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
    r"""Prior mass ``p(C)`` of the region ``C`` covered by the posteriors.

    Regions:
        - ``"ellipsoids"``: ``C = union_i {z : sum_j (z_j - mu_ij)^2 / sigma_ij^2 <=
          chi2_d^{-1}(level)}``, each posterior's central ellipsoid of mass ``level``; so
          ``qbar(C) >= level`` exactly.
        - ``"density"``: ``C = {z : qbar(z) >= t}``, ``t`` the level at which
          ``qbar(C) = level`` (estimated from ``n_prior`` draws of ``qbar``): the smallest
          region holding that much posterior mass.

    L5 then says: a decoder trained on ``C`` is queried inside ``C`` with probability
    ``p(C)`` at deployment (``z ~ p``), and ``p(C) >= c*`` with ``kl_bin(qbar(C) || c*) =
    KL(qbar || p)`` (``theory.min_prior_coverage``).

    Args:
        mu, logvar: ``[N, d]`` posterior means and log-variances.
        level: the posteriors' mass level in ``(0, 1)``.
        n_prior: prior draws ``z ~ N(0, I)`` (Monte Carlo, exact binomial interval).
        confidence, seed, chunk: interval level, seed, draws processed at once.
    """
    m, lv = _encoder(mu, logvar)
    n, d = m.shape
    level = _args.open_probability(level, "level")
    confidence = _args.open_probability(confidence, "confidence")
    n_prior = _args.integer_at_least(n_prior, "n_prior", 1)
    seed = _args.integer_at_least(seed, "seed", 0)
    chunk = _args.integer_at_least(chunk, "chunk", 1)
    if region not in ("ellipsoids", "density"):
        raise ValueError(f"region must be 'ellipsoids' or 'density', got {region!r}")
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
        posterior_mass = level
    else:
        owner = rng.integers(0, n, n_prior)
        zq = m[owner] + np.exp(0.5 * lv[owner]) * rng.standard_normal((n_prior, d))

        def log_qbar(x):
            return special.logsumexp(_log_densities(x, m, lv), axis=1)

        t = np.quantile(chunked(log_qbar, zq), 1 - level)
        inside = chunked(log_qbar, prior) >= t
        posterior_mass = level
    count = int(inside.sum())
    lo, hi = clopper_pearson(count, n_prior, confidence)
    return PriorCoverage(mass=count / n_prior, interval=(lo, hi),
                         posterior_mass=float(posterior_mass), region=region, level=level,
                         n=n_prior, confidence=confidence, seed=seed)


# --------------------------------------------------------------------------- L4 numerically


def _mode_layout(separation: float, n_modes: int) -> np.ndarray:
    """Default point modes, pairwise distance ``Delta``: ``+-Delta/2`` on a line for K = 2,
    the scaled simplex vertices ``(Delta / sqrt 2) e_k`` in ``R^K`` for K > 2."""
    if n_modes == 2:
        return np.array([[-separation / 2], [separation / 2]])
    return separation / math.sqrt(2) * np.eye(n_modes)


def _huber(r: np.ndarray, delta: float) -> np.ndarray:
    a = np.abs(r)
    return np.where(a <= delta, 0.5 * r * r, delta * (a - 0.5 * delta))


def _decode(post: np.ndarray, c: np.ndarray, loss: str, delta: float) -> np.ndarray:
    """``[M, D]`` optimal decoder outputs ``argmin_y sum_k post_k loss(c_k - y)``."""
    if loss == "l2":
        return post @ c
    if loss == "l1":
        # The minimiser of sum_k P_k |c_k - y| is a weighted median, coordinatewise.
        order = np.argsort(c, axis=0)
        out = np.empty((post.shape[0], c.shape[1]))
        for j in range(c.shape[1]):
            cum = np.cumsum(post[:, order[:, j]], axis=1)
            idx = np.minimum(np.argmax(cum >= 0.5 - 1e-12, axis=1), c.shape[0] - 1)
            out[:, j] = c[order[idx, j], j]
        return out
    # Huber: the derivative sum_k P_k clip(y - c_k, -delta, delta) is nondecreasing in y;
    # a vectorised bisection solves all rows at once (scipy's root finders are scalar).
    lo = np.broadcast_to(c.min(axis=0), (post.shape[0], c.shape[1])).copy()
    hi = np.broadcast_to(c.max(axis=0), (post.shape[0], c.shape[1])).copy()
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        slope = np.einsum("mk,mkj->mj", post,
                          np.clip(mid[:, None, :] - c[None], -delta, delta))
        up = slope > 0
        hi = np.where(up, mid, hi)
        lo = np.where(up, lo, mid)
    return 0.5 * (lo + hi)


def _loss(c: np.ndarray, y: np.ndarray, loss: str, sigma: float, delta: float) -> np.ndarray:
    """``[M, K]`` ``loss(c_k, y_m)`` in the likelihood's units."""
    r = c[None, :, :] - y[:, None, :]
    if loss == "l2":
        return np.sum(r * r, axis=-1) / (2 * sigma**2)
    if loss == "l1":
        return np.sum(np.abs(r), axis=-1) / sigma
    return np.sum(_huber(r, delta), axis=-1) / sigma**2


@functools.lru_cache(maxsize=8)
def _qmc_normal(dim: int, n: int = 1 << 12) -> np.ndarray:
    """Fixed scrambled-Sobol standard normal points (seed 0): common random numbers keep
    the reduced objective a deterministic function of the encoder."""
    return special.ndtri(stats.qmc.Sobol(dim, scramble=True, seed=0).random(n))


@dataclass(frozen=True)
class _Problem:
    centres: np.ndarray
    weights: np.ndarray
    loss: str
    sigma: float
    delta: float
    latent_dim: int

    def collapsed(self) -> float:
        y = _decode(self.weights[None], self.centres, self.loss, self.delta)
        return float(_loss(self.centres, y, self.loss, self.sigma, self.delta)[0] @ self.weights)

    def reconstruction(self, v: np.ndarray) -> float:
        """``sum_k w_k E loss(c_k, D(z))``, ``z ~ N(v_k, I)``.

        One latent dimension: cells of width 2e-3 over ``[min v - 9, max v + 9]`` with exact
        Gaussian cell masses, the decoder read at each cell's posterior; error O(h^2) for
        smooth decoders and O(h) at the jumps of the L1 decoder. More dimensions: 2^12
        scrambled Sobol points per mode (quasi-Monte Carlo).
        """
        if self.latent_dim == 1:
            edges = np.arange(v.min() - 9.0, v.max() + 9.0 + 2e-3, 2e-3)
            cdf = special.ndtr(edges[None, :] - v[:, :1])
            mass = np.diff(cdf, axis=1)                                   # [K, C]
            joint = self.weights[:, None] * mass
            keep = joint.sum(axis=0) > 0
            joint = joint[:, keep]
            post = (joint / joint.sum(axis=0)).T                           # [C, K]
            y = _decode(post, self.centres, self.loss, self.delta)
            return float(np.sum(joint.T * _loss(self.centres, y, self.loss, self.sigma,
                                                self.delta)))
        xi = _qmc_normal(self.latent_dim)
        K, q = v.shape[0], xi.shape[0]
        z = (v[:, None, :] + xi[None]).reshape(K * q, -1)
        logits = np.log(self.weights) - 0.5 * np.sum((z[:, None, :] - v[None]) ** 2, axis=-1)
        y = _decode(special.softmax(logits, axis=1), self.centres, self.loss, self.delta)
        own = _loss(self.centres, y, self.loss, self.sigma, self.delta)
        own = own[np.arange(K * q), np.repeat(np.arange(K), q)].reshape(K, q)
        return float(self.weights @ own.mean(axis=1))

    def kl(self, v: np.ndarray) -> float:
        return float(0.5 * np.sum(np.log1p(self.weights @ (v * v))))


def _problem(separation, sigma, loss, n_modes, weights, latent_dim, huber_delta) -> _Problem:
    if loss not in ("l2", "l1", "huber"):
        raise ValueError(f"loss must be 'l2', 'l1' or 'huber', got {loss!r}")
    separation = _args.positive(separation, "separation")
    sigma = _args.positive(sigma, "sigma")
    delta = _args.positive(huber_delta, "huber_delta")
    k = _args.integer_at_least(n_modes, "n_modes", 2, 8)
    d = _args.integer_at_least(latent_dim, "latent_dim", 1, 8)
    w = np.full(k, 1 / k) if weights is None else _args.weight_vector(weights, "weights")
    if w.size != k:
        raise ValueError(f"weights must have n_modes={k} entries, got {w.size}")
    # The posterior depends on z only through the span of the v_k (<= K - 1 dims), and the
    # KL is smallest with that span on coordinate axes: more dimensions never help.
    return _Problem(_mode_layout(separation, k), w / w.sum(), loss, sigma, delta,
                    min(d, k - 1))


def _collapsed_decoder_is_unique(p: _Problem) -> bool:
    """Whether ``argmin_y sum_k w_k loss(c_k - y)`` is a single point (see collapse_threshold)."""
    if p.loss == "l2":
        return True
    for j in range(p.centres.shape[1]):
        c = p.centres[:, j]
        if p.loss == "l1":
            values = np.unique(c)
            cum = np.array([p.weights[c <= x].sum() for x in values[:-1]])
            if np.any(np.abs(cum - 0.5) < 1e-12):
                return False
        else:
            # The derivative is linear between breakpoints c_k +- delta: the minimiser set
            # is an interval iff the derivative vanishes at two interior points of a piece.
            br = np.unique(np.concatenate([c - p.delta, c + p.delta]))
            for a, b in zip(br[:-1], br[1:], strict=True):
                ys = a + (b - a) * np.array([1 / 3, 2 / 3])
                slope = [p.weights @ np.clip(y - c, -p.delta, p.delta) for y in ys]
                if max(abs(s) for s in slope) < 1e-12 * p.delta:
                    return False
    return True


def collapse_ratio(v: Any, separation: float, sigma: float, loss: Loss = "l2", *,
                   weights: Any = None, huber_delta: float = 1.0) -> float:
    r"""``(J_0 - Rec(v)) / KL(v)``: the KL weight at which encoder ``v`` ties with collapse.

    Reduced L4 objective (point modes ``c_k`` of `collapse_threshold`'s layout, weights
    ``w_k``): the encoder of mode ``k`` is ``N(m_k, diag(s^2))`` with the per-dimension
    variance shared by the modes, ``v_k = m_k / s`` (``[K, d]``) its signal-to-noise
    vectors; the optimal decoder for the loss minimises the posterior expected loss at each
    ``z``. Then ``Rec(v) = sum_k w_k E_{xi} loss(c_k, D(v_k + xi))`` depends on ``v``
    only, the KL minimised over ``s`` is ``KL(v) = sum_j (1/2) log(1 + sum_k w_k v_kj^2)``
    after centring ``v_k -> v_k - sum_i w_i v_i`` (which leaves ``Rec`` unchanged), and
    ``J_0 = min_y sum_k w_k loss(c_k, y)`` is the collapsed reconstruction. Two
    equal-weight modes, ``d = 1``, ``v = (-u, u)``: THEORY.md's ``u = m / s`` and
    ``KL = (1/2) log(1 + u^2)``. ``beta* = sup_v`` of this ratio (`collapse_threshold`).

    Args:
        v: ``[K, d]`` signal-to-noise vectors (not all equal).
        separation, sigma, loss, weights, huber_delta: as in `collapse_threshold`.

    Reference: THEORY.md L4; docs/numerics.md section 4 (our extension).
    """
    v = as_numpy(v, "v")
    if v.ndim != 2:
        raise ValueError(f"v must have shape [K, d], got {v.shape}")
    p = dataclasses.replace(
        _problem(separation, sigma, loss, v.shape[0], weights, v.shape[1], huber_delta),
        latent_dim=v.shape[1])
    kl = p.kl(v - p.weights @ v)
    if kl <= 0:
        raise ValueError("v must not be constant across modes (the encoder would carry "
                         "no information and the ratio is 0/0)")
    return (p.collapsed() - p.reconstruction(v)) / kl


def collapse_threshold(separation: float, sigma: float, loss: Loss = "l2", n_modes: int = 2,
                       weights: Any = None, latent_dim: int = 1, huber_delta: float = 1.0,
                       *, n_starts: int = 4, seed: int = 0) -> float:
    r"""L4's collapse threshold ``beta*`` for squared, L1 or Huber reconstruction losses.

    Reduced objective (THEORY.md L4, generalised; see `collapse_ratio`): point modes,
    Gaussian encoder with per-dimension variance shared by the modes, ``N(0, I)`` prior,
    unconstrained (optimal) decoder,
    ``J_beta(v) = Rec(v) + beta KL(v)``; the latent *collapses* (``v = 0``, ``I(M;Z) = 0``,
    is a global minimiser) iff ``beta >= beta*`` with

    .. math:: \beta^* = \sup_{v \ne 0} \frac{J_0 - Rec(v)}{KL(v)} .

    Losses (per chunk element, as likelihoods): ``"l2"``: ``|a - y|^2 / (2 sigma^2)``;
    ``"l1"``: ``|a - y|_1 / sigma`` (Laplace scale ``sigma``, ACT); ``"huber"``:
    ``sum_j rho_delta(a_j - y_j) / sigma^2`` with ``rho_delta(r) = r^2/2`` for
    ``|r| <= delta``, ``delta (|r| - delta/2)`` beyond.

    **When is beta* infinite?** ``Rec(v) = E_{z~qbar} G(P(.|z))`` with the concave
    ``G(P) = min_y sum_k P_k loss(c_k, y)``, and ``J_0 = G(w)``. If the collapsed decoder
    ``argmin_y sum_k w_k loss(c_k, y)`` is not unique (L1 with a weighted-median tie,
    e.g. two equal-weight modes; Huber with two equal-weight modes and ``Delta > 2 delta``),
    ``G`` has a kink at ``w`` and ``J_0 - Rec(v) >= c |v|`` (linear) while
    ``KL(v) = O(|v|^2)``: the ratio diverges as ``v -> 0`` and **no finite beta collapses
    the latent** (``beta* = inf``; returned as ``math.inf``). For two equal-weight L1
    modes, ``Rec(u) = (Delta / sigma) Phi(-u)`` at ``v = (-u, u)`` with ``d = 1`` (the
    decoder outputs the mode on ``z``'s side of 0), so
    ``J_beta(u) - J_beta(0) = -(Delta/sigma)(1/2 - Phi(-u)) + (beta/2) log(1 + u^2) < 0``
    for ``0 < u < u_beta`` at every ``beta`` (the first term is ``-Delta u / (sigma
    sqrt(2 pi)) + O(u^3)``). Otherwise (unique minimiser) the ratio is
    bounded near ``0`` (``G`` is locally linear for L1, ``C^{1,1}`` for Huber) and
    ``beta*`` is finite, computed by maximising the ratio (Nelder-Mead, ``n_starts``
    seeded starts; two modes: a 1-D search over ``u``). For ``"l2"`` the ``v -> 0``
    limit of the ratio is the linear-VAE value ``lambda_max(Cov_w(c)) / sigma^2``, a lower
    bound on ``beta*``; it is the supremum for two equal weights (``Delta^2 / (4
    sigma^2)``, ``theory.collapse_threshold``) and, measured, for two weights up to
    ``w_1 ~ 0.73``; beyond, the supremum sits at a finite ``u`` and ``beta*`` exceeds
    ``w_1 w_2 Delta^2 / sigma^2`` (+4.4% at ``w_1 = 0.8``, +34% at ``0.9``): the collapse
    is then a jump from an informative encoder, not a continuous fade.
    Accuracy: smooth losses are evaluated down to encoder KL ``1e-6`` nats, so a
    supremum at ``v -> 0`` is returned ~1e-6 (relative) below its limit.

    Mode layout: ``+-Delta/2`` on a line (K = 2); ``(Delta/sqrt 2) e_k`` in ``R^K``
    (K > 2, pairwise distance ``Delta``, differences along coordinate axes -- L1 and
    Huber are not rotation invariant).

    Args:
        separation: ``Delta > 0``; sigma: likelihood scale ``> 0``.
        loss: "l2", "l1" or "huber"; huber_delta: Huber's ``delta > 0``.
        n_modes: ``K`` in ``[2, 8]``; weights: ``[K]`` mode weights (default equal).
        latent_dim: ``d`` in ``[1, 8]``. Only ``min(d, K - 1)`` dimensions matter (the
            posterior sees ``z`` through the span of the ``v_k``); one dimension is
            integrated on a fine grid (error ~1e-6 relative for smooth losses), more by
            2^12 scrambled Sobol points (~1e-3).
        n_starts, seed: the optimiser's random starts.

    Returns:
        ``beta*`` (float, ``math.inf`` when no finite beta collapses the latent).

    Reference: THEORY.md L4; Lucas et al., NeurIPS 2019 (linear VAE); our extension to
    L1/Huber, K modes, weights and ``d > 1`` (docs/numerics.md).
    """
    p = _problem(separation, sigma, loss, n_modes, weights, latent_dim, huber_delta)
    n_starts = _args.integer_at_least(n_starts, "n_starts", 1)
    seed = _args.integer_at_least(seed, "seed", 0)
    if not _collapsed_decoder_is_unique(p):
        return math.inf
    j0 = p.collapsed()
    shape = (p.weights.size, p.latent_dim)

    def ratio(v: np.ndarray) -> float:
        v = v - p.weights @ v   # a common shift of the v_k changes KL only, never Rec
        kl = p.kl(v)
        if kl == 0:
            return 0.0
        if kl < _MIN_KL:
            # Below this J_0 - Rec is lost in rounding; for a unique collapsed decoder the
            # ratio is within O(KL) (relative) of its v -> 0 limit here.
            v = v * math.sqrt(_MIN_KL / kl)
            kl = p.kl(v)
        return (j0 - p.reconstruction(v)) / kl

    if shape == (2, 1):
        # Two modes: Rec depends on v_2 - v_1 = u only, a one-parameter problem.
        w1, w2 = p.weights

        def along(log_u: float) -> float:
            u = math.exp(log_u)
            return ratio(np.array([[-w2 * u], [w1 * u]]))

        grid = np.linspace(math.log(2e-3), math.log(30.0), 48)
        values = [along(t) for t in grid]
        i = int(np.argmax(values))
        lo, hi = grid[max(i - 1, 0)], grid[min(i + 1, grid.size - 1)]
        res = optimize.minimize_scalar(lambda t: -along(t), bounds=(lo, hi), method="bounded",
                                       options=dict(xatol=1e-6))
        return max(values[i], -float(res.fun))
    rng = np.random.default_rng(seed)
    best = 0.0
    for scale in np.geomspace(0.05, 3.0, n_starts):
        x0 = scale * rng.standard_normal(shape).ravel()
        res = optimize.minimize(lambda x: -ratio(x.reshape(shape)), x0, method="Nelder-Mead",
                                options=dict(xatol=1e-6, fatol=1e-9, maxiter=600 * x0.size))
        best = max(best, -float(res.fun))
    return best
