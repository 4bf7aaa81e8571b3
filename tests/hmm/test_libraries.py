"""Agreement with hmmlearn and dynamax on random Gaussian HMMs."""

import jax
import numpy as np
import pytest
from scipy import stats

from jaxbridge import hmm

from . import _reference as ref

NUM_STATES, NUM_STEPS = 4, 60


@pytest.fixture
def gaussian_hmm(rng, key):
    _, init, trans = ref.random_hmm(rng, (), NUM_STEPS, NUM_STATES)
    means = np.sort(rng.normal(scale=2.0, size=NUM_STATES))
    sds = rng.uniform(0.5, 1.5, size=NUM_STATES)
    states = np.asarray(hmm.simulate(key, init, trans, NUM_STEPS))
    y = rng.normal(means[states], sds[states])
    log_emission = stats.norm.logpdf(y[:, None], means, sds)
    return dict(y=y, init=init, trans=trans, means=means, sds=sds, log_emission=log_emission)


def test_hmmlearn(gaussian_hmm):
    hmmlearn_hmm = pytest.importorskip("hmmlearn.hmm")
    g = gaussian_hmm
    model = hmmlearn_hmm.GaussianHMM(
        n_components=NUM_STATES, covariance_type="diag", init_params="", params=""
    )
    model.startprob_ = g["init"]
    model.transmat_ = g["trans"]
    model.means_ = g["means"][:, None]
    model.covars_ = g["sds"][:, None] ** 2
    X = g["y"][:, None]
    args = (g["log_emission"], g["init"], g["trans"])
    np.testing.assert_allclose(hmm.log_likelihood(*args), model.score(X), rtol=1e-10)
    np.testing.assert_allclose(hmm.smooth(*args).smoothed_probs, model.predict_proba(X), atol=1e-8)
    log_prob, path = model.decode(X, algorithm="viterbi")
    result = hmm.viterbi(*args)
    np.testing.assert_array_equal(result.path, path)
    np.testing.assert_allclose(result.log_prob, log_prob, rtol=1e-10)


def test_dynamax(gaussian_hmm):
    inference = pytest.importorskip("dynamax.hidden_markov_model.inference")
    g = gaussian_hmm
    args = (g["log_emission"], g["init"], g["trans"])
    dyn_args = (g["init"], g["trans"], g["log_emission"])
    # dynamax's own parallel smoother takes over 10 s to compile; ours is checked against it
    # indirectly (method="parallel" vs dynamax's sequential smoother)
    smoothed = jax.jit(inference.hmm_smoother)(*dyn_args)
    for method in ("sequential", "parallel"):
        ours = hmm.smooth(*args, method=method)
        np.testing.assert_allclose(ours.log_likelihood, smoothed.marginal_loglik, rtol=1e-10)
        np.testing.assert_allclose(ours.smoothed_probs, smoothed.smoothed_probs, atol=1e-8)
        filt = hmm.filter(*args, method=method)
        np.testing.assert_allclose(filt.filtered_probs, smoothed.filtered_probs, atol=1e-8)
    mode = jax.jit(inference.hmm_posterior_mode)(*dyn_args)
    np.testing.assert_array_equal(hmm.viterbi(*args).path, mode)
