"""Input validation: clear errors naming the argument, nothing under jit."""

import jax
import numpy as np
import pytest

from jaxbridge import hmm
from jaxbridge._validation import check_probabilities

K, T = 3, 4
LE = np.zeros((2, T, K))
INIT = np.full(K, 1 / K)
TRANS = np.full((K, K), 1 / K)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (dict(init=np.full(4, 0.25)), ValueError, r"init must have shape \[\.\.\., K\] with K=3"),
        (dict(trans=np.full((3, 4), 0.25)), ValueError, r"trans must have shape .* K=3"),
        (dict(trans=np.full(3, 1 / 3)), ValueError, r"trans must have shape \[\.\.\., K, K\]"),
        (
            dict(log_emission=np.zeros(3)),
            ValueError,
            r"log_emission must have shape \[\.\.\., T, K\]",
        ),
        (dict(log_emission=np.zeros((2, 0, 3))), ValueError, "T >= 1"),
        (dict(log_emission=np.zeros((2, T, K), int)), TypeError, "log_emission must be a floating"),
        (dict(mask=np.ones((2, T), int)), TypeError, "mask must be a boolean"),
        (
            dict(mask=np.ones((2, T + 1), bool)),
            ValueError,
            r"mask must have shape \[\.\.\., T\] with T=4",
        ),
        (dict(mask=np.ones((5, T), bool)), ValueError, "batch dimensions"),
        (dict(init=np.array([0.5, 0.3, 0.3])), ValueError, "init must sum to one"),
        (dict(trans=np.eye(3) * 0.9), ValueError, "trans must sum to one"),
        (dict(init=np.array([1.2, -0.2, 0.0])), ValueError, "init must be non-negative"),
        (dict(trans=np.where(np.eye(3) > 0, np.nan, 0.5)), ValueError, "trans contains NaN"),
        (dict(time_varying=True), ValueError, r"trans must have shape \[\.\.\., T-1, K, K\]"),
        (dict(time_varying=True, trans=np.full((T, K, K), 1 / K)), ValueError, "T-1=3"),
        (dict(log_probs=True), ValueError, r"exp\(init\) must sum to one"),
        (dict(method="fast"), ValueError, "method must be one of"),
    ],
)
def test_bad_inputs_raise(kwargs, error, match):
    args = dict(log_emission=LE, init=INIT, trans=TRANS, mask=None)
    args.update(kwargs)
    with pytest.raises(error, match=match):
        hmm.log_likelihood(**args)


@pytest.mark.parametrize("func", [hmm.filter, hmm.smooth, hmm.viterbi])
def test_other_entry_points_validate(func):
    with pytest.raises(ValueError, match="init must sum to one"):
        func(LE, INIT * 2, TRANS)


def test_sampling_and_simulation_validate(key):
    with pytest.raises(ValueError, match="trans must sum to one"):
        hmm.sample_paths(key, LE, INIT, TRANS * 2)
    with pytest.raises(ValueError, match="num_samples"):
        hmm.sample_paths(key, LE, INIT, TRANS, num_samples=0)
    with pytest.raises(ValueError, match="num_steps must be >= 1"):
        hmm.simulate(key, INIT, TRANS, 0)
    with pytest.raises(ValueError, match="trans must have shape"):
        hmm.simulate(key, INIT, np.full((2, 2), 0.5), 5)
    with pytest.raises(ValueError, match="batch dimensions"):
        hmm.simulate(key, np.full((4, K), 1 / K), TRANS, 5, batch_shape=(3,))
    with pytest.raises(ValueError, match=r"means must have shape \[K\]"):
        hmm.simulate_normal(key, INIT, TRANS, np.zeros(2), 1.0, 5)
    with pytest.raises(ValueError, match="sigma must be a scalar"):
        hmm.simulate_normal(key, INIT, TRANS, np.zeros(3), np.ones(2), 5)


def test_value_checks_skipped_under_jit():
    """Under tracing only static checks run: unnormalised values go through (documented)."""
    value = jax.jit(hmm.log_likelihood)(LE, INIT * 2, TRANS)
    np.testing.assert_allclose(value, np.log(2.0))
    with pytest.raises(ValueError, match="init must have shape"):
        jax.jit(hmm.log_likelihood)(LE, np.full(4, 0.25), TRANS)


def test_float32_tolerance():
    almost = np.array([0.2, 0.3, 0.50002], np.float32)
    check_probabilities("p", almost)
    with pytest.raises(ValueError, match="p must sum to one"):
        check_probabilities("p", almost.astype(np.float64))
