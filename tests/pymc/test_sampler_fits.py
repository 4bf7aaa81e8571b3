"""Fitting MarginalHMM models with every sampler (quick smoke runs; slow recovery runs)."""

import numpy as np
import pymc as pm
import pytensor.tensor as pt
import pytest

from jaxbridge import hmm
from jaxbridge.cli._report import summary_table
from jaxbridge.datasets import seed_page_data
from jaxbridge.pymc import MarginalHMM, decode, sample

SAMPLERS = ["pymc", "numpyro", "blackjax", "nutpie"]


def page_model(emissions: np.ndarray) -> pm.Model:
    """The example page's model, written with MarginalHMM."""
    with pm.Model(coords={"state": range(3)}) as model:
        signal = pm.Normal("emission_signal", 0, 1)
        noise = pm.HalfNormal("emission_noise", 1)
        init = pm.Dirichlet("p_initial_state", np.ones(3), dims="state")
        trans = pm.Dirichlet("p_transition", np.ones(3), size=3)
        emission = pm.Normal.dist(mu=(pt.arange(3) + 1) * signal, sigma=noise)
        MarginalHMM("y", init=init, trans=trans, emission=emission, observed=emissions)
    return model


# PyMC's own NUTS runs the JAX op from Python, step by step (minutes on this model): its
# recovery and decoding are tests/pymc/test_dominant_mode.py::test_every_sampler_finds_the_dominant_mode[pymc]
@pytest.mark.parametrize("sampler", [s for s in SAMPLERS if s != "pymc"])
def test_every_sampler_fits_the_page_model_quickly(sampler):
    data = seed_page_data(n_series=12)
    model = page_model(data.emissions)
    idata = sample(
        model,
        sampler=sampler,
        draws=100,
        tune=100,
        chains=2,
        random_seed=3,
        progressbar=False,
    )
    post = idata.posterior
    assert abs(float(post["emission_signal"].mean()) - data.signal) < 0.03
    assert abs(float(post["emission_noise"].mean()) - data.noise) < 0.03
    assert post["p_transition"].shape == (2, 100, 3, 3)
    np.testing.assert_allclose(post["p_transition"].sum("p_transition_dim_1"), 1.0)
    # the hidden states decoded from every sampler's draws
    states = decode(idata, model)
    assert (states["viterbi"].values == data.states).mean() > 0.95
    assert (states["most_probable_state"].values == data.states).mean() > 0.95


@pytest.mark.slow
def test_poisson_hmm_recovers_its_parameters():
    import jax

    rates, init = np.array([2.0, 9.0]), np.array([0.5, 0.5])
    trans = np.array([[0.85, 0.15], [0.25, 0.75]])
    states = np.asarray(hmm.simulate(jax.random.key(5), init, trans, 60, batch_shape=(40,)))
    counts = np.random.default_rng(6).poisson(rates[states])
    with pm.Model():
        low = pm.Exponential("low", 0.2)
        gap = pm.Exponential("gap", 0.2)
        init_rv = pm.Dirichlet("init", np.ones(2))
        trans_rv = pm.Dirichlet("trans", np.ones(2), size=2)
        emission = pm.Poisson.dist(mu=pt.stack([low, low + gap]))
        MarginalHMM("counts", init_rv, trans_rv, emission, observed=counts)
        idata = sample(draws=1000, tune=1000, chains=4, random_seed=2, progressbar=False)
    truth = {"low": rates[0], "gap": rates[1] - rates[0], "trans": trans}
    table = summary_table(idata, ["low", "gap", "init", "trans"], truth)
    known = table.dropna(subset=["true"])
    assert ((known["mean"] - known["true"]).abs() < 4 * known["sd"]).all(), table
    assert (table["r_hat"] < 1.01).all(), table
