"""The stationary distribution: against the power method and statsmodels' steady state, its
gradient by finite differences, and as the start of the builders' chains."""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytensor
import pytensor.tensor as pt
import pytest
from statsmodels.tsa.regime_switching.markov_regression import MarkovRegression

from jaxbridge.pymc import gaussian_hmm, stationary_distribution


def _evaluate(trans: np.ndarray) -> np.ndarray:
    return stationary_distribution(pt.as_tensor(trans)).eval()


@pytest.mark.parametrize("states", [2, 3, 5])
def test_equals_the_power_method_batched(states, rng):
    trans = rng.dirichlet(np.ones(states), size=(4, states))  # [4, K, K]
    power = np.stack([np.linalg.matrix_power(a, 4096)[0] for a in trans])
    np.testing.assert_allclose(_evaluate(trans), power, atol=1e-12)


def test_sticky_chain_is_exact():
    """A chain that power iteration would need ~1e6 steps for."""
    trans = np.array([[1 - 1e-6, 1e-6], [3e-6, 1 - 3e-6]])
    np.testing.assert_allclose(_evaluate(trans), [0.75, 0.25], rtol=1e-8)


def test_equals_statsmodels_steady_state(rng):
    sm_model = MarkovRegression(rng.normal(size=20), k_regimes=3)
    params = np.r_[0.7, 0.2, 0.1, 0.2, 0.5, 0.3, 0.0, 1.0, 2.0, 1.0]
    left = sm_model.regime_transition_matrix(params)[..., 0]  # [to, from]
    np.testing.assert_allclose(
        _evaluate(left.T), sm_model.initial_probabilities(params), atol=1e-12
    )


def test_gradient_matches_finite_differences(rng):
    """Through unconstrained rows (a softmax), as a sampler sees it: central differences of
    one function compiled by JAX (verify_grad compiles one per check: slow on PyTensor 3)."""
    logits = pt.matrix("logits")
    first = stationary_distribution(pt.special.softmax(logits, axis=-1))[0]
    value_and_grad = pytensor.function([logits], [first, pytensor.grad(first, logits)], mode="JAX")
    at = rng.normal(size=(3, 3))
    _, grad = value_and_grad(at)
    step, numeric = 1e-6, np.zeros_like(at)
    for index in np.ndindex(at.shape):
        shift = np.zeros_like(at)
        shift[index] = step
        numeric[index] = (value_and_grad(at + shift)[0] - value_and_grad(at - shift)[0]) / (
            2 * step
        )
    np.testing.assert_allclose(grad, numeric, atol=1e-8)


def test_builders_take_a_stationary_start(rng):
    observed = rng.normal(size=(2, 30))
    model = gaussian_hmm(observed, 2, init="stationary")
    assert "p_initial_state" not in model.named_vars
    trans = np.array([[0.9, 0.1], [0.3, 0.7]])
    values = {"emission_mu": np.array([-1.0, 1.0]), "emission_sigma": np.ones(2)}
    stationary = pm.do(model, {**values, "p_transition": trans})
    free = pm.do(
        gaussian_hmm(observed, 2),
        {**values, "p_transition": trans, "p_initial_state": np.array([0.75, 0.25])},
    )
    logp = [m.compile_logp(vars=m.observed_RVs)({}) for m in (stationary, free)]
    np.testing.assert_allclose(logp[0], logp[1], rtol=1e-12)
    with pytest.raises(ValueError, match="init must be one of 'free', 'stationary'"):
        gaussian_hmm(observed, 2, init="steady")


def test_graph_compiles_to_jax():
    trans = pt.matrix("trans")
    fn = pytensor.function([trans], stationary_distribution(trans), mode="JAX")
    np.testing.assert_allclose(fn(np.array([[0.9, 0.1], [0.3, 0.7]])), [0.75, 0.25], atol=1e-12)
