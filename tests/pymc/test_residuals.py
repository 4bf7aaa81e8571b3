"""Pseudo-residuals against a hand-written forward filter, and their calibration."""

import numpy as np
import pymc as pm
import pytest
from scipy import stats

from jaxbridge._compat import from_dict
from jaxbridge.pymc import MarginalHMM, pseudo_residuals

INIT = np.array([0.6, 0.4])
TRANS = np.array([[0.9, 0.1], [0.2, 0.8]])
MU, SIGMA = np.array([-1.0, 2.0]), np.array([0.5, 1.0])


def _model(y, emission="normal"):
    with pm.Model() as model:
        init = pm.Dirichlet("init", np.ones(2))
        trans = pm.Dirichlet("trans", np.ones(2), shape=(2, 2))
        if emission == "normal":
            mu = pm.Normal("mu", 0, 5, shape=2)
            dist = pm.Normal.dist(mu, SIGMA)
        else:
            mu = pm.Exponential("mu", 0.1, shape=2)
            dist = pm.Poisson.dist(mu)
        MarginalHMM("y", init, trans, dist, observed=y)
    return model


def _at(values):
    """A one-draw posterior: its mean is ``values``."""
    return from_dict({"posterior": {k: np.asarray(v)[None, None] for k, v in values.items()}})


def _reference(y, cdf):
    """The definition, step by step in NumPy: predicted states, mixture CDF, filter update."""
    out = np.full(y.shape, np.nan)
    for n, seq in enumerate(y):
        predicted = INIT
        for t, value in enumerate(seq):
            if np.isnan(value):  # missing: no update, the chain moves on
                predicted = predicted @ TRANS
                continue
            out[n, t] = stats.norm.ppf(np.sum(predicted * cdf(value)))
            filtered = predicted * np.exp(_log_density(value))
            predicted = (filtered / filtered.sum()) @ TRANS
    return out


def _log_density(value):
    return stats.norm.logpdf(value, MU, SIGMA)


def test_normal_residuals_match_the_definition_with_missing_steps(rng):
    y = rng.normal(size=(3, 7)) * 2
    y[1, 2] = y[2, 0] = np.nan
    model = _model(y)
    got = pseudo_residuals(_at({"init": INIT, "trans": TRANS, "mu": MU}), model)
    want = _reference(y, lambda v: stats.norm.cdf(v, MU, SIGMA))
    # PyMC's Normal log-CDF is a tail-stable approximation, good to ~1e-7 relative
    np.testing.assert_allclose(got.values, want, rtol=1e-6, atol=1e-8)
    assert np.isnan(got.values[1, 2]) and got.dims == ("sequence", "time")


def test_residuals_are_standard_normal_under_the_true_model_only(rng):
    """Simulated from the model: N(0, 1) (KS test); with heavier tails than the model: not."""
    n, t = 20, 100
    z = np.zeros((n, t), dtype=int)
    z[:, 0] = rng.random(n) < INIT[1]
    for step in range(1, t):
        z[:, step] = rng.random(n) < TRANS[z[:, step - 1], 1]
    truth = _at({"init": INIT, "trans": TRANS, "mu": MU})
    y = rng.normal(MU[z], SIGMA[z])
    residuals = pseudo_residuals(truth, _model(y)).values.ravel()
    assert stats.kstest(residuals, "norm").pvalue > 0.01
    heavy = MU[z] + SIGMA[z] * rng.standard_t(2, size=z.shape)
    residuals = pseudo_residuals(truth, _model(heavy)).values.ravel()
    assert stats.kstest(residuals, "norm").pvalue < 1e-4


def test_count_residuals_are_mid_pseudo_residuals(rng):
    y = rng.poisson(3.0, size=(1, 5)).astype(np.int64)
    rates = np.array([1.0, 6.0])
    got = pseudo_residuals(_at({"init": INIT, "trans": TRANS, "mu": rates}), _model(y, "poisson"))
    first = np.sum(
        INIT * (stats.poisson.cdf(y[0, 0] - 1, rates) + stats.poisson.cdf(y[0, 0], rates)) / 2
    )
    assert got.values[0, 0] == pytest.approx(stats.norm.ppf(first), rel=1e-9)
    assert np.isfinite(got.values).all()
