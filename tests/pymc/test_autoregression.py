"""Markov-switching autoregression: log-likelihood against statsmodels' MarkovAutoregression and
Hamilton's (1989) published fit, gradients against finite differences, and bad input."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pymc as pm
import pytest
from statsmodels.tsa.regime_switching import markov_autoregression, markov_switching
from statsmodels.tsa.regime_switching.markov_autoregression import MarkovAutoregression
from test_switching import loglike

import jaxbridge
from jaxbridge._compat import from_dict
from jaxbridge.datasets import hamilton_gnp
from jaxbridge.pymc import parameter_names, switching_autoregression
from jaxbridge.pymc._autoregression import durbin_levinson

#: statsmodels' test module of MarkovAutoregression (its reference values; read, not imported:
#: importing it would collect its pytest marks)
PUBLISHED = Path(markov_autoregression.__file__).parent / "tests" / "test_markov_autoregression.py"


def published(name: str) -> np.ndarray:
    """A module-level list of statsmodels' test module, e.g. ``rgnp``."""
    tree = ast.parse(PUBLISHED.read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == name:
            return np.array(ast.literal_eval(node.value), dtype=float)
    raise LookupError(name)


def pacf_of(ar: np.ndarray) -> np.ndarray:
    """Partial autocorrelations of AR coefficients ``[..., p]`` (the inverse Durbin–Levinson
    recursion, written independently of the library's forward one)."""
    ar = np.array(ar, dtype=float)
    pacf = np.zeros_like(ar)
    for k in range(ar.shape[-1], 0, -1):
        r = ar[..., k - 1].copy()
        pacf[..., k - 1] = r
        previous = ar[..., : k - 1]
        ar = (previous + r[..., None] * previous[..., ::-1]) / (1 - r[..., None] ** 2)
    return pacf


def _ours(params: np.ndarray, sm_model: MarkovAutoregression, options: dict) -> dict:
    """statsmodels' parameter vector (transitions, intercepts, regressors, variances, AR lags; K
    entries for what switches, one otherwise) as the builder's variables."""
    k, order = sm_model.k_regimes, sm_model.order
    rest = list(params[k * (k - 1) :])

    def take(switches: bool) -> np.ndarray | float:
        return np.array([rest.pop(0) for _ in range(k)]) if switches else rest.pop(0)

    values = {"p_transition": sm_model.regime_transition_matrix(params)[..., 0].T}
    values["const"] = take(options.get("switching_trend", True))
    exog = sm_model.exog.shape[1] - 1 if sm_model.exog is not None else 0
    coefs = [take(options.get("switching_exog", False)) for _ in range(exog)]
    if coefs:
        key = "beta" if options.get("switching_exog", False) else "gamma"
        values[key] = np.stack(coefs, axis=-1)
    values["sigma"] = np.sqrt(take(options.get("switching_variance", False)))
    lags = np.stack([take(options.get("switching_ar", False)) for _ in range(order)], axis=-1)
    values["pacf"] = pacf_of(lags)
    assert not rest
    return values


@pytest.fixture(scope="module")
def series():
    """A two-regime AR(2)-like series of 150 steps and one regressor."""
    rng = np.random.default_rng(7)
    steps = 150
    z = np.zeros(steps, dtype=int)
    for t in range(1, steps):
        z[t] = rng.choice(2, p=[[0.9, 0.1], [0.15, 0.85]][z[t - 1]])
    x = rng.normal(size=steps)
    mean = np.array([-1.0, 1.0])[z] + 0.5 * x
    y = mean.copy()
    for t in range(2, steps):
        y[t] = mean[t] + 0.4 * (y[t - 1] - mean[t - 1]) - 0.2 * (y[t - 2] - mean[t - 2])
        y[t] += 0.6 * rng.normal()
    return y, x[:, None]


# (K, order, options, statsmodels parameters)
CASES = {
    "AR(1)": (2, 1, {}, [0.9, 0.15, -1.0, 1.1, 0.4, 0.5]),
    "AR(2), switching AR": (
        2,
        2,
        {"switching_ar": True},
        [0.9, 0.15, -1.0, 1.1, 0.4, 0.3, 0.5, -0.2, -0.1],
    ),
    "AR(4)": (2, 4, {}, [0.85, 0.2, -0.8, 0.9, 0.5, 0.3, -0.1, 0.05, -0.15]),
    "K=3, AR(1)": (3, 1, {}, [0.8, 0.1, 0.2, 0.1, 0.7, 0.1, -1.5, 0.0, 1.5, 0.5, 0.4]),
    "common mean, switching variance": (
        2,
        1,
        {"switching_trend": False, "switching_variance": True},
        [0.9, 0.15, 0.1, 0.3, 0.9, 0.4],
    ),
    "regressor, common coefficient": (
        2,
        2,
        {"exog": True},
        [0.9, 0.15, -1.0, 1.1, 0.45, 0.4, 0.4, -0.2],
    ),
    "regressor, switching coefficient": (
        2,
        1,
        {"exog": True, "switching_exog": True},
        [0.9, 0.15, -1.0, 1.1, 0.4, 0.6, 0.4, 0.4],
    ),
}


#: statsmodels reshapes switching variances to ``(K, 1, 1)`` whatever the order, so from order
#: 2 on they broadcast onto the axis of :math:`z_{t-1}`; these cases are checked against its
#: own filter with the variance on the current regime (the model's definition)
VARIANCE_CASES = {
    "AR(2), switching variance": (2, 2, {}, [0.9, 0.15, -1.0, 1.1, 0.3, 0.6, 0.4, -0.2]),
    "K=3, AR(2), switching AR and variance": (
        3,
        2,
        {"switching_ar": True},
        [
            *(0.8, 0.1, 0.2, 0.1, 0.7, 0.1),  # transitions
            *(-1.5, 0.0, 1.5, 0.3, 0.5, 0.7),  # const, sigma2
            *(0.4, 0.3, 0.2, -0.2, -0.1, 0.05),  # ar.L1[0..2], ar.L2[0..2]
        ],
    ),
}


def _filtered_loglike(sm_model: MarkovAutoregression, params: np.ndarray, axis: int) -> float:
    """statsmodels' Hamilton filter (``cy_hamilton_filter_log``) on conditional
    log-likelihoods built from its public ``predict_conditional``, with regime ``k``'s variance
    on tuple axis ``axis`` (0: the current regime)."""
    k, order = sm_model.k_regimes, sm_model.order
    resid = sm_model.endog - sm_model.predict_conditional(params)  # [K] * (p + 1) + [T]
    shape = [1] * (order + 2)
    shape[axis] = k
    variance = params[sm_model.parameters["variance"]].reshape(shape)
    conditional = -0.5 * resid**2 / variance - 0.5 * np.log(2 * np.pi * variance)
    filtered = markov_switching.cy_hamilton_filter_log(
        sm_model.initial_probabilities(params),
        sm_model.regime_transition_matrix(params),
        conditional,
        order,
    )
    return float(np.sum(filtered[2]))


@pytest.mark.parametrize("case", list(VARIANCE_CASES))
def test_switching_variance_from_order_two_equals_statsmodels_filter(case, series):
    states, order, options, params = VARIANCE_CASES[case]
    y, _ = series
    params = np.asarray(params)
    sm_options = {"switching_ar": False, "switching_variance": True, **options}
    sm_model = MarkovAutoregression(y, k_regimes=states, order=order, **sm_options)
    # statsmodels' own value is its filter with the variance on z_{t-1} ...
    np.testing.assert_allclose(sm_model.loglike(params), _filtered_loglike(sm_model, params, 1))
    # ... ours is the same filter with the variance on z_t
    model = switching_autoregression(y, states, order=order, **sm_options)
    ours = loglike(model, _ours(params, sm_model, sm_options))
    np.testing.assert_allclose(ours, _filtered_loglike(sm_model, params, 0), rtol=0, atol=1e-8)


@pytest.mark.parametrize("case", list(CASES))
def test_log_likelihood_equals_statsmodels(case, series):
    states, order, options, params = CASES[case]
    y, x = series
    options = dict(options)
    exog = x if options.pop("exog", False) else None
    sm_options = {"switching_ar": False, **options}
    sm_model = MarkovAutoregression(y, k_regimes=states, order=order, exog=exog, **sm_options)
    model = switching_autoregression(y, states, order=order, exog=exog, **options)
    params = np.asarray(params)
    ours = loglike(model, _ours(params, sm_model, options))
    np.testing.assert_allclose(ours, sm_model.loglike(params), rtol=0, atol=1e-8)


def test_a_free_start_equals_statsmodels_known_start(series):
    """``init="free"`` is the distribution of the first modelled tuple's oldest regime
    :math:`z_{1-p}`; statsmodels' known start ``p0`` is that of the regime one step earlier."""
    y, _ = series
    sm_model = MarkovAutoregression(y, k_regimes=2, order=2, switching_ar=False)
    p0 = np.array([0.8, 0.2])
    sm_model.initialize_known(p0)
    params = np.array([0.9, 0.15, -1.0, 1.1, 0.4, 0.5, -0.2])
    values = _ours(params, sm_model, {})
    trans = values["p_transition"]
    model = switching_autoregression(y, 2, order=2, init="free")
    values["p_initial_state"] = p0 @ trans
    np.testing.assert_allclose(loglike(model, values), sm_model.loglike(params), atol=1e-8)


HAMILTON = {  # statsmodels' TestHamiltonAR4 (E-views), Hamilton 1989's model
    "p_transition": np.array([[0.754673, 1 - 0.754673], [0.095915, 1 - 0.095915]]),
    "const": np.array([-0.358811, 1.163516]),
    "sigma": np.exp(-0.262658),
    "pacf": pacf_of([0.013486, -0.057521, -0.246983, -0.212923]),
}


def test_hamilton_published_log_likelihood_and_regime_probabilities():
    """At the published MLE: log-likelihood -181.26339 and the smoothed recession probabilities
    (through :func:`jaxbridge.decode`, the library's user path) of statsmodels' reference."""
    table = hamilton_gnp()
    assert len(table) == 135
    assert str(table.index[0]) == "1951Q2" and str(table.index[-1]) == "1984Q4"
    np.testing.assert_allclose(table["rgnp"], published("rgnp"), atol=1e-8)
    model = switching_autoregression(table["rgnp"].to_numpy(), 2, order=4)
    np.testing.assert_allclose(loglike(model, HAMILTON), -181.26339, atol=1e-5)
    posterior = from_dict(
        {"posterior": {k: np.asarray(v)[None, None] for k, v in HAMILTON.items()}}
    )
    decoded = jaxbridge.decode(posterior, model)
    probs = decoded["state_probs"].isel(sequence=0).values  # [T - 4, K]
    assert probs.shape == (131, 2)
    np.testing.assert_array_equal(decoded["time"], np.arange(4, 135))
    # statsmodels' regime 1 is the expansion; its reference is p(expansion)
    np.testing.assert_allclose(probs[:, 1], published("hamilton_ar4_smoothed"), atol=1e-5)
    recession = probs[:, 0] > 0.5
    np.testing.assert_array_equal(decoded["most_probable_state"].isel(sequence=0), ~recession)


def test_durbin_levinson_gives_the_coefficients_and_a_stationary_process(rng):
    ar = np.array([0.013486, -0.057521, -0.246983, -0.212923])
    np.testing.assert_allclose(durbin_levinson(pm.math.constant(pacf_of(ar))).eval(), ar)
    pacf = rng.uniform(-1, 1, size=(50, 4))
    phis = durbin_levinson(pm.math.constant(pacf)).eval()
    np.testing.assert_allclose(pacf_of(phis), pacf, atol=1e-10)
    for phi in phis:
        roots = np.roots(np.r_[1.0, -phi])  # z^p - phi_1 z^{p-1} - ... : inside the unit circle
        assert np.all(np.abs(roots) < 1)


def test_gradient_matches_finite_differences(series):
    """The model's dlogp (structured forward–backward VJP through PyTensor) against central
    differences of its logp, in the sampler's unconstrained space. Compiled to JAX, as PyMC's
    JAX samplers compile it (PyTensor 3's default, numba, takes a minute to compile it cold)."""
    from pymc.model.transform.optimization import freeze_dims_and_data

    y, x = series
    model = freeze_dims_and_data(
        switching_autoregression(y, 2, order=2, exog=x, switching_ar=True, switching_variance=True)
    )
    logp, dlogp = model.compile_logp(mode="JAX"), model.compile_dlogp(mode="JAX")
    rng = np.random.default_rng(3)
    point = {k: v + 0.3 * rng.normal(size=np.shape(v)) for k, v in model.initial_point().items()}
    names = [v.name for v in model.value_vars]
    sizes = [np.size(point[n]) for n in names]
    flat = np.concatenate([np.ravel(point[n]) for n in names])

    def unflatten(vector):
        parts = np.split(vector, np.cumsum(sizes)[:-1])
        return {n: p.reshape(np.shape(point[n])) for n, p in zip(names, parts, strict=True)}

    step = 1e-6
    numeric = np.array(
        [
            (logp(unflatten(flat + step * e)) - logp(unflatten(flat - step * e))) / (2 * step)
            for e in np.eye(len(flat))
        ]
    )
    np.testing.assert_allclose(dlogp(point), numeric, rtol=1e-5, atol=1e-5)


def test_many_ragged_series_add_up(series):
    """Two series (the second shorter, NaN-padded) give the sum of their own likelihoods."""
    y, _ = series
    second = np.full_like(y, np.nan)
    second[:90] = y[30:120]
    model = switching_autoregression(np.stack([y, second]), 2, order=2)
    params = np.array([0.9, 0.15, -1.0, 1.1, 0.4, 0.5, -0.2])
    expected = sum(
        MarkovAutoregression(s, k_regimes=2, order=2, switching_ar=False).loglike(params)
        for s in (y, y[30:120])
    )
    sm_model = MarkovAutoregression(y, k_regimes=2, order=2, switching_ar=False)
    np.testing.assert_allclose(loglike(model, _ours(params, sm_model, {})), expected, atol=1e-8)


def test_names_dims_and_prior_draws(series):
    y, _ = series
    model = switching_autoregression(y, 2, order=3, switching_ar=True, sequence=["gnp"])
    assert parameter_names(model) == [
        "const",
        "sigma",
        "ar",
        "p_transition",
        "expected_duration",
    ]
    assert model.named_vars_to_dims["ar"] == ("regime", "lag")
    np.testing.assert_array_equal(model.coords["lag"], [1, 2, 3])
    np.testing.assert_array_equal(model.coords["time"], np.arange(3, 150))
    prior = pm.sample_prior_predictive(draws=20, model=model, random_seed=1)
    draws = jaxbridge._compat.get_group(prior, "prior_predictive")["hmm"]
    assert draws.shape[-2:] == (1, 147) and np.isfinite(draws).all()
    ar = jaxbridge._compat.get_group(prior, "prior")["ar"].values.reshape(-1, 3)
    for phi in ar:
        assert np.all(np.abs(np.roots(np.r_[1.0, -phi])) < 1)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"order": 0}, "order must be a positive integer"),
        ({"order": 2.0}, "order must be a positive integer"),
        ({"switching_ar": [True, False]}, "switching_ar must be True or False"),
        ({"observed": "gap"}, "series 0 has a missing value at step 5 before its last"),
        ({"observed": "short"}, "series 1 has 2 observation"),
        ({"init": "fixed"}, "init must be one of"),
    ],
)
def test_bad_input_is_named(change, message, series):
    y, _ = series
    kwargs = {"order": 2}
    observed = y
    if change.get("observed") == "gap":
        observed = y.copy()
        observed[5] = np.nan
    elif change.get("observed") == "short":
        short = np.full_like(y, np.nan)
        short[:2] = y[:2]
        observed = np.stack([y, short])
    kwargs |= {k: v for k, v in change.items() if k != "observed"}
    with pytest.raises(ValueError, match=message):
        switching_autoregression(observed, 2, **kwargs)


def _simulate(rng, trans, means, ar, sigma, num_series, steps):
    """Series of a switching-mean AR(p) from the chain's stationary start (literal loops)."""
    order = len(ar)
    start = np.linalg.matrix_power(trans, 200)[0]
    y = np.zeros((num_series, steps))
    for n in range(num_series):
        z = np.zeros(steps, dtype=int)
        z[0] = rng.choice(2, p=start)
        for t in range(1, steps):
            z[t] = rng.choice(2, p=trans[z[t - 1]])
        for t in range(steps):
            lags = range(1, min(order, t) + 1)
            y[n, t] = means[z[t]] + sum(ar[j - 1] * (y[n, t - j] - means[z[t - j]]) for j in lags)
            y[n, t] += sigma * rng.normal()
    return y


def test_forecast_intervals_cover_held_out_values_at_their_level(rng):
    """At the true parameters (a posterior of repeated true values), the 90% intervals of
    4-step forecasts of 200 simulated series cover 90% of the held-out values (binomial sd
    1.1%), and the regime probabilities follow the filtered regime moved by the transitions."""
    trans, means, ar, sigma = np.array([[0.9, 0.1], [0.2, 0.8]]), [-1.0, 1.5], [0.5, -0.2], 0.6
    steps, ahead = 40, 4
    y = _simulate(rng, trans, means, ar, sigma, 200, steps + ahead)
    model = switching_autoregression(y[:, :steps], 2, order=2)
    truth = {"const": means, "sigma": sigma, "pacf": pacf_of(ar), "p_transition": trans}
    draws = {k: np.broadcast_to(np.asarray(v), (1, 128, *np.shape(v))) for k, v in truth.items()}
    result = jaxbridge.forecast(from_dict({"posterior": draws}), model, ahead, interval=0.9)
    inside = (y[:, steps:] >= result["observation_low"]) & (
        y[:, steps:] <= result["observation_high"]
    )
    assert abs(float(inside.mean()) - 0.9) < 0.035, float(inside.mean())
    np.testing.assert_array_equal(result["last_step"], steps - 3)  # the modelled steps' last
    moved = result["current_state_probs"].values @ np.linalg.matrix_power(trans, 3)
    np.testing.assert_allclose(result["state_probs"].isel(horizon=2), moved, atol=1e-12)
    in_one = (result["states"] == 1).mean(("chain", "draw")).isel(horizon=0)
    assert np.abs(in_one - result["state_probs"].isel(horizon=0, state=1)).mean() < 0.03


def test_forecast_refuses_regressors_whose_future_is_unknown(series):
    y, x = series
    model = switching_autoregression(y, 2, order=1, exog=x)
    values = {
        "p_transition": np.array([[0.9, 0.1], [0.2, 0.8]]),
        "level": np.array([-1.0, 1.0]),  # sampled; const is computed from it
        "const": np.array([-1.0, 1.0]),
        "gamma": np.array([0.5]),
        "sigma": 0.5,
        "pacf": np.array([0.3]),
    }
    posterior = from_dict({"posterior": {k: np.asarray(v)[None, None] for k, v in values.items()}})
    with pytest.raises(NotImplementedError, match="without regressors"):
        jaxbridge.forecast(posterior, model, steps=2)
