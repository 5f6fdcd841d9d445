"""Hypothesis strategies for property-testing Lipschitz maps against the bounds.

These are the strategies the project's own property tests use (tests/theory/), so a
user can test their own maps and bounds the same way::

    from hypothesis import given
    from theory.strategies import lipschitz_maps, mode_configurations

    @given(lipschitz_maps(dim_in=4, dim_out=2, max_lipschitz=3.0), mode_configurations())
    def test_my_bound(T, config):
        eps = np.random.default_rng(0).standard_normal((10_000, T.dim_in))
        actions = T(eps)                # [n, dim_out]; T.lipschitz bounds Lip(T)
        ...

`lipschitz_maps` draws a `LipschitzMap`: a NumPy callable ``[n, dim_in] -> [n, dim_out]``
with a *known upper bound* ``.lipschitz`` on its Lipschitz constant (Euclidean norms),
from four families: piecewise-linear 1-D profiles along a direction, clip maps (the
maps that attain T2), MLPs with 1-Lipschitz activations rescaled by the product of their
spectral norms, and compositions of these. `mode_configurations` draws
`ModeConfiguration`s: ``K`` point modes in ``R^dim`` (so the pairwise separations are
realisable), positive weights summing to 1, and a Lipschitz constant.

Randomness inside a draw comes from a NumPy generator seeded by a drawn integer, so
hypothesis can replay and shrink examples; importing this module needs `hypothesis`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from hypothesis import strategies as st

__all__ = ["LipschitzMap", "ModeConfiguration", "lipschitz_maps", "mode_configurations"]

_KINDS = ("piecewise_linear", "clip", "mlp", "composition")


@dataclass(frozen=True)
class LipschitzMap:
    """A map ``R^dim_in -> R^dim_out`` with a known Lipschitz upper bound.

    Attributes:
        fn: ``[n, dim_in] -> [n, dim_out]`` (NumPy, float64).
        lipschitz: an upper bound on the Lipschitz constant (Euclidean norms), > 0.
        dim_in, dim_out: dimensions.
        kind: "piecewise_linear", "clip", "mlp" or "composition".
        exact: True when ``lipschitz`` is the exact constant (piecewise-linear, clip).
    """

    fn: Callable[[np.ndarray], np.ndarray] = field(repr=False)
    lipschitz: float
    dim_in: int
    dim_out: int
    kind: str
    exact: bool = False

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        if x.ndim != 2 or x.shape[1] != self.dim_in:
            raise ValueError(f"x must have shape [n, {self.dim_in}], got {x.shape}")
        return self.fn(x)


@dataclass(frozen=True)
class ModeConfiguration:
    """``K`` point modes in ``R^dim`` with weights and a Lipschitz constant.

    Attributes:
        centers: ``[K, dim]`` mode locations.
        weights: ``(K,)`` positive, summing to 1.
        separation_matrix: ``[K, K]`` pairwise distances (zero diagonal).
        separation: the smallest pairwise distance ``Delta``.
        lipschitz: a Lipschitz constant ``L`` to evaluate the bounds at.
    """

    centers: np.ndarray = field(repr=False)
    weights: tuple[float, ...]
    separation_matrix: np.ndarray = field(repr=False)
    separation: float
    lipschitz: float

    @property
    def n_modes(self) -> int:
        return len(self.weights)


def _unit(rng: np.random.Generator, d: int) -> np.ndarray:
    v = rng.standard_normal(d)
    return v / np.linalg.norm(v)


def _ridge(profile: Callable[[np.ndarray], np.ndarray], lip: float, d_in: int, d_out: int,
           rng: np.random.Generator, kind: str, exact: bool) -> LipschitzMap:
    # x -> c + u g(<e, x>) with unit e, u: Lip = Lip(g), attained along e.
    e, u, c = _unit(rng, d_in), _unit(rng, d_out), rng.standard_normal(d_out)
    return LipschitzMap(lambda x: c + np.outer(profile(x @ e), u), lip, d_in, d_out, kind,
                        exact)


def _piecewise_linear(rng, d_in, d_out, lip):
    n = int(rng.integers(2, 8))
    knots = np.sort(rng.uniform(-3, 3, n))
    slopes = rng.uniform(-lip, lip, n + 1)
    slopes[rng.integers(n + 1)] = lip * rng.choice([-1.0, 1.0])   # the constant is attained
    values = np.concatenate([[0.0], np.cumsum(slopes[1:-1] * np.diff(knots))])

    def profile(s):
        inner = np.interp(s, knots, values)
        return inner + np.where(s < knots[0], slopes[0] * (s - knots[0]), 0.0) \
            + np.where(s > knots[-1], slopes[-1] * (s - knots[-1]), 0.0)

    return _ridge(profile, lip, d_in, d_out, rng, "piecewise_linear", True)


def _clip(rng, d_in, d_out, lip):
    half = float(rng.uniform(0.1, 3.0))
    shift = float(rng.normal(0, 0.5))
    return _ridge(lambda s: np.clip(lip * s - shift, -half, half), lip, d_in, d_out, rng,
                  "clip", True)


def _mlp(rng, d_in, d_out, lip):
    widths = [d_in, *rng.integers(2, 12, int(rng.integers(1, 3))).tolist(), d_out]
    weights = [rng.standard_normal((b, a)) for a, b in zip(widths[:-1], widths[1:],
                                                           strict=True)]
    biases = [rng.standard_normal(b) for b in widths[1:]]
    norms = [np.linalg.norm(W, 2) for W in weights]
    scale = (lip / np.prod(norms)) ** (1 / len(weights))
    weights = [W * scale for W in weights]
    acts = [np.tanh, lambda z: np.maximum(z, 0.0), np.sin]   # all 1-Lipschitz
    act = acts[int(rng.integers(len(acts)))]
    bound = float(np.prod([np.linalg.norm(W, 2) for W in weights]))

    def fn(x):
        h = x
        for W, b in zip(weights[:-1], biases[:-1], strict=True):
            h = act(h @ W.T + b)
        return h @ weights[-1].T + biases[-1]

    return LipschitzMap(fn, bound, d_in, d_out, "mlp", False)


def _composition(rng, d_in, d_out, lip):
    d_mid = int(rng.integers(1, 6))
    split = float(rng.uniform(0.2, 0.8))
    first = _mlp(rng, d_in, d_mid, lip ** split)
    second = (_clip if rng.random() < 0.5 else _piecewise_linear)(rng, d_mid, d_out,
                                                                   lip ** (1 - split))
    return LipschitzMap(lambda x: second.fn(first.fn(x)), first.lipschitz * second.lipschitz,
                        d_in, d_out, "composition", False)


_BUILDERS = {"piecewise_linear": _piecewise_linear, "clip": _clip, "mlp": _mlp,
             "composition": _composition}


def _dims(value: int | st.SearchStrategy[int] | None, default: st.SearchStrategy[int]
          ) -> st.SearchStrategy[int]:
    if value is None:
        return default
    return value if isinstance(value, st.SearchStrategy) else st.just(int(value))


@st.composite
def lipschitz_maps(draw, dim_in: int | st.SearchStrategy[int] | None = None,
                   dim_out: int | st.SearchStrategy[int] | None = None,
                   max_lipschitz: float = 10.0, min_lipschitz: float = 0.05,
                   kinds: tuple[str, ...] = _KINDS) -> LipschitzMap:
    """Draw a `LipschitzMap` with ``min_lipschitz <= .lipschitz <= max_lipschitz``.

    Parameters
    ----------
    dim_in, dim_out : int, hypothesis strategy of int, or None
        Input and output dimensions (None: ``1..8`` and ``1..3``).
    max_lipschitz, min_lipschitz : float
        Range of the (log-uniformly drawn) constant, ``0 < min <= max < inf``.
    kinds : tuple of str
        Families to draw from: "piecewise_linear", "clip", "mlp", "composition"
        (default all four).

    Returns
    -------
    hypothesis.strategies.SearchStrategy
        A strategy of `LipschitzMap`; for "mlp"/"composition" ``.lipschitz`` is the
        spectral-norm product, an upper bound (``.exact`` False).

    Raises
    ------
    ValueError
        An empty or unknown ``kinds``, or a bad range (raised when the strategy is drawn).

    References
    ----------
    docs/theory.md, "How the bounds are tested"; tests/theory/test_transport_properties.py.

    Examples
    --------
    >>> from theory.strategies import lipschitz_maps
    >>> lipschitz_maps(dim_in=2, dim_out=1, kinds=("clip",))
    lipschitz_maps(dim_in=2, dim_out=1, kinds=('clip',))
    """
    if not 0 < min_lipschitz <= max_lipschitz < np.inf:
        raise ValueError("need 0 < min_lipschitz <= max_lipschitz < inf, got "
                         f"{min_lipschitz!r}, {max_lipschitz!r}")
    unknown = set(kinds) - set(_KINDS)
    if not kinds or unknown:
        raise ValueError(f"kinds must be a non-empty subset of {_KINDS}, got {kinds!r}")
    d_in = draw(_dims(dim_in, st.integers(1, 8)))
    d_out = draw(_dims(dim_out, st.integers(1, 3)))
    log_l = draw(st.floats(np.log(min_lipschitz), np.log(max_lipschitz)))
    kind = draw(st.sampled_from(kinds))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    return _BUILDERS[kind](rng, d_in, d_out, float(np.exp(log_l)))


@st.composite
def mode_configurations(draw, min_modes: int = 2, max_modes: int = 4, dim: int = 2,
                        min_separation: float = 0.1, max_separation: float = 6.0,
                        min_lipschitz: float = 0.1, max_lipschitz: float = 10.0,
                        min_weight: float = 0.02) -> ModeConfiguration:
    """Draw a `ModeConfiguration`: point modes, weights, a Lipschitz constant.

    The centres are drawn in ``R^dim`` and rescaled so the smallest pairwise distance
    is a drawn ``Delta`` in ``[min_separation, max_separation]``; weights are drawn in
    ``[min_weight, 1]`` and normalised (exact sum 1 up to rounding).

    Parameters
    ----------
    min_modes, max_modes : int
        Range of ``K`` (``2 <= min_modes <= max_modes``).
    dim : int
        Dimension of the action space the centres live in.
    min_separation, max_separation : float
        Range of ``Delta``.
    min_lipschitz, max_lipschitz : float
        Range of ``L`` (log-uniform).
    min_weight : float
        Smallest raw weight before normalisation.

    Returns
    -------
    hypothesis.strategies.SearchStrategy
        A strategy of `ModeConfiguration`.

    Raises
    ------
    ValueError
        ``min_modes < 2`` or ``min_modes > max_modes`` (raised when the strategy is drawn).

    References
    ----------
    docs/theory.md, "How the bounds are tested".

    Examples
    --------
    >>> from theory.strategies import mode_configurations
    >>> mode_configurations(max_modes=3)
    mode_configurations(max_modes=3)
    """
    if not 2 <= min_modes <= max_modes:
        raise ValueError(f"need 2 <= min_modes <= max_modes, got {min_modes}, {max_modes}")
    K = draw(st.integers(min_modes, max_modes))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    centers = rng.standard_normal((K, dim))
    dist = np.linalg.norm(centers[:, None] - centers[None], axis=-1)
    while np.min(dist[~np.eye(K, dtype=bool)]) < 1e-3:   # coincident draws: redraw
        centers = rng.standard_normal((K, dim))
        dist = np.linalg.norm(centers[:, None] - centers[None], axis=-1)
    delta = draw(st.floats(min_separation, max_separation))
    scale = delta / np.min(dist[~np.eye(K, dtype=bool)])
    raw = np.array(draw(st.lists(st.floats(min_weight, 1.0), min_size=K, max_size=K)))
    weights = raw / raw.sum()
    L = float(np.exp(draw(st.floats(np.log(min_lipschitz), np.log(max_lipschitz)))))
    return ModeConfiguration(centers * scale, tuple(float(w) for w in weights),
                             dist * scale, float(delta), L)
