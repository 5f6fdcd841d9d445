"""Bound checks of a trained policy on a task, shared by every suite.

Two stages, so that a check can be redone from stored numbers alone (the cache keeps
measurements, the verdicts are recomputed on every run):

1. *measure* (`measure_transport`, `measure_latent`): sample the policy, count samples
   per mode, compute W1 and the latent information terms -> a frozen, JSON-ready
   measurement;
2. *check* (`transport_checks_from`, `latent_checks_from`): compare the measurement with
   the bounds of `theory` -> `numerics.BoundCheck`s.

`transport_checks` and `latent_checks` do both (the contract of docs/architecture.md).

Statistics. The bounds of Part T hold *for every observation* ``o``; pooling samples
over observations would be wrong (a policy that picks one mode per observation, a
different one for different ``o``, has pooled masses ``1/2, 1/2``). So every mass is
estimated per observation with a Clopper-Pearson interval, all ``B (K + 1)`` intervals
jointly at the stated confidence (Bonferroni), and a check reports the observation
where the bound comes closest to being violated; it FAILs only when an interval
clearly excludes the bound there (which, the intervals being simultaneous, is a
violation at that confidence).

Planting a wrong bound. With the environment variable ``MODEBOUND_PLANT_WRONG_BOUND``
set to a non-empty value other than ``0`` (the CLI's ``--plant-wrong-bound`` sets it),
every bound is replaced by a deliberately wrong one -- upper bounds times
``PLANT_FACTOR`` (0.1), lower bounds divided by it -- and the note says so. A policy that
covers its modes then violates the planted T2/T3 bound and the report says FAIL: the
demonstration that the checks can fail.
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from scipy import special

PLANT_ENV = "MODEBOUND_PLANT_WRONG_BOUND"
PLANT_FACTOR = 0.1
DEFAULT_CONFIDENCE = 0.99


def planted() -> bool:
    """Whether a wrong bound is planted (environment variable `PLANT_ENV`)."""
    return os.environ.get(PLANT_ENV, "") not in ("", "0")


# --------------------------------------------------------------------------- helpers


def clopper_pearson(counts, n: int, confidence: float) -> np.ndarray:
    """``[..., 2]`` Clopper-Pearson intervals (`numerics.clopper_pearson`, array form)."""
    import numerics

    return np.asarray(numerics.clopper_pearson(np.asarray(counts), n, confidence), dtype=float)


def bound_check(estimate: float, interval: tuple[float, float], bound: float, relation: str,
                 *, proposition: str, quantity: str, n: int, confidence: float,
                 note: str = "", inconclusive: bool = False):
    """`numerics.check_interval_bound`, with the planted wrong bound and a note added."""
    import numerics

    if planted():
        bound = bound * PLANT_FACTOR if relation == "<=" else bound / PLANT_FACTOR
        note = f"PLANTED WRONG BOUND ({PLANT_ENV}); {note}"
    return numerics.check_interval_bound(
        float(estimate), (float(interval[0]), float(interval[1])), float(bound), relation,
        proposition=proposition, quantity=quantity, n=int(n), confidence=float(confidence),
        note=note, inconclusive=inconclusive)


def _value(estimate: Any) -> float:
    """A `LipschitzEstimate` or a number -> float."""
    return float(getattr(estimate, "value", estimate))


def _method(estimate: Any, default: str) -> str:
    return str(getattr(estimate, "method", default))


def _as_obs(task, obs) -> np.ndarray:
    obs = np.asarray(obs, dtype=np.float32)
    if obs.ndim != 2 or obs.shape[1] != task.obs_dim or obs.shape[0] < 1:
        raise ValueError(f"obs must have shape [B, {task.obs_dim}] with B >= 1, got {obs.shape}")
    return obs


def _positive_int(x: Any, name: str, low: int = 1) -> int:
    from theory import _args

    return _args.integer_at_least(x, name, low)


def _probability(x: float, name: str) -> float:
    if not (isinstance(x, (int, float)) and 0 < x < 1):
        raise ValueError(f"{name} must be a probability in the open interval (0, 1), got {x!r}")
    return float(x)


# --------------------------------------------------------------------------- Part T


@dataclass(frozen=True)
class TransportMeasurement:
    """What `measure_transport` measured on one policy and task (JSON-ready).

    Attributes:
        policy: the policy kind. n_modes, weights, rho: the task's.
        separation: ``[B]`` ``Delta(o)`` of the point modes.
        pair_separation: ``[B][K][K]`` ``Delta_ij(o)``.
        counts: ``[B][K + 1]`` samples within ``rho`` of mode ``k`` (last: bridge).
        n_samples: samples per observation.
        lipschitz_upper, upper_method: the certified constant of noise -> chunk (None for
            a policy without one: regression is deterministic, a mixture discontinuous).
        lipschitz_lower: the empirical lower estimate (None if not measured).
        w1, w1_floor: ``[B]`` ``W_1`` of the first half of the samples to the noise-free
            demonstrator ``sum_k w_k delta_{c_k(o)}``, and ``W_1`` between the two halves
            (the sampling-noise floor, NUMERICS-NOTES).
        off_support: mean distance of a sample to the nearest mode centre.
        seed: the sampling seed.
    """

    policy: str
    n_modes: int
    weights: tuple[float, ...]
    rho: float
    separation: tuple[float, ...]
    pair_separation: tuple[tuple[tuple[float, ...], ...], ...]
    counts: tuple[tuple[int, ...], ...]
    n_samples: int
    lipschitz_upper: float | None
    upper_method: str
    lipschitz_lower: float | None
    w1: tuple[float, ...]
    w1_floor: tuple[float, ...]
    off_support: float
    seed: int

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> TransportMeasurement:
        return cls(**d)

    @property
    def masses(self) -> np.ndarray:
        """``[B, K + 1]`` empirical masses (last column: bridge)."""
        return np.asarray(self.counts, dtype=float) / self.n_samples

    def summary(self) -> dict:
        """One table row: means over observations and the T2-type bound at both constants."""
        import theory

        m = self.masses
        K = self.n_modes
        sep = float(np.mean(self.separation))
        eff = sep - 2 * self.rho
        row = {
            "policy": self.policy, "n_obs": len(self.separation), "n_samples": self.n_samples,
            "separation": sep, "effective_separation": eff,
            "lipschitz_upper": self.lipschitz_upper, "upper_method": self.upper_method,
            "lipschitz_lower": self.lipschitz_lower,
            "min_mode_mass": float(np.mean(m[:, :K].min(axis=1))),
            "mode_masses": [float(x) for x in m[:, :K].mean(axis=0)],
            "bridge_mass": float(np.mean(m[:, K])),
            "w1": float(np.mean(self.w1)), "w1_floor": float(np.mean(self.w1_floor)),
            "off_support": self.off_support,
        }
        for tag, L in (("upper", self.lipschitz_upper), ("lower", self.lipschitz_lower)):
            ok = L is not None and L > 0
            row[f"ratio_{tag}"] = eff / L if ok else None
            row[f"mass_bound_{tag}"] = (float(theory.max_mode_mass(L, eff, K)) if ok else None)
            row[f"bridge_bound_{tag}"] = (
                float(theory.min_bridge_mass(L, eff)) if ok and K == 2 else None)
            row[f"w1_bound_{tag}"] = (float(theory.wasserstein_lower_bound(
                L, sep, weights=tuple(self.weights), p=1)) if ok else None)
        return row


def measure_transport(policy, task, obs, n_samples: int, seed: int, *, lipschitz=None,
                      empirical=None, max_w1_samples: int = 400) -> TransportMeasurement:
    """Sample ``policy`` at ``obs`` and measure mode masses, bridge mass and ``W_1``.

    Args:
        policy: a `validation.policies.Policy`; its ``sample(obs, n, generator)``.
        task: a `validation.tasks.Task` (its true modes label the samples).
        obs: ``[B, obs_dim]`` evaluation observations.
        n_samples: samples per observation (``>= 2``).
        seed: seed of the sampling generator (and of the empirical Lipschitz search).
        lipschitz: the certified upper constant (`LipschitzEstimate` or float); default
            ``policy.certified_lipschitz()`` when the policy has one, else None.
        empirical: the empirical lower constant (`LipschitzEstimate` or float); default
            ``policy.empirical_lipschitz(obs[:8])`` when available; ``False`` skips it.
        max_w1_samples: at most this many samples per half enter the ``W_1`` estimates
            (exact EMD costs ``O(n^3)``).
    """
    import ot

    obs = _as_obs(task, obs)
    n_samples = _positive_int(n_samples, "n_samples", 2)
    seed = _positive_int(seed, "seed", 0)
    if lipschitz is None and hasattr(policy, "certified_lipschitz"):
        lipschitz = policy.certified_lipschitz()
    if empirical is None and hasattr(policy, "empirical_lipschitz"):
        empirical = policy.empirical_lipschitz(obs[:8], n_starts=4, seed=seed)
    upper = None if lipschitz is None else _value(lipschitz)
    if upper is not None and not upper > 0:
        raise ValueError(f"lipschitz must be positive, got {upper!r}")
    lower = None if empirical is None or empirical is False else _value(empirical)

    device = getattr(policy, "device", torch.device("cpu"))
    gen = torch.Generator(device=device).manual_seed(seed)
    samples = policy.sample(obs, n_samples, generator=gen).detach().cpu().double().numpy()
    labels = task.mode_labels(obs, samples)
    K = task.n_modes
    counts = np.stack([(labels == k).sum(axis=1) for k in [*range(K), -1]], axis=1)
    centres = task.mode_centres(obs)
    dist = task.mode_distances(obs, samples)

    half = min(n_samples // 2, max_w1_samples)
    w = np.asarray(task.weights, dtype=float)
    w1, floor = [], []
    for b in range(obs.shape[0]):
        x, y = samples[b, :half], samples[b, half:2 * half]
        u = np.full(half, 1.0 / half)
        # Semi-discrete exact W1 to the K weighted atoms; POT's default cost is the
        # squared distance, hence metric="euclidean" (NUMERICS-NOTES).
        w1.append(float(ot.emd2(u, w, ot.dist(x, centres[b], metric="euclidean"),
                                numItermax=10**7)))
        floor.append(float(ot.emd2(u, u, ot.dist(x, y, metric="euclidean"),
                                   numItermax=10**7)))
    return TransportMeasurement(
        policy=str(getattr(policy, "kind", type(policy).__name__)),
        n_modes=K, weights=tuple(float(v) for v in w), rho=float(task.rho),
        separation=tuple(float(v) for v in task.separation(obs)),
        pair_separation=tuple(tuple(tuple(float(v) for v in row) for row in mat)
                              for mat in task.pairwise_separation(obs)),
        counts=tuple(tuple(int(c) for c in row) for row in counts),
        n_samples=n_samples, lipschitz_upper=upper,
        upper_method=_method(lipschitz, "given") if upper is not None else "none",
        lipschitz_lower=lower, w1=tuple(w1), w1_floor=tuple(floor),
        off_support=float(dist.min(axis=-1).mean()), seed=seed)


def transport_checks_from(m: TransportMeasurement, confidence: float = DEFAULT_CONFIDENCE
                          ) -> list:
    """The Part T checks of a measurement at its certified constant ``L`` (must hold).

    - T2 (``K = 2``) / T3 (``K > 2``): ``min_k m_k(o) <= max_mode_mass(L, Delta(o) - 2 rho, K)``
      for every ``o`` (the rho-balls are ``Delta - 2 rho`` apart);
    - T3 weighted coverage: ``min_k m_k(o) / w_k <= t*(L, Delta_ij(o) - 2 rho, w)``;
    - T4 (``K = 2``): ``b(o) >= 1 - m_1 - Phi(-Phi^{-1}(m_1) - (Delta - 2 rho)/L)`` at the
      true ``m_1``; the right side is concave in ``m_1``, so its minimum over ``m_1``'s
      interval (at an end) is a bound that holds whatever ``m_1`` is in the interval;
    - T5: ``mean_o W_1(mu_o, pi*_o) >= mean_o wasserstein_lower_bound(L, Delta(o), w)`` with
      the point-mode demonstrator; the interval is ``estimate +- noise floor`` (an
      empirical W1 is biased up by at most ``E W_1(mu_n, mu)``, which the split-half
      distance estimates); INCONCLUSIVE when the floor exceeds the bound.
    The empirical lower constant enters the notes only: a bound evaluated at a constant
    below the true one need not hold. Returns [] when the policy has no certified constant.
    """
    import theory

    confidence = _probability(confidence, "confidence")
    L = m.lipschitz_upper
    if L is None:
        return []
    K, n = m.n_modes, m.n_samples
    counts = np.asarray(m.counts)
    B = counts.shape[0]
    ci = clopper_pearson(counts, n, 1 - (1 - confidence) / counts.size)   # Bonferroni
    est = counts / n
    eff = np.asarray(m.separation) - 2 * m.rho
    low_note = (f"L = {L:.4g} ({m.upper_method}); empirical lower L = "
                f"{m.lipschitz_lower:.4g}" if m.lipschitz_lower is not None else
                f"L = {L:.4g} ({m.upper_method})")
    common = dict(n=n, confidence=confidence)
    checks = []

    mass_bound = np.asarray([theory.max_mode_mass(L, s, K) for s in eff], dtype=float)
    lo_min, hi_min, est_min = ci[:, :K, 0].min(1), ci[:, :K, 1].min(1), est[:, :K].min(1)
    b = int(np.argmax(lo_min - mass_bound))
    extra = ""
    if m.lipschitz_lower is not None:
        extra = (f"; at the empirical lower L the bound would be "
                 f"{theory.max_mode_mass(m.lipschitz_lower, eff[b], K):.4g}")
    checks.append(bound_check(
        est_min[b], (lo_min[b], hi_min[b]), mass_bound[b], "<=",
        proposition="T2" if K == 2 else "T3",
        quantity=f"min mode mass, worst of {B} observations", note=low_note + extra, **common))

    w = np.asarray(m.weights)
    seps = np.asarray(m.pair_separation) - 2 * m.rho * (1 - np.eye(K))
    cover_bound = _per_unique(seps, lambda s: float(theory.max_weighted_coverage(L, s, w)))
    t_lo, t_hi, t_est = ((ci[:, :K, 0] / w).min(1), (ci[:, :K, 1] / w).min(1),
                         (est[:, :K] / w).min(1))
    b = int(np.argmax(t_lo - cover_bound))
    checks.append(bound_check(
        t_est[b], (t_lo[b], t_hi[b]), cover_bound[b], "<=", proposition="T3",
        quantity=f"weighted coverage min_k m_k / w_k, worst of {B} observations",
        note=low_note, **common))

    if K == 2:
        def bridge_bound(o: int) -> float:
            lo, hi = ci[o, 0]
            if lo <= 0 or hi >= 1:
                return 0.0
            return min(float(theory.min_bridge_mass(L, eff[o], m1=lo)),
                       float(theory.min_bridge_mass(L, eff[o], m1=hi)))

        bb = np.asarray([bridge_bound(o) for o in range(B)])
        b = int(np.argmax(bb - ci[:, K, 1]))
        checks.append(bound_check(
            est[b, K], tuple(ci[b, K]), bb[b], ">=", proposition="T4",
            quantity=f"bridge mass given m_1, worst of {B} observations", note=low_note,
            **common))

    wb = _per_unique(np.asarray(m.separation), lambda s: float(
        theory.wasserstein_lower_bound(L, float(s), weights=tuple(w), p=1)))
    w1, fl, bound = float(np.mean(m.w1)), float(np.mean(m.w1_floor)), float(np.mean(wb))
    checks.append(bound_check(
        w1, (max(0.0, w1 - fl), w1 + fl), bound, ">=", proposition="T5",
        quantity=f"W1 to the demonstrator, mean over {B} observations",
        note=(f"interval = estimate +- split-half noise floor {fl:.4g} (not a confidence "
              f"interval); {low_note}"),
        inconclusive=fl >= bound, n=n // 2, confidence=confidence))
    return checks


def _per_unique(values: np.ndarray, fn) -> np.ndarray:
    """``fn`` evaluated once per distinct leading-axis entry of ``values`` (rounded)."""
    keys = np.round(values.reshape(values.shape[0], -1), 9)
    uniq, inverse = np.unique(keys, axis=0, return_inverse=True)
    shape = values.shape[1:]
    out = np.asarray([fn(u.reshape(shape) if shape else float(u[0])) for u in uniq])
    return out[np.asarray(inverse).reshape(-1)]


def transport_checks(policy, task, obs, n_samples: int, seed: int, *, lipschitz=None,
                     empirical=None, confidence: float = DEFAULT_CONFIDENCE) -> list:
    """T2/T3, T4, T5 checks of an action-space generator (see `transport_checks_from`).

    Raises TypeError for a policy without a Lipschitz constant (no ``certified_lipschitz``
    and ``lipschitz`` not given): the Part T bounds say nothing about it.
    """
    if lipschitz is None and not hasattr(policy, "certified_lipschitz"):
        raise TypeError(f"policy of kind {getattr(policy, 'kind', '?')!r} has no "
                        "certified_lipschitz(); pass lipschitz=... or use a transport policy")
    m = measure_transport(policy, task, obs, n_samples, seed, lipschitz=lipschitz,
                          empirical=empirical)
    return transport_checks_from(m, confidence)


# --------------------------------------------------------------------------- Part L


@dataclass(frozen=True)
class LatentMeasurement:
    """What `measure_latent` measured on a CVAE (JSON-ready); nats throughout.

    The demonstrations are split in halves: the encoder posteriors of half A define the
    per-mode aggregate posteriors ``qbar_m`` and the Bayes rule ``argmax_m pi_m qbar_m(z)``;
    every statistic is evaluated on half B (``n`` chunks, one ``z ~ q(.|o,a)`` each).
    With demonstrations from `conditional_demonstrations` (many chunks per observation)
    the mixtures are per observation and ``mode_information`` estimates ``I(M; Z | O)``
    (the rule reads the mode from ``(z, o)``); otherwise the pooled ``I(M; Z)``. Both are
    at most the rate (L1: ``I(M; Z) <= I(M; Z | O) <= R`` as ``M`` is independent of ``O``).

    Attributes:
        rate, rate_se: ``R = E KL(q(.|o,a) || N(0, I))`` and its standard error.
        mode_information, mode_information_se: ``I(M; Z)`` (held-out mixture estimate,
            biased low by the posterior mismatch of half A: conservative for L1 and L5).
        gap, gap_se: the paired difference ``R - I(M; Z)``.
        max_kl: the largest single ``KL(q(.|o,a) || p)`` over the demonstrations
            (reported; L3 is checked at the rate, which bounds the mode posteriors' KL).
        errors: mode errors of the Bayes rule on half B.
        posterior_in_mode, prior_in_mode: decoded chunks within ``rho`` of a mode, with
            ``z`` from the posterior and from the prior, at the observations of half B.
        off_support_prior, off_support_mean: mean distance to the nearest mode centre of
            the prior-deployed and the ``z = 0`` (ACT) chunks.
        effective_beta: the KL weight in the per-chunk convention.
    """

    n: int
    n_modes: int
    weights: tuple[float, ...]
    rate: float
    rate_se: float
    mode_information: float
    mode_information_se: float
    gap: float
    gap_se: float
    max_kl: float
    errors: int
    posterior_in_mode: int
    prior_in_mode: int
    off_support_prior: float
    off_support_mean: float
    effective_beta: float
    seed: int

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> LatentMeasurement:
        return cls(**d)


def conditional_demonstrations(task, obs, n_per_obs: int, seed: int):
    """``n_per_obs`` demonstrations at each observation of ``obs`` (``[B, obs_dim]``).

    The task's demonstrator at fixed observations: mode ``k ~ w``, chunk ``c_k(o) + xi``
    with Gaussian noise of scale ``task.noise`` radially clipped to ``task.noise_radius``
    (as `Task.demonstrations`, which draws a fresh observation per chunk and so cannot
    give the per-observation mixtures that ``I(M; Z | O)`` needs).
    Returns `validation.tasks.Demonstrations` of length ``B * n_per_obs``, grouped by
    observation.
    """
    from validation.tasks import Demonstrations

    obs = _as_obs(task, obs)
    n_per_obs = _positive_int(n_per_obs, "n_per_obs", 2)
    rng = np.random.default_rng([_positive_int(seed, "seed", 0), 2])
    rep = np.repeat(obs, n_per_obs, axis=0)
    modes = rng.choice(task.n_modes, size=rep.shape[0], p=task.weights)
    centres = task.mode_centres(rep)[np.arange(rep.shape[0]), modes]
    xi = rng.normal(scale=task.noise, size=centres.shape)
    norm = np.linalg.norm(xi, axis=1, keepdims=True)
    xi *= np.minimum(1.0, task.noise_radius * (1 - 1e-5) / np.maximum(norm, 1e-300))
    return Demonstrations(obs=rep.astype(np.float32), actions=(centres + xi).astype(np.float32),
                          modes=modes.astype(np.int64))


def _diag_gaussian_logpdf(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor
                          ) -> torch.Tensor:
    """``[N, M]`` ``log N(z_i; mu_j, diag exp(logvar_j))`` (all pairs, one broadcast)."""
    diff = z[:, None, :] - mu[None, :, :]
    return -0.5 * ((diff ** 2) * torch.exp(-logvar)[None] + logvar[None]
                   + math.log(2 * math.pi)).sum(-1)


@torch.no_grad()
def measure_latent(cvae, task, demos, seed: int, max_demos: int = 2048) -> LatentMeasurement:
    """Rate, mode information, Bayes-rule errors and prior coverage of a trained CVAE.

    The estimators are written here (not in a library) because the checks need the
    per-chunk terms, paired, to put intervals on differences such as ``R - I(M; Z)``.

    Args:
        cvae: a `CVAEPolicy` (``encode``, ``decode``, ``latent_dim``).
        task: its task; demos: `Demonstrations` of the task (at least 8).
        seed: seed of the latent draws; max_demos: at most this many demonstrations used.
    """
    seed = _positive_int(seed, "seed", 0)
    N = min(len(demos.obs), _positive_int(max_demos, "max_demos", 8))
    if N < 8:
        raise ValueError(f"demos must hold at least 8 demonstrations, got {N}")
    K = task.n_modes
    device = cvae.device
    gen = torch.Generator(device=device).manual_seed(seed)
    obs = torch.as_tensor(demos.obs[:N], dtype=torch.float32, device=device)
    act = torch.as_tensor(demos.actions[:N], dtype=torch.float32, device=device)
    modes = torch.as_tensor(np.asarray(demos.modes[:N]), device=device)
    mu, logvar = cvae.encode(obs, act)
    kl = 0.5 * (mu ** 2 + logvar.exp() - 1 - logvar).sum(-1)
    z = mu + torch.exp(0.5 * logvar) * torch.randn(mu.shape, generator=gen, device=device)

    # Conditional estimates when observations repeat (`conditional_demonstrations`):
    # mixtures and the Bayes rule use only half-A posteriors at the same observation,
    # estimating I(M; Z | O) >= I(M; Z) (M is independent of O).
    _, group = np.unique(demos.obs[:N], axis=0, return_inverse=True)
    group = np.asarray(group).reshape(-1)
    if group.max() + 1 > N // 4:
        group = np.zeros(N, dtype=int)          # (nearly) all distinct: pooled estimate
    group = torch.as_tensor(group, device=device)
    a_idx, b_idx = torch.arange(0, N, 2, device=device), torch.arange(1, N, 2, device=device)
    logq = _diag_gaussian_logpdf(z[b_idx], mu[a_idx], logvar[a_idx])   # [n_B, n_A]
    same = group[b_idx][:, None] == group[a_idx][None, :]
    ma, mb = modes[a_idx], modes[b_idx]
    log_n_a = torch.log(same.sum(1).double()).float()                  # [n_B]
    log_joint = torch.stack([                                          # log pi_m qbar_m(z)
        torch.logsumexp(torch.where(same & (ma[None, :] == k), logq, -math.inf), dim=1)
        for k in range(K)], dim=1) - log_n_a[:, None]
    log_marg = torch.logsumexp(log_joint, dim=1)
    rows = torch.arange(len(b_idx), device=device)
    n_am = (same & (ma[None, :] == mb[:, None])).sum(1).double()
    log_prior = torch.log(n_am).float() - log_n_a
    t = (log_joint[rows, mb] - log_marg - log_prior).double()
    t = torch.where(torch.isfinite(t), t, torch.zeros_like(t))  # mode absent from half A
    kb = kl[b_idx].double()
    errors = int((log_joint.argmax(1) != mb).sum())

    ob = obs[b_idx]
    post = cvae.decode(ob, z[b_idx]).cpu().numpy()
    prior_z = torch.randn((len(b_idx), cvae.latent_dim), generator=gen, device=device)
    prior = cvae.decode(ob, prior_z).cpu().numpy()
    mean = cvae.decode(ob, torch.zeros_like(prior_z)).cpu().numpy()
    ob_np = ob.cpu().numpy()

    def in_mode(chunks: np.ndarray) -> int:
        return int((task.mode_labels(ob_np, chunks[:, None, :])[:, 0] >= 0).sum())

    def off(chunks: np.ndarray) -> float:
        return float(task.mode_distances(ob_np, chunks[:, None, :]).min(-1).mean())

    n = len(b_idx)
    sem = float(np.sqrt(n))
    return LatentMeasurement(
        n=n, n_modes=K, weights=tuple(float(v) for v in task.weights),
        rate=float(kb.mean()), rate_se=float(kb.std() / sem),
        mode_information=float(t.mean()), mode_information_se=float(t.std() / sem),
        gap=float((kb - t).mean()), gap_se=float((kb - t).std() / sem),
        max_kl=float(kl.max()), errors=errors,
        posterior_in_mode=in_mode(post), prior_in_mode=in_mode(prior),
        off_support_prior=off(prior), off_support_mean=off(mean),
        effective_beta=float(getattr(cvae, "effective_beta", getattr(cvae, "beta", math.nan))),
        seed=seed)


def latent_checks_from(m: LatentMeasurement, confidence: float = DEFAULT_CONFIDENCE) -> list:
    """The Part L checks of a measurement (all intervals jointly at ``confidence``).

    - L1: ``R - I(M; Z) >= 0`` (paired normal interval);
    - L2 (Fano): Bayes-rule error ``>= theory.fano_min_error(w, R)`` at the upper end of
      ``R``'s interval (a larger rate allows a smaller error: conservative);
    - L3 (two equal-weight modes): accuracy ``<= theory.mode_recovery_accuracy(R)``
      ``= (1 + tau(R)) / 2`` (the rate bounds the average KL of the two mode posteriors);
    - L5: prior-deployed mass in the modes ``>= min_prior_coverage(KL, posterior mass)``
      with ``KL(qbar || p) <= R - I(M; Z)`` (data processing; ``M`` independent of ``o``),
      at the conservative ends of both intervals.
    """
    import theory

    confidence = _probability(confidence, "confidence")
    alpha = (1 - confidence) / 5                  # Bonferroni over the intervals below
    z = float(special.ndtri(1 - alpha / 2))
    n = m.n
    checks = []
    gap_ci = (m.gap - z * m.gap_se, m.gap + z * m.gap_se)
    checks.append(bound_check(
        m.gap, gap_ci, 0.0, ">=", proposition="L1", quantity="R - I(M;Z) (nats)",
        note=f"R = {m.rate:.4g}, I(M;Z) = {m.mode_information:.4g}", n=n,
        confidence=confidence))

    err_ci = clopper_pearson(m.errors, n, 1 - alpha)
    rate_hi = m.rate + z * m.rate_se
    e_min = float(theory.fano_min_error(tuple(m.weights), rate_hi))
    checks.append(bound_check(
        m.errors / n, tuple(err_ci), e_min, ">=", proposition="L2",
        quantity="mode error of the Bayes rule on z", n=n, confidence=confidence,
        note=f"Fano at R <= {rate_hi:.4g} nats"))

    w = np.asarray(m.weights)
    if m.n_modes == 2 and np.allclose(w, 0.5):
        checks.append(bound_check(
            1 - m.errors / n, (1 - err_ci[1], 1 - err_ci[0]),
            float(theory.mode_recovery_accuracy(rate_hi)), "<=", proposition="L3",
            quantity="mode accuracy of the Bayes rule on z", n=n, confidence=confidence,
            note=(f"(1 + tau(R))/2 at R <= {rate_hi:.4g} nats; largest single KL "
                  f"{m.max_kl:.4g}")))

    post_lo = float(clopper_pearson(m.posterior_in_mode, n, 1 - alpha)[0])
    prior_ci = clopper_pearson(m.prior_in_mode, n, 1 - alpha)
    kl_hi = max(0.0, gap_ci[1])
    cover = (float(theory.min_prior_coverage(kl_hi, post_lo)) if post_lo > 0 else 0.0)
    checks.append(bound_check(
        m.prior_in_mode / n, tuple(prior_ci), cover, ">=", proposition="L5",
        quantity="prior-deployed mass within rho of a mode", n=n, confidence=confidence,
        note=f"KL(qbar||p) <= {kl_hi:.4g}, posterior mass >= {post_lo:.4g}"))
    return checks


def latent_checks(cvae, task, demos, seed: int, confidence: float = DEFAULT_CONFIDENCE
                  ) -> list:
    """L1, L2, L3, L5 checks of a trained CVAE on held-out demonstrations."""
    return latent_checks_from(measure_latent(cvae, task, demos, seed), confidence)


__all__ = [
    "DEFAULT_CONFIDENCE", "PLANT_ENV", "PLANT_FACTOR", "LatentMeasurement",
    "TransportMeasurement", "bound_check", "clopper_pearson", "conditional_demonstrations",
    "latent_checks", "latent_checks_from", "measure_latent", "measure_transport", "planted",
    "transport_checks", "transport_checks_from",
]
