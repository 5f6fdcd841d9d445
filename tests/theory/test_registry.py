"""The proposition registry: every statement of Parts T and L is present, symbolic,
renders, points at a public function, and agrees with that function numerically.

Convention checked here: a statement is a SymPy relational whose right-hand side is the
bound (or identity) side, written in symbols named like the parameters of ``evaluate``;
substituting numbers into it must give what ``evaluate`` returns for those numbers.
"""

import inspect

import numpy as np
import pytest
import sympy as sp
from scipy import integrate
from sympy.core.relational import Relational

import theory
from theory.registry import Proposition

IDS = ([f"T{i}" for i in range(1, 9)] + [f"L{i}" for i in range(1, 7)]
       + [f"T{i}-local" for i in range(2, 6)])

# Valid random values by parameter name.
DOMAINS = {
    "L": (0.2, 5.0), "decoder_lipschitz": (0.2, 5.0), "separation": (0.2, 5.0),
    "sigma": (0.1, 2.0), "eps": (0.0, 3.0), "marginal_kl": (0.0, 3.0), "rate": (0.0, 3.0),
    "mass": (0.01, 0.99), "boundary_measure": (0.05, 2.0),
}
INTEGER_DOMAINS = {"n_modes": (2, 6)}


def _sample(names, rng):
    values = {}
    for name in sorted(names - {"mutual_information"}):
        if name in INTEGER_DOMAINS:
            values[name] = int(rng.integers(*INTEGER_DOMAINS[name], endpoint=True))
        else:
            values[name] = float(rng.uniform(*DOMAINS[name]))
    if "mutual_information" in names:  # L1's constraint 0 <= I <= R
        values["mutual_information"] = values["rate"] * float(rng.uniform())
    return values


def _by_name(name_map=None):
    """Bound side = statement's rhs; its symbols are evaluate's parameters (or mapped)."""
    def check(prop, rng):
        rhs = prop.statement().rhs
        to_param = {s: (name_map or {}).get(s.name, s.name) for s in rhs.free_symbols}
        params = inspect.signature(prop.evaluate).parameters
        assert set(to_param.values()) <= set(params), (
            f"{prop.id}: statement symbols {sorted(to_param.values())} are not parameters "
            f"of {prop.evaluate.__name__}{tuple(params)}")
        pairs = []
        for _ in range(4):
            values = _sample(set(to_param.values()), rng)
            subs = {s: values[name] for s, name in to_param.items()}
            pairs.append((rhs.subs(subs), prop.evaluate(**values)))
        return pairs
    return check


def _symbol(expr, name):
    return next(s for s in expr.free_symbols if s.name == name)


def _t2_frontier(prop, rng):
    # At balanced coverage m_1 = m_2 = max_mode_mass(L, Delta), T2 holds with equality.
    st = prop.statement()
    pairs = []
    for _ in range(4):
        lip, sep = rng.uniform(0.2, 5.0, 2)
        m = prop.evaluate(lip, sep)
        subs = {_symbol(st, "L"): lip, _symbol(st, "Delta"): sep,
                _symbol(st, "m_1"): m, _symbol(st, "m_2"): m}
        pairs.append((st.lhs.subs(subs), st.rhs.subs(subs)))
    return pairs


def _t3_k_modes(prop, rng):
    # r_k = Delta/(2L) and m_k = max_mode_mass(L, Delta, K): the sum equals its bound 1.
    from theory.transport import max_mode_mass

    st = prop.statement()
    k_sym = _symbol(st, "K")
    m, r = sorted(st.lhs.atoms(sp.IndexedBase), key=str)
    pairs = []
    for k in (2, 3, 5):
        lip, sep = rng.uniform(0.2, 5.0, 2)
        mk = max_mode_mass(lip, sep, k)
        lhs = st.lhs.subs(k_sym, k).doit()
        lhs = lhs.subs({m[i]: mk for i in range(1, k + 1)})
        lhs = lhs.subs({r[i]: sep / (2 * lip) for i in range(1, k + 1)})
        pairs.append((lhs, st.rhs))
    return pairs


def _t5_wasserstein(prop, rng):
    st = prop.statement()
    pairs = []
    for _ in range(3):
        lip, sep, w1 = rng.uniform(0.3, 3.0), rng.uniform(0.3, 3.0), rng.uniform(0.1, 0.9)
        subs = {_symbol(st.rhs, "L"): lip, _symbol(st.rhs, "Delta"): sep,
                _symbol(st.rhs, "w_1"): w1}
        if any(s.name == "p" for s in st.rhs.free_symbols):
            subs[_symbol(st.rhs, "p")] = 1
        pairs.append((st.rhs.subs(subs), prop.evaluate(lip, sep, (w1, 1 - w1), 1)))
    return pairs


def _t6_flow(prop, rng):
    # Constant rate l(t) = c: the Gronwall bound exp(int l) = exp(c).
    st = prop.statement()
    pairs = []
    for c in rng.uniform(0.0, 3.0, 3):
        rhs = st.rhs.replace(lambda e: isinstance(e, sp.core.function.AppliedUndef),
                             lambda e, c=c: sp.Float(c)).doit()
        pairs.append((rhs, prop.evaluate(np.full(10, c), np.full(10, 0.1), form="gronwall")))
    return pairs


def _t7_chunk(prop, rng):
    st = prop.statement()
    (delta,) = st.rhs.atoms(sp.IndexedBase)
    pairs = []
    for h in (1, 4, 7):
        offsets = rng.normal(size=h)
        rhs = st.rhs.subs(_symbol(st.rhs, "H"), h).doit()
        rhs = rhs.subs({delta[i + 1]: offsets[i] for i in range(h)})
        pairs.append((rhs, prop.evaluate(offsets)))
    return pairs


def _t2_local_root(prop, rng):
    # At m = max_mode_mass_local(L_B, Delta, p) the defining relation holds with equality.
    st = prop.statement()
    pairs = []
    for _ in range(4):
        lip, sep, p = rng.uniform(0.3, 3.0), rng.uniform(0.2, 4.0), rng.uniform(0.01, 0.3)
        m = prop.evaluate(lip, sep, p)
        subs = {_symbol(st, "L_B"): lip, _symbol(st, "Delta"): sep, _symbol(st, "p"): p,
                _symbol(st, "m"): m}
        pairs.append((st.lhs.subs(subs), st.rhs.subs(subs)))
    return pairs


def _t3_local_vertex(prop, rng):
    # Equal weights and separations: at m = max_mode_mass_local(L, Delta, p, K) with all the
    # outside mass on one mode (t = (p, 0, ..)) and r_k = Delta/(2 L), the sum equals 1.
    from theory.transport import max_mode_mass_local

    st = prop.statement()
    k_sym = _symbol(st, "K")
    m, r, t = sorted(st.lhs.atoms(sp.IndexedBase), key=str)
    pairs = []
    for k in (2, 3, 4):
        lip, sep, p = rng.uniform(0.5, 2.0), rng.uniform(0.5, 3.0), rng.uniform(0.01, 0.05)
        mk = max_mode_mass_local(lip, sep, p, k)
        assert mk > p
        lhs = st.lhs.subs(k_sym, k).doit().subs(_symbol(st, "p"), p)
        lhs = lhs.subs({m[i]: mk for i in range(1, k + 1)})
        lhs = lhs.subs({t[i]: (p if i == 1 else 0) for i in range(1, k + 1)})
        lhs = lhs.subs({r[i]: sep / (2 * lip) for i in range(1, k + 1)})
        pairs.append((lhs, st.rhs))
    return pairs


def _t4_local_bridge(prop, rng):
    st = prop.statement()
    pairs = []
    for _ in range(4):
        lip, sep = rng.uniform(0.3, 3.0), rng.uniform(0.2, 4.0)
        p, m1 = rng.uniform(0.01, 0.2), rng.uniform(0.3, 0.7)
        subs = {_symbol(st.rhs, "L_B"): lip, _symbol(st.rhs, "Delta"): sep,
                _symbol(st.rhs, "p"): p, _symbol(st.rhs, "m_1"): m1}
        pairs.append((st.rhs.subs(subs), prop.evaluate(lip, sep, p, m1)))
    return pairs


def _t5_local_wasserstein(prop, rng):
    st = prop.statement()
    pairs = []
    for _ in range(3):
        lip, sep, w1 = rng.uniform(0.3, 3.0), rng.uniform(0.3, 3.0), rng.uniform(0.1, 0.9)
        q = rng.uniform(0.0, min(w1, 1 - w1) * 0.9)
        subs = {_symbol(st.rhs, "L_B"): lip, _symbol(st.rhs, "Delta"): sep,
                _symbol(st.rhs, "w_1"): w1, _symbol(st.rhs, "q"): q, _symbol(st.rhs, "p"): 1}
        pairs.append((st.rhs.subs(subs), prop.evaluate(lip, sep, q, (w1, 1 - w1), 1)))
    return pairs


CHECKS = {
    "T2-local": _t2_local_root,
    "T3-local": _t3_local_vertex,
    "T4-local": _t4_local_bridge,
    "T5-local": _t5_local_wasserstein,
    "T1": _by_name({"Delta_ij": "separation"}),
    "T2": _t2_frontier,
    "T3": _t3_k_modes,
    "T4": _by_name({"Delta": "separation"}),
    "T5": _t5_wasserstein,
    "T6": _t6_flow,
    "T7": _t7_chunk,
    "T8": _by_name({"mu_B": "mass", "mu^+_B": "boundary_measure"}),
    **{f"L{i}": _by_name() for i in (1, 3, 4, 5, 6)},
}


def test_all_propositions_present():
    assert set(IDS) <= set(theory.PROPOSITIONS)
    for pid in IDS:
        prop = theory.PROPOSITIONS[pid]
        assert isinstance(prop, Proposition) and prop.id == pid
        assert prop.title and prop.assumptions and prop.reference


@pytest.mark.parametrize("pid", IDS)
def test_statement_is_relational_and_renders(pid):
    prop = theory.PROPOSITIONS[pid]
    statement = prop.statement()
    assert isinstance(statement, Relational), f"{pid}: {type(statement).__name__}"
    latex = prop.latex()
    assert isinstance(latex, str) and latex == sp.latex(statement)
    assert any(op in latex for op in ("=", r"\leq", r"\geq", "<", ">"))


@pytest.mark.parametrize("pid", IDS)
def test_evaluate_is_public(pid):
    prop = theory.PROPOSITIONS[pid]
    for fn in (prop.evaluate, *prop.related):
        assert fn.__name__ in theory.__all__, f"{pid}: {fn.__name__} not in theory.__all__"
        assert getattr(theory, fn.__name__) is fn


def _numeric(expr):
    """A closed SymPy expression as a float; its 1-D integrals by scipy quadrature
    (mpmath's arbitrary-precision quadrature takes seconds per integral)."""
    expr = sp.sympify(expr)
    for integral in expr.atoms(sp.Integral):
        ((var, lo, hi),) = integral.limits
        f = sp.lambdify(var, integral.function, modules=["scipy", "numpy"])
        value = integrate.quad(f, float(lo), float(hi), epsabs=1e-13, epsrel=1e-12)[0]
        expr = expr.subs(integral, value)
    return float(sp.N(expr, 20))


@pytest.mark.parametrize("pid", sorted(CHECKS))
def test_statement_agrees_with_evaluate(pid):
    prop = theory.PROPOSITIONS[pid]
    rng = np.random.default_rng(sum(map(ord, pid)))
    for statement_side, evaluated in CHECKS[pid](prop, rng):
        assert _numeric(statement_side) == pytest.approx(float(evaluated), rel=1e-9, abs=1e-12)


def test_l2_fano_statement_agrees_with_evaluate():
    prop = theory.PROPOSITIONS["L2"]
    statement = prop.statement()
    rhs = statement.rhs
    k_sym = next(s for s in rhs.free_symbols if s.name == "K")
    w = next(b for b in rhs.atoms(sp.IndexedBase))
    error = next(s for s in rhs.free_symbols if s.name == "error")
    rng = np.random.default_rng(2)
    for k in (2, 3, 5):
        weights = rng.dirichlet(np.ones(k))
        d = float(rng.uniform(0.01, (k - 1) / k))
        expr = rhs.subs(k_sym, k).doit()
        expr = expr.subs({w[i + 1]: weights[i] for i in range(k)}).subs(error, d)
        expected = max(0.0, float(expr))
        assert expected == pytest.approx(prop.evaluate(weights, d), abs=1e-12)
