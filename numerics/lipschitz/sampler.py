r"""Certified Lipschitz constants of whole samplers: the unrolled graph, one certificate.

A sampler maps base noise to a sample by ``N`` steps of the same network ``f`` (a velocity
or a noise predictor) at different times; the time and the observation enter ``f``'s first
layer additively (``f_j(x) = f([x, c(t_j)])``), so they are biases and drop out of every
increment bound. One step, written for increments, is a small graph of *stages*:

.. math::
    z_s = \sum_{r<s} c_{s r}\, y_r,\qquad y_s = f(z_s)\ \text{or}\ \mathrm{clip}(z_s),
    \qquad x_{j+1} = \sum_r o_r\, y_r + \sigma_j\, \xi_j,

with ``y_0 = x_j`` and scalar coefficients: Euler ``x + h f(x)``; Heun and RK4 (2 and 4
stages); DDIM ``a x + b eps(x)``; clipped DDIM (a clip stage of slope ``[0, 1]`` on the
predicted clean sample); DDPM (the injected noise ``xi_j`` is a base coordinate, docs/theory.md T6);
a decoder ``z -> D(z)`` (one stage, ``a = 0``, L6).

**Certificate** (ours; derivation and proofs in ``docs/numerics-lipschitz.md``). Every
hidden neuron of every stage obeys the incremental sector constraint
``(dw - alpha du)(beta du - dw) >= 0``; weight it by ``T >= 0`` (one diagonal per step,
stage and layer). For a matrix ``P'`` put

.. math:: F_j(dx, dw) = |dx_{j+1}|^2_{P'} - \rho |\xi_j|^2 + 2\sum \text{sector terms}(T_j),

a quadratic form. If its Hessian in the hidden increments (and ``xi``) is negative
definite, ``P_j = R_j(P', T_j) := `` the matrix of ``max_{dw, xi} F_j`` (a Schur complement)
satisfies ``|dx_{j+1}|^2_{P'} <= |dx_j|^2_{P_j} + rho |xi_j|^2`` along every pair of
trajectories. Chaining from ``P_N = I``:

.. math::
    |x_N - x_N'|^2 \le \lambda_{\max}(P_0)\,|x_0 - x_0'|^2 + \rho \sum_j |\xi_j - \xi_j'|^2,

so ``Lip <= sqrt(max(lambda_max(P_0), rho))`` (``rho`` only for DDPM). For fixed ``T`` this
backward Riccati-type recursion equals the joint LipSDP-Neuron condition of the whole
unrolled graph (maximising the joint form over the last step's hidden increments first,
then the one before, ...), at ``O(N l n^3)`` cost and ``d x d`` memory per step, never
a ``(N n)``-square LMI. Each stage's maximisation is the block-tridiagonal LDL recursion
of `numerics.lipschitz.certificate`, with the coupling to the interface (the state and
the previous stages' outputs) carried along.

**What is certified.** The multipliers come from L-BFGS (torch, any device) on a smoothed
``log lambda_max(P_0)``, started from per-step scalings of the network's own LipSDP
multipliers refined step by step. None of that is trusted: in float64, with ``P~_N = I``
and ``P~_j = R_j(P~_{j+1}) + delta_j I``, every step's LMI ``max F_j <= |dx|^2_{P~_j}`` is
formed densely in the step's original increments and checked positive definite by a
Jacobi-scaled Cholesky factorisation with Rump's (2006) rounding criterion, and
``lambda_max(P~_0)`` is bounded by one more such check. The returned value is that bound.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from numerics import _inputs
from numerics.lipschitz.certificate import NotCertified
from numerics.lipschitz.estimate import LipschitzEstimate
from numerics.lipschitz.fast import _one_cpu_thread
from numerics.lipschitz.network import (
    SlopeNetwork,
    as_network,
    check_device,
    network_from_sequential,
)
from theory import _args

SAMPLERS: tuple[str, ...] = ("euler", "heun", "rk4", "ddim", "ddpm", "decoder")
SAMPLER_METHODS: tuple[str, ...] = ("joint", "product")
Sampler = Literal["euler", "heun", "rk4", "ddim", "ddpm", "decoder"]

MAX_STEPS = 10_000
MAX_WIDTH = 8192
_EPS = 2.0**-53  # unit roundoff of float64
HISTORY = 20
_INFEASIBLE = 1e3  # objective (log scale) at infeasible trial points: the line search backs off


# ------------------------------------------------------------------------------------------
# The unrolled sampler


@dataclass(frozen=True)
class SamplerStage:
    """One evaluation inside a step: ``z = sum_r inputs[r] y_r``, then ``y = f(z)`` (or clip).

    Attributes:
        inputs: coefficients of the interface blocks ``y_0 = x, y_1, ..`` (earlier stages).
        time: the time handed to ``condition`` (flow time, or the diffusion timestep label).
        clip: ``True`` for the elementwise clip of a predicted clean sample (slope ``[0, 1]``).
    """

    inputs: tuple[float, ...]
    time: float = 0.0
    clip: bool = False


@dataclass(frozen=True)
class SamplerStep:
    """``x' = sum_r output[r] y_r + noise * xi`` over the stages' outputs ``y_1..y_S``."""

    stages: tuple[SamplerStage, ...]
    output: tuple[float, ...]
    noise: float = 0.0


@dataclass(frozen=True)
class UnrolledSampler:
    """A sampler as `sampler_lipschitz_upper` sees it: scalar-coefficient steps.

    Attributes:
        name: the sampler ("euler", ..., "decoder").
        steps: the `SamplerStep` s in sampling order.
        clip_range: ``c`` of the clip stages (``clip(z, -c, c)``), or ``None``.
    """

    name: str
    steps: tuple[SamplerStep, ...]
    clip_range: float | None = None

    @property
    def n_noise_blocks(self) -> int:
        """Injected-noise blocks (DDPM): the map's input is ``[x_0, xi_1, .., xi_k]``."""
        return sum(step.noise > 0 for step in self.steps)


def _flow_steps(sampler: str, times: list[float]) -> tuple[SamplerStep, ...]:
    steps = []
    for t, t_next in zip(times[:-1], times[1:], strict=True):
        h = t_next - t
        if sampler == "euler":
            stages = (SamplerStage((1.0,), t),)
            out = (1.0, h)
        elif sampler == "heun":
            stages = (SamplerStage((1.0,), t), SamplerStage((1.0, h), t + h))
            out = (1.0, h / 2, h / 2)
        else:
            stages = (SamplerStage((1.0,), t), SamplerStage((1.0, h / 2), t + h / 2),
                      SamplerStage((1.0, 0.0, h / 2), t + h / 2),
                      SamplerStage((1.0, 0.0, 0.0, h), t + h))
            out = (1.0, h / 6, h / 3, h / 3, h / 6)
        steps.append(SamplerStep(stages, out))
    return tuple(steps)


def _diffusion_steps(sampler: str, pairs: list[tuple[float, float]], labels: list[float],
                     clip: float | None) -> tuple[SamplerStep, ...]:
    """DDIM (eta = 0) or DDPM steps from ``(abar_t, abar_prev)`` pairs, epsilon prediction.

    Predicted clean sample ``x0 = (x - sqrt(1 - abar) eps) / sqrt(abar)``; DDIM
    ``x' = sqrt(abar') x0 + sqrt(1 - abar') eps``; DDPM (diffusers' "fixed_small")
    ``x' = sqrt(abar') beta / (1 - abar) x0 + sqrt(alpha) (1 - abar') / (1 - abar) x + s xi``,
    ``alpha = abar / abar'``, ``beta = 1 - alpha``, ``s^2 = (1 - abar') / (1 - abar) beta``.
    """
    steps = []
    for (ab, ab_prev), label in zip(pairs, labels, strict=True):
        ra, rb = math.sqrt(ab), math.sqrt(1 - ab)
        if sampler == "ddim":
            coef_x0, coef_x, coef_eps = math.sqrt(ab_prev), 0.0, math.sqrt(1 - ab_prev)
            noise = 0.0
        else:
            alpha = ab / ab_prev
            beta = 1 - alpha
            coef_x0 = math.sqrt(ab_prev) * beta / (1 - ab)
            coef_x = math.sqrt(alpha) * (1 - ab_prev) / (1 - ab)
            coef_eps = 0.0
            noise = math.sqrt(max((1 - ab_prev) / (1 - ab) * beta, 0.0))
        eps = SamplerStage((1.0,), label)
        if clip is None:
            # x0 is linear: fold it into the coefficients of x and eps
            out = (coef_x + coef_x0 / ra, coef_eps - coef_x0 * rb / ra)
            steps.append(SamplerStep((eps,), out, noise))
        else:
            x0 = SamplerStage((1 / ra, -rb / ra), label, clip=True)
            steps.append(SamplerStep((eps, x0), (coef_x, coef_eps, coef_x0), noise))
    return tuple(steps)


def _vector(x: Any, name: str, check) -> list[float]:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().double().numpy()
    return [float(v) for v in np.atleast_1d(check(x, name)).reshape(-1)]


def _schedule_from_scheduler(scheduler: Any) -> dict:
    """Read a diffusers ``DDIMScheduler`` / ``DDPMScheduler`` (duck-typed, never imported)."""
    config = getattr(scheduler, "config", None)
    timesteps = getattr(scheduler, "timesteps", None)
    if config is None or timesteps is None or not hasattr(scheduler, "alphas_cumprod"):
        raise TypeError("scheduler must be a diffusers DDIMScheduler or DDPMScheduler (with "
                        "config, timesteps and alphas_cumprod) after set_timesteps(n)")
    if getattr(config, "prediction_type", "epsilon") != "epsilon":
        raise ValueError(f"scheduler.config.prediction_type must be 'epsilon', got "
                         f"{config.prediction_type!r}")
    if getattr(config, "thresholding", False):
        raise ValueError("scheduler.config.thresholding (dynamic thresholding) is not "
                         "supported: its clip range depends on the sample")
    if getattr(config, "variance_type", "fixed_small") not in (None, "fixed_small"):
        raise ValueError(f"scheduler.config.variance_type must be 'fixed_small', got "
                         f"{config.variance_type!r}")
    final = getattr(scheduler, "final_alpha_cumprod", None)
    out = {"alphas_cumprod": torch.as_tensor(scheduler.alphas_cumprod).double().tolist(),
           "timesteps": [int(t) for t in torch.as_tensor(timesteps).tolist()],
           "final_alpha_cumprod": 1.0 if final is None else float(final),
           "clip_sample": (float(config.clip_sample_range) if getattr(config, "clip_sample",
                                                                         False) else None)}
    return out


def unroll_sampler(
    sampler: Sampler = "euler",
    n_steps: int | None = None,
    *,
    t0: float = 0.0,
    t1: float = 1.0,
    times=None,
    alpha_bars=None,
    alphas_cumprod=None,
    timesteps=None,
    final_alpha_cumprod: float = 1.0,
    clip_sample: float | None = None,
    scheduler: Any = None,
) -> UnrolledSampler:
    r"""The steps of a sampler with scalar coefficients (see the module docstring).

    Schedules, by sampler:

    - ``"euler" | "heun" | "rk4"``: the uniform grid ``t0 + (t1 - t0) j / n_steps`` or
      ``times`` (increasing, ``n_steps + 1`` values).
    - ``"ddim" | "ddpm"`` (epsilon prediction; DDIM with ``eta = 0``): either a diffusers
      scheduler after ``set_timesteps`` (``scheduler=``), or its arrays: ``alphas_cumprod``
      (the training schedule, length ``T``), ``timesteps`` (descending labels; default
      ``T - 1, .., 0`` for DDPM and ``n_steps`` leading-spaced ones for DDIM) and
      ``final_alpha_cumprod``; the previous alpha-bar is diffusers'
      ``alphas_cumprod[t - T // n]`` (``final_alpha_cumprod`` below 0). Or
      ``alpha_bars``: the path itself, ``n_steps + 1`` values from noisy to clean (as this
      project's policies hold it). ``clip_sample = c`` clips the predicted clean sample to
      ``[-c, c]`` (diffusers' ``clip_sample_range``).
    - ``"decoder"``: one step ``z -> f(z)`` (a CVAE decoder in ``z``, docs/theory.md L6).

    Returns:
        `UnrolledSampler`.

    Examples:
        >>> s = unroll_sampler("ddim", alphas_cumprod=[0.9, 0.5, 0.1, 0.05], timesteps=[2, 0])
        >>> [round(c, 4) for c in s.steps[0].output]  # sqrt(.9/.1), sqrt(.1) - sqrt(.9 .9/.1)
        [3.0, -2.5298]
        >>> len(unroll_sampler("rk4", 3).steps[0].stages)
        4
    """
    if not isinstance(sampler, str) or sampler not in SAMPLERS:
        raise ValueError(f"sampler must be one of {SAMPLERS}, got {sampler!r}")
    if scheduler is not None:
        if sampler not in ("ddim", "ddpm"):
            raise ValueError(f"scheduler= is for sampler 'ddim' or 'ddpm', got {sampler!r}")
        if any(v is not None for v in (alpha_bars, alphas_cumprod, timesteps, clip_sample)):
            raise ValueError("pass either scheduler= or the schedule arrays, not both")
        return unroll_sampler(sampler, n_steps, **_schedule_from_scheduler(scheduler))
    if n_steps is not None:
        n_steps = _args.integer_at_least(n_steps, "n_steps", 1, MAX_STEPS)
    if sampler == "decoder":
        if n_steps not in (None, 1):
            raise ValueError(f"sampler='decoder' has one step, got n_steps={n_steps}")
        return UnrolledSampler("decoder", (SamplerStep((SamplerStage((1.0,), 0.0),), (0.0, 1.0)),))
    if sampler in ("euler", "heun", "rk4"):
        if times is None:
            if n_steps is None:
                raise ValueError(f"sampler={sampler!r} needs n_steps (or times)")
            t0 = float(_args.finite(t0, "t0"))
            t1 = float(_args.finite(t1, "t1"))
            if not t1 > t0:
                raise ValueError(f"t1 must be greater than t0 (the sampler integrates forward "
                                 f"in time), got t0={t0!r}, t1={t1!r}")
            grid = [t0 + (t1 - t0) * j / n_steps for j in range(n_steps + 1)]
        else:
            grid = _vector(times, "times", _args.finite)
            if len(grid) < 2 or len(grid) > MAX_STEPS + 1 or any(
                    b <= a for a, b in zip(grid[:-1], grid[1:], strict=True)):
                raise ValueError("times must be strictly increasing with 2 to "
                                 f"{MAX_STEPS + 1} values")
            if n_steps is not None and n_steps != len(grid) - 1:
                raise ValueError(f"n_steps={n_steps} but times has {len(grid)} values")
        return UnrolledSampler(sampler, _flow_steps(sampler, grid))
    if clip_sample is not None:
        clip_sample = float(_args.positive(clip_sample, "clip_sample"))
    if alpha_bars is not None:
        if alphas_cumprod is not None:
            raise ValueError("pass either alpha_bars (the sampling path) or alphas_cumprod")
        path = _vector(alpha_bars, "alpha_bars", _args.probability)
        if len(path) < 2 or len(path) > MAX_STEPS + 1 or min(path) <= 0:
            raise ValueError(f"alpha_bars must hold 2 to {MAX_STEPS + 1} values in (0, 1]")
        if n_steps is not None and n_steps != len(path) - 1:
            raise ValueError(f"n_steps={n_steps} but alpha_bars has {len(path)} values")
        pairs = list(zip(path[:-1], path[1:], strict=True))
        labels = (_vector(timesteps, "timesteps", _args.finite)
                  if timesteps is not None else [float(j) for j in range(len(pairs))])
        if len(labels) != len(pairs):
            raise ValueError(f"timesteps must have {len(pairs)} labels, got {len(labels)}")
    else:
        if alphas_cumprod is None:
            raise ValueError(f"sampler={sampler!r} needs a schedule: scheduler=, "
                             "alphas_cumprod= (with timesteps=) or alpha_bars=")
        acp = _vector(alphas_cumprod, "alphas_cumprod", _args.probability)
        if len(acp) < 1 or len(acp) > 10 * MAX_STEPS or min(acp) <= 0:
            raise ValueError("alphas_cumprod must hold values in (0, 1]")
        final = float(_args.probability(final_alpha_cumprod, "final_alpha_cumprod"))
        if final <= 0:
            raise ValueError(f"final_alpha_cumprod must be in (0, 1], got {final}")
        n_train = len(acp)
        if timesteps is None:
            n = n_train if (n_steps is None and sampler == "ddpm") else n_steps
            if n is None:
                raise ValueError("sampler='ddim' needs n_steps or timesteps")
            if n > n_train:
                raise ValueError(f"n_steps must be at most len(alphas_cumprod) = {n_train}")
            stride = n_train // n
            timesteps = [stride * i for i in range(n - 1, -1, -1)]
        labels_int = [int(v) for v in _vector(timesteps, "timesteps", _args.finite)]
        if not labels_int or any(not 0 <= t < n_train for t in labels_int):
            raise ValueError(f"timesteps must be labels in [0, {n_train - 1}]")
        if n_steps is not None and n_steps != len(labels_int):
            raise ValueError(f"n_steps={n_steps} but timesteps has {len(labels_int)} labels")
        stride = n_train // len(labels_int)
        pairs = [(acp[t], acp[t - stride] if t - stride >= 0 else final) for t in labels_int]
        labels = [float(t) for t in labels_int]
    if any(ab_prev < ab for ab, ab_prev in pairs) and sampler == "ddpm":
        raise ValueError("DDPM needs alpha-bars that increase along the sampling path")
    if sampler == "ddpm" and any(ab >= 1.0 for ab, _ in pairs):
        # the ancestral step divides by 1 - abar_t: a noise-free step has no DDPM update
        raise ValueError("DDPM needs every sampled alpha-bar (alphas_cumprod[t] / alpha_bars "
                         "before the last) below 1")
    return UnrolledSampler(sampler, _diffusion_steps(sampler, pairs, labels, clip_sample),
                           clip_sample)


def _as_unrolled(sampler: Sampler | UnrolledSampler, n_steps: int | None,
                schedule: dict) -> UnrolledSampler:
    """The certifiers' sampler argument: an `UnrolledSampler` as given, or `unroll_sampler`
    of a name with its keywords (not both)."""
    if isinstance(sampler, UnrolledSampler):
        if schedule or n_steps is not None:
            raise ValueError("pass the schedule either as an UnrolledSampler or as keywords")
        return sampler
    return unroll_sampler(sampler, n_steps, **schedule)


# ------------------------------------------------------------------------------------------
# The user's network


def _find_sequential(net: nn.Module) -> nn.Sequential:
    if isinstance(net, nn.Sequential):
        return net
    if not isinstance(net, nn.Module):
        raise TypeError(f"net must be a torch.nn.Sequential (or a Module wrapping one), got "
                        f"{type(net).__name__}")
    found = [m for m in net.children() if isinstance(m, nn.Sequential)]
    supported = ("nn.Linear and slope-restricted activations (ReLU, LeakyReLU, ReLU6, ELU, "
                 "Tanh, Hardtanh, Sigmoid, Softplus, SiLU, GELU, Mish, Identity, Dropout)")
    if len(found) != 1:
        raise TypeError(f"net must be an nn.Sequential of {supported}, or a Module wrapping "
                        f"exactly one such Sequential; {type(net).__name__} holds {len(found)}")
    seq = found[0]
    # The certificate is of the Sequential: the wrapper must compute exactly it.
    first = next((m for m in seq.modules() if isinstance(m, nn.Linear)), None)
    if first is not None:
        x = torch.randn(4, first.in_features, generator=torch.Generator().manual_seed(0),
                        dtype=first.weight.dtype, device=first.weight.device)
        try:
            with torch.no_grad():
                same = torch.allclose(net(x), seq(x))
        except Exception:  # noqa: BLE001 -- any failure means "not a plain wrapper"
            same = False
        if not same:
            raise TypeError(f"{type(net).__name__}.forward is not its Sequential applied to "
                            "the input; pass the nn.Sequential itself")
    return seq


def _network(net: nn.Module, state_dim: int) -> tuple[nn.Sequential, SlopeNetwork]:
    seq = _find_sequential(net)
    full = network_from_sequential(seq)
    if state_dim > full.weights[0].shape[1]:
        raise ValueError(f"state_dim={state_dim} exceeds the network's input width "
                         f"{full.weights[0].shape[1]}")
    if max(w.shape[0] for w in full.weights) > MAX_WIDTH:
        raise ValueError(f"layers wider than {MAX_WIDTH} are refused (memory)")
    return seq, network_from_sequential(seq, slice(0, state_dim))


def _sampler_network(net: nn.Module, unrolled: UnrolledSampler, state_dim: int,
                     condition) -> tuple[nn.Sequential, SlopeNetwork]:
    """The Sequential and its `SlopeNetwork` (noise columns), after checking that it maps
    ``[state, condition(t)]`` to a state (or, for a decoder, to any output)."""
    seq, net_slopes = _network(net, state_dim)
    in_width = network_from_sequential(seq).weights[0].shape[1]
    if condition is None:
        cond_width = 0
    else:
        times = [st.time for step in unrolled.steps[:1] for st in step.stages if not st.clip]
        c = condition(times[0]) if callable(condition) else condition
        c = torch.as_tensor(c)
        if c.ndim not in (1, 2):
            raise ValueError(f"condition(t) must return a tensor of shape (k,), (1, k) or "
                             f"(n, k), got {tuple(c.shape)}")
        # the width only: sampler_map's condition may return one row per sample
        cond_width = c.shape[-1]
    if in_width != state_dim + cond_width:
        raise ValueError(f"net takes {in_width} inputs but state_dim + condition width = "
                         f"{state_dim} + {cond_width}: the input must be [state, condition(t)]")
    d_out = net_slopes.weights[-1].shape[0]
    if unrolled.name != "decoder" and d_out != state_dim:
        raise ValueError(f"a {unrolled.name} sampler needs as many outputs as state inputs: "
                         f"net outputs {d_out}, state_dim {state_dim}")
    return seq, net_slopes


def _condition_tensor(condition, t: float, n: int, like: torch.Tensor) -> torch.Tensor | None:
    if condition is None:
        return None
    c = condition(t) if callable(condition) else condition
    c = torch.as_tensor(c, dtype=like.dtype, device=like.device)
    if c.ndim == 1 or (c.ndim == 2 and c.shape[0] == 1):
        c = c.reshape(1, -1).expand(n, -1)
    if c.ndim != 2 or c.shape[0] != n:
        raise ValueError(f"condition(t) must return a tensor of shape (k,), (1, k) or (n, k) "
                         f"for n = {n} samples, got {tuple(c.shape)}")
    return c


def sampler_map(
    net: nn.Module,
    sampler: Sampler | UnrolledSampler = "euler",
    n_steps: int | None = None,
    *,
    state_dim: int,
    condition: Callable[[float], torch.Tensor] | torch.Tensor | None = None,
    **schedule,
) -> Callable[[torch.Tensor], torch.Tensor]:
    r"""The sampler as a batched torch map ``noise (n, d_in) -> sample (n, d_out)``.

    The same unrolled steps `sampler_lipschitz_upper` certifies: ``f(z) = net([z,
    condition(t)])`` at each stage. For DDPM the input is ``[x_0, xi_1, .., xi_k]``
    (``k`` = `UnrolledSampler.n_noise_blocks`), each block ``state_dim`` wide.

    Examples:
        >>> net = nn.Sequential(nn.Linear(1, 1, bias=False))
        >>> _ = net[0].weight.data.fill_(1.0)
        >>> f = sampler_map(net, "euler", 2, state_dim=1)
        >>> f(torch.ones(1, 1)).item()  # (1 + 1/2)^2
        2.25
    """
    unrolled = sampler if isinstance(sampler, UnrolledSampler) else unroll_sampler(
        sampler, n_steps, **schedule)
    state_dim = _args.integer_at_least(state_dim, "state_dim", 1, MAX_WIDTH)
    # the same networks as the bounds take: finite weights, supported layers, matching widths
    seq, _ = _sampler_network(net, unrolled, state_dim, condition)
    clip = unrolled.clip_range

    def run(noise: torch.Tensor) -> torch.Tensor:
        if noise.ndim != 2:
            raise ValueError(f"noise must have shape (n, d), got {tuple(noise.shape)}")
        blocks = list(noise.split(state_dim, dim=1))
        x = blocks[0]
        extra = iter(blocks[1:])
        for step in unrolled.steps:
            ys = [x]
            for stage in step.stages:
                z = sum(c * y for c, y in zip(stage.inputs, ys, strict=False) if c != 0)
                if stage.clip:
                    ys.append(z.clamp(-clip, clip))
                    continue
                cond = _condition_tensor(condition, stage.time, z.shape[0], z)
                ys.append(seq(z if cond is None else torch.cat([z, cond], 1)))
            x = sum(o * y for o, y in zip(step.output, ys, strict=True) if o != 0)
            if step.noise > 0:
                x = x + step.noise * next(extra)
        return x

    return run


# ------------------------------------------------------------------------------------------
# The step recursion (shared by the optimiser and the float64 check)


def _gamma(n: int) -> float:
    return n * _EPS / (1 - n * _EPS)


def _solve(chol: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return torch.linalg.solve_triangular(chol, x, upper=False)


def _cholesky(s: torch.Tensor) -> torch.Tensor | None:
    chol, info = torch.linalg.cholesky_ex(s)
    return None if int(info) != 0 else chol


def _eliminate_network(q: torch.Tensor, m_prev: int, w0: torch.Tensor, net: SlopeNetwork,
                       mults) -> torch.Tensor | None:
    """``max`` over one stage's hidden increments of the form ``[y; k]^T q [y; k]`` plus the
    stage's weighted sector terms, with ``k = W_l dw_l`` and first pre-activation ``w0 y``.

    The hidden block is block-tridiagonal; it is eliminated from the output layer back (the
    LDL recursion of `numerics.lipschitz.certificate`), carrying the coupling ``g`` of the
    current layer to ``y``. Returns the form over ``y`` (``m_prev`` square) or ``None``
    when a pivot is not positive definite (the maximum is then infinite).
    """
    q_yy, q_ky, q_kk = q[:m_prev, :m_prev], q[m_prev:, :m_prev], q[m_prev:, m_prev:]
    w = net.weights
    depth = net.depth
    if depth == 0:  # k = w0 y exactly
        cross = w0.T @ q_ky
        return q_yy + cross + cross.T + w0.T @ q_kk @ w0
    top = w[depth]
    s = 2 * torch.diag(mults[depth - 1]) - top.T @ q_kk @ top
    g = top.T @ q_ky
    for k in range(depth, 0, -1):  # hidden layer k (1-based); its multipliers are mults[k-1]
        a, b = net.slopes[k - 1]
        t = mults[k - 1]
        if k == 1:
            g = g + (a + b) * (t[:, None] * w0)
        chol = _cholesky(s)
        if chol is None:
            return None
        h = _solve(chol, g)
        q_yy = q_yy + h.T @ h
        if k > 1:
            wk = w[k - 1]
            tw = t[:, None] * wk
            e = _solve(chol, (a + b) * tw)
            s = 2 * torch.diag(mults[k - 2]) - e.T @ e
            if a * b != 0:
                s = s + 2 * a * b * (wk.T @ tw)
            g = e.T @ h
        elif a * b != 0:
            q_yy = q_yy - 2 * a * b * (w0.T @ (t[:, None] * w0))
    return (q_yy + q_yy.T) / 2


def _block_matrix(coeffs, dims, rows: int, dtype, device) -> torch.Tensor:
    """``[c_0 I, c_1 I, ..]`` restricted to the blocks with nonzero coefficients (dims must
    then equal ``rows``); zero columns elsewhere."""
    cols = []
    for c, dim in zip(coeffs, dims, strict=False):
        if c != 0:
            cols.append(c * torch.eye(rows, dim, dtype=dtype, device=device))
        else:
            cols.append(torch.zeros(rows, dim, dtype=dtype, device=device))
    return torch.cat(cols, dim=1)


def _step_matrix(step: SamplerStep, p_next: torch.Tensor, mults, nets: dict, d_in: int,
                 rho: torch.Tensor | float | None) -> torch.Tensor | None:
    """``R_j(P', T_j)``: the matrix of ``max_{dw, xi} F_j`` over the state increment, or
    ``None`` if the multipliers leave the hidden Hessian not negative definite."""
    dtype, device = p_next.dtype, p_next.device
    d_out = p_next.shape[0]
    p_eff = p_next
    if step.noise > 0:  # eliminate xi first: the pivot rho I - s^2 P' must be > 0
        chol = _cholesky(rho * torch.eye(d_out, dtype=dtype, device=device)
                         - step.noise**2 * p_next)
        if chol is None:
            return None
        h = _solve(chol, step.noise * p_next)
        p_eff = p_next + h.T @ h
    dims = [d_in] + [d_out] * len(step.stages)
    out_map = _block_matrix(step.output, dims, d_out, dtype, device)
    q = out_map.T @ p_eff @ out_map
    for s in range(len(step.stages), 0, -1):
        stage = step.stages[s - 1]
        net = nets["clip"] if stage.clip else nets["net"]
        m_prev = sum(dims[:s])
        in_map = _block_matrix(stage.inputs, dims[:s], net.weights[0].shape[1], dtype, device)
        q = _eliminate_network(q[:m_prev + dims[s], :m_prev + dims[s]], m_prev,
                               net.weights[0] @ in_map, net, mults[s - 1])
        if q is None:
            return None
    return q


# ------------------------------------------------------------------------------------------
# Float64 check of a chain of step inequalities


MAX_DENSE = 4096  # rows of one step's LMI that the float64 check forms densely


def _step_lmi(step: SamplerStep, p_next: torch.Tensor, p_here: torch.Tensor, mults,
              nets: dict, d_in: int, rho: float | None) -> tuple[torch.Tensor, torch.Tensor, int]:
    """The step's LMI matrix ``X = diag(P~_j, 0..) - F_j`` in the original increments
    ``[dx, xi, every hidden increment]`` (float64), built from its definition, with
    ``X_abs`` (the same products in absolute values: a bound on the formation error's
    magnitude) and the longest inner dimension of those products."""
    f64 = torch.float64
    d_out = p_next.shape[0]
    noisy = step.noise > 0
    hidden = [(nets["clip"] if st.clip else nets["net"]) for st in step.stages]
    total = d_in + (d_out if noisy else 0) + sum(sum(w.shape[0] for w in n.weights[:-1])
                                                 for n in hidden)
    if total > MAX_DENSE:
        raise NotCertified(f"a step's LMI has {total} rows (> {MAX_DENSE}): too large for the "
                           "dense float64 check; use method='product'")
    x0 = torch.zeros(d_in, total, dtype=f64)
    x0[:, :d_in] = torch.eye(d_in, dtype=f64)
    ys, ys_abs = [x0], [x0]
    offset = d_in + (d_out if noisy else 0)
    form = torch.zeros(total, total, dtype=f64)
    form_abs = torch.zeros(total, total, dtype=f64)
    inner = 1
    for st, net, t_stage in zip(step.stages, hidden, mults, strict=True):
        z = sum(c * y for c, y in zip(st.inputs, ys, strict=False) if c != 0)
        z_abs = sum(abs(c) * y for c, y in zip(st.inputs, ys_abs, strict=False) if c != 0)
        u, u_abs = net.weights[0] @ z, net.weights[0].abs() @ z_abs
        inner = max(inner, net.weights[0].shape[1] + len(st.inputs))
        for k, (a, b) in enumerate(net.slopes):
            n = net.weights[k].shape[0]
            w = torch.zeros(n, total, dtype=f64)
            w[:, offset:offset + n] = torch.eye(n, dtype=f64)
            offset += n
            t = t_stage[k]
            left, right = w - a * u, b * u - w
            form = form + 2 * (left.T * t) @ right
            form_abs = form_abs + 2 * ((w + abs(a) * u_abs).T * t) @ (abs(b) * u_abs + w)
            u, u_abs = net.weights[k + 1] @ w, net.weights[k + 1].abs() @ w
            inner = max(inner, n)
        ys.append(u)
        ys_abs.append(u_abs)
    out = sum(o * y for o, y in zip(step.output, ys, strict=True) if o != 0)
    out_abs = sum(abs(o) * y for o, y in zip(step.output, ys_abs, strict=True) if o != 0)
    if noisy:
        xi = torch.zeros(d_out, total, dtype=f64)
        xi[:, d_in:d_in + d_out] = torch.eye(d_out, dtype=f64)
        out, out_abs = out + step.noise * xi, out_abs + step.noise * xi
        form = form - rho * (xi.T @ xi)
        form_abs = form_abs + rho * (xi.T @ xi)
    form = form + out.T @ p_next @ out
    form_abs = form_abs + out_abs.T @ p_next.abs() @ out_abs
    lmi = x0.T @ p_here @ x0 - form
    lmi_abs = x0.T @ p_here.abs() @ x0 + form_abs
    return (lmi + lmi.T) / 2, lmi_abs, inner + total


def _is_positive_definite(x: torch.Tensor, x_abs: torch.Tensor, inner: int) -> bool:
    """Rigorous (up to the floating-point model) check that ``X`` is positive definite,
    where the computed ``X`` may differ from the exact one by ``gamma_inner X_abs``
    entrywise. Jacobi scaling by powers of two (exact) ``X~ = D X D``; then Cholesky of
    ``X~ - tau I`` and Rump's criterion (BIT 46, 2006): a completed floating-point Cholesky
    ``R`` gives ``X~ - tau I + E = R^T R``, ``|E| <= gamma_{n+1} |R^T||R|``, so
    ``X~ >= (tau - gamma_{n+1} ||R||_F^2 - ||formation||) I``, which must be ``> 0``."""
    n = x.shape[0]
    diag = torch.diagonal(x)
    if not bool(torch.all(diag > 0)):
        return False
    d = torch.exp2(-torch.round(torch.log2(diag) / 2))
    xs = d[:, None] * x * d[None, :]
    formation = _gamma(4 * inner) * float(torch.linalg.matrix_norm(
        d[:, None] * x_abs * d[None, :]))
    tau = 2 * (formation + _gamma(n + 1) * 4 * float(torch.diagonal(xs).sum()))
    for _ in range(3):
        chol, info = torch.linalg.cholesky_ex(xs - tau * torch.eye(n, dtype=x.dtype))
        if int(info) != 0:
            return False
        needed = _gamma(n + 1) * float((chol * chol).sum()) + formation
        if needed < tau:
            return True
        tau = 2 * needed
    return False


def _chain_networks(nets: Any) -> dict:
    if not isinstance(nets, dict) or not {"net", "clip"} <= set(nets):
        raise TypeError("nets must be a dict {'net': SlopeNetwork, 'clip': SlopeNetwork}, got "
                        f"{sorted(nets) if isinstance(nets, dict) else type(nets).__name__}")
    checked = {k: as_network(nets[k], f"nets[{k!r}]") for k in ("net", "clip")}
    return {k: v.to(dtype=torch.float64) for k, v in checked.items()}


def _check_widths(unrolled: UnrolledSampler, nets: dict, d_in: int) -> None:
    """Every block a step combines must have the width of what it enters (a mismatch would
    pair blocks through a rectangular identity: a wrong matrix, not an error)."""
    d_out = nets["net"].weights[-1].shape[0]
    for j, step in enumerate(unrolled.steps):
        dims = [d_in] + [d_out] * len(step.stages)
        for s, stage in enumerate(step.stages):
            width = nets["clip" if stage.clip else "net"].weights[0].shape[1]
            for c, dim in zip(stage.inputs, dims, strict=False):
                if c != 0 and dim != width:
                    raise ValueError(f"d_in={d_in} does not fit step {j}, stage {s}: its "
                                     f"input has width {dim} but the network takes {width}")
        for o, dim in zip(step.output, dims, strict=True):
            if o != 0 and dim != d_out:
                raise ValueError(f"d_in={d_in} does not fit step {j}: it adds a block of "
                                 f"width {dim} to the network's output (width {d_out})")


def _chain_multipliers(mults: Any, unrolled: UnrolledSampler, nets: dict) -> list:
    """``mults[j][s][k]`` as float64 CPU tensors of the shapes the steps need."""
    def sequence(x, name, n):
        if not isinstance(x, (list, tuple)) or len(x) != n:
            raise ValueError(f"{name} must hold {n} entries, got "
                             f"{_inputs.describe_sequence(x)}")
        return x

    out = []
    for j, step in enumerate(sequence(mults, "mults (one entry per step)",
                                      len(unrolled.steps))):
        stages = []
        for s, layer in enumerate(sequence(step, f"mults[{j}]", len(unrolled.steps[j].stages))):
            net = nets["clip" if unrolled.steps[j].stages[s].clip else "net"]
            tensors = []
            for k, t in enumerate(sequence(layer, f"mults[{j}][{s}]", net.depth)):
                name = f"mults[{j}][{s}][{k}]"
                t = _inputs.real_tensor(t, name, finite=False).detach().cpu()
                if t.shape != (net.weights[k].shape[0],):
                    raise ValueError(f"{name} must have shape ({net.weights[k].shape[0]},), "
                                     f"got {tuple(t.shape)}")
                tensors.append(t)
            stages.append(tensors)
        out.append(stages)
    return out


def _certified_step(step: SamplerStep, j: int, p: torch.Tensor, mults, nets: dict, d_in: int,
                    rho: float | None, margin: float) -> tuple[torch.Tensor, list, float, float]:
    """One step of `certify_chain`: ``(P~_j, the multipliers used, lambda_max(P~_j), the
    relative margin used)`` from ``P~_{j+1} = p``, or `NotCertified`. Deterministic, so the
    greedy start (which optimises each step against the ``P~`` it returns) and the chain's
    own check see the same matrices."""
    # Optimised multipliers sit on the boundary of feasibility; scaling one step's
    # multipliers up by 1 + eps only makes its pivots more definite (every scaling is valid).
    for grow in (0.0, 1e-6, 1e-4, 1e-2):
        step_mults = [[(1 + grow) * t for t in stage] for stage in mults]
        value = _step_matrix(step, p, step_mults, nets, d_in, rho)
        if value is not None:
            break
    else:
        raise NotCertified(f"step {j}: a pivot of the hidden block is not positive "
                           "definite for these multipliers")
    value = (value + value.T) / 2
    top = float(torch.linalg.eigvalsh(value)[-1])
    for attempt in range(5):
        rel = margin * 10.0**attempt
        delta = rel * max(abs(top), float(torch.linalg.matrix_norm(value, 2)), 1e-300)
        p_here = value + delta * torch.eye(value.shape[0], dtype=torch.float64)
        lmi, lmi_abs, inner = _step_lmi(step, p, p_here, step_mults, nets, d_in, rho)
        if _is_positive_definite(lmi, lmi_abs, inner):
            return p_here, step_mults, top + delta, rel
    raise NotCertified(f"step {j}: the step inequality could not be verified in "
                       f"float64 (relative margin up to {rel:.0e})")


def certify_chain(unrolled: UnrolledSampler, nets: dict, d_in: int, mults,
                  rho: float | None = None, margin: float = 1e-9) -> tuple[float, dict]:
    """Certified ``L`` from multipliers of every step, or `NotCertified`.

    Builds ``P~_N = I`` and ``P~_j = R_j(P~_{j+1}) + delta_j I`` backwards (``delta_j`` a
    relative ``margin``, raised tenfold up to four times when a check fails) and checks
    that each step's LMI (`_step_lmi`: the whole step, formed densely in float64 in the
    original increments) is positive definite by `_is_positive_definite`; then bounds
    ``lambda_max(P~_0)`` by one more checked Cholesky.

    Args:
        unrolled: the sampler; nets: ``{"net": SlopeNetwork, "clip": SlopeNetwork}``;
        d_in: state (or latent) width; mults: ``mults[j][s][k]``, diagonal multipliers of
        step ``j``, stage ``s``, hidden layer ``k``; rho: the noise weight (DDPM);
        margin: the starting relative margin.

    Returns:
        ``(L, details)`` with the per-step ``lambda_max(P~_j)`` (``lambda_max_P``) and the
        largest margin used.

    Examples:
        >>> eye = torch.eye(1, dtype=torch.float64)
        >>> nets = {"net": SlopeNetwork((eye, eye), ((0.0, 1.0),)), "clip": _clip_network(1)}
        >>> value, _ = certify_chain(unroll_sampler("euler", 2), nets, 1,
        ...                          [[[torch.full((1,), 2.0)]]] * 2)
        >>> round(value, 4)  # sqrt(6) for these multipliers; x -> x + relu(x)/2 twice: 2.25
        2.4495
    """
    f64 = torch.float64
    _inputs.instance(unrolled, "unrolled", UnrolledSampler, "an UnrolledSampler (from "
                     "unroll_sampler)")
    nets = _chain_networks(nets)
    d_in = _args.integer_at_least(d_in, "d_in", 1)
    _check_widths(unrolled, nets, d_in)
    if rho is not None:
        rho = _inputs.real_scalar(rho, "rho", _args.nonnegative)
    margin = _inputs.real_scalar(margin, "margin", _args.positive)
    mults = _chain_multipliers(mults, unrolled, nets)
    for step in mults:
        for stage in step:
            for t in stage:
                if not bool(torch.all(torch.isfinite(t) & (t >= 0))):
                    raise NotCertified("multipliers must be finite and >= 0")
    d_out = nets["net"].weights[-1].shape[0]
    p = torch.eye(d_out, dtype=f64)
    lam = [1.0]
    used = margin
    for j in range(len(unrolled.steps) - 1, -1, -1):
        p, mults[j], top_delta, rel = _certified_step(unrolled.steps[j], j, p, mults[j],
                                                      nets, d_in, rho, margin)
        used = max(used, rel)
        lam.append(top_delta)
    return _chain_value(p, lam, used, rho)


def _chain_value(p: torch.Tensor, lam: list[float], used: float, rho: float | None
                 ) -> tuple[float, dict]:
    """`certify_chain`'s result from the checked ``P~_0 = p``: ``sqrt(max(lambda_max(P~_0),
    rho))`` with ``lambda_max`` bounded by a checked Cholesky of ``bound I - P~_0``;
    ``lam`` the ``lambda_max(P~_j)`` from ``j = N`` down, ``used`` the largest margin."""
    eig = torch.linalg.eigvalsh(p)
    eye = torch.eye(p.shape[0], dtype=torch.float64)
    bound = float(eig[-1]) * (1 + 1e-12) + 1e-300
    for _ in range(60):
        gap = bound * eye - p
        if _is_positive_definite(gap, bound * eye + p.abs(), p.shape[0] + 1):
            break
        bound = bound * (1 + 1e-9) + 1e-300
    else:
        raise NotCertified("could not bound lambda_max(P_0)")
    value = math.nextafter(math.sqrt(max(bound, rho or 0.0)), math.inf)
    return value, {"lambda_max_P": lam[::-1], "margin": used, "rho_noise": rho}


# ------------------------------------------------------------------------------------------
# Product of per-step bounds (T6, for comparison)


def product_bound(unrolled: UnrolledSampler, net_lipschitz: float) -> tuple[float, list[float]]:
    """``prod_j c_j`` with ``c_j`` the step's Lipschitz bound from the network's constant
    ``l``: stage ``s`` is ``l * sum_r |c_sr| L_r``-Lipschitz (``L_0 = 1``; a clip is
    1-Lipschitz) and the step ``sum_r |o_r| L_r``; with injected noise the joint constant
    is ``sqrt(c_j^2 L^2 + s^2)`` (the noise blocks are disjoint coordinates).

    Examples:
        >>> round(product_bound(unroll_sampler("euler", 4), 1.0)[0], 12)  # (1 + 1/4)^4
        2.44140625
    """
    _inputs.instance(unrolled, "unrolled", UnrolledSampler, "an UnrolledSampler (from "
                     "unroll_sampler)")
    net_lipschitz = _inputs.real_scalar(net_lipschitz, "net_lipschitz", _args.nonnegative_or_inf)
    value = 1.0
    factors = []
    for step in unrolled.steps:
        lips = [1.0]
        for stage in step.stages:
            # zero coefficients are skipped, not multiplied: 0 * inf would be NaN
            into = sum(abs(c) * lip for c, lip in zip(stage.inputs, lips, strict=False) if c)
            lips.append(into if stage.clip else net_lipschitz * into)
        c = sum(abs(o) * lip for o, lip in zip(step.output, lips, strict=True) if o)
        factors.append(c)
        value = math.hypot(c * value, step.noise)
    # each factor and the product carry a few roundings: round the bound up past them
    return value * (1 + 16 * (len(factors) + 1) * 2.0**-52), factors


# ------------------------------------------------------------------------------------------
# Multipliers: start and optimisation


def _clip_network(d: int) -> SlopeNetwork:
    eye = torch.eye(d, dtype=torch.float64)
    return SlopeNetwork((eye, eye), ((0.0, 1.0),))


def _base_multipliers(nets: dict, net_mults: list[torch.Tensor]) -> dict:
    d = nets["net"].weights[-1].shape[0]
    return {"net": [m.to(torch.float64) for m in net_mults],
            "clip": [torch.ones(d, dtype=torch.float64)]}


def _scaled(step: SamplerStep, base: dict, scales: list[float]) -> list[list[torch.Tensor]]:
    return [[c * t for t in base["clip" if st.clip else "net"]]
            for st, c in zip(step.stages, scales, strict=True)]


def _golden_minimum(f, lo: float, hi: float, iterations: int) -> tuple[float, float]:
    """``(f(x), x)`` at the best point golden-section search finds in ``[lo, hi]``."""
    phi = (math.sqrt(5) - 1) / 2
    a, b = hi - phi * (hi - lo), lo + phi * (hi - lo)
    fa, fb = f(a), f(b)
    for _ in range(iterations):
        if fa <= fb:
            hi, b, fb = b, a, fa
            a = hi - phi * (hi - lo)
            fa = f(a)
        else:
            lo, a, fa = a, b, fb
            b = lo + phi * (hi - lo)
            fb = f(b)
    return min((fa, a), (fb, b))


# The greedy start's scalar search: a grid in log2 c (wide: +-24 octaves in steps of 2;
# near the previous step's optimum: +-4 octaves in steps of 1, the wide grid again when
# the minimum lands on its edge), then golden section on the bracket. Consecutive steps
# of a sampler have nearly the same optimal scaling relative to lambda_max(P), so the
# narrow grid almost always suffices; 12 golden steps leave log c within 1% of the
# bracket's optimum, far below what the joint optimisation then moves.
_WIDE_GRID = tuple(range(-24, 25, 2))
_NARROW_GRID = tuple(range(-4, 5))
_GOLDEN_STEPS = 12


def _greedy_start(unrolled, nets, d_in, base, rho, deadline, refine_iter=0,
                  margin: float = 1e-9) -> tuple[list, float, dict]:
    """Backwards, per step: stage multipliers ``c_s T_net`` with the scalars ``c_s``
    minimising ``lambda_max(P_j)`` given ``P_{j+1}`` (a grid in ``log c`` then golden
    section; two sweeps over the stages of multi-stage steps), then (``refine_iter > 0``)
    every multiplier of the step by L-BFGS on the same objective. The scalar search
    contains the per-step Young-inequality point of the product bound, so the start is
    at or below the product (up to the grid). Each step is checked as it is chosen
    (`_certified_step`, the check of `certify_chain`), so the start comes back certified:
    ``(multipliers, value, details)`` as `certify_chain` would return for them."""
    d_out = nets["net"].weights[-1].shape[0]
    p = torch.eye(d_out, dtype=torch.float64)
    out = [None] * len(unrolled.steps)
    lam, used = [1.0], margin
    previous: list[float] | None = None   # log(c_s / scale0) of the step after this one
    log2 = math.log(2.0)
    for j in range(len(unrolled.steps) - 1, -1, -1):
        step = unrolled.steps[j]
        scale0 = float(torch.linalg.eigvalsh(p)[-1]) * max(1e-300, sum(o * o for o in step.output))
        same_shape = previous is not None and len(previous) == len(step.stages)
        scales = ([scale0 * math.exp(r) for r in previous] if same_shape
                  else [scale0] * len(step.stages))

        def value(sc, step=step, p=p):
            r = _step_matrix(step, p, _scaled(step, base, sc), nets, d_in, rho)
            return math.inf if r is None else float(torch.linalg.eigvalsh(r)[-1])

        for sweep in range(2 if len(step.stages) > 1 else 1):
            for s in range(len(step.stages)):
                def along(logc, s=s, sc=scales):
                    trial = list(sc)
                    trial[s] = math.exp(logc)
                    return value(trial)
                centre = math.log(scales[s])
                narrow = not sweep and same_shape
                grid = ([centre + k * 0.25 for k in range(-4, 5)] if sweep else
                        [centre + k * log2 for k in (_NARROW_GRID if narrow else _WIDE_GRID)])
                vals = [along(g) for g in grid]
                i = min(range(len(vals)), key=vals.__getitem__)
                if narrow and (i in (0, len(vals) - 1) or not math.isfinite(vals[i])):
                    grid = [math.log(scale0) + k * log2 for k in _WIDE_GRID]
                    vals = [along(g) for g in grid]
                    i = min(range(len(vals)), key=vals.__getitem__)
                if not math.isfinite(vals[i]):
                    raise NotCertified(f"step {j}: no feasible scaling of the network's "
                                       "multipliers found")
                lo, hi = grid[max(i - 1, 0)], grid[min(i + 1, len(grid) - 1)]
                best = min((vals[i], grid[i]), _golden_minimum(along, lo, hi, _GOLDEN_STEPS))
                scales[s] = math.exp(best[1])
            if deadline is not None and time.perf_counter() > deadline:
                break
        previous = [math.log(c / scale0) for c in scales]
        out[j] = _scaled(step, base, scales)
        refined = bool(refine_iter) and (deadline is None or time.perf_counter() < deadline)
        if refined:
            out[j] = _refine_step(step, p, out[j], nets, d_in, rho, refine_iter, deadline)
        # Continue from the P~_j the check will use, not from R_j itself: a refined step's
        # multipliers sit near the boundary of feasibility, where R_j amplifies small
        # changes of P_{j+1}; the check's margins (relative 1e-6 on a trained 2x256
        # velocity) then grew into a 19% larger P~_1 after nine steps, for which step 0's
        # pivot was indefinite and the joint certificate was lost.
        try:
            p_next, out[j], top, rel = _certified_step(step, j, p, out[j], nets, d_in, rho,
                                                       margin)
        except NotCertified:
            if not refined:
                raise
            out[j] = _scaled(step, base, scales)  # the unrefined scalings, then check again
            p_next, out[j], top, rel = _certified_step(step, j, p, out[j], nets, d_in, rho,
                                                       margin)
        p = p_next
        lam.append(top)
        used = max(used, rel)
    return (out, *_chain_value(p, lam, used, rho))


def _refine_step(step, p, mults, nets, d_in, rho, max_iter, deadline):
    """L-BFGS on ``log T`` of one step for a smoothed ``log lambda_max(R_j(P_{j+1}, T))``;
    returns the best multipliers evaluated (a start for the joint optimisation)."""
    theta = [torch.log(t.clamp_min(1e-300)).requires_grad_(True) for st in mults for t in st]
    if not theta:
        return mults
    shape = [len(st) for st in mults]
    best = {"loss": math.inf, "theta": [t.detach().clone() for t in theta]}

    def unflatten(values):
        it = iter(values)
        return [[torch.exp(next(it)) for _ in range(n)] for n in shape]

    def closure():
        if deadline is not None and time.perf_counter() > deadline:
            raise _OutOfTime
        for t in theta:
            t.grad = None
        r = _step_matrix(step, p, unflatten(theta), nets, d_in, rho)
        if r is None:
            for t in theta:
                t.grad = torch.zeros_like(t)
            return torch.tensor(_INFEASIBLE, dtype=p.dtype)
        logs = torch.log(torch.linalg.eigvalsh(r).clamp_min(torch.finfo(p.dtype).tiny))
        loss = 1e-2 * torch.logsumexp(logs / 1e-2, dim=0)
        if float(loss.detach()) < best["loss"]:
            best.update(loss=float(loss.detach()), theta=[t.detach().clone() for t in theta])
        loss.backward()
        return loss

    optimizer = torch.optim.LBFGS(theta, lr=1, max_iter=max_iter, history_size=HISTORY,
                                  tolerance_grad=1e-10, tolerance_change=1e-7,
                                  line_search_fn="strong_wolfe")
    try:
        optimizer.step(closure)
    except _OutOfTime:
        pass
    return unflatten(best["theta"])


class _OutOfTime(Exception):
    pass


def _optimise(unrolled, nets, d_in, start, rho0, *, device, dtype, smoothing, max_iter,
              tolerance, deadline, on_stage):
    """L-BFGS on ``s log sum_i lambda_i(P_0)^{1/s}`` (a smoothed ``log lambda_max``; with
    injected noise ``rho`` joins the eigenvalues) over ``log T`` (and ``log rho``)."""
    wnets = {k: v.to(device=device, dtype=dtype) for k, v in nets.items()}
    theta = [[[torch.log(t.clamp_min(1e-300)).to(device=device, dtype=dtype).requires_grad_(True)
               for t in stage] for stage in step] for step in start]
    flat = [t for step in theta for stage in step for t in stage]
    log_rho = None
    if rho0 is not None:
        log_rho = torch.tensor(math.log(rho0), dtype=dtype, device=device, requires_grad=True)
        flat.append(log_rho)
    d_out = nets["net"].weights[-1].shape[0]
    evaluations = 0
    if not flat:  # linear network, no clip: the start is the exact recursion
        return evaluations

    def objective(temperature):
        rho = None if log_rho is None else torch.exp(log_rho)
        p = torch.eye(d_out, dtype=dtype, device=device)
        for j in range(len(unrolled.steps) - 1, -1, -1):
            mults = [[torch.exp(t) for t in stage] for stage in theta[j]]
            p = _step_matrix(unrolled.steps[j], p, mults, wnets, d_in, rho)
            if p is None:
                return None
        eig = torch.linalg.eigvalsh(p).clamp_min(torch.finfo(dtype).tiny)
        logs = torch.log(eig)
        if log_rho is not None:
            logs = torch.cat([logs, log_rho[None]])
        return temperature * torch.logsumexp(logs / temperature, dim=0)

    for stage, temperature in enumerate(smoothing):
        now = time.perf_counter()
        if deadline is not None and now > deadline:
            break
        # each smoothing stage gets an equal share of the time that is left
        stage_end = None if deadline is None else now + (deadline - now) / (
            len(smoothing) - stage)
        optimizer = torch.optim.LBFGS(flat, lr=1, max_iter=max_iter, history_size=HISTORY,
                                      tolerance_grad=1e-10, tolerance_change=tolerance,
                                      line_search_fn="strong_wolfe")

        seen = {"loss": math.inf, "theta": None}

        def closure(temperature=temperature, seen=seen, stage_end=stage_end):
            nonlocal evaluations
            if stage_end is not None and time.perf_counter() > stage_end:
                raise _OutOfTime
            evaluations += 1
            for x in flat:
                x.grad = None
            loss = objective(temperature)
            if loss is None or not torch.isfinite(loss):
                for x in flat:
                    x.grad = torch.zeros_like(x)
                return torch.tensor(_INFEASIBLE, dtype=dtype, device=device)
            if float(loss.detach()) < seen["loss"]:  # a line search stops anywhere: keep the best
                seen["loss"] = float(loss.detach())
                seen["theta"] = [x.detach().clone() for x in flat]
            loss.backward()
            return loss

        try:
            optimizer.step(closure)
        except _OutOfTime:
            pass
        if seen["theta"] is not None:
            with torch.no_grad():
                for x, v in zip(flat, seen["theta"], strict=True):
                    x.copy_(v)
        mults = [[[torch.exp(t.detach()).to("cpu", torch.float64) for t in stage]
                  for stage in step] for step in theta]
        rho = None if log_rho is None else math.exp(float(log_rho.detach()))
        restart = on_stage(mults, rho)
        if restart is not None:  # continue from the best certified point
            with torch.no_grad():
                for step_t, step_m in zip(theta, restart[0], strict=True):
                    for stage_t, stage_m in zip(step_t, step_m, strict=True):
                        for t, m in zip(stage_t, stage_m, strict=True):
                            t.copy_(torch.log(m.clamp_min(1e-300)).to(device=device, dtype=dtype))
                if log_rho is not None and restart[1] is not None:
                    log_rho.fill_(math.log(restart[1]))
    return evaluations


# ------------------------------------------------------------------------------------------
# Public entry point


def sampler_lipschitz_upper(
    net: nn.Module,
    sampler: Sampler | UnrolledSampler = "euler",
    n_steps: int | None = None,
    *,
    state_dim: int,
    condition: Callable[[float], torch.Tensor] | torch.Tensor | None = None,
    method: Literal["joint", "product"] = "joint",
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float64,
    max_iter: int = 1000,
    max_seconds: float | None = 300.0,
    tolerance: float = 1e-5,
    smoothing: tuple[float, ...] = (1e-2, 1e-3, 1e-4),
    margin: float = 1e-9,
    refine_iter: int = 60,
    **schedule,
) -> LipschitzEstimate:
    r"""Certified upper bound on the Lipschitz constant of a whole sampler's noise-to-sample map.

    .. math:: |S(\epsilon) - S(\epsilon')|_2 \le L\, |\epsilon - \epsilon'|_2
              \quad\text{for all } \epsilon, \epsilon' \text{ and every conditioning},

    where ``S`` runs the sampler (`unroll_sampler`, `sampler_map`) with
    ``f(z) = net([z, condition(t)])``; for DDPM ``epsilon`` is all the noise, initial and
    injected (docs/theory.md T6). ``method="joint"`` (default): the unrolled-graph certificate of
    the module docstring, checked step by step in float64; the product of per-step bounds
    is computed too and the smaller certified value is returned. ``method="product"``:
    T6's product ``prod_j c_j`` from the network's fast-certified LipSDP constant.

    Assumptions: ``net`` is an ``nn.Sequential`` of ``nn.Linear`` and slope-restricted
    activations (`numerics.lipschitz.network`), or a Module wrapping exactly one such
    Sequential and computing exactly it; its first ``state_dim`` inputs are the state, the
    rest (``condition``) enter additively, so the bound holds for every observation and
    time (the certificate never evaluates ``condition``; it only checks the width).
    Coefficients are the float64 values of the schedule; the map certified is the
    real-arithmetic one.

    Args:
        net: the velocity / noise-prediction / decoder network.
        sampler: one of `SAMPLERS`, or an `UnrolledSampler`.
        n_steps: number of steps (``<= MAX_STEPS``; see `unroll_sampler`).
        state_dim: width of the state (noise) block of the input; for ``"decoder"`` the
            latent width (the output width may differ).
        condition: ``t -> `` the rest of the input (time features, observation), a fixed
            tensor, or ``None`` when the input is the state alone. Used for its width only.
        method: ``"joint"`` or ``"product"``.
        device, dtype: where the multipliers are optimised (the check is float64 on CPU).
        max_iter: L-BFGS iterations per smoothing stage (``1..10000``).
        max_seconds: time cap of the start and the optimisation (each smoothing stage gets
            an equal share of what is left); the best certified point is returned. The
            float64 checks run after it (seconds for samplers of the benchmark's size).
        tolerance: relative change of the bound at which a stage stops.
        smoothing: temperatures of the smoothed ``log lambda_max`` (each in ``(0, 1]``).
        margin: relative margin ``delta_j`` added to each ``P_j`` before its check.
        refine_iter: L-BFGS iterations of the per-step refinement of the start
            (``0..10000``; 0 keeps the per-step scalings only).
        **schedule: the schedule (`unroll_sampler`'s keywords: ``t0``, ``t1``, ``times``,
            ``alpha_bars``, ``alphas_cumprod``, ``timesteps``, ``final_alpha_cumprod``,
            ``clip_sample``, ``scheduler``).

    Returns:
        `LipschitzEstimate` (kind ``"upper"``, method ``"sampler-joint"`` or
        ``"sampler-product"``); ``details``: ``product`` (the product bound),
        ``product_step_bounds``, ``joint`` (the joint certificate; ``None`` with
        ``joint_failure`` saying why when no start point certified), ``check_margin``,
        ``step_gains`` (``sqrt(lambda_max(P_j) / lambda_max(P_{j+1}))``: the per-step view,
        whose product is the joint bound), ``network_lipschitz``, ``evaluations``,
        ``start`` (the certified start), ``multipliers``.

    Raises:
        TypeError: ``net`` is not a supported MLP.
        ValueError: bad schedule, sizes or arguments (named), or nothing certified.

    Reference: LipSDP-Neuron (Fazlyab et al., NeurIPS 2019), extended here to the unrolled
    sampler; Rump, "Verification of positive definiteness", BIT 46 (2006).

    Examples:
        >>> torch.manual_seed(0)
        <torch._C.Generator object at ...>
        >>> v = nn.Sequential(nn.Linear(3, 16), nn.Tanh(), nn.Linear(16, 2))
        >>> est = sampler_lipschitz_upper(v, "euler", 4, state_dim=2,
        ...                               condition=lambda t: torch.tensor([t]))
        >>> est.kind, est.value <= est.details["product"]
        ('upper', True)
    """
    began = time.perf_counter()
    if method not in SAMPLER_METHODS:
        raise ValueError(f"method must be one of {SAMPLER_METHODS}, got {method!r}")
    unrolled = _as_unrolled(sampler, n_steps, schedule)
    state_dim = _args.integer_at_least(state_dim, "state_dim", 1, MAX_WIDTH)
    max_iter = _args.integer_at_least(max_iter, "max_iter", 1, 10_000)
    tolerance = float(_args.positive(tolerance, "tolerance"))
    margin = float(_args.positive(margin, "margin"))
    refine_iter = _args.integer_at_least(refine_iter, "refine_iter", 0, 10_000)
    if max_seconds is not None:
        max_seconds = float(_args.nonnegative(max_seconds, "max_seconds"))
    if not isinstance(smoothing, (tuple, list)) or not smoothing:
        raise ValueError(f"smoothing must be a non-empty tuple of temperatures, got {smoothing!r}")
    for s in smoothing:
        if not 0 < float(_args.positive(s, "smoothing")) <= 1:
            raise ValueError(f"smoothing temperatures must lie in (0, 1], got {s!r}")
    if dtype not in (torch.float32, torch.float64):
        raise ValueError(f"dtype must be torch.float32 or torch.float64, got {dtype!r}")
    dev = check_device(device)
    # one torch/BLAS thread for the optimisation (as `fast_certified`): its matrices are
    # small, and the certified value is then the same whatever the process's thread
    # count (a Ray task with one thread and a local run with two give equal numbers)
    with _one_cpu_thread(dev):
        seq, net_slopes = _sampler_network(net, unrolled, state_dim, condition)
        d_out = net_slopes.weights[-1].shape[0]
        from numerics.lipschitz.upper import lipschitz_upper

        net_est = lipschitz_upper(net_slopes, "fast-certified")
        product, factors = product_bound(unrolled, net_est.value)
        details: dict[str, Any] = {"sampler": unrolled.name, "n_steps": len(unrolled.steps),
                                   "network_lipschitz": net_est.value, "product": product,
                                   "product_step_bounds": factors}
        if method == "product" or net_slopes.depth == 0 and unrolled.name == "decoder":
            return LipschitzEstimate(product, "upper", "sampler-product",
                                     time.perf_counter() - began, details)
        nets = {"net": net_slopes, "clip": _clip_network(d_out)}
        base = _base_multipliers(nets, net_est.details.get(
            "multipliers", [torch.ones(w.shape[0], dtype=torch.float64)
                            for w in net_slopes.weights[:-1]]))
        deadline = None if max_seconds is None else began + max_seconds
        noisy = unrolled.n_noise_blocks > 0
        rho0 = product**2 * (1 + 1e-6) if noisy else None
        try:
            # certified as it is built (the same per-step check as certify_chain's)
            start, start_value, cert = _greedy_start(unrolled, nets, state_dim, base, rho0,
                                                     deadline, refine_iter, margin)
        except NotCertified as exc:  # the product stays certified; say why the joint is absent
            details.update(joint=None, joint_failure=str(exc))
            return LipschitzEstimate(product, "upper", "sampler-product",
                                     time.perf_counter() - began, details)
        best = {"value": start_value, "cert": cert, "mults": start, "rho": rho0}

        def on_stage(mults, rho):
            try:
                value, c = certify_chain(unrolled, nets, state_dim, mults, rho, margin)
            except NotCertified:
                return best["mults"], best["rho"]
            if value < best["value"]:
                best.update(value=value, cert=c, mults=mults, rho=rho)
            return None

        evaluations = _optimise(unrolled, nets, state_dim, start, rho0, device=dev, dtype=dtype,
                                smoothing=tuple(float(s) for s in smoothing), max_iter=max_iter,
                                tolerance=tolerance, deadline=deadline, on_stage=on_stage)
        joint = best["value"]
        lam = best["cert"]["lambda_max_P"]
        gains = [math.sqrt(max(lam[j], 0.0) / lam[j + 1]) if lam[j + 1] > 0 else math.inf
                 for j in range(len(lam) - 1)]
        details.update(joint=joint, start=start_value, step_gains=gains, evaluations=evaluations,
                       lambda_max_P0=lam[0], check_margin=best["cert"]["margin"],
                       rho_noise=best["rho"], multipliers=best["mults"])
        if product < joint:
            return LipschitzEstimate(product, "upper", "sampler-product",
                                     time.perf_counter() - began, details)
        return LipschitzEstimate(joint, "upper", "sampler-joint", time.perf_counter() - began,
                                 details)


__all__ = ["SAMPLERS", "SAMPLER_METHODS", "SamplerStage", "SamplerStep", "UnrolledSampler",
           "unroll_sampler", "sampler_map", "sampler_lipschitz_upper", "certify_chain",
           "product_bound"]
