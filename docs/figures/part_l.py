"""Render the proof-check figures of Part L (docs/theory.md (Part L)).

    .venv/bin/python docs/figures/part_l.py

writes ``docs/figures/part_l_{tv,fano,collapse,coverage}.png``. Every figure sets a
bound of `theory.latent` against an independent computation (explicit distributions,
exact Bayes errors, direct minimisation, Monte Carlo); seeds are fixed below.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from scipy import optimize, special, stats  # noqa: E402

from theory import latent  # noqa: E402

OUT = Path(__file__).resolve().parent
SEED = 0


def kl(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    return np.sum(special.rel_entr(p, q), axis=-1)


def figure_tv(rng: np.random.Generator) -> Path:
    """L3: TV(q_a, q_a') against the KL budget, random discrete triples (q_a, q_a', p)."""
    n = 4000
    k = rng.integers(2, 6, n)
    eps_max, tv = np.empty(n), np.empty(n)
    for i in range(n):  # one random triple per size: a loop over sizes, not elements
        p, qa, qb = rng.dirichlet(np.full(k[i], rng.uniform(0.1, 2.0)), size=3)
        eps_max[i] = max(kl(qa, p), kl(qb, p))
        tv[i] = 0.5 * np.abs(qa - qb).sum()
    grid = np.linspace(0, 1.2, 400)
    fig, ax = plt.subplots(figsize=(5.2, 3.6))
    ax.scatter(eps_max, tv, s=3, alpha=0.3, color="0.5", label="random discrete triples")
    ax.plot(grid, latent.kl_tv_bound(grid), label=r"paper: $2\min(\sqrt{\epsilon/2},"
            r"\sqrt{1-e^{-\epsilon}})\wedge 1$")
    ax.plot(grid, latent.kl_tv_bound_exact(grid), label=r"exact $\tau^*(\epsilon)$ (tight)")
    ax.set(xlabel=r"KL budget $\epsilon$ = max KL$(q_a\|p)$ (nats)",
           ylabel=r"TV$(q_a, q_{a'})$", xlim=(0, 1.2), ylim=(0, 1.05))
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    path = OUT / "part_l_tv.png"
    fig.savefig(path, dpi=130)
    plt.close(fig)
    print(f"tv: {int(np.sum(tv > latent.kl_tv_bound_exact(eps_max) + 1e-12))} of {n} "
          "triples above the exact bound")
    return path


def figure_fano(rng: np.random.Generator) -> Path:
    """L2: Fano's least error vs rate, with exact Bayes errors of random channels."""
    fig, ax = plt.subplots(figsize=(5.2, 3.6))
    rates = np.linspace(0, 2.0, 300)
    worst = 0.0
    for k, color in ((2, "C0"), (3, "C1"), (5, "C2")):
        w = np.full(k, 1.0 / k)
        ax.plot(rates, latent.fano_min_error(w, rates), color=color, label=f"Fano, K = {k}")
        info, err = [], []
        for _ in range(300):
            channel = rng.dirichlet(np.full(rng.integers(2, 8), 0.3), size=k)
            joint = w[:, None] * channel
            info.append(float(np.sum(special.rel_entr(joint, w[:, None] * joint.sum(0)))))
            err.append(1.0 - joint.max(0).sum())
        ax.scatter(info, err, s=4, alpha=0.4, color=color)
        worst = max(worst, float(np.max(latent.fano_min_error(w, np.array(info)) - err)))
    ax.set(xlabel=r"$I(M;Z)$ (nats) $\leq$ rate $R$", ylabel="least mode-reading error",
           ylim=(0, 0.85))
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = OUT / "part_l_fano.png"
    fig.savefig(path, dpi=130)
    plt.close(fig)
    print(f"fano: max(bound - Bayes error) over random channels = {worst:.2e} (must be <= 0)")
    return path


def figure_collapse() -> Path:
    """L4: J(u) - J(0) across beta, beta* marked, and the numeric argmin vs beta."""
    delta, sigma = 2.0, np.sqrt(0.1)
    beta_star = latent.collapse_threshold(delta, sigma)
    u = np.concatenate([[0.0], np.geomspace(1e-3, 8.0, 3000)])
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(9.0, 3.6))
    for ratio in (0.5, 0.8, 0.95, 1.0, 1.1, 1.5):
        j = latent.collapse_objective(u, ratio * beta_star, delta, sigma)
        i = int(np.argmin(j))
        line, = ax.plot(u, j - j[0], label=rf"$\beta = {ratio:g}\,\beta^*$")
        ax.plot(u[i], j[i] - j[0], "o", color=line.get_color())
    ax.set(xlabel=r"encoder SNR $u = m/s$", ylabel=r"$J(u) - J(0)$", xlim=(0, 4),
           ylim=(-1.5, 1.5))
    ax.axhline(0, color="0.7", lw=0.5)
    ax.legend(fontsize=7)
    ratios = np.linspace(0.3, 1.5, 121)
    argmins = []
    for r in ratios:
        j = latent.collapse_objective(u, r * beta_star, delta, sigma)
        i = int(np.argmin(j))
        if i == 0:
            argmins.append(0.0)
            continue
        res = optimize.minimize_scalar(
            lambda x, r=r: latent.collapse_objective(x, r * beta_star, delta, sigma),
            bounds=(u[max(i - 1, 0)], u[i + 1]), method="bounded")
        argmins.append(res.x if res.fun < j[0] else 0.0)
    bx.plot(ratios * beta_star, argmins, ".-", ms=3)
    bx.axvline(beta_star, color="k", ls="--", lw=0.8,
               label=rf"$\beta^* = \Delta^2/(4\sigma^2) = {beta_star:g}$")
    bx.set(xlabel=r"$\beta$", ylabel=r"numeric $\arg\min_u J(u)$")
    bx.legend(fontsize=8)
    fig.suptitle(r"L4 at $\Delta = 2$, $\sigma^2 = 0.1$", fontsize=10)
    fig.tight_layout()
    path = OUT / "part_l_collapse.png"
    fig.savefig(path, dpi=130)
    plt.close(fig)
    first_zero = ratios[np.argmax(np.asarray(argmins) == 0.0)] * beta_star
    print(f"collapse: beta* = {beta_star:g}; numeric optimum first at u = 0 for "
          f"beta = {first_zero:.3g} (grid step {0.01 * beta_star:.2g})")
    return path


def figure_coverage(rng: np.random.Generator) -> Path:
    """L5: c* vs KL(qbar||p), with a Monte Carlo check on shifted Gaussians."""
    kls = np.linspace(0, 4, 300)
    fig, ax = plt.subplots(figsize=(5.2, 3.6))
    for m, color in ((0.9, "C0"), (0.99, "C1"), (1.0, "C2")):
        ax.plot(kls, latent.min_prior_coverage(kls, m), color=color,
                label=rf"$c^*$, $\bar q(C) = {m:g}$")
    ax.plot(kls, 0.9 - latent.prior_tv_bound(kls), "C0:", lw=1,
            label=r"$0.9 - $TV bound (Pinsker/BH)")
    # qbar = N(mu, 1), p = N(0, 1), KL = mu^2/2; C = {z > t} with qbar(C) = 0.9.
    n, violations = 20_000, 0
    for mu in np.linspace(0.2, 2.8, 14):
        t = mu - stats.norm.isf(0.1)
        hits = int(np.sum(rng.standard_normal(n) > t))
        ci = stats.binomtest(hits, n).proportion_ci(0.99, method="exact")
        ax.errorbar(mu * mu / 2, hits / n, yerr=[[hits / n - ci.low], [ci.high - hits / n]],
                    fmt="k.", ms=3, lw=0.8)
        violations += ci.high < latent.min_prior_coverage(mu * mu / 2, 0.9)
    ax.plot([], [], "k.", label=r"MC $p(C)$, Gaussians, 99% CP")
    ax.set(xlabel=r"KL$(\bar q\|p) = R - I(A;Z)$ (nats)", ylabel=r"prior mass $p(C)$",
           ylim=(0, 1.02))
    ax.legend(fontsize=7)
    fig.tight_layout()
    path = OUT / "part_l_coverage.png"
    fig.savefig(path, dpi=130)
    plt.close(fig)
    print(f"coverage: {violations} of 14 Monte Carlo intervals below c* (must be 0)")
    return path


def main() -> list[Path]:
    rng = np.random.default_rng(SEED)
    return [figure_tv(rng), figure_fano(rng), figure_collapse(), figure_coverage(rng)]


if __name__ == "__main__":
    for p in main():
        print(p)
