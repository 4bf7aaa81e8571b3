"""sample_paths (forward filtering, backward sampling) against the enumerated posterior."""

import jax
import numpy as np
import pytest
from scipy import stats

from jaxbridge import hmm

from . import _reference as ref

NUM_SAMPLES = 20_000


def _path_index(paths, num_states):
    weights = num_states ** np.arange(paths.shape[-1] - 1, -1, -1)  # matches itertools.product
    return paths @ weights


@pytest.mark.parametrize(
    ("num_states", "num_steps", "masked", "time_varying"),
    [(2, 4, False, False), (3, 3, True, True)],
)
def test_empirical_path_distribution(rng, key, num_states, num_steps, masked, time_varying):
    """Chi-square goodness of fit of 20,000 sampled paths to p(z | y) over all K^T paths."""
    log_emission, init, trans = ref.random_hmm(
        rng, (2,), num_steps, num_states, time_varying=time_varying
    )
    log_emission *= 0.5  # flatter posterior: more paths with enough expected counts
    mask = np.array([[True, False, True, True][:num_steps], [False, True, True, True][:num_steps]])
    mask = mask if masked else None
    paths = hmm.sample_paths(
        key, log_emission, init, trans, mask, num_samples=NUM_SAMPLES, time_varying=time_varying
    )
    assert paths.shape == (NUM_SAMPLES, 2, num_steps)
    assert paths.dtype == np.int32
    for n in range(2):
        mask_n = None if mask is None else mask[n]
        probs = ref.posterior_paths(log_emission[n], init, trans, mask_n, time_varying=time_varying)
        counts = np.bincount(_path_index(np.asarray(paths[:, n]), num_states), minlength=probs.size)
        expected = probs * NUM_SAMPLES
        keep = expected >= 5  # pool rare paths into one cell
        if not keep.all():
            counts = np.append(counts[keep], counts[~keep].sum())
            expected = np.append(expected[keep], expected[~keep].sum())
        assert keep.sum() >= 8
        assert stats.chisquare(counts, expected).pvalue > 1e-4


def test_respects_zero_probabilities_and_keys(rng, key):
    log_emission, _, _ = ref.random_hmm(rng, (), 8, 3)
    init = np.array([1.0, 0.0, 0.0])
    trans = np.array([[0.5, 0.5, 0.0], [0.0, 0.5, 0.5], [0.0, 0.0, 1.0]])
    paths = np.asarray(hmm.sample_paths(key, log_emission, init, trans, num_samples=500))
    assert np.all(paths[:, 0] == 0)
    assert np.all(np.isin(np.diff(paths, axis=-1), [0, 1]))
    again = hmm.sample_paths(key, log_emission, init, trans, num_samples=500)
    other = hmm.sample_paths(jax.random.split(key)[0], log_emission, init, trans, num_samples=500)
    np.testing.assert_array_equal(again, paths)
    assert not np.array_equal(np.asarray(other), paths)
