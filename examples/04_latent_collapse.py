"""Latent collapse in a CVAE / ACT policy (docs/theory.md Part L): when does beta erase the modes?

Run: MPLBACKEND=Agg .venv/bin/python examples/04_latent_collapse.py   (a few seconds)
Writes out/examples/latent_collapse.png.

Two equal-weight modes Delta apart, Gaussian decoder noise sigma: L4 says the latent
collapses (the encoder's SNR u = 0 is optimal) iff beta >= Delta^2 / (4 sigma^2). We
minimise L4's reduced objective J(u) on a grid to watch it happen, compare with the
numeric threshold for other losses, then read off Fano (L2) and prior coverage (L5).
"""

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

import numerics
import theory

DELTA, SIGMA = 2.0, np.sqrt(0.1)

# L4, closed form: beta* = Delta^2 / (4 sigma^2) = 10 here.
beta_star = theory.collapse_threshold(DELTA, SIGMA)
print(f"L4 collapse_threshold(Delta={DELTA}, sigma^2=0.1) = {beta_star:.6f}")

# Independent check: minimise J(u) = Delta^2/(8 sigma^2) g(u) + beta/2 log(1+u^2) on a grid.
u = np.linspace(0.0, 6.0, 3001)
betas = np.linspace(2.0, 14.0, 13)
best_u = np.array([u[np.argmin(theory.collapse_objective(u, b, DELTA, SIGMA))] for b in betas])
for b, ub in zip(betas, best_u, strict=True):
    print(f"L4 beta={b:5.1f}: argmin_u J = {ub:.3f}")
first_collapsed = betas[np.argmax(best_u == 0.0)]
print(f"L4 grid: first beta with u* = 0 is {first_collapsed:.1f}")

# Numeric thresholds from the reduced objective for the squared and the L1 (ACT) loss.
print(f"numerics.collapse_threshold(loss='l2') = "
      f"{numerics.collapse_threshold(DELTA, SIGMA, loss='l2'):.4f}")
# L1 with two equal-weight modes: beta* = inf, because the collapsed decoder (a weighted
# median) is not unique, so no beta makes u = 0 the unique optimum; unequal weights fix it.
print(f"numerics.collapse_threshold(loss='l1') = "
      f"{numerics.collapse_threshold(DELTA, SIGMA, loss='l1'):.4f}")
print(f"numerics.collapse_threshold(loss='l1', weights=(0.6, 0.4)) = "
      f"{numerics.collapse_threshold(DELTA, SIGMA, loss='l1', weights=(0.6, 0.4)):.4f}")

# ACT's loss convention: its kl_weight=10 is, per Laplace chunk likelihood, 10 * 100 * 14.
print(f"ACT effective KL weight (10, H=100, action_dim=14) = "
      f"{theory.act_effective_kl_weight(10.0, 100, 14):.1f}")

# L2 (Fano): keeping the mode readable from z with error <= 5 % needs this many nats.
for K in (2, 4):
    print(f"L2 fano_min_rate(K={K} equal modes, error 0.05) = "
          f"{theory.fano_min_rate(np.ones(K) / K, 0.05):.4f} nats")

# L3/L5: a pointwise KL of eps nats bounds how far posteriors can differ, and a marginal
# KL bounds how far the deployment prior is from the aggregate posterior.
for eps in (0.01, 0.1, 1.0):
    print(f"KL={eps:5.2f}: L3 tau = {theory.kl_tv_bound(eps):.4f}, "
          f"L5 TV(p, qbar) <= {theory.prior_tv_bound(eps):.4f}, "
          f"prior covers >= {theory.min_prior_coverage(eps, 0.95):.4f} of a 95% posterior region")

out = Path("out/examples")
out.mkdir(parents=True, exist_ok=True)
fig, ax = plt.subplots(figsize=(5, 3.5))
for b in (5.0, 9.0, 10.0, 12.0):
    ax.plot(u, theory.collapse_objective(u, b, DELTA, SIGMA), label=f"beta={b:g}")
ax.set(xlabel="encoder SNR u", ylabel="J(u)", title=f"L4: collapse at beta*={beta_star:g}")
ax.legend()
fig.tight_layout()
fig.savefig(out / "latent_collapse.png", dpi=120)
print(f"wrote {out / 'latent_collapse.png'}")
