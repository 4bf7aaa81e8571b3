"""simulate / simulate_normal: empirical frequencies against the parameters."""

import jax
import numpy as np

from jaxbridge import hmm


def _within(freq, prob, count, z=5.0):
    """Frequencies agree with probabilities within ``z`` binomial standard errors."""
    se = np.sqrt(np.maximum(prob * (1 - prob), 1e-12) / np.maximum(count, 1))
    return np.all(np.abs(freq - prob) <= z * se + 1e-12)


def test_transition_and_initial_frequencies(key):
    init = np.array([0.5, 0.3, 0.2, 0.0])
    trans = np.array(
        [[0.7, 0.2, 0.1, 0.0], [0.1, 0.6, 0.0, 0.3], [0.2, 0.2, 0.5, 0.1], [0.3, 0.0, 0.3, 0.4]]
    )
    states = np.asarray(hmm.simulate(key, init, trans, 50, batch_shape=(400,)))
    assert states.shape == (400, 50)
    assert states.dtype == np.int32
    first = np.bincount(states[:, 0], minlength=4)
    assert _within(first / 400, init, 400)
    counts = np.zeros((4, 4))
    np.add.at(counts, (states[:, :-1].ravel(), states[:, 1:].ravel()), 1)
    rows = counts.sum(1, keepdims=True)
    assert _within(counts / rows, trans, rows)
    assert counts[0, 3] == counts[1, 2] == counts[3, 1] == 0


def test_time_varying_and_batch_broadcast(key):
    """Deterministic time-varying permutations give a known path; per-chain init broadcasts."""
    shift = np.roll(np.eye(3), 1, axis=1)  # state i -> i + 1
    stay = np.eye(3)
    trans = np.stack([shift, stay, shift, shift])  # [T-1, K, K]
    init = np.eye(3)  # [3 chains, K]: chain c starts in state c
    states = np.asarray(hmm.simulate(key, init, trans, 5, time_varying=True, batch_shape=(2, 3)))
    assert states.shape == (2, 3, 5)
    start = np.arange(3)
    expected = np.stack([start, start + 1, start + 1, start + 2, start + 3], axis=-1) % 3
    np.testing.assert_array_equal(states, np.broadcast_to(expected, (2, 3, 5)))


def test_simulate_normal_moments(key):
    init = np.array([0.6, 0.4])
    trans = np.array([[0.9, 0.1], [0.2, 0.8]])
    means = np.array([-1.0, 2.0])
    sigma = np.array([0.5, 0.1])
    states, emissions = hmm.simulate_normal(key, init, trans, means, sigma, 200, batch_shape=(50,))
    states, emissions = np.asarray(states), np.asarray(emissions)
    assert states.shape == emissions.shape == (50, 200)
    for k in range(2):
        y = emissions[states == k]
        assert abs(y.mean() - means[k]) < 5 * sigma[k] / np.sqrt(y.size)
        assert abs(y.std() / sigma[k] - 1) < 0.05
    same = hmm.simulate_normal(key, init, trans, means, sigma, 200, batch_shape=(50,))
    np.testing.assert_array_equal(same[1], emissions)
    other = hmm.simulate_normal(jax.random.split(key)[1], init, trans, means, 0.3, 200)
    assert other[1].shape == (200,)
