"""MarginalHMM as a PyMC distribution: predictive draws, pointwise log-likelihood, input errors."""

import arviz as az
import numpy as np
import pymc as pm
import pytensor.tensor as pt
import pytest

from jaxbridge._compat import from_dict
from jaxbridge.pymc import MarginalHMM

INIT = np.array([0.9, 0.09, 0.01])
TRANS = np.array([[0.9, 0.09, 0.01], [0.1, 0.8, 0.1], [0.2, 0.1, 0.7]])


def _separated_normal(signal=1.0):
    """Normal emissions so narrow that the state is read off the draw: y ≈ (state + 1)."""
    return pm.Normal.dist(mu=(pt.arange(3) + 1) * signal, sigma=1e-3)


def _transition_frequencies(states, num_states):
    counts = np.zeros((num_states, num_states))
    np.add.at(counts, (states[..., :-1].ravel(), states[..., 1:].ravel()), 1)
    return counts / counts.sum(axis=1, keepdims=True)


def test_prior_predictive_simulates_the_hidden_chain():
    with pm.Model(coords={"seq": range(40), "step": range(30)}) as model:
        MarginalHMM("y", INIT, TRANS, _separated_normal(), dims=("seq", "step"))
    prior = pm.sample_prior_predictive(draws=50, random_seed=1, model=model).prior
    assert prior["y"].dims == ("chain", "draw", "seq", "step")
    states = np.rint(prior["y"].values - 1).astype(int)
    assert np.abs(prior["y"].values - (states + 1)).max() < 0.01
    first = np.bincount(states[..., 0].ravel(), minlength=3) / states[..., 0].size
    np.testing.assert_allclose(first, INIT, atol=0.02)  # 2000 draws: sd <= 0.011
    np.testing.assert_allclose(_transition_frequencies(states, 3), TRANS, atol=0.02)


def test_time_varying_and_per_sequence_parameters_in_draws():
    swap, stay = np.array([[0.0, 1.0], [1.0, 0.0]]), np.eye(2)
    trans = np.stack([swap, stay, swap])  # [T-1, K, K]: 0 -> 1 -> 1 -> 0 from state 0
    init = np.array([[1.0, 0.0], [0.0, 1.0]])  # per sequence [N, K]
    emission = pm.Poisson.dist(mu=[1e-9, 1e9])  # state 0 -> 0 counts, state 1 -> huge
    rv = MarginalHMM.dist(init, trans, emission, time_varying=True, shape=(2, 4))
    draws = pm.draw(rv, draws=3, random_seed=2)
    assert draws.dtype.kind == "i"
    np.testing.assert_array_equal(
        draws > 1000, np.broadcast_to([[0, 1, 1, 0], [1, 0, 0, 1]], (3, 2, 4))
    )


def _fake_posterior(signal_draws):
    """An InferenceData whose posterior holds the given signal draws (one chain)."""
    return from_dict({"posterior": {"signal": np.asarray(signal_draws)[None]}})


def test_posterior_predictive_uses_posterior_draws():
    y = np.tile(np.array([1.0, 2.0, 3.0, 2.0]), (5, 1))
    with pm.Model() as model:
        pm.Normal("signal", 1.0, 1.0)
        MarginalHMM("y", INIT, TRANS, _separated_normal(model["signal"]), observed=y)
    idata = _fake_posterior([2.0, 3.0])
    pp = pm.sample_posterior_predictive(idata, model=model, random_seed=3).posterior_predictive
    assert pp["y"].shape == (1, 2, 5, 4)
    for draw, signal in enumerate([2.0, 3.0]):
        ratio = pp["y"].values[0, draw] / signal  # state + 1
        np.testing.assert_allclose(ratio, np.rint(ratio), atol=0.01)


def test_compute_log_likelihood_is_pointwise_per_sequence(rng):
    y = rng.normal(2.0, 0.5, size=(6, 8))
    with pm.Model(coords={"seq": range(6), "step": range(8)}) as model:
        signal = pm.Normal("signal", 1.0, 1.0)
        emission = pm.Normal.dist(mu=(pt.arange(3) + 1) * signal, sigma=0.5)
        rv = MarginalHMM("y", INIT, TRANS, emission, observed=y, dims=("seq", "step"))
    draws = [0.8, 1.0, 1.3]
    idata = pm.compute_log_likelihood(_fake_posterior(draws), model=model, progressbar=False)
    loglik = idata.log_likelihood["y"]
    assert loglik.dims == ("chain", "draw", "seq")
    per_sequence = pm.logp(rv, y)
    for i, signal_value in enumerate(draws):
        expected = per_sequence.eval({model["signal"]: signal_value})
        np.testing.assert_allclose(loglik.values[0, i], expected, rtol=1e-10)


@pytest.mark.filterwarnings("ignore:Estimated shape parameter of Pareto")  # fake posterior
def test_loo_and_compare_between_state_counts(rng):
    """az.loo/az.compare on per-sequence log-likelihoods of a K=2 and a K=3 model."""
    y = rng.normal(2.0, 0.5, size=(12, 6))
    idatas = {}
    for k in (2, 3):
        with pm.Model() as model:
            signal = pm.Normal("signal", 1.0, 1.0)
            emission = pm.Normal.dist(mu=(pt.arange(k) + 1) * signal, sigma=0.5)
            MarginalHMM("y", np.ones(k) / k, np.full((k, k), 1 / k), emission, observed=y)
        posterior = _fake_posterior(rng.normal(1.0, 0.05, size=200))
        idatas[f"K={k}"] = pm.compute_log_likelihood(posterior, model=model, progressbar=False)
    assert az.loo(idatas["K=2"]).n_data_points == 12
    comparison = az.compare(idatas)
    assert set(comparison.index) == {"K=2", "K=3"}


def test_nan_observations_are_not_imputed_and_draws_are_complete(rng):
    y = rng.normal(2.0, 0.5, size=(3, 5))
    y[1, 2] = np.nan
    with pm.Model() as model:
        MarginalHMM("y", INIT, TRANS, _separated_normal(), observed=y)
    assert not model.free_RVs and not model.deterministics
    draws = pm.draw(model["y"], random_seed=1)
    assert draws.shape == (3, 5) and np.isfinite(draws).all()


# ----------------------------------------------------------------------------- errors


def test_init_or_trans_with_wrong_number_of_states_is_a_clear_error():
    y = np.zeros((4, 6))
    with pm.Model():
        with pytest.raises(ValueError, match=r"init has 4 states.*K=3"):
            MarginalHMM("a", np.ones(4) / 4, TRANS, _separated_normal(), observed=y)
        with pytest.raises(ValueError, match=r"trans has 2 states.*K=3"):
            MarginalHMM("b", INIT, np.full((3, 2), 0.5), _separated_normal(), observed=y)


def test_observed_of_wrong_rank_is_a_clear_error():
    with pm.Model():
        with pytest.raises(ValueError, match="observed must be sequences"):
            MarginalHMM("a", INIT, TRANS, _separated_normal(), observed=np.float64(1.0))
        per_sequence_init = np.tile(INIT, (4, 1))  # [N=4, K]
        with pytest.raises(ValueError, match=r"observed must have at least 2 dimensions"):
            MarginalHMM("b", per_sequence_init, TRANS, _separated_normal(), observed=np.zeros(6))


def test_mask_of_wrong_shape_or_dtype_is_a_clear_error():
    y = np.zeros((4, 6))
    with pm.Model():
        with pytest.raises(ValueError, match=r"mask must have shape \[\.\.\., T\] with T=6"):
            MarginalHMM(
                "a", INIT, TRANS, _separated_normal(), mask=np.ones((4, 5), bool), observed=y
            )
        with pytest.raises(TypeError, match="mask must be boolean"):
            MarginalHMM("b", INIT, TRANS, _separated_normal(), mask=np.ones((4, 6)), observed=y)


def test_emission_must_be_an_unnamed_distribution_with_a_state_axis():
    y = np.zeros((4, 6))
    with pm.Model():
        named = pm.Normal("named", 0, 1, shape=3)
        with pytest.raises(ValueError, match="already registered"):
            MarginalHMM("a", INIT, TRANS, named, observed=y)
        with pytest.raises(TypeError, match=r"emission must be an unnamed distribution"):
            MarginalHMM("b", INIT, TRANS, np.zeros(3), observed=y)
        with pytest.raises(ValueError, match=r"last batch dimension must index the K hidden"):
            MarginalHMM("c", INIT, TRANS, pm.Dirichlet.dist(np.ones(3)), observed=y)


def test_lagged_states_in_draws_and_log_density():
    """``order=1``: the emission indexes the tuples ``(z_t, z_{t-1})``; with time-varying moves
    (the first matrix also moves the regime before step 1), draws follow the tuples, and the
    log-density is the lagged-state likelihood of :func:`jaxbridge.hmm.log_likelihood`."""
    from scipy import stats

    from jaxbridge import hmm

    swap, stay = np.array([[0.0, 1.0], [1.0, 0.0]]), np.eye(2)
    trans = np.stack([swap, stay, swap])  # z_0 = 0 -> 1 -> 0 -> 0 -> 1
    emission = pm.Normal.dist(mu=np.arange(4.0), sigma=1e-3)  # tuple 2 z_t + z_{t-1}
    rv = MarginalHMM.dist([1.0, 0.0], trans, emission, time_varying=True, order=1, shape=(4,))
    np.testing.assert_allclose(pm.draw(rv, random_seed=3), [2, 1, 0, 2], atol=0.01)
    soft = np.stack([[[0.7, 0.3], [0.4, 0.6]]] * 3)
    y = np.array([2.1, 0.9, 0.2, 1.7])
    emission = pm.Normal.dist(mu=np.arange(4.0), sigma=0.5)
    init = np.array([0.6, 0.4])
    rv = MarginalHMM.dist(init, soft, emission, time_varying=True, order=1, shape=(4,))
    log_emission = pm.logp(emission, y[:, None]).eval()  # [T, 4]
    np.testing.assert_allclose(log_emission, stats.norm.logpdf(y[:, None], range(4), 0.5), 1e-8)
    expected = hmm.log_likelihood(log_emission, init, soft, time_varying=True, order=1)
    np.testing.assert_allclose(pm.logp(rv, y).eval(), expected, rtol=1e-10)
