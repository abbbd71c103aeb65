"""Covariance structures: the analytic derivatives against finite differences, and the parametrisations.

Reference values here are central finite differences of the structures' own ``sigma`` / ``sigma_nat`` /
``jac_nat`` (step 1e-5 relative, Richardson-extrapolated), an independent computation of the same
derivatives; agreement is required to 1e-7 relative to the largest element.
"""

from __future__ import annotations

import numpy as np
import pytest

from painstudy.models.mixed.covariance import make_structure

STRUCTURES = ["us", "cs", "csh", "ar1", "ar1h", "toep", "toeph", "ad", "adh"]


def _richardson(fun, x, h):
    """Central difference of ``fun`` at ``x`` along each coordinate, Richardson-extrapolated (error O(h^4))."""
    out = []
    for i in range(len(x)):
        e = np.zeros(len(x))
        e[i] = h * max(abs(x[i]), 1.0)
        d1 = (fun(x + e) - fun(x - e)) / (2 * e[i])
        d2 = (fun(x + 2 * e) - fun(x - 2 * e)) / (4 * e[i])
        out.append((4 * d1 - d2) / 3)
    return np.stack(out)


def _theta(structure, T, seed):
    """A random point of the optimisation parametrisation (moderate correlations)."""
    s = make_structure(structure, T)
    rng = np.random.default_rng(seed)
    th = rng.normal(0, 0.6, s.n_theta)
    return s, th


@pytest.mark.parametrize("T", [2, 4, 6])
@pytest.mark.parametrize("structure", STRUCTURES)
def test_jac_is_the_derivative_of_sigma(structure, T):
    s, th = _theta(structure, T, seed=T)
    J = s.jac(th)
    J_fd = _richardson(s.sigma, th, 1e-4)
    np.testing.assert_allclose(J, J_fd, rtol=0, atol=1e-7 * np.abs(J_fd).max())


@pytest.mark.parametrize("T", [2, 4, 6])
@pytest.mark.parametrize("structure", STRUCTURES)
def test_natural_derivatives(structure, T):
    s, th = _theta(structure, T, seed=10 + T)
    phi = s.natural(th)
    np.testing.assert_allclose(s.sigma_nat(phi), s.sigma(th), rtol=1e-12, atol=1e-12)
    J = s.jac_nat(phi)
    J_fd = _richardson(s.sigma_nat, phi, 1e-4)
    np.testing.assert_allclose(J, J_fd, rtol=0, atol=1e-7 * np.abs(J_fd).max())
    H = s.hess_nat(phi)
    assert H.shape == (len(phi), len(phi), T, T)
    H_fd = _richardson(s.jac_nat, phi, 1e-4)
    np.testing.assert_allclose(H, H_fd, rtol=0, atol=1e-7 * max(np.abs(H_fd).max(), 1.0))
    np.testing.assert_array_equal(H, H.transpose(1, 0, 2, 3))
    if s.linear_natural:
        assert not np.any(H)


@pytest.mark.parametrize("structure", ["ar1", "ar1h", "ad", "adh", "csh", "toeph"])
def test_derivatives_at_high_correlation(structure):
    # the regime of nlme's BodyWeight (within-subject correlations 0.98-0.99), where finite differences of
    # the old implementation moved the Satterthwaite df; the analytic derivatives stay exact
    T = 11
    s = make_structure(structure, T)
    rng = np.random.default_rng(5)
    nv = T if s.name.endswith("h") else 1
    v = np.exp(rng.normal(8, 0.5, nv))
    k = len(s.natural_names()) - nv
    c = np.full(k, 0.99) if s.name.startswith(("ad", "ar1", "cs")) else 0.99 ** np.arange(1, k + 1)
    phi = np.concatenate([v, c])
    H = s.hess_nat(phi)
    H_fd = _richardson(s.jac_nat, phi, 1e-6)
    np.testing.assert_allclose(H, H_fd, rtol=0, atol=1e-6 * np.abs(H_fd).max())
