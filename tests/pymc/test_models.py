"""The ready-made models of ``jaxbridge.pymc`` (the ones ``jaxbridge fit`` builds), against
brute-force enumeration of the hidden paths."""

import itertools

import numpy as np
import pymc as pm
import pytest
from scipy import stats

from jaxbridge.pymc import (
    gaussian_hmm,
    page_hmm,
    parameter_names,
    poisson_hmm,
    studentt_hmm,
)

INIT = np.array([0.3, 0.7])
TRANS = np.array([[0.8, 0.2], [0.4, 0.6]])
OBSERVED = np.array([[0.9, np.nan, 2.4], [2.2, 1.1, 0.7]])  # a missing observation
COUNTS = np.array([[1.0, np.nan, 4.0], [0.0, 3.0, 7.0]])

MU = np.array([0.5, 1.9])
SIGMA = np.array([0.4, 0.7])
GAUSSIAN = {"emission_mu": MU, "emission_sigma": SIGMA}  # interventions on the deterministics

# per builder: (data, free parameter values, reported names, log-density of y under state k)
CASES = {
    "page": (
        page_hmm,
        OBSERVED,
        {"emission_signal": 1.3, "emission_noise": 0.4},
        ["emission_signal", "emission_noise"],
        lambda y, k: stats.norm.logpdf(y, (k + 1) * 1.3, 0.4),
    ),
    "gaussian": (
        gaussian_hmm,
        OBSERVED,
        GAUSSIAN,
        ["emission_mu", "emission_sigma"],
        lambda y, k: stats.norm.logpdf(y, MU[k], SIGMA[k]),
    ),
    "studentt": (
        studentt_hmm,
        OBSERVED,
        {**GAUSSIAN, "emission_nu": 3.5},
        ["emission_mu", "emission_sigma", "emission_nu"],
        lambda y, k: stats.t.logpdf(y, 3.5, MU[k], SIGMA[k]),
    ),
    "poisson": (
        poisson_hmm,
        COUNTS,
        {"emission_rate": np.array([1.5, 4.0])},
        ["emission_rate"],
        lambda y, k: stats.poisson.logpmf(y, [1.5, 4.0][k]),
    ),
}


def _brute_force(data, emission_logpdf):
    """``sum_n log sum_z p(z) p(y_n | z)`` over all 2^T paths, missing steps skipped."""
    total = 0.0
    for y in data:
        path_probs = []
        for path in itertools.product(range(2), repeat=len(y)):
            log_p = np.log(INIT[path[0]])
            log_p += sum(np.log(TRANS[a, b]) for a, b in itertools.pairwise(path))
            log_p += sum(
                emission_logpdf(v, k) for v, k in zip(y, path, strict=True) if not np.isnan(v)
            )
            path_probs.append(np.exp(log_p))
        total += np.log(np.sum(path_probs))
    return total


@pytest.mark.parametrize("name", list(CASES))
def test_model_likelihood_matches_enumeration(name):
    builder, data, values, names, emission_logpdf = CASES[name]
    model = builder(data, 2)
    assert parameter_names(model) == [*names, "p_initial_state", "p_transition"]
    # the reported parameters are the free variables themselves (no auxiliaries)
    assert [v.name for v in model.free_RVs] == parameter_names(model)
    fixed = pm.do(model, {**values, "p_initial_state": INIT, "p_transition": TRANS})
    log_likelihood = fixed.compile_logp(vars=fixed.observed_RVs)(fixed.initial_point())
    np.testing.assert_allclose(log_likelihood, _brute_force(data, emission_logpdf), rtol=1e-10)


def test_one_state_model_has_no_chain_parameters():
    model = page_hmm(OBSERVED, 1)
    assert parameter_names(model) == ["emission_signal", "emission_noise"]
    fixed = pm.do(model, {"emission_signal": 1.3, "emission_noise": 0.4})
    expected = np.nansum(stats.norm.logpdf(OBSERVED, 1.3, 0.4))
    np.testing.assert_allclose(fixed.compile_logp(vars=fixed.observed_RVs)({}), expected)


def test_ordered_means_and_priors_follow_the_data_scale():
    """Shifted and scaled data get the same prior in standardised units; means stay ordered
    (prior draws ignore the ordered transform: sorted, they are the constrained prior)."""
    rng = np.random.default_rng(3)
    base = rng.normal(size=(4, 30))
    draws = {}
    for shift, scale in [(0.0, 1.0), (1000.0, 50.0)]:
        model = gaussian_hmm(shift + scale * base, 3, shared_noise=True)
        mu, sigma = pm.draw([model["emission_mu"], model["emission_sigma"]], 2000, random_seed=1)
        mu = np.sort(mu, axis=1)
        assert sigma.shape == (2000,)
        start = model.compile_fn(
            {v.name: v for v in model.unobserved_value_vars}["emission_mu"],
            inputs=model.value_vars,
            on_unused_input="ignore",
        )(model.initial_point())
        np.testing.assert_allclose(np.diff(start), scale * base.std())  # ties: one spread apart
        draws[shift] = (mu - np.median(shift + scale * base)) / scale, sigma / scale
    np.testing.assert_allclose(draws[0.0][0], draws[1000.0][0], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(draws[0.0][1], draws[1000.0][1], rtol=1e-6)


@pytest.mark.parametrize("builder", [gaussian_hmm, poisson_hmm])
def test_builders_refuse_observations_no_model_can_fit(builder):
    """Named by sequence label and step, before any prior is scaled by an overflowed spread."""
    y = np.ones((3, 4))
    with pytest.raises(ValueError, match=r"sequence 'b' has no observed step"):
        builder(np.where([[0], [1], [0]], np.nan, y), 2, sequence=["a", "b", "c"])
    y[2, 1] = np.inf
    with pytest.raises(ValueError, match=r"finite .* sequence 2 at step 1 is inf"):
        builder(y, 2)
    y[2, 1] = 1e300
    with pytest.raises(ValueError, match=r"spread overflows float64 \(sequence 'c' at step 1"):
        builder(y, 2, sequence=["a", "b", "c"])


def test_builders_reject_bad_input():
    with pytest.raises(ValueError, match="non-negative integer counts, found -1"):
        poisson_hmm(np.array([[1.0, -1.0]]), 2)
    with pytest.raises(ValueError, match=r"observed must be \[N, T\] or \[T\]"):
        gaussian_hmm(np.zeros((2, 2, 2)), 2)
    with pytest.raises(ValueError, match="states must be a positive integer"):
        gaussian_hmm(OBSERVED, 0)
