"""Fuzz test of the public API: hypothesis over every name in ``theory.__all__``.

Each function is described once in ``SPECS``: its arguments (by kind: what is valid, what a
valid draw looks like), the range of its output, and the arguments in which the
mathematics is monotone. Every example draws valid arguments, then either keeps them or
corrupts one argument with an adversarial value (0, subnormals, 1e308, +-inf, NaN,
negatives, Python ints beyond float64, text, bytes, complex, bools, NumPy scalars and 0-d
arrays, arrays that do not broadcast, SymPy constants), and fails on any of:

- an invalid input silently accepted (no ValueError/TypeError);
- an exception of another type, or a ValueError/TypeError whose message does not name
  the corrupted argument;
- on valid input: an exception, NaN, a result outside the stated range (probabilities
  outside [0, 1], negative masses or constants), an ``inf`` where the value is finite
  (checked against a log-space estimate), a wrong output shape;
- a monotonicity violation where the mathematics is monotone;
- a call that takes more than 10 s;
- a SymPy constant whose symbolic result disagrees with the numeric one.

To fuzz another package (``numerics.__all__``), add its functions to ``SPECS`` with the
same ``Arg`` kinds (or new ones in ``KINDS``) and list the package in ``PACKAGES``. In CI the
``ci`` hypothesis profile (tests/conftest.py) runs a reduced number of examples per
function; ``HYPOTHESIS_PROFILE=dev`` runs more.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
import sympy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import theory

PACKAGES = {"theory": theory}
NOT_FUNCTIONS = {"PROPOSITIONS", "Proposition"}   # the registry: data, not a bound
TIME_LIMIT = 10.0
INF = math.inf


# --------------------------------------------------------------------------- argument kinds


@dataclass(frozen=True)
class Kind:
    """What a scalar argument accepts: a predicate on its float value and valid draws."""

    valid: Callable[[float], bool]
    draw: st.SearchStrategy
    integer: bool = False


_tiny_huge = st.sampled_from([5e-324, 1e-300, 1e-100, 1e100, 1e300, 1.7e308])
_positive = st.one_of(st.floats(1e-3, 1e3), _tiny_huge)
_probability = st.one_of(st.just(0.0), st.just(1.0), st.floats(0.0, 1.0),
                         st.sampled_from([5e-324, 1e-300, 1e-16, 1 - 1e-16]))

KINDS: dict[str, Kind] = {
    "lipschitz": Kind(lambda v: v > 0, st.one_of(st.just(INF), _positive)),
    "positive": Kind(lambda v: 0 < v < INF, _positive),
    "nonnegative": Kind(lambda v: 0 <= v < INF, st.one_of(st.just(0.0), _positive)),
    "nonnegative_or_inf": Kind(lambda v: 0 <= v, st.one_of(st.just(0.0), st.just(INF),
                                                           _positive)),
    "probability": Kind(lambda v: 0 <= v <= 1, _probability),
    "extended_real": Kind(lambda v: not math.isnan(v),
                          st.one_of(st.floats(-1e3, 1e3), st.sampled_from([-INF, INF, 0.0]))),
    "real": Kind(lambda v: math.isfinite(v),
                 st.one_of(st.floats(-1e3, 1e3),
                           st.sampled_from([0.0, 5e-324, -1e300, 1e300, -1.7e308, 40.5]))),
    "order": Kind(lambda v: 1 <= v <= 1000, st.one_of(st.just(1.0), st.floats(1.0, 5.0),
                                                      st.just(1000.0))),
    "modes": Kind(lambda v: float(v).is_integer() and 2 <= v <= 2**53,
                  st.one_of(st.integers(2, 6), st.just(2**40)), integer=True),
    "modes8": Kind(lambda v: float(v).is_integer() and 2 <= v <= 8, st.integers(2, 4),
                   integer=True),
    "count": Kind(lambda v: float(v).is_integer() and 1 <= v < INF,
                  st.one_of(st.integers(1, 200), st.just(10**15)), integer=True),
    "dim": Kind(lambda v: float(v).is_integer() and 1 <= v <= 10**9, st.integers(1, 12),
                integer=True),
}


def _weights(max_k: int) -> st.SearchStrategy:
    raw = st.integers(2, max_k).flatmap(
        lambda k: st.lists(st.floats(1e-3, 1.0), min_size=k, max_size=k))
    normalised = raw.map(lambda v: (np.asarray(v) / np.sum(v)).tolist())
    return st.one_of(normalised, st.just([1e-300, 1.0]) if max_k >= 2 else st.nothing(),
                     st.just([0.5, 0.5]))


@dataclass(frozen=True)
class Arg:
    name: str
    kind: str                       # a key of KINDS, or "weights", "choice", "bool", "array"
    vectorised: bool = False        # arrays broadcast with the other vectorised arguments
    draw: st.SearchStrategy | None = None     # for non-scalar kinds
    default_only: bool = False      # keyword with a default, drawn sometimes


@dataclass(frozen=True)
class Spec:
    args: tuple[Arg, ...]
    out: str                        # "prob", "nonneg", "real", "bool", "sympy"
    upper: Callable[[dict], float] | None = None      # output <= upper(args)
    lower: Callable[[dict], float] | None = None
    monotone: tuple[tuple[str, int], ...] = ()
    log_value: Callable[[dict], float] | None = None  # log of the true value (spurious inf)
    inf_ok: Callable[[dict], bool] | None = None      # inf is the true value
    constraint: Callable[[dict], bool] | None = None  # joint validity of valid arguments
    fix: Callable[[dict], dict] | None = None         # make a valid draw jointly valid
    symbolic: bool = True           # SymPy constants give a SymPy result
    shape: bool = True              # output shape = broadcast shape of the array arguments
    examples: float = 1.0           # fraction of the profile's examples (slow functions)
    vector_ok: Callable[[dict], bool] | None = None   # when arrays are allowed at all

    def arrays_allowed(self, values: dict) -> bool:
        return self.vector_ok is None or bool(self.vector_ok(values))


def A(name, kind, vec=False, **kw):
    return Arg(name, kind, vec, **kw)


# --------------------------------------------------------------------------- helpers


def _log(x):
    with np.errstate(divide="ignore"):
        return float(np.log(np.float64(x)))


def _modes(v):
    return int(v.get("n_modes", 2))


def _fix_mass(v):
    v = dict(v)
    if isinstance(v.get("mass"), (float, list)):
        capped = np.minimum(v["mass"], 1.0 / _modes(v))
        v["mass"] = capped.tolist() if isinstance(v["mass"], list) else float(capped)
    return v


def _w_upper(v, outside=0.0):
    """A bound the lower bound on W_p may not exceed: D(rho) <= min(1, s phi(0)) at K = 2, so
    W_p <= (Delta/2) min(1, (Delta phi(0) / ((p + 1) L))^(1/p)) (and Delta/2 for K >= 3)."""
    sep = float(np.max(v["separation"]))
    if len(v["weights"]) != 2:
        return sep / 2 * (1 + 1e-12)
    p = float(v.get("p", 1.0))
    L = float(np.min(v["L"]))
    ratio = sep / L if L > 0 else INF
    factor = min(1.0, (ratio * 0.3989422804014327 / (p + 1)) ** (1 / p)) if ratio < INF else 1.0
    return sep / 2 * factor * (1 + 1e-9)


def _fix_information(v):
    v = dict(v)
    rate, info = v["rate"], v["mutual_information"]
    if isinstance(rate, (int, float)) and isinstance(info, (int, float)):
        v["mutual_information"] = min(info, rate)
    elif isinstance(rate, list) and isinstance(info, list):
        v["mutual_information"] = np.minimum(info, rate).tolist()
    return v


def _mmse_log(u):
    """log g(u) for the spurious-inf check: exact where g is a normal number, else the tail."""
    g = float(theory.binary_channel_mmse(u))
    if g > 1e-300:
        return math.log(g)
    au = abs(u)
    return 0.5 * math.log(math.pi / 2) - au * au / 2 - math.log(au)


def _objective_log(v):
    ratio = v["separation"] / v["sigma"]
    rec = 2 * _log(ratio) - math.log(8) + _mmse_log(v["u"])
    au = abs(v["u"])
    kl = _log(v["beta"] / 2) + _log(2 * _log(au) if au > 1e10 else math.log1p(au * au))
    return max(rec, kl) + math.log(2)


def _flow_log(v):
    lip, h = np.asarray(v["step_lipschitz"], float), np.asarray(v["step_sizes"], float)
    with np.errstate(over="ignore"):
        terms = np.log1p(h * lip) if v.get("form", "euler") == "euler" else h * lip
    return float(np.max(np.sum(terms, axis=-1)))


STEPS = st.integers(1, 5).flatmap(lambda n: st.tuples(
    st.lists(st.one_of(st.floats(0, 50), st.just(1e300)), min_size=n, max_size=n),
    st.lists(st.one_of(st.floats(1e-3, 1.0), st.just(1e300)), min_size=n, max_size=n)))
OFFSETS = st.one_of(
    st.lists(st.one_of(st.floats(-1e3, 1e3), st.just(1e308), st.just(-1e308)), min_size=1,
             max_size=6),
    st.integers(1, 4).flatmap(lambda d: st.lists(
        st.lists(st.floats(-10, 10), min_size=d, max_size=d), min_size=1, max_size=4)))
CENTRES = st.integers(2, 5).flatmap(lambda k: st.one_of(
    st.lists(st.floats(-1e3, 1e3), min_size=k, max_size=k, unique=True),
    st.lists(st.lists(st.floats(-10, 10), min_size=2, max_size=2), min_size=k, max_size=k)))


# --------------------------------------------------------------------------- the table

SPECS: dict[str, Spec] = {
    # theory.gaussian
    "isoperimetric_profile": Spec((A("m", "probability", True),), "prob",
                                  upper=lambda v: 1 / math.sqrt(2 * math.pi)),
    "log_isoperimetric_profile": Spec((A("m", "probability", True),), "real",
                                      upper=lambda v: -0.5 * math.log(2 * math.pi),
                                      inf_ok=lambda v: True),
    "gaussian_enlargement": Spec((A("m", "probability", True), A("r", "real", True)), "prob",
                                 monotone=(("m", 1), ("r", 1))),
    "log_gaussian_enlargement": Spec((A("m", "probability", True), A("r", "real", True)),
                                     "real", upper=lambda v: 0.0, inf_ok=lambda v: True,
                                     monotone=(("m", 1), ("r", 1))),
    "outside_ball_mass": Spec((A("radius", "nonnegative_or_inf", True), A("dim", "dim"),
                               A("center_distance", "nonnegative", True)), "prob",
                              monotone=(("radius", -1), ("center_distance", 1)),
                              symbolic=False),
    "normal_cdf_expr": Spec((A("x", "extended_real"),), "sympy", upper=lambda v: 1.0,
                            lower=lambda v: 0.0),
    "normal_quantile_expr": Spec((A("m", "probability"),), "sympy"),
    "normal_pdf_expr": Spec((A("x", "extended_real"),), "sympy", lower=lambda v: 0.0,
                            upper=lambda v: 0.4),
    # theory.transport
    "preimage_separation": Spec((A("L", "lipschitz", True), A("separation", "nonnegative", True)),
                                "nonneg", monotone=(("L", -1), ("separation", 1)),
                                log_value=lambda v: _log(v["separation"]) - _log(v["L"])),
    "max_mode_mass": Spec((A("L", "lipschitz", True), A("separation", "nonnegative", True),
                           A("n_modes", "modes")), "prob", upper=lambda v: 1 / _modes(v),
                          monotone=(("L", 1), ("separation", -1), ("n_modes", -1))),
    "log_max_mode_mass": Spec((A("L", "lipschitz", True), A("separation", "nonnegative", True),
                               A("n_modes", "modes")), "real",
                              upper=lambda v: -math.log(_modes(v)) + 1e-15,
                              inf_ok=lambda v: True, monotone=(("L", 1), ("separation", -1))),
    "mode_mass_frontier": Spec((A("m1", "probability", True), A("L", "lipschitz", True),
                                A("separation", "nonnegative", True)), "prob",
                               monotone=(("m1", -1), ("L", 1), ("separation", -1))),
    "min_lipschitz": Spec((A("mass", "probability", True), A("separation", "nonnegative", True),
                           A("n_modes", "modes")), "nonneg", fix=_fix_mass,
                          constraint=lambda v: np.all(np.asarray(v["mass"]) <= 1 / _modes(v)),
                          monotone=(("mass", 1), ("separation", 1)),
                          inf_ok=lambda v: True),
    "max_weighted_coverage": Spec((A("L", "lipschitz", True), A("separation", "nonnegative", True),
                                   A("weights", "weights", draw=_weights(3))), "prob",
                                  vector_ok=lambda v: len(v["weights"]) == 2,
                                  upper=lambda v: 1 / max(v["weights"]) * (1 + 1e-12),
                                  monotone=(("L", 1), ("separation", -1)), symbolic=False,
                                  examples=0.5),
    "achievable_mode_mass": Spec((A("L", "lipschitz", True), A("separation", "nonnegative", True),
                                  A("n_modes", "modes8")), "prob",
                                 upper=lambda v: 1 / _modes(v),
                                 monotone=(("L", 1), ("separation", -1)), examples=0.5),
    "min_bridge_mass": Spec((A("L", "lipschitz", True), A("separation", "nonnegative", True),
                             A("m1", "probability", True, default_only=True)), "prob",
                            monotone=(("L", -1), ("separation", 1))),
    "min_lipschitz_for_bridge": Spec((A("bridge_mass", "probability", True),
                                      A("separation", "nonnegative", True)), "nonneg",
                                     monotone=(("bridge_mass", -1), ("separation", 1)),
                                     inf_ok=lambda v: True),
    "wasserstein_lower_bound": Spec((A("L", "lipschitz", True),
                                     A("separation", "nonnegative", True),
                                     A("weights", "weights", draw=_weights(3)),
                                     A("p", "order")), "nonneg",
                                    vector_ok=lambda v: len(v["weights"]) == 2,
                                    upper=_w_upper,
                                    monotone=(("L", -1), ("separation", 1))),
    "flow_lipschitz_bound": Spec((A("step_lipschitz", "steps"), A("step_sizes", "steps"),
                                  A("form", "choice",
                                    draw=st.sampled_from(["euler", "gronwall", "one_sided"]))),
                                 "nonneg", log_value=_flow_log, symbolic=False, shape=False),
    "min_integrated_lipschitz": Spec((A("mass", "probability", True),
                                      A("separation", "nonnegative", True),
                                      A("n_modes", "modes")), "real", fix=_fix_mass,
                                     constraint=lambda v: np.all(
                                         np.asarray(v["mass"]) <= 1 / _modes(v)),
                                     inf_ok=lambda v: True,
                                     monotone=(("mass", 1), ("separation", 1))),
    "gaussian_equivalent_lipschitz": Spec((A("L", "lipschitz", True),
                                           A("base_std", "positive", True),
                                           A("base_convexity", "positive", True,
                                             default_only=True)), "nonneg",
                                          monotone=(("L", 1), ("base_convexity", -1)),
                                          log_value=lambda v: _log(v["L"]) + (
                                              _log(v["base_std"]) if "base_convexity" not in v
                                              else -_log(v["base_convexity"]) / 2)),
    "chunk_separation": Spec((A("per_step_offsets", "array", draw=OFFSETS),), "nonneg",
                             log_value=lambda v: _log(np.max(np.abs(v["per_step_offsets"])))
                             + 0.5 * _log(np.asarray(v["per_step_offsets"]).size),
                             shape=False),
    "exact_fit_min_lipschitz": Spec((A("mean", "nonnegative", True), A("std", "positive", True)),
                                    "nonneg", monotone=(("mean", 1),),
                                    log_value=lambda v: _log(v["std"]) + (
                                        v["mean"] / v["std"]) ** 2 / 2
                                    if v["mean"] / v["std"] < 1e150 else INF),
    "isoperimetric_min_lipschitz": Spec((A("mass", "probability", True),
                                         A("boundary_measure", "positive", True)), "nonneg",
                                        monotone=(("boundary_measure", -1),),
                                        log_value=lambda v: _log(theory.isoperimetric_profile(
                                            v["mass"])) - _log(v["boundary_measure"])),
    "max_mode_mass_local": Spec((A("L", "lipschitz", True), A("separation", "nonnegative", True),
                                 A("outside_mass", "probability", True), A("n_modes", "modes"),
                                 A("form", "choice", draw=st.sampled_from(
                                     ["exact", "unnormalised", "additive"]))), "prob",
                                upper=lambda v: 1 / _modes(v) * (1 + 1e-12),
                                monotone=(("L", 1), ("separation", -1), ("outside_mass", 1))),
    "max_weighted_coverage_local": Spec((A("L", "lipschitz", True),
                                         A("separation", "nonnegative", True),
                                         A("weights", "weights", draw=_weights(3)),
                                         A("outside_mass", "probability", True)), "prob",
                                        vector_ok=lambda v: len(v["weights"]) == 2,
                                        upper=lambda v: 1 / max(v["weights"]) * (1 + 1e-12),
                                        monotone=(("L", 1), ("separation", -1),
                                                  ("outside_mass", 1)),
                                        symbolic=False, examples=0.3),
    "min_bridge_mass_local": Spec((A("L", "lipschitz", True), A("separation", "nonnegative", True),
                                   A("outside_mass", "probability", True),
                                   A("m1", "probability", True, default_only=True)), "prob",
                                  monotone=(("L", -1), ("separation", 1))),
    "wasserstein_lower_bound_local": Spec((A("L", "lipschitz", True),
                                           A("separation", "nonnegative", True),
                                           A("outside_mass", "probability", True),
                                           A("weights", "weights", draw=_weights(3)),
                                           A("p", "order")), "nonneg",
                                          vector_ok=lambda v: len(v["weights"]) == 2,
                                          upper=_w_upper,
                                          monotone=(("L", -1), ("separation", 1),
                                                    ("outside_mass", -1))),
    # theory.latent
    "rate_decomposition": Spec((A("rate", "nonnegative", True),
                                A("mutual_information", "nonnegative", True)), "nonneg",
                               fix=_fix_information,
                               constraint=lambda v: np.all(np.asarray(v["mutual_information"])
                                                           <= np.asarray(v["rate"])),
                               monotone=(("rate", 1),)),
    "fano_min_rate": Spec((A("weights", "weights", draw=_weights(5)),
                           A("error", "probability", True)), "nonneg",
                          monotone=(("error", -1),), shape=False),
    "fano_min_error": Spec((A("weights", "weights", draw=_weights(5)),
                            A("rate", "nonnegative_or_inf", True)), "prob",
                           monotone=(("rate", -1),), symbolic=False, shape=False),
    "kl_tv_bound": Spec((A("eps", "nonnegative_or_inf", True),), "prob", monotone=(("eps", 1),)),
    "kl_tv_bound_exact": Spec((A("eps", "nonnegative_or_inf", True),), "prob",
                              monotone=(("eps", 1),), symbolic=False),
    "min_kl_for_tv": Spec((A("tv", "probability", True),), "nonneg",
                          upper=lambda v: math.log(2) * (1 + 1e-15), monotone=(("tv", 1),)),
    "mode_recovery_accuracy": Spec((A("eps", "nonnegative_or_inf", True),
                                    A("exact", "bool", default_only=True)), "prob",
                                   lower=lambda v: 0.5, monotone=(("eps", 1),)),
    "mode_averaging_distance": Spec((A("separation", "positive", True),
                                     A("eps", "nonnegative_or_inf", True),
                                     A("exact", "bool", default_only=True)), "nonneg",
                                    upper=lambda v: float(np.max(v["separation"])) / 2,
                                    monotone=(("separation", 1), ("eps", -1))),
    "collapse_threshold": Spec((A("separation", "positive", True), A("sigma", "positive", True),
                                A("weights", "weights", draw=st.one_of(
                                    st.just([0.5, 0.5]), st.floats(0.5, 0.72).map(
                                        lambda a: [a, 1 - a])), default_only=True)),
                               "nonneg", monotone=(("separation", 1), ("sigma", -1)),
                               log_value=lambda v: 2 * (_log(v["separation"])
                                                        - _log(v["sigma"])) - math.log(4)),
    "collapse_threshold_local": Spec((A("centres", "array", draw=CENTRES),
                                      A("sigma", "positive")), "nonneg",
                                     monotone=(("sigma", -1),), symbolic=False, shape=False,
                                     log_value=lambda v: 2 * (_log(np.max(np.abs(
                                         v["centres"]))) - _log(v["sigma"]))),
    "collapse_objective": Spec((A("u", "real", True), A("beta", "nonnegative", True),
                                A("separation", "positive", True), A("sigma", "positive", True)),
                               "nonneg", monotone=(("beta", 1), ("separation", 1),
                                                   ("sigma", -1)),
                               log_value=_objective_log),
    "binary_channel_mmse": Spec((A("u", "real", True),), "prob"),
    "collapsed_directions": Spec((A("eigenvalues", "nonnegative", True),
                                  A("beta", "positive", True),
                                  A("decoder_noise_var", "positive", True)), "bool"),
    "prior_tv_bound": Spec((A("marginal_kl", "nonnegative_or_inf", True),), "prob",
                           monotone=(("marginal_kl", 1),)),
    "min_prior_coverage": Spec((A("marginal_kl", "nonnegative_or_inf", True),
                                A("posterior_mass", "probability", True)), "prob",
                               upper=lambda v: float(np.max(v["posterior_mass"])),
                               monotone=(("marginal_kl", -1), ("posterior_mass", 1)),
                               symbolic=False),
    "act_effective_kl_weight": Spec((A("kl_weight", "nonnegative", True),
                                     A("chunk_length", "count", True),
                                     A("action_dim", "count", True),
                                     A("laplace_scale", "positive", True)), "nonneg",
                                    monotone=(("kl_weight", 1), ("laplace_scale", -1)),
                                    log_value=lambda v: _log(v["kl_weight"])
                                    + _log(v["chunk_length"]) + _log(v["action_dim"])
                                    - _log(v["laplace_scale"])),
    "act_kl_weight": Spec((A("effective_kl_weight", "nonnegative", True),
                           A("chunk_length", "count", True), A("action_dim", "count", True),
                           A("laplace_scale", "positive", True)), "nonneg",
                          monotone=(("effective_kl_weight", 1), ("laplace_scale", 1)),
                          log_value=lambda v: _log(v["effective_kl_weight"])
                          + _log(v["laplace_scale"]) - _log(v["chunk_length"])
                          - _log(v["action_dim"])),
    "decoder_max_mode_mass": Spec((A("decoder_lipschitz", "lipschitz", True),
                                   A("separation", "nonnegative", True), A("n_modes", "modes"),
                                   A("output_noise_std", "nonnegative", True)), "prob",
                                  upper=lambda v: 1 / _modes(v),
                                  monotone=(("decoder_lipschitz", 1), ("separation", -1),
                                            ("output_noise_std", 1))),
}


# --------------------------------------------------------------------------- adversaries


@dataclass(frozen=True)
class Adversary:
    value: Any
    meaning: Any          # a float, or "type" (never valid), or "mismatch"
    symbolic: bool = False
    array: bool = False   # an array value (valid only for a vectorised argument)


def _adversaries() -> list[Adversary]:
    out = [Adversary(v, float(v)) for v in
           (0.0, -0.0, 5e-324, -5e-324, 1e-300, 0.5, 1.0, 2.0, 2.5, 3.0, 1e300, 1.7e308,
            -1.0, -1.7e308, INF, -INF, math.nan)]
    out += [Adversary(3, 3.0), Adversary(2**60, float(2**60)), Adversary(10**400, "type"),
            Adversary(-(10**400), "type"),
            Adversary(np.float64(0.5), 0.5), Adversary(np.float32(0.25), 0.25),
            Adversary(np.int64(3), 3.0), Adversary(np.array(0.5), 0.5),
            Adversary(np.array(3), 3.0)]
    out += [Adversary(v, "type") for v in
            ("1.0", b"0.5", "abc", 1 + 0j, complex(0.5, 0.0), True, False, np.bool_(True),
             None, np.array([True, False]), np.array(["1.0", "2"]), [0.5, "a"],
             np.array([0.5 + 0j]))]
    out += [Adversary(np.array([0.5, 0.25]), [0.5, 0.25], array=True),
            Adversary(np.array([0.5, math.nan]), [0.5, math.nan], array=True),
            Adversary(np.array([[0.5], [2.0]]), [0.5, 2.0], array=True),
            Adversary("mismatch", "mismatch", array=True)]
    out += [Adversary(sympy.Integer(-1), -1.0, True), Adversary(sympy.Integer(3), 3.0, True),
            Adversary(sympy.Rational(1, 2), 0.5, True), Adversary(sympy.Float(0.25), 0.25, True),
            Adversary(sympy.nan, "type", True), Adversary(sympy.zoo, "type", True),
            Adversary(sympy.I, "type", True), Adversary(sympy.oo, INF, True)]
    return out


ADVERSARIES = _adversaries()
VECTOR_ADVERSARIES = [Adversary(v, "type") for v in
                      (np.array([math.nan, 0.5]), "abc", b"0.5", np.array([True, False]),
                       [[1.0, 2.0], [3.0]], np.array([1 + 0j, 0.5]), None, [])]
SCALAR_FOR_VECTOR = Adversary(3.0, "type")    # a scalar where a vector is required


def _valid_scalar(kind: str, meaning) -> bool:
    if not isinstance(meaning, (float, list)):
        return False
    values = meaning if isinstance(meaning, list) else [meaning]
    k = KINDS[kind]
    return all((not k.integer or float(v).is_integer()) and k.valid(v) for v in values)


# --------------------------------------------------------------------------- the harness


def _draw_valid(data, spec: Spec) -> tuple[dict, bool]:
    values, arrays = {}, []
    use_arrays = data.draw(st.booleans(), label="arrays")
    n = data.draw(st.integers(1, 3), label="array length")
    if spec.vector_ok is not None:   # decide on arrays once the other arguments are drawn
        for arg in spec.args:
            if arg.kind not in KINDS and arg.kind != "bool":
                values[arg.name] = data.draw(arg.draw, label=arg.name)
        use_arrays = use_arrays and spec.arrays_allowed(values)
    for arg in spec.args:
        if arg.name in values:
            continue
        if arg.default_only and not data.draw(st.booleans(), label=f"pass {arg.name}"):
            continue
        if arg.kind in KINDS:
            draw = KINDS[arg.kind].draw
            if arg.vectorised and use_arrays:
                values[arg.name] = data.draw(st.lists(draw, min_size=n, max_size=n),
                                             label=arg.name)
                arrays.append(arg.name)
            else:
                values[arg.name] = data.draw(draw, label=arg.name)
        elif arg.kind == "bool":
            values[arg.name] = data.draw(st.booleans(), label=arg.name)
        elif arg.kind == "steps":
            if "step_lipschitz" not in values:
                lip, h = data.draw(STEPS, label="steps")
                values["step_lipschitz"], values["step_sizes"] = lip, h
        else:
            values[arg.name] = data.draw(arg.draw, label=arg.name)
    if spec.fix is not None:
        values = spec.fix(values)
    return values, bool(arrays)


def _call(fn, values: dict):
    start = time.perf_counter()
    try:
        return fn(**values), None, time.perf_counter() - start
    except Exception as exc:   # noqa: BLE001 -- the test classifies every exception
        return None, exc, time.perf_counter() - start


def _spurious_inf(spec: Spec, values: dict) -> str | None:
    """None when an inf result is the true value (or its float rounding), else a message."""
    if spec.inf_ok is not None and spec.inf_ok(values):
        return None
    if spec.log_value is not None:
        true = spec.log_value(values)
        return None if true > 709.0 else f"spurious inf (true log value {true:.4g})"
    return "inf on valid input"


def _has_arrays(values: dict) -> bool:
    return any(isinstance(v, (list, np.ndarray)) and np.ndim(v) > 0 for v in values.values())


def _check_output(name: str, spec: Spec, values: dict, out) -> None:
    if spec.out == "sympy":
        assert isinstance(out, sympy.Basic), f"{name}: expected a SymPy expression"
        return
    if spec.out == "bool":
        assert isinstance(out, (bool, np.ndarray)), f"{name}: expected bools"
        return
    assert not isinstance(out, sympy.Basic), f"{name}{values}: SymPy out of numbers: {out}"
    a = np.asarray(out, dtype=float)
    assert not np.any(np.isnan(a)), f"{name}{values}: NaN on valid input: {out!r}"
    if np.any(np.isinf(a)) and not _has_arrays(values):
        problem = _spurious_inf(spec, values) if np.any(a == INF) else (
            None if spec.out == "real" and spec.inf_ok else "-inf on valid input")
        assert problem is None, f"{name}{values}: {problem}: {out!r}"
    lower = spec.lower(values) if spec.lower else (0.0 if spec.out in ("prob", "nonneg")
                                                   else -INF)
    upper = spec.upper(values) if spec.upper else (1.0 if spec.out == "prob" else INF)
    tol = 1e-12 * max(1.0, abs(upper)) if math.isfinite(upper) else 0.0
    assert np.all(a >= lower - 1e-15), f"{name}{values}: {out!r} below {lower}"
    assert np.all(a <= upper + tol), f"{name}{values}: {out!r} above {upper}"


def _check_elementwise(name: str, spec: Spec, fn, values: dict, out, data) -> None:
    """An array call agrees with the scalar call at one of its elements."""
    shape = np.shape(out)
    if not shape or 0 in shape:
        return
    index = tuple(data.draw(st.integers(0, n - 1), label="index") for n in shape)
    scalar_values = dict(values)
    for arg in spec.args:
        if arg.vectorised and arg.name in values and np.ndim(values[arg.name]) > 0:
            scalar_values[arg.name] = float(np.broadcast_to(values[arg.name], shape)[index])
    one, exc, _ = _call(fn, scalar_values)
    assert exc is None, f"{name}{scalar_values}: {exc!r}"
    want = float(np.asarray(out)[index])
    if math.isinf(want) or math.isinf(one):
        assert want == one, f"{name}: array element {want} but scalar call {one}"
    else:
        assert one == pytest.approx(want, rel=1e-11, abs=1e-300), (
            f"{name}{scalar_values}: array element {want} but scalar call {one}")


def _broadcast_shape(spec: Spec, values: dict) -> tuple[int, ...]:
    shapes = [np.shape(values[a.name]) for a in spec.args if a.vectorised and a.name in values]
    return np.broadcast_shapes(*shapes) if shapes else ()


def _perturbed(arg: Arg, value, data):
    if isinstance(value, (list, np.ndarray)) or not isinstance(value, (int, float)):
        return None
    kind = arg.kind
    if kind in ("probability",):
        return value + (1 - value) * data.draw(st.floats(0.01, 1.0), label="step")
    if kind == "modes":
        return value + 1 if value < 2**53 else None
    if kind in ("lipschitz", "positive", "nonnegative", "nonnegative_or_inf", "order"):
        if value == INF:
            return None
        factor = data.draw(st.floats(1.001, 4.0), label="factor")
        new = value * factor + (data.draw(st.floats(1e-6, 1.0), label="shift")
                                if kind.startswith("nonnegative") else 0.0)
        return new if (math.isfinite(new) or kind in ("lipschitz", "nonnegative_or_inf")) else None
    return None


def _check_monotone(name, spec, fn, values, out, data):
    if not isinstance(out, float) or not math.isfinite(out):
        return
    for arg_name, direction in spec.monotone:
        arg = next(a for a in spec.args if a.name == arg_name)
        if arg_name not in values:
            continue
        new_value = _perturbed(arg, values[arg_name], data)
        if new_value is None or not KINDS[arg.kind].valid(new_value):
            continue
        moved = {**values, arg_name: new_value}
        if spec.constraint is not None and not spec.constraint(moved):
            continue
        new, exc, _ = _call(fn, moved)
        assert exc is None, f"{name}{moved}: {exc!r}"
        if not isinstance(new, float) or math.isnan(new):
            continue
        slack = 1e-9 * max(abs(out), abs(new)) + 1e-300
        trend = "increasing" if direction > 0 else "decreasing"
        assert (new - out) * direction >= -slack, (
            f"{name}: not {trend} in {arg_name}: {values} -> {out}, {moved} -> {new}")


def _names_argument(exc: Exception, arg: str) -> bool:
    return arg in str(exc)


def _run_example(name: str, spec: Spec, fn, data) -> None:
    values, has_arrays = _draw_valid(data, spec)
    corrupt = data.draw(st.booleans(), label="corrupt")
    if not corrupt:
        out, exc, seconds = _call(fn, values)
        assert seconds < TIME_LIMIT, f"{name}{values} took {seconds:.1f} s"
        assert exc is None, f"{name}{values} raised on valid input: {exc!r}"
        _check_output(name, spec, values, out)
        if spec.shape and spec.out != "sympy":
            assert np.shape(out) == _broadcast_shape(spec, values), f"{name}: wrong shape"
        if has_arrays and spec.shape and spec.out in ("prob", "nonneg", "real"):
            _check_elementwise(name, spec, fn, values, out, data)
        if not has_arrays:
            _check_monotone(name, spec, fn, values, out, data)
        return
    candidates = [a for a in spec.args if a.name in values or a.default_only]
    arg = data.draw(st.sampled_from(candidates), label="corrupted argument")
    if arg.kind in KINDS:
        adv = data.draw(st.sampled_from(ADVERSARIES), label="adversary")
    else:
        # a scalar broadcasts against the other step array: valid for the step arguments
        pool = VECTOR_ADVERSARIES + ([] if arg.kind == "steps" else [SCALAR_FOR_VECTOR])
        if arg.default_only:    # None is the documented default there
            pool = [a for a in pool if a.value is not None]
        adv = data.draw(st.sampled_from(pool), label="adversary")
    moved = dict(values)
    if isinstance(adv.value, str) and adv.value == "mismatch":
        others = [a for a in spec.args if a.vectorised and a.name != arg.name and a.name in values]
        if not arg.vectorised or not others:
            return
        moved[others[0].name] = np.full(3, np.asarray(values[others[0].name]).ravel()[0])
        moved[arg.name] = np.full(7, np.asarray(values.get(arg.name, 0.5)).ravel()[0]
                                  if arg.name in values else 0.5)
        valid = False
    else:
        moved[arg.name] = adv.value
        if arg.kind in KINDS:
            valid = _valid_scalar(arg.kind, adv.meaning) and (
                (arg.vectorised and spec.arrays_allowed(values)) or not adv.array)
            if adv.array and has_arrays:
                return      # a second array length: a broadcast question, covered above
        elif arg.kind == "bool":
            valid = isinstance(adv.value, (bool, np.bool_))
        else:
            valid = False
        if valid and spec.fix is not None:
            moved = spec.fix(moved) if not adv.symbolic else moved
        if valid and spec.constraint is not None and not adv.symbolic:
            try:
                ok = spec.constraint(moved)
            except Exception:   # noqa: BLE001
                ok = True
            if not ok:
                out, exc, seconds = _call(fn, moved)
                assert isinstance(exc, ValueError), f"{name}{moved}: jointly invalid accepted"
                return
    out, exc, seconds = _call(fn, moved)
    assert seconds < TIME_LIMIT, f"{name}{moved} took {seconds:.1f} s"
    if not valid:
        assert exc is not None, f"{name}: invalid {arg.name}={adv.value!r} accepted -> {out!r}"
        assert isinstance(exc, (ValueError, TypeError)), f"{name}: {type(exc).__name__}: {exc}"
        if not (adv.symbolic and not spec.symbolic):
            assert _names_argument(exc, arg.name), (
                f"{name}: the error for {arg.name}={adv.value!r} does not name it: {exc}")
        return
    if adv.symbolic:
        if exc is not None and has_arrays:
            assert isinstance(exc, TypeError), f"{name}: SymPy with arrays: {exc!r}"
            return
        if exc is not None:
            assert isinstance(exc, TypeError) and not spec.symbolic or (
                isinstance(exc, TypeError) and "closed form" in str(exc)), (
                f"{name}: valid SymPy {arg.name}={adv.value!r}: {exc!r}")
            return
        if isinstance(out, sympy.Basic) and not out.free_symbols and not out.has(
                sympy.Integral) and spec.out in ("prob", "nonneg", "real"):
            if out.has(sympy.oo, -sympy.oo, sympy.zoo):
                ref, _, _ = _call(fn, {**moved, arg.name: float(adv.meaning)})
                assert isinstance(ref, float) and math.isinf(ref), f"{name}: {out} vs {ref}"
                return
            try:
                value = complex(sympy.N(out, 30))
            except OverflowError:   # mpmath's erfc overflows on huge arguments: SymPy's limit
                return
            assert abs(value.imag) < 1e-12 and not math.isnan(value.real), f"{name}: {out}"
            numeric = {**moved, arg.name: float(adv.meaning)}
            ref, ref_exc, _ = _call(fn, numeric)
            if ref_exc is None and isinstance(ref, float) and math.isfinite(ref):
                assert value.real == pytest.approx(ref, rel=1e-8, abs=1e-12), (
                    f"{name}: SymPy {out} = {value.real} but numeric {ref}")
        return
    assert exc is None, f"{name}: valid {arg.name}={adv.value!r} raised {exc!r}"
    _check_output(name, spec, moved, out)


# --------------------------------------------------------------------------- the tests


def _public(package) -> list[str]:
    return [n for n in package.__all__ if n not in NOT_FUNCTIONS]


def test_every_public_name_is_specified():
    for label, package in PACKAGES.items():
        missing = [n for n in _public(package) if n not in SPECS]
        assert not missing, f"{label}.__all__ names without a fuzz spec: {missing}"
    for name, spec in SPECS.items():
        fn = getattr(theory, name)
        import inspect

        params = inspect.signature(fn).parameters
        assert {a.name for a in spec.args} <= set(params), name


@pytest.mark.parametrize("name", sorted(SPECS))
def test_fuzz(name):
    spec = SPECS[name]
    fn = getattr(theory, name)
    base = settings()
    examples = max(5, int(base.max_examples * spec.examples))

    @settings(max_examples=examples, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(st.data())
    def run(data):
        _run_example(name, spec, fn, data)

    run()
