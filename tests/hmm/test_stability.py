"""Long sequences, zero probabilities and impossible data."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxbridge import hmm

from . import _reference as ref

ARGNUMS = (0, 1, 2)


@pytest.fixture(scope="module")
def long_hmm():
    """T = 100,000 steps, K = 10 states, sticky chain, strongly informative emissions."""
    rng = np.random.default_rng(3)
    num_states, num_steps = 10, 100_000
    trans = 0.9 * np.eye(num_states) + 0.1 * rng.dirichlet(np.ones(num_states), num_states)
    init = rng.dirichlet(np.ones(num_states))
    log_emission = rng.normal(scale=4.0, size=(num_steps, num_states)) - 30.0
    mask = rng.random(num_steps) < 0.9
    return log_emission, init, trans, mask


@pytest.mark.parametrize("method", ["sequential", pytest.param("parallel", marks=pytest.mark.slow)])
def test_long_sequence_finite_in_float32_and_float64(long_hmm, method):
    log_emission, init, trans, mask = long_hmm

    def value_and_grads(dtype):
        args = [jnp.asarray(a, dtype) for a in (log_emission, init, trans)]
        f = jax.jit(
            jax.value_and_grad(
                lambda le, p0, a: hmm.log_likelihood(le, p0, a, mask, method=method), ARGNUMS
            )
        )
        return f(*args)

    value64, grads64 = value_and_grads(jnp.float64)
    value32, grads32 = value_and_grads(jnp.float32)
    assert value32.dtype == jnp.float32
    assert np.isfinite(value64) and np.isfinite(value32)
    assert value64 < -2e6  # a log-likelihood far below what a log-space float32 sum resolves
    np.testing.assert_allclose(value32, value64, rtol=1e-5)
    for g64, g32 in zip(grads64, grads32, strict=True):
        assert np.all(np.isfinite(g64)) and np.all(np.isfinite(g32))
        np.testing.assert_allclose(g32, g64, rtol=2e-2, atol=1e-3 * np.abs(g64).max())
    # d/d log_emission are posterior marginals: they sum to one at observed steps
    np.testing.assert_allclose(grads64[0].sum(-1), mask.astype(float), atol=1e-10)


@pytest.mark.parametrize("method", ["sequential", "parallel"])
def test_zero_probabilities_match_enumeration(rng, method):
    """Left-to-right chain, zero initial mass: exact values and smoothed marginals."""
    log_emission, _, _ = ref.random_hmm(rng, (2,), 6, 3)
    init = np.array([0.0, 0.7, 0.3])
    trans = np.array([[1.0, 0.0, 0.0], [0.0, 0.6, 0.4], [0.2, 0.0, 0.8]])
    sm = hmm.smooth(log_emission, init, trans, method=method)
    for n in range(2):
        np.testing.assert_allclose(
            sm.log_likelihood[n], ref.log_likelihood(log_emission[n], init, trans), rtol=1e-12
        )
        np.testing.assert_allclose(
            sm.smoothed_probs[n], ref.smoothed(log_emission[n], init, trans), atol=1e-12
        )


@pytest.mark.parametrize("method", ["sequential", "parallel"])
def test_impossible_data_give_minus_inf_not_nan(method):
    """Data the model cannot produce: log-likelihood -inf, probabilities without NaN."""
    init = np.array([1.0, 0.0])
    trans = np.eye(2)  # the chain stays in state 0
    log_emission = np.zeros((4, 2))
    log_emission[2, 0] = -np.inf  # ... but step 2 rules out state 0
    assert hmm.log_likelihood(log_emission, init, trans, method=method) == -np.inf
    log_emission[2, 1] = -np.inf  # every state impossible at step 2
    assert hmm.log_likelihood(log_emission, init, trans, method=method) == -np.inf
    filtered = hmm.filter(log_emission, init, trans, method=method).filtered_probs
    assert not np.any(np.isnan(filtered))
