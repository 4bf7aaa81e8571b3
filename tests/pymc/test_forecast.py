"""jaxbridge.forecast against enumeration, NumPy forward passes, matrix powers and the
analytic moments of the forecast mixture."""

import itertools

import numpy as np
import pymc as pm
import pytensor
import pytensor.tensor as pt
import pytest
import scipy.stats as st
from scipy.special import softmax

import jaxbridge
from jaxbridge._compat import from_dict, group_names
from jaxbridge.pymc import MarginalHMM, forecast, gaussian_hmm

INIT = np.array([0.6, 0.4])
TRANS = np.array([[0.7, 0.3], [0.2, 0.8]])
SIGMA = 0.5
#: sequence "b" ends two steps early (NaN padding): its now is step 2
Y = np.array([[0.1, 1.2, 0.9, -0.2, 1.1], [1.0, 0.4, 0.6, np.nan, np.nan]])
LAST = [4, 2]


def _log_emission(y, shift):
    return st.norm.logpdf(y[:, None], [shift, shift + 1.0], SIGMA)


def _enumerated_now(log_emission, init, trans):
    """``p(z_T | y_{1:T})`` by brute force over all ``K^T`` paths of one sequence."""
    num_steps, num_states = log_emission.shape
    paths = np.array(list(itertools.product(range(num_states), repeat=num_steps)))
    logp = np.log(init[paths[:, 0]]) + log_emission[np.arange(num_steps), paths].sum(axis=1)
    logp += np.log(trans[paths[:, :-1], paths[:, 1:]]).sum(axis=1)
    probs = np.exp(logp - np.logaddexp.reduce(logp))
    return np.array([probs[paths[:, -1] == k].sum() for k in range(num_states)])


def _numpy_filter(log_emission, init, trans):
    """``p(z_T | y_{1:T})`` by the forward pass; ``trans [T-1, K, K]``."""
    alpha = init * np.exp(log_emission[0])
    alpha /= alpha.sum()
    for t in range(1, len(log_emission)):
        alpha = (alpha @ trans[t - 1]) * np.exp(log_emission[t])
        alpha /= alpha.sum()
    return alpha


@pytest.fixture(scope="module")
def tiny():
    """Two sequences (one padded), K=2 Normal emissions; draws of the emission mean shift."""
    with pm.Model(coords={"seq": ["a", "b"], "t": range(5)}) as model:
        shift = pm.Normal("shift", 0.0, 1.0)
        emission = pm.Normal.dist(mu=pt.stack([shift, shift + 1.0]), sigma=SIGMA)
        MarginalHMM("y", INIT, TRANS, emission, observed=Y, dims=("seq", "t"))
    shifts = np.array([[-0.1, 0.0, 0.1], [0.05, -0.05, 0.2]])  # 2 chains x 3 draws
    return model, from_dict({"posterior": {"shift": shifts}}), shifts


def test_current_and_forecast_state_probabilities_match_enumeration_and_matrix_powers(tiny):
    model, idata, shifts = tiny
    ds = forecast(idata, model, steps=3, random_seed=0)
    assert ds["current_state_probs"].dims == ("seq", "state")
    assert ds["state_probs"].dims == ("seq", "horizon", "state")
    assert ds["observations"].dims == ("chain", "draw", "seq", "horizon")
    assert list(ds["horizon"].values) == [1, 2, 3]
    np.testing.assert_array_equal(ds["last_step"], LAST)
    for n in range(2):
        y = Y[n, : LAST[n] + 1]  # the padded sequence's own last present step
        now = [_enumerated_now(_log_emission(y, s), INIT, TRANS) for s in shifts.ravel()]
        forward = [
            _numpy_filter(_log_emission(y, s), INIT, np.broadcast_to(TRANS, (len(y) - 1, 2, 2)))
            for s in shifts.ravel()
        ]
        np.testing.assert_allclose(now, forward, atol=1e-12)
        np.testing.assert_allclose(ds["current_state_probs"][n], np.mean(now, 0), atol=1e-10)
        for h in (1, 2, 3):
            ahead = np.mean([p @ np.linalg.matrix_power(TRANS, h) for p in now], axis=0)
            np.testing.assert_allclose(ds["state_probs"][n, h - 1], ahead, atol=1e-10)


def test_seeded_forecasts_repeat_and_can_be_stored_in_idata(tiny):
    model, idata, _ = tiny
    first = forecast(idata, model, steps=2, random_seed=3, group="forecast")
    again = forecast(idata, model, steps=2, random_seed=3)
    other = forecast(idata, model, steps=2, random_seed=4)
    assert "forecast" in group_names(idata)
    for name in ("states", "observations"):
        np.testing.assert_array_equal(first[name], again[name])
    assert not np.array_equal(first["observations"], other["observations"])
    assert jaxbridge.forecast is forecast


def _mixture_model(kind: str, y: np.ndarray) -> pm.Model:
    """K=2 with fixed chain and state parameters ``theta [2]`` (a free variable)."""
    with pm.Model() as model:
        theta = pm.HalfNormal("theta", 1.0, shape=2)
        emission = {
            "normal": lambda: pm.Normal.dist(mu=pt.stack([theta[0], theta[1]]), sigma=[0.5, 1.5]),
            "studentt": lambda: pm.StudentT.dist(nu=5.0, mu=theta, sigma=[0.5, 1.0]),
            "poisson": lambda: pm.Poisson.dist(theta),
        }[kind]()
        MarginalHMM("y", INIT, TRANS, emission, observed=y)
    return model


def _mixture_moments(kind: str, theta: np.ndarray, probs: np.ndarray):
    """Mean and variance of the emission mixture with weights ``probs [..., K]``."""
    means = theta
    variances = {
        "normal": np.array([0.5, 1.5]) ** 2,
        "studentt": np.array([0.5, 1.0]) ** 2 * 5 / 3,
        "poisson": theta,
    }[kind]
    mean = probs @ means
    return mean, probs @ (variances + means**2) - mean**2


@pytest.mark.parametrize("kind", ["normal", "studentt", "poisson"])
def test_observation_draws_have_the_mixture_moments(kind):
    theta = np.array([1.0, 6.0])
    y = np.array([[1.0, 0.0, 2.0, 5.0, 7.0, 6.0], [6.0, 5.0, 7.0, 1.0, 0.0, 1.0]])
    model = _mixture_model(kind, y)
    idata = from_dict({"posterior": {"theta": np.broadcast_to(theta, (2, 3000, 2))}})
    ds = forecast(idata, model, steps=2, random_seed=1)
    assert ds["observations"].dims == ("chain", "draw", "sequence", "horizon")
    draws = ds["observations"].values.reshape(-1, 2, 2)  # 6000 draws
    mean, var = _mixture_moments(kind, theta, ds["state_probs"].values)
    standard_error = np.sqrt(var / len(draws))
    assert np.all(np.abs(draws.mean(0) - mean) < 4.5 * standard_error)
    np.testing.assert_allclose(draws.var(0), var, rtol=0.12)
    np.testing.assert_allclose(ds["observation_mean"], draws.mean(0))
    low, high = np.quantile(draws, [0.03, 0.97], axis=0)
    np.testing.assert_allclose(ds["observation_low"], low)
    np.testing.assert_allclose(ds["observation_high"], high)
    # the forecast paths follow the state forecast
    frequency = (ds["states"].values.reshape(-1, 2, 2) == 1).mean(0)
    np.testing.assert_allclose(frequency, ds["state_probs"].values[..., 1], atol=0.025)


def test_time_varying_transitions_need_future_ones():
    steps = Y.shape[1]
    trans = np.broadcast_to(np.array([[0.9, 0.1], [0.5, 0.5]]), (steps - 1, 2, 2))
    with pm.Model() as model:
        shift = pm.Normal("shift", 0.0, 1.0)
        emission = pm.Normal.dist(mu=pt.stack([shift, shift + 1.0]), sigma=SIGMA)
        MarginalHMM("y", INIT, trans, emission, observed=Y[:1], time_varying=True)
    idata = from_dict({"posterior": {"shift": np.array([[0.0, 0.1]])}})
    with pytest.raises(ValueError, match=r"pass future_trans \[\.\.\., 2, K, K\]"):
        forecast(idata, model, steps=2)
    future = np.array([[[0.2, 0.8], [0.6, 0.4]], [[1.0, 0.0], [0.3, 0.7]]])
    ds = forecast(idata, model, steps=2, future_trans=future)
    now = [_numpy_filter(_log_emission(Y[0], s), INIT, trans) for s in (0.0, 0.1)]
    np.testing.assert_allclose(ds["current_state_probs"][0], np.mean(now, 0), atol=1e-10)
    expected = [np.mean(now, 0) @ future[0], np.mean(now, 0) @ future[0] @ future[1]]
    np.testing.assert_allclose(ds["state_probs"][0], expected, atol=1e-10)
    with pytest.raises(ValueError, match="future_trans must have shape"):
        forecast(idata, model, steps=3, future_trans=future)


def test_covariate_model_forecasts_from_future_covariates(rng):
    n, t, k = 2, 6, 2
    y = rng.normal(size=(n, t)) + 2.0
    y[1, 4:] = np.nan  # the second sequence's now is step 3
    x = rng.normal(size=(n, t, 1))
    model = gaussian_hmm(y, k, covariates=x)
    point = {v.name: rng.normal(scale=0.3, size=v.type.shape) for v in model.free_RVs}
    point["emission_sigma"] = np.abs(point["emission_sigma"]) + 0.5
    point["emission_mu"] = np.sort(point["emission_mu"])
    point["p_initial_state"] = np.array([0.3, 0.7])
    posterior = {name: np.asarray(value)[None, None] for name, value in point.items()}
    idata = from_dict({"posterior": posterior})
    with pytest.raises(ValueError, match=r"pass covariates \[N, 2, P\]"):
        forecast(idata, model, steps=2)
    with pytest.raises(ValueError, match=r"covariates must be \[N, T, P\] = \[2, 2, P\]"):
        forecast(idata, model, steps=2, covariates=np.zeros((2, 3, 1)))
    future = rng.normal(size=(n, 2, 1))
    ds = forecast(idata, model, steps=2, covariates=future)

    names = ("emission_mu", "emission_sigma", "transition_intercept", "transition_coef")
    fn = pytensor.function(
        model.free_RVs, [model[name] for name in names], on_unused_input="ignore"
    )
    mu, sigma, intercept, coef = fn(*(point[v.name] for v in model.free_RVs))

    def transitions(covariates):  # [n, steps-1, K, K]: step t drives the move into t
        logits = intercept + np.einsum("ntp,ipj->ntij", covariates[:, 1:], coef)
        return softmax(logits * (1 - np.eye(k)), axis=-1)

    past, ahead = transitions(x), transitions(np.concatenate([x[:, :1], future], axis=1))
    for i, last in enumerate([5, 3]):
        log_emission = st.norm.logpdf(y[i, : last + 1, None], mu, sigma)
        now = _numpy_filter(log_emission, point["p_initial_state"], past[i])
        np.testing.assert_allclose(ds["current_state_probs"][i], now, atol=1e-10)
        np.testing.assert_allclose(ds["state_probs"][i, 0], now @ ahead[i, 0], atol=1e-10)
        np.testing.assert_allclose(
            ds["state_probs"][i, 1], now @ ahead[i, 0] @ ahead[i, 1], atol=1e-10
        )


def test_forecast_errors(tiny):
    model, idata, _ = tiny
    for steps in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="steps must be a positive integer"):
            forecast(idata, model, steps=steps)
    with pytest.raises(ValueError, match="interval must lie strictly between 0 and 1"):
        forecast(idata, model, steps=1, interval=1.0)
    with pytest.raises(ValueError, match="for time-varying transitions"):
        forecast(idata, model, steps=1, covariates=np.zeros((2, 1, 1)))
    with pytest.raises(ValueError, match="lacks the model's free variables"):
        forecast(from_dict({"posterior": {"other": np.zeros((1, 2))}}), model, steps=1)
    with pm.Model() as censored:
        shift = pm.Normal("shift", 0.0, 1.0)
        emission = pm.Censored.dist(pm.Normal.dist(pt.stack([shift, shift + 1])), -5.0, 5.0)
        MarginalHMM("y", INIT, TRANS, emission, observed=Y)
    with pytest.raises(NotImplementedError, match="univariate RandomVariable emissions"):
        forecast(idata, censored, steps=1)
