"""Render the proof-check figures of docs/theory.md, Part T (docs/figures/part_t_*.png).

Each figure puts a bound computed by `theory.transport` next to an independent
computation: Monte Carlo of the clip map of T2 (Clopper-Pearson 99% intervals), the
simplicial construction of T3 sampled in R^{K-1}, the clip map's W1 computed with
`scipy.stats.wasserstein_distance`, and, for the local forms, a clip map Lipschitz only on
a disc with the outside samples sent onto the modes. Seed 0, n = 200,000 per point. Run:

    .venv/bin/python docs/figures/part_t.py
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from scipy import linalg, stats  # noqa: E402

import theory  # noqa: E402

OUT = Path(__file__).resolve().parent
N = 200_000
SEED = 0


def _cp(k: np.ndarray, n: int, conf: float = 0.99) -> np.ndarray:
    lo = np.array([stats.binomtest(int(c), n).proportion_ci(conf, "exact").low for c in k])
    hi = np.array([stats.binomtest(int(c), n).proportion_ci(conf, "exact").high for c in k])
    return np.stack([lo, hi])


def mode_mass(rng: np.random.Generator) -> Path:
    ratio = np.linspace(0.05, 8, 200)
    pts = np.linspace(0.25, 7.5, 16)
    x = rng.standard_normal(N)
    counts = np.array([np.sum(np.clip(x, -r / 2, r / 2) >= r / 2) for r in pts])  # L = 1
    ci = _cp(counts, N)
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for ax, log in zip(axes, (False, True), strict=True):
        ax.plot(ratio, theory.max_mode_mass(1.0, ratio), label=r"T2: $\Phi(-\Delta/2L)$")
        ax.plot(ratio, theory.max_mode_mass(1.0, ratio, 3), "--", label="T3 upper, K = 3")
        est = counts / N
        ax.errorbar(pts, est, yerr=np.abs(ci - est), fmt="o", ms=3, color="k",
                    label="clip map, Monte Carlo (99% CP)")
        ax.set_xlabel(r"$\Delta / L$")
        ax.set_ylabel("largest mass on each mode")
        if log:
            ax.set_yscale("log")
            ax.set_ylim(1e-6, 1)
    axes[0].legend(fontsize=8)
    fig.suptitle("T2: two-mode limit, attained by the clip map")
    fig.tight_layout()
    path = OUT / "part_t_mode_mass.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _simplex_cell_mass(K: int, ratio: float, rng: np.random.Generator) -> np.ndarray:
    basis = linalg.null_space(np.ones((1, K)))
    x = rng.standard_normal((N, K - 1))
    ok = np.ones(N, bool)
    for j in range(1, K):
        u = basis[0] - basis[j]
        ok &= x @ (u / np.linalg.norm(u)) >= ratio / 2
    return np.array([ok.sum()])


def k_modes(rng: np.random.Generator) -> Path:
    ratio = np.linspace(0.05, 6, 120)
    fig, ax = plt.subplots(figsize=(6, 4))
    for K, color in ((3, "C0"), (4, "C1"), (6, "C2")):
        ax.plot(ratio, theory.max_mode_mass(1.0, ratio, K), color=color,
                label=f"K = {K}: upper (T3)")
        ax.plot(ratio, theory.achievable_mode_mass(1.0, ratio, K), "--", color=color,
                label=f"K = {K}: simplicial construction")
    pts = np.array([0.5, 1.0, 2.0, 3.0, 4.0])
    counts = np.concatenate([_simplex_cell_mass(3, r, rng) for r in pts])
    ci = _cp(counts, N)
    ax.errorbar(pts, counts / N, yerr=np.abs(ci - counts / N), fmt="o", ms=3, color="k",
                label="K = 3 cell, Monte Carlo in R^2")
    ax.set_yscale("log")
    ax.set_ylim(1e-5, 0.5)
    ax.set_xlabel(r"$\Delta / L$")
    ax.set_ylabel("min mode mass: bracket")
    ax.set_title("T3: the best min-mass lies between the curves")
    ax.legend(fontsize=7)
    fig.tight_layout()
    path = OUT / "part_t_kmodes.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def bridge(rng: np.random.Generator) -> Path:
    ratio = np.linspace(0.05, 8, 200)
    pts = np.linspace(0.25, 7.5, 16)
    x = rng.standard_normal(N)
    counts = np.array([np.sum(np.abs(np.clip(x, -r / 2, r / 2)) < r / 2) for r in pts])
    ci = _cp(counts, N)
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    ax = axes[0]
    ax.plot(ratio, theory.min_bridge_mass(1.0, ratio), label=r"T4: erf$(\Delta/2\sqrt{2}L)$")
    ax.errorbar(pts, counts / N, yerr=np.abs(ci - counts / N), fmt="o", ms=3, color="k",
                label="clip map, Monte Carlo (99% CP)")
    ax.set_xlabel(r"$\Delta / L$")
    ax.set_ylabel("bridge mass (balanced coverage)")
    ax.legend(fontsize=8)
    ax = axes[1]
    m1 = np.linspace(0, 1, 400)
    for r in (0.5, 1.0, 2.0, 4.0):
        ax.plot(m1, theory.mode_mass_frontier(m1, 1.0, r), label=rf"$\Delta/L = {r}$")
    ax.plot(m1, 1 - m1, "k:", label="no bridge")
    ax.set_xlabel("$m_1$")
    ax.set_ylabel("largest $m_2$ (T2 frontier)")
    ax.legend(fontsize=8)
    fig.suptitle("T4: bridge or sharpness")
    fig.tight_layout()
    path = OUT / "part_t_bridge.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def wasserstein(rng: np.random.Generator) -> Path:
    L = np.geomspace(0.1, 20, 80)
    pts = np.geomspace(0.15, 15, 12)
    x = rng.standard_normal(N)
    clip = [stats.wasserstein_distance(np.clip(Lp * x, -1, 1), [-1, 1]) for Lp in pts]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(L, theory.wasserstein_lower_bound(L, 2.0), label="T5 bound, w = (1/2, 1/2)")
    ax.plot(L, theory.wasserstein_lower_bound(L, 2.0, (0.2, 0.8)), "--",
            label="T5 bound, w = (0.2, 0.8)")
    ax.plot(L, theory.wasserstein_lower_bound(L, 2.0, p=2), ":", label="T5 bound, W_2")
    ax.plot(pts, clip, "o", ms=4, color="k", label="clip map W_1 (scipy, n = 2e5)")
    ax.set_xscale("log")
    ax.set_xlabel("L  (Delta = 2)")
    ax.set_ylabel("W to the demonstrator")
    ax.set_title("T5: distance to the demonstrations")
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = OUT / "part_t_w1.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def local(rng: np.random.Generator) -> Path:
    # T2-local: the map is 1-Lipschitz only on the disc of radius R in d = 2; outside, the
    # samples go to the mode on their side (the construction of docs/theory.md).
    s = np.linspace(0.05, 6, 200)
    radii = (1.5, 2.0, 3.0)
    x = rng.standard_normal((N, 2))
    r = np.linalg.norm(x, axis=1)
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(s, theory.max_mode_mass(1.0, s), color="k", label="global T2: Phi(-s/2)")
    for R, color in zip(radii, ("C0", "C1", "C2"), strict=True):
        p = theory.outside_ball_mass(R, 2)
        ax.plot(s, theory.max_mode_mass_local(1.0, s, p), color=color,
                label=f"T2-local, disc R = {R} (p = {p:.3f})")
        ax.plot(s, theory.max_mode_mass_local(1.0, s, p, form="additive"), ":", color=color)
        pts = np.linspace(0.25, 5.5, 12)
        y = [np.where(r <= R, np.clip(x[:, 0], -sp / 2, sp / 2), np.sign(x[:, 0]) * sp / 2)
             for sp in pts]
        counts = np.array([min(np.sum(v >= sp / 2), np.sum(v <= -sp / 2))
                           for v, sp in zip(y, pts, strict=True)])
        ci = _cp(counts, N)
        mid = counts / N
        ax.errorbar(pts, mid, yerr=[mid - ci[0], ci[1] - mid], fmt="o", ms=3, color=color)
    ax.set_xlabel("s = Delta / L_B")
    ax.set_ylabel("min(m_1, m_2)")
    ax.set_title("T2-local: clip map on a disc (dots, 99% CP), bounds (lines; dotted: additive)")
    ax.title.set_fontsize(9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    path = OUT / "part_t_local.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def main() -> None:
    rng = np.random.default_rng(SEED)
    for draw in (mode_mass, k_modes, bridge, wasserstein, local):
        print(draw(rng))


if __name__ == "__main__":
    main()
