"""viterbi against brute-force enumeration."""

import numpy as np
import pytest

from jaxbridge import hmm

from . import _reference as ref


@pytest.mark.parametrize(
    ("num_states", "num_steps", "masked", "time_varying"),
    [(2, 1, False, False), (2, 7, True, False), (3, 5, True, True), (4, 4, False, False)],
)
def test_matches_enumeration(rng, num_states, num_steps, masked, time_varying):
    batch = 4
    log_emission, init, trans = ref.random_hmm(
        rng, (batch,), num_steps, num_states, time_varying=time_varying
    )
    mask = rng.random((batch, num_steps)) < 0.7 if masked else None
    result = hmm.viterbi(log_emission, init, trans, mask, time_varying=time_varying)
    assert result.path.shape == (batch, num_steps)
    assert result.path.dtype == np.int32
    for n in range(batch):
        mask_n = None if mask is None else mask[n]
        path, log_prob = ref.viterbi(
            log_emission[n], init, trans, mask_n, time_varying=time_varying
        )
        np.testing.assert_array_equal(result.path[n], path)
        np.testing.assert_allclose(result.log_prob[n], log_prob, rtol=1e-12)


def test_zero_probabilities_and_log_probs(rng):
    """A left-to-right chain: the decoded path never uses an impossible transition."""
    log_emission, _, _ = ref.random_hmm(rng, (3,), 6, 3)
    init = np.array([1.0, 0.0, 0.0])
    trans = np.array([[0.6, 0.4, 0.0], [0.0, 0.7, 0.3], [0.0, 0.0, 1.0]])
    result = hmm.viterbi(log_emission, init, trans)
    with np.errstate(divide="ignore"):
        logged = hmm.viterbi(log_emission, np.log(init), np.log(trans), log_probs=True)
    np.testing.assert_array_equal(logged.path, result.path)
    for n in range(3):
        path, log_prob = ref.viterbi(log_emission[n], init, trans)
        np.testing.assert_array_equal(result.path[n], path)
        np.testing.assert_allclose(result.log_prob[n], log_prob, rtol=1e-12)
        assert np.all(np.diff(path) >= 0)


def test_float32(rng):
    log_emission, init, trans = ref.random_hmm(rng, (2,), 6, 3)
    result = hmm.viterbi(*(np.asarray(a, np.float32) for a in (log_emission, init, trans)))
    assert result.log_prob.dtype == np.float32
    np.testing.assert_array_equal(result.path, hmm.viterbi(log_emission, init, trans).path)
