"""The models ``jaxbridge fit`` builds, against brute-force enumeration of the hidden paths."""

import itertools

import numpy as np
import pymc as pm
import pytest
from scipy import stats

from jaxbridge.cli._model import build_model

INIT = np.array([0.3, 0.7])
TRANS = np.array([[0.8, 0.2], [0.4, 0.6]])
OBSERVED = np.array([[0.9, np.nan, 2.4], [2.2, 1.1, 0.7]])  # a missing observation
COUNTS = np.array([[1.0, np.nan, 4.0], [0.0, 3.0, 7.0]])

# per emission: (data, parameter values, parameter names, log-density of y under state k)
CASES = {
    "normal": (
        OBSERVED,
        {"emission_signal": 1.3, "emission_noise": 0.4},
        ["emission_signal", "emission_noise"],
        lambda y, k: stats.norm.logpdf(y, (k + 1) * 1.3, 0.4),
    ),
    "studentt": (
        OBSERVED,
        {"emission_signal": 1.3, "emission_noise": 0.4, "emission_nu": 3.5},
        ["emission_signal", "emission_noise", "emission_nu"],
        lambda y, k: stats.t.logpdf(y, 3.5, (k + 1) * 1.3, 0.4),
    ),
    "poisson": (
        COUNTS,
        {"emission_rate_step": np.array([1.5, 2.5])},
        ["emission_rate"],
        lambda y, k: stats.poisson.logpmf(y, [1.5, 4.0][k]),  # rates: cumulative sum
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


@pytest.mark.parametrize("emission", list(CASES))
def test_model_likelihood_matches_enumeration(emission):
    data, values, names, emission_logpdf = CASES[emission]
    model, var_names = build_model(data, 2, emission)
    assert var_names == [*names, "p_initial_state", "p_transition"]
    fixed = pm.do(model, {**values, "p_initial_state": INIT, "p_transition": TRANS})
    log_likelihood = fixed.compile_logp(vars=fixed.observed_RVs)({})
    np.testing.assert_allclose(log_likelihood, _brute_force(data, emission_logpdf), rtol=1e-10)


def test_one_state_model_has_no_chain_parameters():
    model, var_names = build_model(OBSERVED, 1, "normal")
    assert var_names == ["emission_signal", "emission_noise"]
    fixed = pm.do(model, {"emission_signal": 1.3, "emission_noise": 0.4})
    expected = np.nansum(stats.norm.logpdf(OBSERVED, 1.3, 0.4))
    np.testing.assert_allclose(fixed.compile_logp(vars=fixed.observed_RVs)({}), expected)
