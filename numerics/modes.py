"""Mode statistics: which mode each sample falls in, mode masses with exact intervals,
and verdicts of bounds against samples.

Notation (docs/theory.md): modes ``M_1..M_K`` with tolerance ``rho``,
``M_k^rho = {a : dist(a, M_k) <= rho}``; a policy's mode mass ``m_k = mu(M_k^rho)`` and
bridge mass ``b = 1 - sum_k m_k``. A sample in no ``M_k^rho`` is a *bridge* sample
(label ``-1``).

Statistics. ``n`` independent samples give counts ``c_k ~ Binomial(n, m_k)``; each mass
carries the exact Clopper-Pearson interval (Clopper & Pearson 1934), whose coverage is at
least the nominal level for every ``m_k``. A bound check FAILs only when the interval
lies entirely on the wrong side of the bound, so a true bound fails with probability at
most ``(1 - confidence) / 2``.

NumPy arrays or torch tensors are accepted; they are converted to NumPy once, at the
public edge (`as_numpy`).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from scipy import stats
from scipy.cluster.vq import kmeans2
from scipy.spatial import cKDTree

from numerics import _inputs
from theory import _args

__all__ = [
    "ModeMasses", "assign_modes", "mode_distances", "mode_masses", "masses_from_labels",
    "modes_from_demonstrations", "clopper_pearson", "BoundCheck", "check_proportion_bound",
    "check_interval_bound", "detectable_proportion", "binomial_pvalue", "holm_adjusted",
]

Relation = Literal["<=", ">="]
Verdict = Literal["PASS", "FAIL", "INCONCLUSIVE"]

# Size limits (documented in each function): past them a clear ValueError, not a MemoryError
# or a silently wrong answer.
MAX_TRIALS = 2**53            # counts and trials are exact integers in float64 up to here
MAX_MODES = 2**20             # modes of one mass table (memory O(K) per call)
_CHUNK_ENTRIES = 1 << 22      # entries of one block of sample-minus-mode differences


def as_numpy(x: Any, name: str) -> np.ndarray:
    """A torch tensor or array-like -> float64 NumPy array (one conversion, at the edge)."""
    if hasattr(x, "detach") and hasattr(x, "cpu"):   # torch.Tensor, without importing torch
        x = x.detach().cpu().numpy()
    a = _args._as_float_array(x, name)
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} must be finite, got a non-finite entry")
    return a


def _integers(x: Any, name: str, low: int, high: int) -> np.ndarray:
    """``x`` as a float64 array of integers in ``[low, high]``, or ValueError naming it."""
    a = as_numpy(x, name)
    bad = (a != np.round(a)) | (a < low) | (a > high)
    if np.any(bad):
        raise ValueError(f"{name} must be integers in [{low}, {high:.0f}], got "
                         f"{float(a[bad].flat[0])!r}")
    return a


def _trials(count: Any, n: Any) -> tuple[np.ndarray, np.ndarray]:
    """Validated ``(count, n)``: integers ``0 <= count <= n``, ``1 <= n <= MAX_TRIALS``
    (beyond 2^53 consecutive integers are not distinct in float64, and SciPy's Beta
    quantiles return NaN from about 1e200), broadcast together."""
    c = _integers(count, "count", 0, MAX_TRIALS)
    nn = _integers(n, "n", 1, MAX_TRIALS)
    shape = _args.broadcast(count=c, n=nn)
    c, nn = np.broadcast_to(c, shape), np.broadcast_to(nn, shape)
    if np.any(c > nn):
        raise ValueError("count must satisfy count <= n, got count "
                         f"{float(c[c > nn].flat[0]):.0f} > n {float(nn[c > nn].flat[0]):.0f}")
    return c, nn


# --------------------------------------------------------------------------- intervals


def clopper_pearson(count: Any, n: Any, confidence: float = 0.95):
    r"""Exact (Clopper-Pearson) two-sided confidence interval for a binomial proportion.

    Statement: for ``c ~ Binomial(n, p)`` the interval

    .. math:: [\,B^{-1}(\alpha/2;\ c,\ n-c+1),\ B^{-1}(1-\alpha/2;\ c+1,\ n-c)\,],
              \quad \alpha = 1 - \text{confidence},

    (``B^{-1}`` the Beta quantile; lower end 0 at ``c = 0``, upper end 1 at ``c = n``)
    contains ``p`` with probability at least ``confidence`` for every ``p``.

    Args:
        count: successes ``c``, integer(s) with ``0 <= c <= n``; scalar or array.
        n: trials, integer(s) in ``[1, 2^53]``; scalar or array broadcasting against
            ``count``.
        confidence: the level in ``(0, 1)``.

    Returns:
        ``(low, high)`` floats for scalar input, else an array of shape
        ``broadcast(count, n).shape + (2,)``.

    Raises:
        ValueError: counts that are not integers in ``[0, n]``, ``n`` outside
            ``[1, 2^53]`` (float64 has no distinct consecutive integers beyond), shapes that
            do not broadcast (both named), ``confidence`` outside ``(0, 1)``.
        TypeError: non-real input (str, bytes, complex, bool).

    Reference: Clopper & Pearson, Biometrika 1934; equals
    ``scipy.stats.binomtest(c, n).proportion_ci(confidence, method="exact")``.

    Examples:
        >>> [round(v, 4) for v in clopper_pearson(3, 10)]
        [0.0667, 0.6525]
    """
    confidence = _inputs.real_scalar(confidence, "confidence", _args.open_probability)
    scalar = np.ndim(count) == 0 and np.ndim(n) == 0
    c, nn = _trials(count, n)
    a = 1.0 - confidence
    with np.errstate(invalid="ignore", divide="ignore"):
        # beta.ppf is NaN at a zero shape parameter; the ends are 0 and 1 there.
        lo = np.where(c > 0, stats.beta.ppf(a / 2, c, nn - c + 1), 0.0)
        hi = np.where(c < nn, stats.beta.isf(a / 2, c + 1, nn - c), 1.0)
    if scalar:
        return float(lo), float(hi)
    return np.stack([lo, hi], axis=-1)


# --------------------------------------------------------------------------- modes


def modes_from_demonstrations(actions: Any, n_modes: int, seed: int = 0) -> np.ndarray:
    """Mode centres from a clustering of the demonstrations (k-means, k-means++ start).

    For demonstrations whose modes are not known: the ``K`` centres of ``scipy``'s
    ``kmeans2``, sorted lexicographically so that the order does not depend on the
    initialisation. Use them with `assign_modes` and a tolerance ``rho`` (e.g. a
    quantile of the demonstrations' distance to their centre).

    Args:
        actions: ``[N, D]`` demonstration chunks, ``N >= n_modes``, ``N K D <= 2^28`` (ten
            k-means passes cost ``N K D`` each).
        n_modes: ``K >= 1``.
        seed: seed of the k-means++ initialisation.

    Returns:
        ``[K, D]`` float64 centres.

    Raises:
        ValueError: bad shapes or sizes, non-finite actions, or fewer than ``K``
            non-empty clusters (e.g. fewer than ``K`` distinct demonstrations).

    Examples:
        >>> x = np.r_[np.zeros((5, 1)), np.full((5, 1), 4.0)]
        >>> modes_from_demonstrations(x, 2).tolist()
        [[0.0], [4.0]]
    """
    x = as_numpy(actions, "actions")
    if x.ndim != 2 or x.shape[0] < 1 or x.shape[1] < 1:
        raise ValueError(f"actions must have shape [N, D] with N, D >= 1, got {x.shape}")
    k = _args.integer_at_least(n_modes, "n_modes", 1, x.shape[0])
    seed = _inputs.seed(seed)
    if x.size * k > 1 << 28:
        raise ValueError(f"actions [N, D] = {list(x.shape)} with n_modes={k} exceed the size "
                         "limit N K D <= 2^28; cluster a subsample of the demonstrations")
    # k-means is equivariant under scaling: in units of a power of two (exact) near the
    # largest entry its squared distances neither overflow nor underflow
    s = _pow2_scale(x)
    centres, labels = kmeans2(x / s, k, minit="++", seed=seed)
    if np.unique(labels).size < k:
        raise ValueError(f"k-means found fewer than n_modes={k} non-empty clusters; "
                         "lower n_modes or check the demonstrations")
    centres = centres * s
    return centres[np.lexsort(centres.T[::-1])]


def _norm(diff: np.ndarray) -> np.ndarray:
    """Euclidean norm over the last axis as ``m |d / m|``, ``m = max_i |d_i|``:
    ``np.linalg.norm`` squares the entries, so differences below 1e-154 vanish and above
    1e154 overflow (a sample 1e-200 from its mode would be at distance 0, one at 1e200
    at inf)."""
    m = np.max(np.abs(diff), axis=-1)
    safe = np.where((m > 0) & np.isfinite(m), m, 1.0)
    with np.errstate(invalid="ignore", over="ignore"):
        out = m * np.sqrt(np.sum((diff / safe[..., None]) ** 2, axis=-1))
    return np.where(np.isinf(m), np.inf, out)


def _step_norm(diff: np.ndarray, step_dim: int | None) -> np.ndarray:
    """Norm over the last axis, or the mean over steps of per-step norms."""
    if step_dim is None:
        return _norm(diff)
    steps = diff.reshape(*diff.shape[:-1], diff.shape[-1] // step_dim, step_dim)
    norms = _norm(steps)
    return np.sum(norms / norms.shape[-1], axis=-1)   # a sum of means cannot overflow


def _pow2_scale(*arrays: np.ndarray) -> float:
    """A power of two near the largest entry (1 for all zeros): dividing by it is exact and
    brings the data to [-1, 1], where squared distances neither overflow nor underflow."""
    top = max((float(np.max(np.abs(a))) for a in arrays if a.size), default=0.0)
    return math.ldexp(1.0, math.frexp(top)[1]) if top > 0 else 1.0


def _is_point_sets(samples: Any, modes: Any) -> bool:
    """Modes given as a list of ``K`` point sets ``[n_k, D]`` (with ``[n, D]`` samples),
    not as centres ``[K, D]`` written as nested lists."""
    return (isinstance(modes, (list, tuple)) and len(modes) > 0 and _ndim(samples) == 2
            and all(_ndim(m) == 2 for m in modes))


def _ndim(x: Any) -> int:
    """``np.ndim``, or -1 for what is not an array (ragged nesting): the conversion that
    follows names the argument."""
    try:
        return np.ndim(x)
    except ValueError:
        return -1


def mode_distances(samples: Any, modes: Any, *, step_dim: int | None = None) -> np.ndarray:
    r"""Distance of each sample to each point mode.

    .. math:: d(a, c_k) = |a - c_k|_2 \quad\text{or, with ``step_dim = s``,}\quad
              d(a, c_k) = \frac1H \sum_{t=1}^{H} |a_t - c_{k,t}|_2,

    the second for chunks (or paths) of ``H`` steps of ``s`` coordinates each, flattened
    time-major (the paper's "mean over time" distance to a mode's mean path).

    Args:
        samples: ``[n, D]``, or ``[B, n, D]`` with per-observation modes.
        modes: ``[K, D]`` point modes, or ``[B, K, D]`` per observation.
        step_dim: ``None`` (Euclidean distance in ``R^D``) or the per-step size ``s``
            (``D`` must be a multiple of it).

    Returns:
        float64 distances of shape ``samples.shape[:-1] + (K,)``, accurate to a few ulps
        over the whole float64 range (no overflow or underflow in the squares).

    Examples:
        >>> mode_distances([[3.0, 4.0]], [[0.0, 0.0], [3.0, 0.0]]).tolist()
        [[5.0, 4.0]]
        >>> mode_distances([[1e200, 0.0]], [[0.0, 0.0]]).tolist()
        [[1e+200]]
    """
    x = as_numpy(samples, "samples")
    try:
        c = as_numpy(modes, "modes")
    except (TypeError, ValueError) as exc:
        if x.ndim in (2, 3):
            raise
        # both are wrong (e.g. point sets for samples that are not [n, D]): say so
        raise type(exc)(f"samples must have shape [n, D] or [B, n, D], got {x.shape}; and "
                        f"{exc}") from None
    if step_dim is not None:
        step_dim = _args.integer_at_least(step_dim, "step_dim", 1)
        if x.shape[-1] % step_dim:
            raise ValueError(f"step_dim must divide the sample size {x.shape[-1]}, "
                             f"got {step_dim}")
    if c.ndim == 2 and x.ndim == 2:
        if c.shape[1] != x.shape[1]:
            raise ValueError(f"modes must have shape [K, {x.shape[1]}] for samples "
                             f"{x.shape}, got {c.shape}")
    elif c.ndim == 3 and x.ndim == 3:
        if c.shape[0] != x.shape[0] or c.shape[2] != x.shape[2]:
            raise ValueError(f"modes must have shape [{x.shape[0]}, K, {x.shape[2]}] for "
                             f"samples {x.shape}, got {c.shape}")
    else:
        raise ValueError("modes [K, D] need samples [n, D] and modes [B, K, D] need "
                         f"samples [B, n, D]; got modes {c.shape}, samples {x.shape}")
    if c.shape[-2] < 1:
        raise ValueError("modes must hold at least one mode")
    batched_x, batched_c = (x, c) if x.ndim == 3 else (x[None], c[None])
    b, n, d = batched_x.shape
    out = np.empty((b, n, c.shape[-2]))
    # blocks of samples, so that the differences [B, rows, K, D] stay within memory
    rows = max(1, _CHUNK_ENTRIES // max(1, b * c.shape[-2] * d))
    for start in range(0, n, rows):
        diff = batched_x[:, start:start + rows, None, :] - batched_c[:, None, :, :]
        out[:, start:start + rows] = _step_norm(diff, step_dim)
    return out if x.ndim == 3 else out[0]


def assign_modes(samples: Any, modes: Any, rho: float | None = None, *,
                 step_dim: int | None = None) -> np.ndarray:
    """Label each sample with the mode it lies in (``-1``: bridge, in no mode).

    A sample ``a`` is in mode ``k`` when ``dist(a, M_k) <= rho``; when it is within
    ``rho`` of several modes (possible only if ``rho >= Delta / 2``) the nearest wins.
    This is the one mode assignment of the project: tasks (`validation.tasks.Task`),
    the checks and the paper's metrics all call it.

    Args:
        samples: ``[n, D]``, or ``[B, n, D]`` with per-observation centres.
        modes: one of
            - ``[K, D]`` point modes (centres);
            - ``[B, K, D]`` point modes per observation (``samples`` ``[B, n, D]``);
            - a list of ``K`` point sets ``[n_k, D]`` (``M_k`` = the set; distance
              to the nearest point, by a k-d tree); needs ``rho``.
        rho: tolerance ``>= 0``. ``None`` (point modes only): nearest centre, no
            bridge (a Voronoi assignment).
        step_dim: point modes only: measure distances as the mean over steps of per-step
            distances (`mode_distances`), e.g. ``2`` for planar paths.

    Returns:
        int64 labels of shape ``samples.shape[:-1]`` in ``{-1, 0, .., K-1}``.

    Examples:
        >>> assign_modes([[0.1], [0.9], [0.5]], [[0.0], [1.0]], rho=0.2).tolist()
        [0, 1, -1]
    """
    rho = _scalar_rho(rho)
    if _is_point_sets(samples, modes):
        x = as_numpy(samples, "samples")
        if rho is None:
            raise ValueError("rho is required when modes are point sets; pass rho >= 0")
        if step_dim is not None:
            raise ValueError("step_dim applies to point modes, not to point sets")
        if x.ndim != 2:
            raise ValueError(f"samples must have shape [n, D] with point-set modes, got {x.shape}")
        sets = [as_numpy(m, f"modes[{k}]") for k, m in enumerate(modes)]
        for k, m in enumerate(sets):
            if m.ndim != 2 or m.shape[1] != x.shape[1] or m.shape[0] < 1:
                raise ValueError(f"modes[{k}] must have shape [n_k, {x.shape[1]}], got {m.shape}")
        s = _pow2_scale(x, *sets)
        with np.errstate(over="ignore"):
            dist = np.stack([cKDTree(m / s).query(x / s)[0] for m in sets], axis=-1) * s
    else:
        dist = mode_distances(samples, modes, step_dim=step_dim)
    labels = np.argmin(dist, axis=-1).astype(np.int64)
    if rho is not None:
        labels[np.min(dist, axis=-1) > rho] = -1
    return labels


def _scalar_rho(rho: Any) -> float | None:
    if rho is None:
        return None
    rho = _args.nonnegative(rho, "rho")
    if np.ndim(rho) != 0:
        raise ValueError(f"rho must be a scalar tolerance, got an array of shape {np.shape(rho)}")
    return float(rho)


@dataclass(frozen=True)
class ModeMasses:
    """Empirical mode masses with exact intervals.

    Attributes:
        masses: ``[K]`` fractions ``c_k / n`` of samples in each mode.
        intervals: ``[K, 2]`` Clopper-Pearson intervals of the masses.
        counts: ``[K]`` int counts ``c_k``.
        bridge_mass: fraction of samples in no mode.
        bridge_interval: its Clopper-Pearson interval.
        n: number of samples.
        confidence: the level of each interval (each separately, not jointly).
        labels: the labels the masses were counted from (``-1`` = bridge).
    """

    masses: np.ndarray
    intervals: np.ndarray
    counts: np.ndarray
    bridge_mass: float
    bridge_interval: tuple[float, float]
    n: int
    confidence: float
    labels: np.ndarray

    def mode_count(self, min_mass: float = 0.0, *, certified: bool = False) -> int:
        """Number of modes with mass above ``min_mass``.

        With ``certified=True`` a mode counts only when its interval's lower end exceeds
        ``min_mass`` (covered at the interval's confidence, not by luck).
        """
        min_mass = _args.probability(min_mass, "min_mass")
        if not isinstance(certified, (bool, np.bool_)):
            raise TypeError(f"certified must be a bool, got {type(certified).__name__}")
        values = self.intervals[:, 0] if certified else self.masses
        return int(np.sum(values > min_mass))

    def entropy(self) -> float:
        r"""Entropy (nats) of the mode distribution ``m_k / sum_j m_j`` (bridge excluded).

        ``H = -sum_k p_k log p_k``; ``log K`` when the modes are equally covered, ``0``
        when one mode (or none) holds all in-mode samples.
        """
        total = self.counts.sum()
        if total == 0:
            return 0.0
        return float(stats.entropy(self.counts / total))


def mode_masses(samples: Any, modes: Any, rho: float | None = None,
                confidence: float = 0.95) -> ModeMasses:
    """Mode and bridge masses of samples, with Clopper-Pearson intervals.

    ``mode_masses(samples, modes, rho)`` assigns the samples first
    (``assign_modes(samples, modes, rho)``: centres ``[K, D]`` or ``[B, K, D]``, or point
    sets); ``mode_masses(labels, K)`` counts labels that `assign_modes` already made.
    See `masses_from_labels` for the intervals.

    Args:
        samples: samples ``[n, D]`` / ``[B, n, D]``, or int labels when ``modes`` is an int.
        modes: mode centres or point sets (as in `assign_modes`), or ``K``.
        rho: mode tolerance (samples farther than ``rho`` from every mode are bridge).
        confidence: level of each interval, in ``(0, 1)``.
    """
    if isinstance(modes, (int, np.integer)) and not isinstance(modes, (bool, np.bool_)):
        if rho is not None:
            raise ValueError("rho applies to samples, not to labels: with modes=K (an int) "
                             "pass labels from assign_modes and no rho")
        return masses_from_labels(samples, int(modes), confidence)
    labels = assign_modes(samples, modes, rho)
    n_modes = len(modes) if _is_point_sets(samples, modes) else as_numpy(modes,
                                                                          "modes").shape[-2]
    return masses_from_labels(labels, n_modes, confidence)


def masses_from_labels(labels: Any, n_modes: int, confidence: float = 0.95) -> ModeMasses:
    """Mode and bridge masses of labelled samples, with Clopper-Pearson intervals.

    The intervals are exact when the labelled samples are independent draws from one
    distribution (e.g. ``n`` samples of the policy at one observation, or one sample per
    independently drawn observation). Labels of any shape are pooled: independent samples
    at several fixed observations give a Poisson-binomial count whose tails are no
    heavier than the binomial's away from the mean (Hoeffding 1956), so the interval is
    conservative for the *average* mass; Part T's bounds are statements about each
    ``mu_o``, so check them with one call per observation.

    Args:
        labels: int labels in ``{-1, 0, .., K-1}`` (from `assign_modes`), any shape, at most
            ``2^53`` of them.
        n_modes: ``K`` in ``[1, 2^20]`` (the table holds ``K`` masses).
        confidence: level of each interval, in ``(0, 1)``.

    Examples:
        >>> m = masses_from_labels(np.array([0, 0, 1, -1]), 2)
        >>> m.masses.tolist(), m.bridge_mass
        ([0.5, 0.25], 0.25)
    """
    k = _args.integer_at_least(n_modes, "n_modes", 1, MAX_MODES)
    if hasattr(labels, "detach"):
        labels = labels.detach().cpu().numpy()
    lab = np.asarray(labels)
    if lab.size < 1 or not np.issubdtype(lab.dtype, np.integer):
        raise TypeError("labels must be a non-empty integer array (from assign_modes)")
    flat = lab.ravel()
    if flat.min() < -1 or flat.max() >= k:
        raise ValueError(f"labels must lie in [-1, {k - 1}] for n_modes={k}, "
                         f"got range [{flat.min()}, {flat.max()}]")
    n = int(flat.size)
    counts = np.bincount(flat + 1, minlength=k + 1)
    ci = clopper_pearson(counts, n, confidence)
    return ModeMasses(masses=counts[1:] / n, intervals=ci[1:], counts=counts[1:],
                      bridge_mass=float(counts[0] / n),
                      bridge_interval=(float(ci[0, 0]), float(ci[0, 1])), n=n,
                      confidence=float(confidence), labels=lab)


# --------------------------------------------------------------------------- verdicts


def _json_float(x: float) -> float | str:
    # Strict JSON has no inf/nan; the string round-trips through float().
    return x if math.isfinite(x) else str(x)


@dataclass(frozen=True)
class BoundCheck:
    """The verdict of one bound against measured data, and whether it could have failed.

    Attributes:
        proposition: the proposition id ("T2", "L4", ...).
        quantity: what was measured, in words.
        estimate: the point estimate.
        interval: its confidence (or calibration) interval ``(low, high)``.
        bound: the theory's bound.
        relation: ``"<="`` (the true quantity is at most ``bound``) or ``">="``.
        n: the sample size behind the estimate.
        confidence: the interval's level.
        verdict: ``"FAIL"`` iff the interval lies entirely on the wrong side of the
            bound; ``"INCONCLUSIVE"`` when the caller marked the estimate as
            noise-dominated and it did not fail; else ``"PASS"``.
        detectable: the most extreme bound value the data could refute at this ``n`` and
            confidence: for ``"<="`` the largest lower interval end any possible outcome
            gives (every bound below it can FAIL), for ``">="`` the smallest upper end.
        failable: some possible outcome would FAIL the check: ``bound < detectable``
            (``"<="``) or ``bound > detectable`` (``">="``). A PASS of a check that is not
            failable says nothing about the bound.
        note: free text (method, calibration, caveats).
    """

    proposition: str
    quantity: str
    estimate: float
    interval: tuple[float, float]
    bound: float
    relation: Relation
    n: int
    confidence: float
    verdict: Verdict
    detectable: float
    failable: bool
    note: str = ""

    def __post_init__(self) -> None:
        # A hand-made BoundCheck goes into reports and strict JSON: hold it to the ranges
        # check_interval_bound produces (NaN has no verdict, a bool is not a count).
        _relation(self.relation)
        if not isinstance(self.verdict, str) or self.verdict not in ("PASS", "FAIL",
                                                                      "INCONCLUSIVE"):
            raise ValueError(f"verdict must be 'PASS', 'FAIL' or 'INCONCLUSIVE', got "
                             f"{self.verdict!r}")
        for name in ("estimate", "bound", "detectable"):
            _real(getattr(self, name), name)
        _pair(self.interval)
        _args.integer_at_least(self.n, "n", 1)
        _args.open_probability(self.confidence, "confidence")
        if not isinstance(self.failable, (bool, np.bool_)):
            raise TypeError(f"failable must be a bool, got {type(self.failable).__name__}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (floats; non-finite floats as the strings "inf", "-inf", "nan")."""
        d = dataclasses.asdict(self)
        d["estimate"] = _json_float(float(self.estimate))
        d["bound"] = _json_float(float(self.bound))
        d["detectable"] = _json_float(float(self.detectable))
        d["interval"] = [_json_float(float(v)) for v in self.interval]
        d["n"], d["confidence"] = int(self.n), float(self.confidence)
        d["failable"] = bool(self.failable)
        return d


def _relation(relation: Any) -> None:
    if not isinstance(relation, str) or relation not in ("<=", ">="):
        raise ValueError(f"relation must be '<=' or '>=', got {relation!r}")


def _real(x: Any, name: str) -> float:
    """A real number (``+-inf`` allowed, NaN not) as a float, or an error naming ``name``."""
    v = _args.extended_real(x, name)
    if np.ndim(v) != 0:
        raise TypeError(f"{name} must be a real number, got an array of shape {np.shape(v)}")
    try:
        return float(v)
    except TypeError:   # a SymPy expression with free symbols
        raise TypeError(f"{name} must be a number, got the expression {v}") from None


def _pair(interval: Any) -> tuple[float, float]:
    """``(low, high)`` with ``low <= high``, both real and not NaN, or ValueError."""
    try:
        lo, hi = (_real(v, "interval") for v in interval)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"interval must be a pair (low, high) of real numbers, "
                         f"got {interval!r} ({exc})") from None
    if lo > hi:
        raise ValueError(f"interval must satisfy low <= high, got ({lo}, {hi})")
    return lo, hi


def check_interval_bound(estimate: float, interval: tuple[float, float], bound: float,
                         relation: Relation, *, proposition: str, quantity: str, n: int,
                         confidence: float, detectable: float, note: str = "",
                         inconclusive: bool = False) -> BoundCheck:
    """Verdict of a bound against an estimate that carries an interval, with its power.

    ``relation="<="`` claims ``true quantity <= bound``: FAIL iff ``low > bound``.
    ``relation=">="`` claims ``true quantity >= bound``: FAIL iff ``high < bound``.
    Otherwise PASS, or INCONCLUSIVE when ``inconclusive`` (the caller knows the estimate
    is noise-dominated, e.g. an empirical W1 below its split-half noise floor); a FAIL
    stays a FAIL since the interval already excludes the bound.

    Power: ``detectable`` is the most extreme interval end any possible outcome at this
    ``n`` and confidence gives (the caller knows the estimator: for a proportion it is
    the Clopper-Pearson end at the extreme count, see `check_proportion_bound`; ``-inf``
    / ``inf`` when the estimator is unbounded); the check is ``failable`` iff the bound
    lies beyond it, i.e. iff some outcome would FAIL it.

    Args:
        estimate: point estimate (finite or infinite, not NaN).
        interval: ``(low, high)`` with ``low <= high``.
        bound: the bound (``+-inf`` allowed, not NaN).
        relation: ``"<="`` or ``">="``.
        proposition, quantity: labels for the report.
        n: sample size ``>= 1``; confidence: level in ``(0, 1)``.
        detectable: see above (not NaN).

    Examples:
        >>> c = check_interval_bound(0.2, (0.1, 0.3), 0.5, "<=", proposition="T2",
        ...                          quantity="m", n=100, confidence=0.99, detectable=0.95)
        >>> c.verdict, c.failable
        ('PASS', True)
    """
    _relation(relation)
    est = _real(estimate, "estimate")
    bnd = _real(bound, "bound")
    det = _real(detectable, "detectable")
    lo, hi = _pair(interval)
    if not isinstance(inconclusive, (bool, np.bool_)):
        raise TypeError(f"inconclusive must be a bool, got {type(inconclusive).__name__}")
    n = _args.integer_at_least(n, "n", 1)
    confidence = _inputs.real_scalar(confidence, "confidence", _args.open_probability)
    fails = lo > bnd if relation == "<=" else hi < bnd
    failable = det > bnd if relation == "<=" else det < bnd
    verdict: Verdict = "FAIL" if fails else ("INCONCLUSIVE" if inconclusive else "PASS")
    return BoundCheck(proposition=str(proposition), quantity=str(quantity), estimate=est,
                      interval=(lo, hi), bound=bnd, relation=relation, n=n,
                      confidence=float(confidence), verdict=verdict, detectable=det,
                      failable=bool(failable or fails), note=note)


def detectable_proportion(n: int, relation: Relation, confidence: float) -> float:
    """The most extreme Clopper-Pearson end over all counts of ``n`` trials: the lower
    end at ``count = n`` (``(alpha/2)^(1/n)``) for ``"<="``, the upper end at ``count = 0``
    (``1 - (alpha/2)^(1/n)``) for ``">="``; ``alpha = 1 - confidence``.

    Examples:
        >>> round(detectable_proportion(100, ">=", 0.99), 4)
        0.0516
    """
    _relation(relation)
    n = _args.integer_at_least(n, "n", 1, MAX_TRIALS)
    lo, hi = clopper_pearson(n if relation == "<=" else 0, n, confidence)
    return lo if relation == "<=" else hi


def check_proportion_bound(count: int, n: int, bound: float, relation: Relation = "<=", *,
                           proposition: str, quantity: str, confidence: float = 0.99,
                           note: str = "", inconclusive: bool = False) -> BoundCheck:
    """Verdict of a bound on a probability against ``count`` successes in ``n`` trials.

    The estimate is ``count / n`` with its Clopper-Pearson interval at ``confidence``;
    the verdict follows `check_interval_bound` (FAIL only when the interval lies entirely
    on the wrong side of ``bound``). A true bound therefore FAILs with probability at
    most ``(1 - confidence) / 2``. The power is that of the most extreme count
    (`detectable_proportion`): ``failable`` iff ``count = n`` (for ``"<="``) or
    ``count = 0`` (for ``">="``) would FAIL.

    Args:
        count: integer ``0 <= count <= n``; n: integer ``>= 1``.
        bound: the bound on the probability; relation: ``"<="`` or ``">="``.

    Examples:
        >>> c = check_proportion_bound(90, 100, 0.5, "<=", proposition="T2", quantity="m")
        >>> c.verdict, c.failable
        ('FAIL', True)
        >>> check_proportion_bound(0, 10, 0.3, ">=", proposition="T4", quantity="b").failable
        False
    """
    lo, hi = clopper_pearson(count, n, confidence)
    return check_interval_bound(float(count) / float(n), (lo, hi), bound, relation,
                                proposition=proposition, quantity=quantity, n=int(n),
                                confidence=confidence, note=note, inconclusive=inconclusive,
                                detectable=detectable_proportion(n, relation, confidence))


def binomial_pvalue(count: Any, n: Any, bound: Any, relation: Relation) -> np.ndarray | float:
    """One-sided exact binomial p-value of ``count`` successes in ``n`` against the claim
    ``p <= bound`` (``P(Binom(n, bound) >= count)``) or ``p >= bound``
    (``P(Binom(n, bound) <= count)``); broadcasts. The two-sided Clopper-Pearson
    interval at confidence ``1 - alpha`` excludes ``bound`` on the claim's wrong side iff
    this p-value is below ``alpha / 2``. ``count`` and ``n`` as in `clopper_pearson`
    (integers, ``1 <= n <= 2^53``); ``bound`` a probability.

    Examples:
        >>> round(binomial_pvalue(60, 100, 0.5, "<="), 4)
        0.0284
    """
    _relation(relation)
    c, nn = _trials(count, n)
    b = _args.probability(bound, "bound")
    p = stats.binom.sf(c - 1, nn, b) if relation == "<=" else stats.binom.cdf(c, nn, b)
    p = np.clip(p, 0.0, 1.0)
    return float(p) if np.ndim(p) == 0 else p


def holm_adjusted(pvalues: Any) -> np.ndarray:
    r"""Holm's step-down adjusted p-values (Holm 1979): with ``p_(1) <= .. <= p_(m)``,
    ``\tilde p_(i) = max_{j <= i} min(1, (m - j + 1) p_(j))``. Rejecting every hypothesis
    with ``\tilde p <= alpha`` controls the family-wise error at ``alpha``; it rejects
    everything Bonferroni rejects and possibly more. (Five lines of NumPy: not worth a
    statsmodels dependency.)

    Examples:
        >>> holm_adjusted([0.01, 0.04, 0.03]).round(3).tolist()
        [0.03, 0.06, 0.06]
    """
    p = as_numpy(pvalues, "pvalues")
    if p.ndim > 1:
        raise ValueError(f"pvalues must be a 1-D array (one family of hypotheses), got shape "
                         f"{p.shape}")
    p = p.reshape(-1)
    if np.any((p < 0) | (p > 1)):
        raise ValueError("pvalues must lie in [0, 1]")
    m = p.size
    order = np.argsort(p, kind="stable")
    adjusted = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    out = np.empty(m)
    out[order] = adjusted
    return out
