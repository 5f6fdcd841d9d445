"""The synthetic suites' figures (``quick``, ``full``), from results tables alone.

Every ``plot_*`` function takes rows of a results table (JSON-ready dicts, as stored in
``results["tables"]``) and returns a matplotlib figure.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np

from validation.plots import COLOURS, as_number, finite_rows


def plot_mode_mass_vs_ratio(rows: Sequence[dict], n_modes: int = 2):
    """Min mode mass against ``(Delta - 2 rho) / L``: T2's curve, trained policies as points.

    Filled markers use the certified upper ``L`` (they must lie under the curve); hollow
    markers the empirical lower ``L`` (the curve there is what the policy would be
    allowed with its measured steepness: how close it comes).
    """
    import theory

    fig, ax = plt.subplots()
    pts = finite_rows(rows, "ratio_upper", "min_mode_mass")
    xs = [as_number(r["ratio_upper"]) for r in pts]
    xs += [as_number(r["ratio_lower"]) for r in finite_rows(rows, "ratio_lower")]
    top = max([4.0, *xs]) * 1.1
    grid = np.linspace(1e-3, top, 300)
    ax.plot(grid, theory.max_mode_mass(1.0, grid, n_modes), "k-",
            label=r"T2 bound $\Phi(-x/2)$" if n_modes == 2 else "T3 bound")
    for r in pts:
        c = COLOURS.get(r.get("policy", ""), "0.3")
        ax.plot(as_number(r["ratio_upper"]), as_number(r["min_mode_mass"]), "o", color=c)
        if math.isfinite(as_number(r.get("ratio_lower"))):
            ax.plot(as_number(r["ratio_lower"]), as_number(r["min_mode_mass"]), "o", mfc="none",
                    color=c)
            ax.plot([as_number(r["ratio_upper"]), as_number(r["ratio_lower"])],
                    [as_number(r["min_mode_mass"])] * 2, ":", color=c, lw=0.6)
    for kind in dict.fromkeys(r.get("policy", "") for r in pts):
        ax.plot([], [], "o", color=COLOURS.get(kind, "0.3"), label=kind)
    ax.plot([], [], "o", mfc="none", color="0.3", label="at empirical lower L")
    ax.set_xscale("symlog", linthresh=0.1)
    ax.set_xlabel(r"$(\Delta - 2\rho)/L$")
    ax.set_ylabel(r"min$_k$ mode mass")
    ax.set_ylim(0, 0.55 if n_modes == 2 else 1.05 / n_modes)
    ax.legend(loc="upper right")
    return fig


def plot_bridge_vs_lipschitz(rows: Sequence[dict]):
    """Bridge mass against the certified ``L``, with T4's balanced-coverage curve."""
    import theory

    fig, ax = plt.subplots()
    pts = finite_rows(rows, "lipschitz_upper", "bridge_mass", "effective_separation")
    if pts:
        sep = float(np.median([as_number(r["effective_separation"]) for r in pts]))
        Ls = [as_number(r["lipschitz_upper"]) for r in pts]
        grid = np.geomspace(min(Ls) / 2, max(Ls) * 2, 200)
        ax.plot(grid, theory.min_bridge_mass(grid, sep), "k--", lw=0.9,
                label=r"T4, balanced coverage: erf$(\Delta'/(2\sqrt{2}L))$")
    for r in pts:
        c = COLOURS.get(r.get("policy", ""), "0.3")
        ax.plot(as_number(r["lipschitz_upper"]), as_number(r["bridge_mass"]), "o", color=c)
    for kind in dict.fromkeys(r.get("policy", "") for r in pts):
        ax.plot([], [], "o", color=COLOURS.get(kind, "0.3"), label=kind)
    ax.set_xscale("log")
    ax.set_xlabel(r"certified $L$")
    ax.set_ylabel("bridge mass")
    ax.legend(loc="upper right")
    return fig


def plot_bridge_vs_bound(rows: Sequence[dict]):
    """Observed bridge mass against T4's bound at the observed ``m_1``: in its local form at
    the constant certified on a ball (filled) and at the global certificate (hollow). T4
    holds when every point lies above the diagonal; the closer to it, the tighter."""
    fig, ax = plt.subplots()
    forms = (("bridge_bound_local", "o", "local form at $L_B$"),
             ("bridge_bound_upper", "o", "global form at certified $L$"))
    top = 1e-3
    for key, marker, text in forms:
        pts = finite_rows(rows, key, "bridge_mass")
        hollow = key == "bridge_bound_upper"
        for r in pts:
            c = COLOURS.get(r.get("policy", ""), "0.3")
            # a vanishing bound (the global form at a loose certificate) sits at the floor
            x, y = max(as_number(r[key]), 1e-9), max(as_number(r["bridge_mass"]), 1e-9)
            top = max(top, x, y)
            ax.plot(x, y, marker, color=c, mfc="none" if hollow else c)
        if pts:
            ax.plot([], [], marker, color="0.3", mfc="none" if hollow else "0.3", label=text)
    ax.plot([1e-9, 2 * top], [1e-9, 2 * top], "k-", lw=0.8, label="observed = bound")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("T4 lower bound on the bridge mass")
    ax.set_ylabel("observed bridge mass")
    ax.legend(loc="lower right")
    return fig


def plot_w1_vs_bound(rows: Sequence[dict]):
    """Empirical ``W_1`` to the point-mode demonstrator (error bar: its confidence
    interval, `numerics.w1_to_atoms`) against T5's lower bound at the certified ``L``."""
    fig, ax = plt.subplots()
    pts = finite_rows(rows, "w1_bound_upper", "w1", "w1_low", "w1_high")
    for r in pts:
        c = COLOURS.get(r.get("policy", ""), "0.3")
        w1 = as_number(r["w1"])
        err = [[max(0.0, w1 - as_number(r["w1_low"]))], [max(0.0, as_number(r["w1_high"]) - w1)]]
        ax.errorbar(as_number(r["w1_bound_upper"]), w1, yerr=err, fmt="o", color=c, capsize=2,
                    lw=0.8)
    hi = max([1.0, *(as_number(r["w1_high"]) for r in pts)])
    ax.plot([0, hi], [0, hi], "k-", lw=0.8, label=r"$W_1$ = bound")
    for kind in dict.fromkeys(r.get("policy", "") for r in pts):
        ax.plot([], [], "o", color=COLOURS.get(kind, "0.3"), label=kind)
    ax.set_xlabel(r"T5 lower bound at certified $L$")
    ax.set_ylabel(r"empirical $W_1$ to demonstrator")
    ax.legend(loc="upper left")
    return fig


def plot_beta_sweep(rows: Sequence[dict], beta_star: float):
    """Rate, ``I(M;Z)`` and prior-deployed mode coverage against ``beta``; ``beta*`` marked."""
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(6.8, 2.5))
    pts = sorted(finite_rows(rows, "beta", "mode_information", "rate"), key=lambda r: r["beta"])
    b = np.array([as_number(r["beta"]) for r in pts])
    for key, label, style in (("rate", "rate $R$", "s-"), ("mode_information", "$I(M;Z)$", "o-")):
        y = np.array([as_number(r[key]) for r in pts])
        se = np.array([as_number(r.get(f"{key}_se", 0.0)) for r in pts])
        ax.errorbar(b, y, yerr=2 * se, fmt=style, capsize=2, label=label)
    if pts:
        ax.axhline(as_number(pts[0]["mode_entropy"]), color="0.5", lw=0.7, ls=":", label="$H(w)$")
    for a in (ax, bx):
        a.axvline(beta_star, color="k", lw=0.9, ls="--", label=r"$\beta^*$ (L4)")
        a.set_xscale("log")
        a.set_xlabel(r"$\beta$ (per-chunk convention)")
    ax.set_yscale("symlog", linthresh=0.01)
    ax.set_ylabel("nats")
    ax.legend(loc="upper right")
    for key, label, style in (("prior_in_mode", "prior: mass in modes", "o-"),
                              ("mode_error", "mode error of z", "s-")):
        bx.plot(b, [as_number(r[key]) for r in pts], style, label=label)
    bx.set_ylim(-0.02, 1.02)
    bx.legend(loc="center right")
    fig.tight_layout()
    return fig


def plot_chunk_sweep(rows: Sequence[dict]):
    """Min mode mass against chunk length ``H`` with T7's bound at each run's ``L``."""
    fig, ax = plt.subplots()
    pts = sorted(finite_rows(rows, "horizon", "min_mode_mass", "mass_bound_upper"),
                 key=lambda r: r["horizon"])
    H = [r["horizon"] for r in pts]
    ax.plot(H, [as_number(r["mass_bound_upper"]) for r in pts], "k-", marker="_",
            label=r"T7: $\Phi(-\delta\sqrt{H}/(4L))$, certified $L$")
    lower = finite_rows(pts, "mass_bound_lower")
    if lower:
        ax.plot([r["horizon"] for r in lower], [as_number(r["mass_bound_lower"]) for r in lower],
                "k:", label="same at empirical lower L")
    ax.plot(H, [as_number(r["min_mode_mass"]) for r in pts], "o", color=COLOURS["flow"],
            label="trained flow")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("chunk length $H$")
    ax.set_ylabel(r"min$_k$ mode mass")
    ax.set_ylim(0, 0.55)
    ax.legend(loc="lower left")
    return fig


def plot_policy_samples(rows: Sequence[dict]):
    """Sampled chunks (waypoint paths) of each policy over the true mode paths.

    Each row: ``{"policy", "centres": [K][H][2], "samples": [n][H][2]}`` at one
    observation; paths start at the origin (chunks are relative to the start).
    """
    n = max(1, len(rows))
    fig, axes = plt.subplots(1, n, figsize=(1.7 * n, 1.9), squeeze=False)
    for ax, r in zip(axes[0], rows, strict=False):
        c = COLOURS.get(r["policy"], "0.3")
        for path in np.asarray(r["samples"], dtype=float):
            p = np.vstack([[0.0, 0.0], path])
            ax.plot(p[:, 0], p[:, 1], "-", color=c, lw=0.4, alpha=0.35)
        for path in np.asarray(r["centres"], dtype=float):
            p = np.vstack([[0.0, 0.0], path])
            ax.plot(p[:, 0], p[:, 1], "k--", lw=1.0)
        ax.set_title(r.get("label", r["policy"]))
        ax.set_aspect("equal", adjustable="datalim")
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    return fig


__all__ = [
    "plot_beta_sweep", "plot_bridge_vs_lipschitz", "plot_chunk_sweep",
    "plot_mode_mass_vs_ratio", "plot_policy_samples", "plot_w1_vs_bound",
]
