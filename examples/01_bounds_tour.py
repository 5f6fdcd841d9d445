"""A tour of the bounds (docs/theory.md Part T): how much mass can an L-Lipschitz policy
put on a mode?

Run: .venv/bin/python examples/01_bounds_tour.py   (pure NumPy/SciPy/SymPy, < 2 s)

Every number printed here comes from `theory`; the last block checks T2 by Monte Carlo
on the clip map that attains it, so the tour also shows the bound is tight.
"""

import numpy as np
import sympy as sp

import theory

L, DELTA = 1.0, 2.0          # a 1-Lipschitz generator, two modes 2 apart in chunk space

# T2: the smaller of two modes gets at most Phi(-Delta / (2L)).
print(f"T2 max_mode_mass(L={L}, Delta={DELTA}) = {theory.max_mode_mass(L, DELTA):.6f}")

# The frontier: if mode 1 gets m1, mode 2 can get at most Phi(-Phi^{-1}(m1) - Delta/L).
for m1 in (0.5, 0.3, 0.1):
    print(f"T2 frontier: m1 = {m1:.1f} -> m2 <= {theory.mode_mass_frontier(m1, L, DELTA):.6f}")

# ... and the Lipschitz constant needed to give each of two modes 40 %.
print(f"T2 min_lipschitz(mass=0.4, Delta={DELTA}) = {theory.min_lipschitz(0.4, DELTA):.4f}")

# T3, K modes: the true best min-mass lies between a construction and an upper bound.
ratios = np.array([1.0, 2.0, 4.0])        # Delta / L
# Upper side: T3's weighted coverage t* with equal weights; t* / K bounds min_k m_k.
upper = np.array([theory.max_weighted_coverage(1.0, r, np.ones(3) / 3) / 3 for r in ratios])
# Achievable side: the shrunk simplicial cones pushed onto 3 point modes (Kirszbraun).
achievable = theory.achievable_mode_mass(1.0, ratios, 3)
for r, lo, hi in zip(ratios, achievable, upper, strict=True):
    print(f"T3 K=3 Delta/L={r:.0f}: achievable {lo:.4f} <= best min mass <= {hi:.4f}")

# T4: covering both modes evenly with a 1-Lipschitz map leaves mass on the bridge.
print(f"T4 min_bridge_mass(L={L}, Delta={DELTA}) = {theory.min_bridge_mass(L, DELTA):.6f}")
print(f"T4 min_lipschitz_for_bridge(b=0.05, Delta={DELTA}) = "
      f"{theory.min_lipschitz_for_bridge(0.05, DELTA):.4f}")

# T5: any such policy is W1-far from the demonstrations.
print(f"T5 wasserstein_lower_bound(L={L}, Delta={DELTA}) = "
      f"{theory.wasserstein_lower_bound(L, DELTA):.6f}")

# T7: a constant per-step offset of 1 over an H-step chunk separates modes by sqrt(H).
for H in (1, 4, 16):
    sep = theory.chunk_separation(np.ones((H, 2)) / np.sqrt(2))
    print(f"T7 H={H:2d}: chunk separation {sep:.4f}, "
          f"max mode mass at L=1: {theory.max_mode_mass(1.0, sep):.6f}")

# Symbols in, formula out.
Ls, Ds = sp.symbols("L Delta", positive=True)
print("T2 in LaTeX:", sp.latex(theory.max_mode_mass(Ls, Ds)))

# The registry: every proposition by id; each holds its SymPy statement and reference.
for pid, prop in theory.PROPOSITIONS.items():
    print(f"registry {pid}: {prop.title}")
print("T2 statement:", theory.PROPOSITIONS["T2"].latex())
print("T2 reference:", theory.PROPOSITIONS["T2"].reference)

# Tightness, by Monte Carlo: T(x) = clip(L x_1, -Delta/2, Delta/2) puts Phi(-Delta/(2L))
# on each end point; count samples that land exactly on the mode +Delta/2.
x = np.random.default_rng(0).standard_normal(1_000_000)
a = np.clip(L * x, -DELTA / 2, DELTA / 2)
print(f"Monte Carlo clip map: mass on +Delta/2 = {np.mean(a >= DELTA / 2):.6f} (n=1000000, seed 0)")
