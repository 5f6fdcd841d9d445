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

Planting a wrong bound. Every check function takes ``plant=False``; with ``plant=True``
(the CLI's ``--plant-wrong-bound``, carried by `validation.suites.SuiteConfig`) every
bound is replaced by a deliberately wrong one (`plant_bound`: upper bounds times
``PLANT_FACTOR`` (0.1), lower bounds divided by it) and the note says so. A policy that
covers its modes then violates the planted T2/T3 bound and the report says FAIL: the
demonstration that the checks can fail.
"""

from __future__ import annotations

import dataclasses
import inspect
import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Self

import numpy as np
import torch
from scipy import special

import numerics
from theory import _args

PLANT_FACTOR = 0.1
PLANT_NOTE = "PLANTED WRONG BOUND (--plant-wrong-bound)"
DEFAULT_CONFIDENCE = 0.99


def plant_bound(bound: float, relation: str) -> float:
    """The deliberately wrong bound planted in place of ``bound``: an upper bound
    (``relation="<="``) times `PLANT_FACTOR`, a lower bound divided by it."""
    return bound * PLANT_FACTOR if relation == "<=" else bound / PLANT_FACTOR


# --------------------------------------------------------------------------- helpers


def bound_check(estimate: float, interval: tuple[float, float], bound: float, relation: str,
                *, proposition: str, quantity: str, n: int, confidence: float,
                detectable: float, note: str = "", inconclusive: bool = False,
                plant: bool = False):
    """`numerics.check_interval_bound`; with ``plant`` the bound is `plant_bound`'s."""
    if plant:
        bound = plant_bound(bound, relation)
        note = f"{PLANT_NOTE}; {note}"
    return numerics.check_interval_bound(
        float(estimate), (float(interval[0]), float(interval[1])), float(bound), relation,
        proposition=proposition, quantity=quantity, n=int(n), confidence=float(confidence),
        note=note, inconclusive=inconclusive, detectable=float(detectable))


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


class _Record:
    """The JSON round trip of a frozen measurement dataclass (what the cache stores)."""

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Self:
        return cls(**d)


# --------------------------------------------------------------------------- Part T


@dataclass(frozen=True)
class TransportMeasurement(_Record):
    """What `measure_transport` measured on one policy and task (JSON-ready).

    Attributes:
        policy: the policy kind. n_modes, weights, rho: the task's.
        separation: ``[B]`` ``Delta(o)`` of the point modes.
        pair_separation: ``[B][K][K]`` ``Delta_ij(o)``.
        counts: ``[B][K + 1]`` samples within ``rho`` of mode ``k`` (last: bridge).
        n_samples: samples per observation.
        lipschitz_upper: ``[B]`` the certified constant of noise -> chunk at each
            observation (the same number repeated for a certificate valid at every
            observation); None for a policy without one (regression is deterministic, a
            mixture discontinuous). upper_method: how it was certified.
        lipschitz_lower: the empirical lower estimate (None if not measured).
        w1: ``[B]`` `numerics.AtomDistance` fields (as dicts): ``W_1`` of the samples to
            the noise-free demonstrator ``sum_k w_k delta_{c_k(o)}`` with what its
            confidence interval needs.
        off_support: mean distance of a sample to the nearest mode centre.
        seed: the sampling seed.
        n_samples_base: the ``n_samples`` asked for when the power analysis raised it
            (`samples_for_power`); None when ``n_samples`` is the one asked for.
        local_lipschitz: ``[B]`` ``L_B(o)``, the certified constant of noise -> chunk on
            the ball ``|eps| <= local_radius`` (`numerics.sampler_lipschitz_local`); None
            when not measured. local_lower: ``[B]`` its attained lower ends.
        local_radius, outside_mass: the ball's radius and Gaussian mass outside it ``p``.
        local_method: how ``L_B`` was certified.
    """

    policy: str
    n_modes: int
    weights: tuple[float, ...]
    rho: float
    separation: tuple[float, ...]
    pair_separation: tuple[tuple[tuple[float, ...], ...], ...]
    counts: tuple[tuple[int, ...], ...]
    n_samples: int
    lipschitz_upper: tuple[float, ...] | None
    upper_method: str
    lipschitz_lower: float | None
    w1: tuple[dict, ...]
    off_support: float
    seed: int
    n_samples_base: int | None = None
    local_lipschitz: tuple[float, ...] | None = None
    local_lower: tuple[float, ...] | None = None
    local_radius: float | None = None
    outside_mass: float | None = None
    local_method: str = "none"

    @property
    def masses(self) -> np.ndarray:
        """``[B, K + 1]`` empirical masses (last column: bridge)."""
        return np.asarray(self.counts, dtype=float) / self.n_samples

    @property
    def effective_separation(self) -> np.ndarray:
        """``[B]`` ``Delta(o) - 2 rho``: how far apart the rho-balls the masses count are."""
        return np.asarray(self.separation) - 2 * self.rho

    def atom_distances(self) -> list[numerics.AtomDistance]:
        return [numerics.AtomDistance(**d) for d in self.w1]

    def summary(self) -> dict:
        """One table row: means over observations and the T2-type bound at both constants."""
        import theory

        m = self.masses
        K = self.n_modes
        sep = float(np.mean(self.separation))
        eff = sep - 2 * self.rho
        upper = None if self.lipschitz_upper is None else float(np.max(self.lipschitz_upper))
        row = {
            "policy": self.policy, "n_obs": len(self.separation), "n_samples": self.n_samples,
            "rho": self.rho, "separation": sep, "effective_separation": eff,
            "lipschitz_upper": upper, "upper_method": self.upper_method,
            "lipschitz_lower": self.lipschitz_lower,
            "min_mode_mass": float(np.mean(m[:, :K].min(axis=1))),
            "mode_masses": [float(x) for x in m[:, :K].mean(axis=0)],
            "bridge_mass": float(np.mean(m[:, K])),
            "w1": float(np.mean([d["estimate"] for d in self.w1])),
            "w1_low": float(np.mean([d.interval(DEFAULT_CONFIDENCE)[0]
                                     for d in self.atom_distances()])),
            "w1_high": float(np.mean([d.interval(DEFAULT_CONFIDENCE)[1]
                                      for d in self.atom_distances()])),
            "off_support": self.off_support,
            "lipschitz_demanded": float(np.max(demanded_lipschitz(self))),
        }
        for tag, L in (("upper", upper), ("lower", self.lipschitz_lower)):
            ok = L is not None and L > 0
            row[f"ratio_{tag}"] = eff / L if ok else None
            row[f"mass_bound_{tag}"] = (float(theory.max_mode_mass(L, eff, K)) if ok else None)
            # T4 at each observation's observed m_1 (as its check), averaged
            row[f"bridge_bound_{tag}"] = (float(np.mean(theory.min_bridge_mass(
                L, self.effective_separation, m1=m[:, 0]))) if ok and K == 2 else None)
            row[f"w1_bound_{tag}"] = (float(theory.wasserstein_lower_bound(
                L, sep, weights=tuple(self.weights), p=1)) if ok else None)
        if self.local_lipschitz is not None:
            LB, p = np.asarray(self.local_lipschitz), float(self.outside_mass)
            effs = self.effective_separation
            row.update(
                local_lipschitz=float(np.max(LB)), local_lower=float(np.max(self.local_lower)),
                outside_mass=p, local_radius=self.local_radius,
                mass_bound_local=float(np.mean(theory.max_mode_mass_local(LB, effs, p, K))),
                bridge_bound_local=float(np.mean(theory.min_bridge_mass_local(
                    LB, effs, p, m1=m[:, 0]))) if K == 2 else None)
        return row


def _certificates(policy, obs: np.ndarray, lipschitz) -> tuple[list[float] | None, str]:
    """``[B]`` certified constants (per observation where the policy certifies per
    observation, `certified_lipschitz(obs=...)`) and the method's name."""
    B = obs.shape[0]
    if lipschitz is None and hasattr(policy, "certified_lipschitz"):
        if "obs" in inspect.signature(policy.certified_lipschitz).parameters:
            found = [policy.certified_lipschitz(obs=obs[b:b + 1]) for b in range(B)]
            return [_value(e) for e in found], _method(found[0], "certified")
        lipschitz = policy.certified_lipschitz()
    if lipschitz is None:
        return None, "none"
    values = np.broadcast_to(np.asarray([_value(v) for v in np.atleast_1d(
        np.asarray(lipschitz, dtype=object))], dtype=float), (B,))
    if not np.all(values > 0):
        raise ValueError(f"lipschitz must be positive, got {values.tolist()}")
    return [float(v) for v in values], _method(lipschitz, "given")


def samples_for_power(lipschitz, effective_separation, n_modes: int, n_samples: int,
                      max_samples: int, confidence: float = DEFAULT_CONFIDENCE) -> int:
    """The least ``n`` of ``n_samples x (1, 2, 5, 10, 20, 50, ...)`` up to ``max_samples``
    at which the T2/T3 least-mode-mass check of `transport_checks_from` can fail at every
    observation (``max_mode_mass(L(o), Delta(o) - 2 rho, K)`` below the lower interval end
    of a perfectly balanced sample, ``n // K`` per mode); ``n_samples`` when no such ``n``
    exists (a certificate too large for any affordable ``n``: more samples buy nothing).

    Args:
        lipschitz: ``[B]`` certified constants; effective_separation: ``[B]``
            ``Delta(o) - 2 rho``; n_modes: ``K``; confidence: the checks' joint confidence
            (Bonferroni over the ``B`` observations, as in `transport_checks_from`).
    """
    import theory

    L = np.atleast_1d(np.asarray(lipschitz, dtype=float))
    eff = np.broadcast_to(np.asarray(effective_separation, dtype=float), L.shape)
    conf_o = 1 - (1 - confidence) / L.size
    bound = max(float(theory.max_mode_mass(lo, e, n_modes))
                for lo, e in zip(L, eff, strict=True))
    k = 0
    while (n := n_samples * (1, 2, 5)[k % 3] * 10 ** (k // 3)) <= max_samples:
        if bound < float(numerics.clopper_pearson(n // n_modes, n, conf_o)[0]):
            return n
        k += 1
    return n_samples


def _local_certificates(policy, obs: np.ndarray, local: dict) -> dict:
    """The `TransportMeasurement` fields of the per-observation certificates on a ball:
    ``policy.certified_lipschitz(method="local", obs=o, **local)`` at each observation."""
    if not isinstance(local, dict):
        raise TypeError(f"local must be a dict of sampler_lipschitz_local options (radius or "
                        f"outside_mass, tolerance, caps) or None, got {type(local).__name__}")
    if "method" not in inspect.signature(getattr(policy, "certified_lipschitz", len)).parameters:
        raise ValueError(f"local certificates need a policy whose certified_lipschitz takes "
                         f"method='local' (flow, diffusion), got {type(policy).__name__}")
    found = [policy.certified_lipschitz(method="local", obs=obs[b:b + 1], **local)
             for b in range(obs.shape[0])]
    return {"local_lipschitz": tuple(float(e.value) for e in found),
            "local_lower": tuple(float(e.details["lower"]) for e in found),
            "local_radius": float(found[0].details["radius"]),
            "outside_mass": float(found[0].details["outside_mass"]),
            "local_method": _method(found[0], "sampler-local")}


def measure_transport(policy, task, obs, n_samples: int, seed: int, *, lipschitz=None,
                      empirical=None, max_samples: int | None = None,
                      local: dict | None = None) -> TransportMeasurement:
    """Sample ``policy`` at ``obs`` and measure mode masses, bridge mass and ``W_1``.

    Args:
        policy: a `validation.policies.Policy`; its ``sample(obs, n, generator)``.
        task: a `validation.tasks.Task` (its true modes label the samples).
        obs: ``[B, obs_dim]`` evaluation observations.
        n_samples: samples per observation (``>= 4``); sampling a trained policy is cheap,
            and the checks' power grows with it (docs/validation.md, "power").
        seed: seed of the sampling generator (and of the empirical Lipschitz search).
        lipschitz: the certified upper constant (`LipschitzEstimate`, float, or ``[B]``);
            default ``policy.certified_lipschitz(obs=...)`` per observation when the
            policy has one, else None.
        empirical: the empirical lower constant (`LipschitzEstimate` or float); default
            ``policy.empirical_lipschitz(obs)`` when available; ``False`` skips it.
        max_samples: when larger than ``n_samples``, the power analysis may raise the
            samples per observation up to it (`samples_for_power`): only for a policy
            whose certificate is small enough that more samples make T2/T3 able to fail.
        local: options of the certificate on a ball (`numerics.sampler_lipschitz_local`:
            ``radius`` or ``outside_mass``, ``tolerance``, ``max_cells``, ``max_seconds``):
            also certify ``L_B`` per observation, for Part T's local forms; None (default)
            skips it. Only for low-dimensional noise (a chunk of one or two planar actions).
    """
    obs = _as_obs(task, obs)
    n_samples = _args.integer_at_least(n_samples, "n_samples", 4, 10_000_000)
    if max_samples is not None:
        max_samples = _args.integer_at_least(max_samples, "max_samples", n_samples,
                                             10_000_000)
    seed = _args.integer_at_least(seed, "seed", 0)
    upper, upper_method = _certificates(policy, obs, lipschitz)
    local_fields = {} if local is None else _local_certificates(policy, obs, local)
    if empirical is None and hasattr(policy, "empirical_lipschitz"):
        empirical = policy.empirical_lipschitz(obs, seed=seed)
    lower = None if empirical is None or empirical is False else _value(empirical)
    separation = np.asarray(task.separation(obs), dtype=float)
    base = n_samples
    if max_samples is not None and max_samples > n_samples and upper is not None:
        n_samples = samples_for_power(upper, separation - 2 * float(task.rho), task.n_modes,
                                      n_samples, max_samples)

    device = getattr(policy, "device", torch.device("cpu"))
    gen = torch.Generator(device=device).manual_seed(seed)
    K = task.n_modes
    w = np.asarray(task.weights, dtype=float)
    counts, w1, off = [], [], []
    for b in range(obs.shape[0]):           # one observation at a time: memory n x D
        ob = obs[b:b + 1]
        samples = policy.sample(ob, n_samples, generator=gen).detach().cpu().double().numpy()
        labels = task.mode_labels(ob, samples)[0]
        counts.append([int((labels == k).sum()) for k in [*range(K), -1]])
        off.append(float(task.mode_distances(ob, samples)[0].min(-1).mean()))
        w1.append(dataclasses.asdict(numerics.w1_to_atoms(
            samples[0], task.mode_centres(ob)[0], w, seed=seed)))
    return TransportMeasurement(
        policy=str(getattr(policy, "kind", type(policy).__name__)),
        n_modes=K, weights=tuple(float(v) for v in w), rho=float(task.rho),
        separation=tuple(float(v) for v in separation),
        pair_separation=tuple(tuple(tuple(float(v) for v in row) for row in mat)
                              for mat in task.pairwise_separation(obs)),
        counts=tuple(tuple(c) for c in counts), n_samples=n_samples,
        lipschitz_upper=None if upper is None else tuple(upper), upper_method=upper_method,
        lipschitz_lower=lower, w1=tuple(w1), off_support=float(np.mean(off)), seed=seed,
        n_samples_base=base if n_samples != base else None, **local_fields)


def _frontier_lipschitz(m1, m2, separation):
    """The least ``L`` for which masses ``(m1, m2)`` of two modes ``separation`` apart are
    feasible: T2's frontier ``Phi^{-1}(m1) + Phi^{-1}(m2) <= -Delta/L`` solved for ``L``
    (``0`` when any ``L`` allows them, ``inf`` when none does); broadcasts."""
    m1, m2, s = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (m1, m2, separation)))
    with np.errstate(divide="ignore", invalid="ignore"):
        total = special.ndtri(m1) + special.ndtri(m2)
        L = np.where(total < 0, s / -total, np.inf)
    return np.where((m1 <= 0) | (m2 <= 0) | (s <= 0), 0.0, L)


def _demanded(lo: np.ndarray, bridge_hi: float, seps: np.ndarray) -> float:
    """Lower confidence bound on the Lipschitz constant from mode-mass lower ends ``lo``
    ``[K]`` and the bridge upper end (T2's frontier for every pair; for two modes also
    the multinomial constraint ``m_1 + m_2 >= 1 - b``).

    Two modes: ``L(m1, m2)`` increases in both masses, and along ``m1 + m2 = c <= 1`` the
    frontier's ``Phi^{-1}(m1) + Phi^{-1}(c - m1)`` is concave, so the least ``L`` over
    ``{m1 >= lo1, m2 >= lo2, m1 + m2 >= 1 - b}`` is at the corner ``(lo1, lo2)`` or at an
    end of the segment ``m1 + m2 = 1 - b`` (docs/validation.md, "the sandwich").
    """
    K = lo.size
    best = 0.0
    for i, j in itertools.combinations(range(K), 2):
        best = max(best, float(_frontier_lipschitz(lo[i], lo[j], seps[i, j])))
    if K == 2:
        c = 1.0 - bridge_hi
        if lo[0] + lo[1] < c:
            ends = [(lo[0], c - lo[0]), (c - lo[1], lo[1])]
            best = max(best, min(float(_frontier_lipschitz(a, b, seps[0, 1])) for a, b in ends))
    return best


def demanded_lipschitz(m: TransportMeasurement, confidence: float = DEFAULT_CONFIDENCE
                       ) -> np.ndarray:
    """``[B]`` lower confidence bounds on the policy's Lipschitz constant at each
    observation, from its masses alone (the sandwich's lower side; `_demanded`), all
    ``B`` jointly at ``confidence``: one-sided ends of the ``B (K + 1)`` Clopper-Pearson
    intervals of the mode masses (lower) and bridge masses (upper)."""
    counts = np.asarray(m.counts)
    B, K, n = counts.shape[0], m.n_modes, m.n_samples
    conf_s = 1 - (1 - confidence) / (B * (K + 1))
    lo_all = numerics.clopper_pearson(counts[:, :K], n, conf_s)[..., 0]         # [B, K]
    bridge_hi = numerics.clopper_pearson(counts[:, K], n, conf_s)[:, 1]
    seps = np.asarray(m.pair_separation) - 2 * m.rho * (1 - np.eye(K))
    return np.asarray([_demanded(lo_all[o], bridge_hi[o], seps[o]) for o in range(B)])


def _needs(what: str, needed: float, have: float) -> str:
    return f"it could fail at this n only if {what} were below {needed:.4g} (it is {have:.4g})"


@dataclass(frozen=True)
class _Form:
    """The bounds of one form of Part T at a constant ``L``, as functions of floats: the
    global form (``L`` on all of the noise space) or the local form (``L_B`` on a ball
    ``B`` with ``gamma(B^c) = p``, docs/theory.md "local forms").

    ``least_mass_L(m, Delta, K)`` / ``least_bridge_L(b, Delta)``: the least constant at
    which the mass bound is below ``m`` / the bridge bound above ``b`` (for the notes of a
    check that cannot fail); None where the form has no inverse."""

    suffix: str
    mass: Callable[[float, float, int], float]
    coverage: Callable[[float, np.ndarray, np.ndarray], float]
    bridge: Callable[[float, float, float], float]
    w1: Callable[[float, float, np.ndarray], float]
    least_mass_L: Callable[[float, float, int], float] | None = None
    least_bridge_L: Callable[[float, float], float] | None = None


def _global_form() -> _Form:
    import theory

    return _Form(
        "", lambda L, e, K: float(theory.max_mode_mass(L, e, K)),
        lambda L, seps, w: float(theory.max_weighted_coverage(L, seps, w)),
        lambda L, e, m1: float(theory.min_bridge_mass(L, e, m1=m1)),
        lambda L, sep, w: float(theory.wasserstein_lower_bound(L, sep, weights=tuple(w), p=1)),
        lambda mass, e, K: float(theory.min_lipschitz(mass, e, K)),
        lambda b, e: float(theory.min_lipschitz_for_bridge(b, e)))


def _local_form(p: float) -> _Form:
    import theory

    return _Form(
        "-local", lambda L, e, K: float(theory.max_mode_mass_local(L, e, p, K)),
        lambda L, seps, w: float(theory.max_weighted_coverage_local(L, seps, w, p)),
        lambda L, e, m1: float(theory.min_bridge_mass_local(L, e, p, m1=m1)),
        lambda L, sep, w: float(theory.wasserstein_lower_bound_local(
            L, sep, p, weights=tuple(w), p=1)))


def _form_checks(m: TransportMeasurement, L: np.ndarray, form: _Form, confidence: float,
                 plant: bool, geometry: str, lower_note: Callable[[int], str]) -> list:
    """T2/T3, T3 weighted coverage, T4 (two modes) and T5 of ``m`` at the ``[B]``
    constants ``L`` in ``form`` (see `transport_checks_from`); ``lower_note(o)`` adds what
    is known below ``L`` to the T2/T3 note at the observation ``o`` it reports."""
    K, n = m.n_modes, m.n_samples
    counts = np.asarray(m.counts)
    B = counts.shape[0]
    alpha = 1 - confidence
    eff = m.effective_separation
    w = np.asarray(m.weights)
    seps = np.asarray(m.pair_separation) - 2 * m.rho * (1 - np.eye(K))
    family = (f"{B} observations x {n} samples, intervals at {1 - alpha / B:.4g} each "
              f"(Bonferroni over observations, joint {confidence:g})")
    if m.n_samples_base is not None:
        family += (f"; n raised from {m.n_samples_base} by the power analysis "
                   "(samples_for_power: the least n at which T2/T3 can fail)")
    common = dict(n=n, confidence=confidence, plant=plant)
    tag = form.suffix
    checks = []

    # T2 / T3: the least-covered mode, an intersection-union test across modes
    conf_o = 1 - alpha / B
    ci = numerics.clopper_pearson(counts[:, :K], n, conf_o)                  # [B, K, 2]
    mass_bound = np.asarray([form.mass(L[o], eff[o], K) for o in range(B)])
    p_obs = np.asarray([max(numerics.binomial_pvalue(c, n, mass_bound[o], "<=")
                            for c in counts[o, :K]) for o in range(B)])
    rejected = int(np.sum(numerics.holm_adjusted(p_obs) <= alpha / 2))
    o = int(np.argmin(p_obs))
    even = numerics.clopper_pearson(n // K, n, conf_o)[0]
    note = f"{family}; Holm: {rejected} of {B} observations violate; {geometry}"
    if not mass_bound[o] < even:
        note += "; cannot fail: " + (
            _needs("L", form.least_mass_L(even, eff[o], K) if even > 0 else 0.0, L[o])
            if form.least_mass_L is not None else
            f"the bound {mass_bound[o]:.4g} is not below {even:.4g}, the lower interval end "
            "of a perfectly balanced sample")
    if lower_note(o):
        note += "; " + lower_note(o)
    checks.append(bound_check(
        counts[o, :K].min() / n, (ci[o, :, 0].min(), ci[o, :, 1].min()), mass_bound[o], "<=",
        proposition=("T2" if K == 2 else "T3") + tag, detectable=even,
        quantity=f"min mode mass, worst of {B} observations", note=note, **common))

    # T3 weighted coverage
    cover = _per_unique(np.concatenate([seps, L[:, None, None] * np.ones((B, 1, K))], axis=1),
                        lambda a: form.coverage(a[K, 0], a[:K], w))
    p_obs = np.asarray([max(numerics.binomial_pvalue(c, n, min(1.0, cover[o] * wk), "<=")
                            for c, wk in zip(counts[o, :K], w, strict=True))
                        for o in range(B)])
    o = int(np.argmin(p_obs))
    share = np.floor(w * n).astype(int)
    det = float(np.min(numerics.clopper_pearson(share, n, conf_o)[:, 0] / w))
    note = f"{family}; {geometry}"
    if not cover[o] < det:
        note += f"; cannot fail: even counts n w_k give a lower end of {det:.4g}"
    checks.append(bound_check(
        (counts[o, :K] / n / w).min(), ((ci[o, :, 0] / w).min(), (ci[o, :, 1] / w).min()),
        cover[o], "<=", proposition="T3" + tag, detectable=det,
        quantity=f"weighted coverage min_k m_k / w_k, worst of {B} observations", note=note,
        **common))

    if K == 2:
        # T4: bridge mass against the bound at every m_1 in its interval (the bound is
        # concave in m_1 where positive and 0 elsewhere: its least value is at an end)
        conf_2 = 1 - alpha / (2 * B)
        m1_ci = numerics.clopper_pearson(counts[:, 0], n, conf_2)
        bridge_ci = numerics.clopper_pearson(counts[:, K], n, conf_2)

        def t4_bound(o: int) -> float:
            lo, hi = m1_ci[o]
            if lo <= 0 or hi >= 1:
                return 0.0
            return min(form.bridge(L[o], eff[o], lo), form.bridge(L[o], eff[o], hi))

        bb = np.asarray([t4_bound(o) for o in range(B)])
        o = int(np.argmax(bb - bridge_ci[:, 1]))
        det = numerics.detectable_proportion(n, ">=", conf_2)
        note = f"{family}, two per observation; {geometry}"
        if not bb[o] > det:
            lo, hi = m1_ci[o]
            if lo <= 0 or hi >= 1:
                note += ("; cannot fail: m_1's interval reaches 0 or 1 (a policy on one mode "
                         "owes no bridge mass)")
            elif form.least_bridge_L is not None:
                note += "; cannot fail: " + _needs("L", form.least_bridge_L(det, eff[o]), L[o])
            else:
                note += (f"; cannot fail: the bound {bb[o]:.4g} is not above {det:.4g}, the "
                         "upper interval end of a zero count")
        checks.append(bound_check(
            counts[o, K] / n, tuple(bridge_ci[o]), bb[o], ">=", proposition="T4" + tag,
            detectable=det, quantity=f"bridge mass given m_1, worst of {B} observations",
            note=note, **common))

    # T5: W1 to the point-mode demonstrator, per observation
    dists = m.atom_distances()
    wb = _per_unique(np.stack([np.asarray(m.separation), L], axis=1),
                     lambda a: form.w1(a[1], a[0], w))
    intervals = np.asarray([d.interval(conf_o) for d in dists])
    o = int(np.argmax(wb - intervals[:, 1]))
    det = dists[o].detectable(conf_o)
    note = (f"{family}; interval from semi-discrete duality on a held-out half "
            f"(asymptotic, numerics.w1_to_atoms); {geometry}")
    if not wb[o] > det:
        note += f"; cannot fail: even samples on the atoms give an upper end of {det:.4g}"
    checks.append(bound_check(
        dists[o].estimate, tuple(intervals[o]), wb[o], ">=", proposition="T5" + tag,
        detectable=det, quantity=f"W1 to the demonstrator, worst of {B} observations",
        note=note, n=dists[o].n_eval, confidence=confidence, plant=plant))
    return checks


def transport_checks_from(m: TransportMeasurement, confidence: float = DEFAULT_CONFIDENCE,
                          *, plant: bool = False) -> list:
    """The Part T checks of a measurement at its certified constant ``L`` (must hold).

    Every check is decided per observation ``o`` (the bounds hold for every ``mu_o``) at
    joint confidence ``confidence`` over the ``B`` observations (Bonferroni, which for the
    verdict "some observation violates" is Holm's first step; Holm's count of violating
    observations is in the note); within an observation an intersection-union test across
    modes needs no correction. Each check reports the observation closest to failing,
    and its power (``failable``, ``detectable``).

    - T2 (``K = 2``) / T3 (``K > 2``): ``min_k m_k(o) <= max_mode_mass(L, Delta(o) - 2 rho, K)``
      (the rho-balls are ``Delta - 2 rho`` apart);
    - T3 weighted coverage: ``min_k m_k(o) / w_k <= t*(L, Delta_ij(o) - 2 rho, w)``;
    - T4 (``K = 2``): ``b(o) >= 1 - m_1 - Phi(-Phi^{-1}(m_1) - (Delta - 2 rho)/L)`` at the
      true ``m_1``; the right side is concave in ``m_1``, so its minimum over ``m_1``'s
      interval (at an end) is a bound that holds whatever ``m_1`` is in the interval;
    - T5: ``W_1(mu_o, pi*_o) >= wasserstein_lower_bound(L, Delta(o), w)`` with the
      point-mode demonstrator, interval from `numerics.w1_to_atoms` (asymptotic);
    - the sandwich: ``L_demanded(o) <= L``, ``L_demanded`` the least constant the masses
      allow at confidence ``1 - alpha`` (T2's frontier, T4 inverted): a FAIL means a wrong
      certificate or a wrong theorem; the note gives ``L / L_demanded``;
    - the bracket: the empirical (gradient) lower constant ``<= L``;
    - with a local certificate (``m.local_lipschitz``: ``L_B(o)`` on the ball of
      outside mass ``p = m.outside_mass``, `measure_transport`'s ``local``): the same
      T2/T3, T3, T4 and T5 checks in their local forms (``theory.max_mode_mass_local``,
      ``max_weighted_coverage_local``, ``min_bridge_mass_local``,
      ``wasserstein_lower_bound_local`` at ``L_B(o)`` and ``p``), propositions
      ``"T2-local"``, ....
    Returns [] when the policy has no certified constant.
    """
    import theory

    confidence = _args.open_probability(confidence, "confidence")
    checks = []
    if m.lipschitz_upper is not None:
        L = np.asarray(m.lipschitz_upper, dtype=float)
        eff = m.effective_separation
        geometry = (f"Delta - 2 rho = {np.min(eff):.4g} (rho = {m.rho:.4g}); L = "
                    f"{np.max(L):.4g} ({m.upper_method})")
        def lower_note(o: int) -> str:
            return "" if m.lipschitz_lower is None else (
                f"at the empirical lower L = {m.lipschitz_lower:.4g} the bound would be "
                f"{theory.max_mode_mass(m.lipschitz_lower, eff[o], m.n_modes):.4g}")

        checks += _form_checks(m, L, _global_form(), confidence, plant, geometry, lower_note)
        checks += _sandwich_checks(m, L, confidence, plant, geometry)
    if m.local_lipschitz is not None:
        LB = np.asarray(m.local_lipschitz, dtype=float)
        geometry = (f"Delta - 2 rho = {np.min(m.effective_separation):.4g} (rho = {m.rho:.4g})"
                    f"; L_B = {np.max(LB):.4g} on the ball |eps| <= {m.local_radius:.4g} of "
                    f"outside mass p = {m.outside_mass:.3g} ({m.local_method})")
        bracket = "L_B certified within " + ", ".join(
            f"[{lo:.4g}, {hi:.4g}]" for lo, hi in zip(m.local_lower, LB, strict=True)) + (
            " (the lower end attained by an exact Jacobian in the ball)")
        checks += _form_checks(m, LB, _local_form(float(m.outside_mass)), confidence, plant,
                               geometry, lambda o: bracket)
    return checks


def _sandwich_checks(m: TransportMeasurement, L: np.ndarray, confidence: float, plant: bool,
                     geometry: str) -> list:
    """The sandwich ``L_demanded <= L`` and the bracket (see `transport_checks_from`)."""
    K, n = m.n_modes, m.n_samples
    counts = np.asarray(m.counts)
    B = counts.shape[0]
    alpha = 1 - confidence
    seps = np.asarray(m.pair_separation) - 2 * m.rho * (1 - np.eye(K))
    conf_s = 1 - alpha / (B * (K + 1))
    demanded = demanded_lipschitz(m, confidence)
    point = np.asarray([_demanded(counts[o, :K] / n, counts[o, K] / n, seps[o])
                        for o in range(B)])
    o = int(np.argmax(demanded / L))
    best_lo = numerics.clopper_pearson(n // K, n, conf_s)[0]
    best_hi = numerics.detectable_proportion(n, ">=", conf_s)
    det = max(_demanded(np.full(K, best_lo), best_hi, seps[q]) for q in range(B))
    ratio = L[o] / demanded[o] if demanded[o] > 0 else math.inf
    note = (f"L_certified / L_demanded = {ratio:.4g}; L_demanded is a lower bound on the "
            f"true constant at confidence {confidence:g} (one-sided ends of {B * (K + 1)} "
            f"intervals at {conf_s:.4g}); {geometry}")
    if m.lipschitz_lower is not None:
        note += f"; gradient lower L = {m.lipschitz_lower:.4g}"
    if not det > L[o]:
        note += f"; cannot fail: the most extreme masses demand at most L = {det:.4g}"
    checks = [bound_check(
        point[o], (demanded[o], math.inf), L[o], "<=", proposition="SANDWICH",
        detectable=det, quantity=f"Lipschitz constant the masses demand, worst of {B} "
        "observations", note=note, n=n, confidence=confidence, plant=plant)]
    if m.lipschitz_lower is not None:
        checks.append(bound_check(
            m.lipschitz_lower, (m.lipschitz_lower, m.lipschitz_lower), float(np.max(L)), "<=",
            proposition="BRACKET", detectable=math.inf, n=1, confidence=confidence,
            plant=plant, quantity="empirical (attained) Lipschitz constant <= certified",
            note="deterministic: the lower constant is attained by a Jacobian the search "
                 "evaluated, so it can never exceed a valid certificate"))
    return checks


def _per_unique(values: np.ndarray, fn) -> np.ndarray:
    """``fn`` evaluated once per distinct leading-axis entry of ``values`` (rounded)."""
    keys = np.round(values.reshape(values.shape[0], -1), 9)
    uniq, inverse = np.unique(keys, axis=0, return_inverse=True)
    shape = values.shape[1:]
    out = np.asarray([fn(u.reshape(shape) if shape else float(u[0])) for u in uniq])
    return out[np.asarray(inverse).reshape(-1)]


def transport_checks(policy, task, obs, n_samples: int, seed: int, *, lipschitz=None,
                     empirical=None, confidence: float = DEFAULT_CONFIDENCE,
                     plant: bool = False) -> list:
    """T2/T3, T4, T5, sandwich and bracket checks of an action-space generator (see
    `transport_checks_from`).

    Raises TypeError for a policy without a Lipschitz constant (no ``certified_lipschitz``
    and ``lipschitz`` not given): the Part T bounds say nothing about it.
    """
    if lipschitz is None and not hasattr(policy, "certified_lipschitz"):
        raise TypeError(f"policy of kind {getattr(policy, 'kind', '?')!r} has no "
                        "certified_lipschitz(); pass lipschitz=... or use a transport policy")
    m = measure_transport(policy, task, obs, n_samples, seed, lipschitz=lipschitz,
                          empirical=empirical)
    return transport_checks_from(m, confidence, plant=plant)


# --------------------------------------------------------------------------- Part L


@dataclass(frozen=True)
class LatentMeasurement(_Record):
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


def conditional_demonstrations(task, obs, n_per_obs: int, seed: int):
    """``n_per_obs`` demonstrations of the task's own demonstrator at each observation of
    ``obs`` (``[B, obs_dim]``), grouped by observation: `Task.demonstrations_at`, the set
    the per-observation mixtures of ``I(M; Z | O)`` need."""
    return task.demonstrations_at(_as_obs(task, obs), n_per_obs, seed)


@torch.no_grad()
def measure_latent(cvae, task, demos, seed: int, max_demos: int = 2048) -> LatentMeasurement:
    """Rate, mode information, Bayes-rule errors and prior coverage of a trained CVAE.

    The mode information and the Bayes rule are `numerics.held_out_mode_terms` (with the
    task's mode weights); its per-chunk terms are paired with the per-chunk KL so that
    differences such as ``R - I(M; Z)`` get intervals.

    Args:
        cvae: a `CVAEPolicy` (``encode``, ``decode``, ``latent_dim``).
        task: its task; demos: `Demonstrations` of the task (at least 8).
        seed: seed of the latent draws; max_demos: at most this many demonstrations used.
    """
    seed = _args.integer_at_least(seed, "seed", 0)
    N = min(len(demos.obs), _args.integer_at_least(max_demos, "max_demos", 8))
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
    held = numerics.held_out_mode_terms(mu, logvar, z, modes.cpu().numpy(), task.weights,
                                        groups=group)
    b_idx = torch.as_tensor(held.evaluated, device=device)
    t = torch.as_tensor(held.terms, dtype=torch.float64)
    kb = kl[b_idx].double().cpu()
    errors = int((held.predicted != modes.cpu().numpy()[held.evaluated]).sum())

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


def latent_checks_from(m: LatentMeasurement, confidence: float = DEFAULT_CONFIDENCE, *,
                       plant: bool = False) -> list:
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

    confidence = _args.open_probability(confidence, "confidence")
    alpha = (1 - confidence) / 5                  # Bonferroni over the intervals below
    z = float(special.ndtri(1 - alpha / 2))
    n = m.n
    checks = []
    gap_ci = (m.gap - z * m.gap_se, m.gap + z * m.gap_se)
    checks.append(bound_check(
        m.gap, gap_ci, 0.0, ">=", proposition="L1", quantity="R - I(M;Z) (nats)",
        note=f"R = {m.rate:.4g}, I(M;Z) = {m.mode_information:.4g}", n=n,
        # each term KL - log(qbar_m / (w_m qbar)) is >= log w_m: the most extreme outcome
        confidence=confidence, plant=plant, detectable=float(np.log(np.min(m.weights)))))

    err_ci = numerics.clopper_pearson(m.errors, n, 1 - alpha)
    rate_hi = m.rate + z * m.rate_se
    e_min = float(theory.fano_min_error(tuple(m.weights), rate_hi))
    checks.append(bound_check(
        m.errors / n, tuple(err_ci), e_min, ">=", proposition="L2",
        quantity="mode error of the Bayes rule on z", n=n, confidence=confidence, plant=plant,
        detectable=numerics.detectable_proportion(n, ">=", 1 - alpha),
        note=f"Fano at R <= {rate_hi:.4g} nats"))

    w = np.asarray(m.weights)
    if m.n_modes == 2 and np.allclose(w, 0.5):
        checks.append(bound_check(
            1 - m.errors / n, (1 - err_ci[1], 1 - err_ci[0]),
            float(theory.mode_recovery_accuracy(rate_hi)), "<=", proposition="L3",
            quantity="mode accuracy of the Bayes rule on z", n=n, confidence=confidence,
            plant=plant, detectable=numerics.detectable_proportion(n, "<=", 1 - alpha),
            note=(f"(1 + tau(R))/2 at R <= {rate_hi:.4g} nats; largest single KL "
                  f"{m.max_kl:.4g}")))

    post_lo = float(numerics.clopper_pearson(m.posterior_in_mode, n, 1 - alpha)[0])
    prior_ci = numerics.clopper_pearson(m.prior_in_mode, n, 1 - alpha)
    kl_hi = max(0.0, gap_ci[1])
    cover = (float(theory.min_prior_coverage(kl_hi, post_lo)) if post_lo > 0 else 0.0)
    checks.append(bound_check(
        m.prior_in_mode / n, tuple(prior_ci), cover, ">=", proposition="L5",
        quantity="prior-deployed mass within rho of a mode", n=n, confidence=confidence,
        plant=plant, detectable=numerics.detectable_proportion(n, ">=", 1 - alpha),
        note=f"KL(qbar||p) <= {kl_hi:.4g}, posterior mass >= {post_lo:.4g}"))
    return checks


# CVAE loss conventions (`CVAEPolicy`): squared error summed over the chunk is the
# Gaussian likelihood with sigma^2 = 1/2, absolute error summed is Laplace with scale 1;
# ACT's "mean" reduction multiplies the KL weight by D (`CVAEPolicy.effective_beta`).
LIKELIHOOD_SCALE = {"l2": math.sqrt(0.5), "l1": 1.0}
BELOW, ABOVE = 0.25, 4.0   # "well below" and "well above" beta*, as multiples


def collapse_threshold_of(task, obs, loss: str = "l2", latent_dim: int = 1):
    """L4's ``beta*`` of a task in a CVAE's per-chunk loss convention, for any mode
    geometry (`numerics.collapse_threshold` on the task's mode centres and weights).

    Args:
        task: a `validation.tasks.Task`; obs: ``[B, obs_dim]`` observations whose mode
            geometries count; loss: the CVAE's "l2" or "l1"; latent_dim: its latent size.

    Returns:
        the `numerics.CollapseThreshold` with the largest ``threshold`` over the
        observations (the latent collapses at every observation above it) and, in its
        ``local`` field, the smallest local value over them (below it ``u = 0`` is
        unstable at every observation).
    """
    if loss not in LIKELIHOOD_SCALE:
        raise ValueError(f"loss must be one of {sorted(LIKELIHOOD_SCALE)}, got {loss!r}")
    obs = _as_obs(task, obs)
    centres = task.mode_centres(obs)
    found, seen = [], {}
    for c in centres:
        # the pairwise distances fix the geometry up to the rotations and translations
        # that leave beta* unchanged: one solve per distinct geometry
        key = np.round(np.linalg.norm(c[:, None] - c[None], axis=-1), 9).tobytes()
        if key not in seen:
            seen[key] = numerics.collapse_threshold(
                sigma=LIKELIHOOD_SCALE[loss], centres=c, weights=task.weights, loss=loss,
                latent_dim=latent_dim, details=True)
        found.append(seen[key])
    worst = max(found, key=lambda r: r.threshold)
    return dataclasses.replace(worst, local=min(r.local for r in found))


def collapse_checks_from(m: LatentMeasurement, threshold: float, local: float,
                         confidence: float = DEFAULT_CONFIDENCE, *, plant: bool = False
                         ) -> list:
    """L4 on a trained CVAE: ``I(M; Z)`` high well below the collapse threshold, near 0
    well above it.

    With ``beta`` the CVAE's effective KL weight (`LatentMeasurement.effective_beta`):
    ``I(M; Z) >= H(w) / 2`` when ``beta <= local / 4`` and ``I(M; Z) <= H(w) / 10`` when
    ``beta >= 4 threshold`` (none in between). The thresholds ``H(w)/2``, ``H(w)/10`` and
    the factors 4 are ours: L4 is about the global optimum, a trained CVAE only
    approaches it. Normal interval of the held-out per-chunk terms.

    Args:
        m: the CVAE's `LatentMeasurement`; threshold, local: ``beta*`` and its local
            value (`collapse_threshold_of`).
    """
    confidence = _args.open_probability(confidence, "confidence")
    beta = m.effective_beta
    w = np.asarray(m.weights)
    h = float(-(w * np.log(w)).sum())
    if beta <= BELOW * local:
        relation, bound, what = ">=", h / 2, "well below beta*"
    elif beta >= ABOVE * threshold:
        relation, bound, what = "<=", h / 10, "well above beta*"
    else:
        return []
    z = float(special.ndtri(1 - (1 - confidence) / 2))
    est, se = m.mode_information, m.mode_information_se
    # The terms log(qbar_m(z) / qbar(z)) lie in (-inf, -log w_m]: a lower end can reach
    # -log(min w) (all terms at their top), an upper end any low value.
    detectable = -math.log(float(np.min(w))) if relation == "<=" else -math.inf
    return [bound_check(est, (est - z * se, est + z * se), bound, relation,
                        detectable=detectable, proposition="L4",
                        quantity=f"I(M;Z) (nats) {what}", n=m.n, confidence=confidence,
                        plant=plant,
                        note=(f"beta = {beta:.4g} = {beta / threshold:.3g} beta*, beta* = "
                              f"{threshold:.4g} (local {local:.4g}); thresholds H(w)/2, "
                              "H(w)/10"))]


def collapse_checks(cvae, task, demos, obs, seed: int,
                    confidence: float = DEFAULT_CONFIDENCE, *, plant: bool = False) -> list:
    """L4 on a trained CVAE and its task: `measure_latent` on held-out ``demos``, the
    task's threshold at ``obs`` in the CVAE's convention (`collapse_threshold_of`), then
    `collapse_checks_from`."""
    t = collapse_threshold_of(task, obs, loss=getattr(cvae, "loss_kind", "l2"),
                              latent_dim=getattr(cvae, "latent_dim", 1))
    return collapse_checks_from(measure_latent(cvae, task, demos, seed), t.threshold, t.local,
                                confidence, plant=plant)


def latent_checks(cvae, task, demos, seed: int, confidence: float = DEFAULT_CONFIDENCE, *,
                  plant: bool = False) -> list:
    """L1, L2, L3, L5 checks of a trained CVAE on held-out demonstrations."""
    return latent_checks_from(measure_latent(cvae, task, demos, seed), confidence, plant=plant)


__all__ = [
    "ABOVE", "BELOW", "DEFAULT_CONFIDENCE", "LIKELIHOOD_SCALE", "PLANT_FACTOR", "PLANT_NOTE",
    "LatentMeasurement", "collapse_checks", "collapse_checks_from", "collapse_threshold_of",
    "TransportMeasurement", "bound_check", "conditional_demonstrations",
    "demanded_lipschitz", "latent_checks", "latent_checks_from", "measure_latent",
    "measure_transport", "plant_bound",
    "transport_checks", "transport_checks_from",
]
