"""The replicated data of a fit (``jaxbridge.cli._fit._replicates``): drawn from the model at
the posterior's draws in one JAX function, as PyMC's own forward sampler draws them."""

from unittest import mock

import numpy as np
import pymc as pm

from jaxbridge import _compat
from jaxbridge.cli._data import make_dataset
from jaxbridge.cli._fit import N_REPLICATES, _replicates
from jaxbridge.cli._model import build_model
from jaxbridge.cli._params import Truth
from jaxbridge.datasets import simulate_normal_hmm

TRUTH = Truth(np.array([0.3, 0.7]), np.array([[0.9, 0.1], [0.2, 0.8]]), 1.0, 0.1)


def _transition_frequencies(states: np.ndarray) -> np.ndarray:
    counts = np.zeros((2, 2))
    np.add.at(counts, (states[..., :-1].ravel(), states[..., 1:].ravel()), 1)
    return counts / counts.sum(axis=1, keepdims=True)


def test_replicates_follow_the_hidden_chain_as_pymcs_forward_sampler(rng):
    states, emissions = simulate_normal_hmm(rng, *TRUTH, n_series=20, n_steps=30)
    data = make_dataset(emissions, states, TRUTH)
    fit_model = build_model(data, 2, "normal", source="test")
    draws = 2 * N_REPLICATES  # every draw at the true values: the replicates are the model's
    posterior = _compat.from_dict(
        {
            "posterior": {
                name: np.broadcast_to(value, (1, draws, *np.shape(value)))
                for name, value in fit_model.truth.items()
            }
        }
    )
    with mock.patch.object(
        pm, "sample_posterior_predictive", wraps=pm.sample_posterior_predictive
    ) as forward:
        replicated = _replicates(posterior, fit_model.model, seed=1)["hmm"]
    assert not forward.called  # drawn in JAX, not by PyMC's sampler
    by_pymc = pm.sample_posterior_predictive(
        posterior, model=fit_model.model, random_seed=2, progressbar=False
    ).posterior_predictive["hmm"]
    assert replicated.dims == by_pymc.dims
    for dim in replicated.dims[2:]:
        np.testing.assert_array_equal(replicated[dim], by_pymc[dim])
    ours, reference = replicated.values, by_pymc.values[:, :N_REPLICATES]
    assert ours.shape == reference.shape == (1, N_REPLICATES, 20, 31)  # the first step, then 30
    assert ours.dtype == np.float64
    # states 1.0 and 2.0 apart by 10 noise sd: each value names its state
    ours_states, reference_states = (
        np.rint(ours - 1).astype(int),
        np.rint(reference - 1).astype(int),
    )
    np.testing.assert_allclose((ours - (ours_states + 1)).std(), 0.1, rtol=0.05)
    # 100 x 20 x 30 moves: sd of each frequency <= 0.005
    np.testing.assert_allclose(_transition_frequencies(ours_states), TRUTH.trans, atol=0.02)
    np.testing.assert_allclose(
        _transition_frequencies(ours_states), _transition_frequencies(reference_states), atol=0.02
    )
    first = (ours_states[..., 0] == 1).mean()
    np.testing.assert_allclose(first, TRUTH.init[1], atol=0.03)  # 2000 sequences: sd 0.01
