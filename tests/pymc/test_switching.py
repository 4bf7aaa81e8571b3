"""Markov-switching regression: log-likelihood against statsmodels' MarkovRegression and the
published Stata values it carries, against enumeration of every regime path, and bad input."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import pymc as pm
import pytest
from scipy import stats
from statsmodels.tsa.regime_switching import markov_regression
from statsmodels.tsa.regime_switching.markov_regression import MarkovRegression

import jaxbridge
from jaxbridge._compat import from_dict
from jaxbridge.datasets import fedfunds
from jaxbridge.pymc import parameter_names, switching_regression

STATA_RESULTS = Path(markov_regression.__file__).parent / "tests" / "results"


def loglike(model: pm.Model, values: dict) -> float:
    """The model's log-likelihood with its parameters fixed at ``values`` (:func:`pymc.do`;
    ``const`` as given, also where the model samples it as ``level``)."""
    fixed = pm.do(model, as_sampled(model, values))
    return float(fixed.compile_logp(vars=fixed.observed_RVs)({}))


def as_sampled(model: pm.Model, values: dict) -> dict:
    """``values`` with ``const`` turned into the ``level`` that gives it, where ``const`` is
    the model's deterministic (``const = level - coef @ x_mean``, so ``level`` is ``const``
    plus what ``const`` is at ``level = 0``)."""
    if "level" not in model.named_vars or "const" not in values:
        return values
    rest = {name: value for name, value in values.items() if name != "const"}
    const = np.asarray(values["const"], dtype=float)
    at_zero = pm.draw(pm.do(model, {**rest, "level": np.zeros_like(const)})["const"])
    return {**rest, "level": const - at_zero}


def chain_values(sm_model: MarkovRegression, params: np.ndarray) -> dict:
    """``p_transition`` (row-stochastic) from statsmodels' left-stochastic matrix."""
    return {"p_transition": sm_model.regime_transition_matrix(params)[..., 0].T}


@pytest.fixture(scope="module")
def data():
    """Two regimes, two regressors, 120 steps; a sticky chain."""
    rng = np.random.default_rng(11)
    steps, trans = 120, np.array([[0.9, 0.1], [0.2, 0.8]])
    z = np.zeros(steps, dtype=int)
    for t in range(1, steps):
        z[t] = rng.choice(2, p=trans[z[t - 1]])
    x = rng.normal([1.0, -2.0], [1.0, 0.5], size=(steps, 2))
    y = np.array([-1.0, 1.5])[z] + x @ [0.8, 0.3] + np.array([0.4, 0.9])[z] * rng.normal(size=steps)
    return y, x


# statsmodels' parameters for each configuration: transitions, then const, exog, sigma2
CASES = {
    "switching intercept": ({}, [0.9, 0.25, -0.8, 1.6, 0.7]),
    "switching intercept and regressors": (
        {"exog": True},
        [0.9, 0.25, -0.8, 1.6, 0.7, 0.9, 0.2, 0.4, 0.6],
    ),
    "common regressors": (
        {"exog": True, "switching_exog": False},
        [0.9, 0.25, -0.8, 1.6, 0.75, 0.35, 0.6],
    ),
    "one switching, one common regressor": (
        {"exog": True, "switching_exog": [True, False]},
        [0.9, 0.25, -0.8, 1.6, 0.7, 0.9, 0.35, 0.6],
    ),
    "switching variance": (
        {"exog": True, "switching_exog": False, "switching_variance": True},
        [0.9, 0.25, -0.8, 1.6, 0.75, 0.35, 0.2, 0.8],
    ),
    "common intercept, switching variance": (
        {"switching_trend": False, "switching_variance": True},
        [0.9, 0.25, 0.3, 0.5, 2.5],
    ),
}


def _ours(params: np.ndarray, sm_model: MarkovRegression, options: dict) -> dict:
    """statsmodels' parameter vector (transitions, intercepts, each regressor's coefficients,
    variances; K entries for what switches, one otherwise) as the builder's variables."""
    k = sm_model.k_regimes
    regressors = [name for name in sm_model.exog_names or [] if name != "const"]
    flags = np.broadcast_to(options.get("switching_exog", True), (len(regressors),))
    rest = list(params[k * (k - 1) :])

    def take(switches: bool) -> np.ndarray | float:
        return np.array([rest.pop(0) for _ in range(k)]) if switches else rest.pop(0)

    values = chain_values(sm_model, params)
    values["const"] = take(options.get("switching_trend", True))
    coefs = [take(flag) for flag in flags]
    if flags.any():
        values["beta"] = np.stack([c for c, f in zip(coefs, flags, strict=True) if f], axis=1)
    if not flags.all():
        values["gamma"] = np.array([c for c, f in zip(coefs, flags, strict=True) if not f])
    values["sigma"] = np.sqrt(take(options.get("switching_variance", False)))
    assert not rest
    return values


@pytest.mark.parametrize("case", list(CASES))
def test_log_likelihood_equals_statsmodels(case, data):
    options, params = CASES[case]
    y, x = data
    options = dict(options)
    exog = x if options.pop("exog", False) else None
    sm_model = MarkovRegression(y, k_regimes=2, exog=exog, **options)
    model = switching_regression(y, 2, exog=exog, **options)
    ours = loglike(model, _ours(np.asarray(params), sm_model, options))
    np.testing.assert_allclose(ours, sm_model.loglike(np.asarray(params)), rtol=0, atol=1e-8)


def test_three_regimes_and_a_free_start_equal_statsmodels(data):
    """K = 3; ``init="free"``: statsmodels' filter reaches the first observation from a known
    start ``p0`` after two moves (as its filter is written; a NumPy forward pass from
    ``p0 @ A @ A`` gives its value), so ours starts from ``p0 @ A @ A``."""
    y, x = data
    sm_model = MarkovRegression(y, k_regimes=3, exog=x[:, :1])
    p0 = np.array([0.5, 0.3, 0.2])
    sm_model.initialize_known(p0)
    params = np.array([0.8, 0.1, 0.2, 0.1, 0.7, 0.1, -1.0, 0.5, 2.0, 0.9, 0.8, 0.7, 0.6])
    model = switching_regression(y, 3, exog=x[:, :1], init="free")
    values = _ours(params, sm_model, {})
    values["p_initial_state"] = p0 @ values["p_transition"] @ values["p_transition"]
    np.testing.assert_allclose(loglike(model, values), sm_model.loglike(params), atol=1e-8)


def test_time_varying_transitions_equal_statsmodels(data):
    """``exog_tvtp``: statsmodels' logit (last regime the reference, a constant column) and
    ours (staying the reference, an intercept) are the same model; its start is the stationary
    distribution of the first step's matrix."""
    y, _ = data
    w = np.sin(np.arange(len(y)) / 9.0)
    sm_model = MarkovRegression(y, k_regimes=2, exog_tvtp=np.c_[np.ones_like(w), w])
    # p[0->0].tvtp0, p[1->0].tvtp0, p[0->0].tvtp1, p[1->0].tvtp1 (statsmodels' order)
    params = np.array([2.0, -1.5, 1.0, 0.5, -0.8, 1.6, 0.6])
    logits = {name: value for name, value in zip(sm_model.param_names, params, strict=False)}
    # statsmodels: logit of "to 0" vs "to 1" from regime j is c_j0 + c_j1 * w
    c = np.array([[logits[f"p[{j}->0].tvtp{q}"] for q in range(2)] for j in range(2)])
    model = switching_regression(y, 2, exog_tvtp=w[:, None])
    # ours from j: logit of moving (j -> other) vs staying
    intercept = np.array([[0.0, -c[0, 0]], [c[1, 0], 0.0]])
    coef = np.array([[[0.0, -c[0, 1]]], [[c[1, 1], 0.0]]])
    ours = loglike(
        model,
        {
            "transition_intercept": intercept,
            "transition_coef": coef,
            # the free standardised logits are not used once the logits are fixed
            "transition_intercept_std": np.zeros(2),
            "transition_coef_std": np.zeros((1, 2)),
            "const": params[4:6],
            "sigma": np.sqrt(params[6]),
        },
    )
    # statsmodels' default start: the steady state of the first step's matrix
    np.testing.assert_allclose(ours, sm_model.loglike(params), atol=1e-8)


def _stationary_power(trans: np.ndarray) -> np.ndarray:
    """The stationary distribution by the power method (an independent reference)."""
    return np.linalg.matrix_power(trans, 4096)[0]


def test_published_stata_fedfunds_log_likelihood_and_smoothed_probabilities():
    """Stata's mswitch manual (statsmodels' TestFedFundsConst): the switching-mean model of the
    federal funds rate at the published MLE; the shipped data are Stata's usmacro."""
    table = fedfunds()
    published = pd.read_csv(STATA_RESULTS / "results_predict_fedfunds.csv")
    trans = np.array([[0.9820939, 1 - 0.9820939], [0.0503587, 1 - 0.0503587]])
    model = switching_regression(table["fedfunds"].to_numpy(), 2)
    values = {"const": np.array([3.70877, 9.556793]), "sigma": 2.107562, "p_transition": trans}
    np.testing.assert_allclose(loglike(model, values), -508.63592, atol=1e-5)
    posterior = from_dict({"posterior": {k: np.asarray(v)[None, None] for k, v in values.items()}})
    decoded = jaxbridge.decode(posterior, model)
    probs = decoded["state_probs"].isel(sequence=0).values  # [T, K]
    np.testing.assert_allclose(probs[:, 0], published["const_sm1"], atol=1e-5)
    np.testing.assert_allclose(probs[:, 1], published["const_sm2"], atol=1e-5)


def test_published_stata_fedfunds_with_regressors():
    """Stata's lagged rate, output gap and inflation as switching regressors (statsmodels'
    TestFedFundsConstL1Exog), named from a DataFrame's columns."""
    table = fedfunds()
    exog = pd.DataFrame(
        {
            "lag": table["fedfunds"].shift(1),
            "ogap": table["ogap"],
            "inf": table["inf"],
        }
    ).iloc[4:]
    p = [
        0.7279288,
        0.2114578,
        0.6554954,
        -0.0944924,
        0.8314458,
        0.9292574,
        0.1355425,
        0.0343072,
        -0.0273928,
        0.2125275,
        0.5764495,
    ]
    model = switching_regression(table["fedfunds"].to_numpy()[4:], 2, exog=exog)
    assert list(model.coords["regressor"]) == ["lag", "ogap", "inf"]
    values = {
        "p_transition": np.array([[p[0], 1 - p[0]], [p[1], 1 - p[1]]]),
        "const": np.array(p[2:4]),
        "beta": np.array([p[4:10:2], p[5:10:2]]),
        "sigma": p[10],
    }
    np.testing.assert_allclose(loglike(model, values), -229.25614, atol=1e-5)


def test_log_likelihood_equals_enumeration_of_every_regime_path():
    """K = 2, T = 6, two regressors (one switching, one common), stationary start: the sum over
    all 2^6 regime paths."""
    rng = np.random.default_rng(5)
    y, x = rng.normal(size=6), rng.normal(size=(6, 2))
    const, beta, gamma = np.array([-0.5, 1.0]), np.array([[0.7], [-0.4]]), np.array([0.3])
    sigma, trans = np.array([0.6, 1.2]), np.array([[0.8, 0.2], [0.35, 0.65]])
    start = _stationary_power(trans)
    total = 0.0
    for path in itertools.product(range(2), repeat=6):
        z = np.array(path)
        mean = const[z] + x[:, 0] * beta[z, 0] + x[:, 1] * gamma[0]
        total += (
            start[z[0]] * np.prod(trans[z[:-1], z[1:]]) * np.prod(stats.norm.pdf(y, mean, sigma[z]))
        )
    model = switching_regression(
        y, 2, exog=x, switching_exog=[True, False], switching_variance=True
    )
    values = {"const": const, "beta": beta, "gamma": gamma, "sigma": sigma, "p_transition": trans}
    np.testing.assert_allclose(loglike(model, values), np.log(total), rtol=1e-10)


def test_many_ragged_series_add_up(data):
    """Two series of different lengths (NaN padding) give the sum of their log-likelihoods."""
    y, x = data
    values = {
        "const": np.array([-0.8, 1.6]),
        "beta": np.array([[0.7, 0.4], [0.9, 0.6]]),
        "sigma": 0.6,
        "p_transition": np.array([[0.9, 0.1], [0.25, 0.75]]),
    }
    whole = [
        loglike(switching_regression(y[a:b], 2, exog=x[a:b]), values)
        for a, b in [(0, 70), (70, 120)]
    ]
    padded_y = np.full((2, 70), np.nan)
    padded_x = np.full((2, 70, 2), np.nan)  # regressors may be missing where y is
    padded_y[0], padded_x[0] = y[:70], x[:70]
    padded_y[1, :50], padded_x[1, :50] = y[70:], x[70:]
    model = switching_regression(padded_y, 2, exog=padded_x, sequence=["a", "b"])
    np.testing.assert_allclose(loglike(model, values), sum(whole), rtol=1e-10)


def test_dims_parameters_and_durations(data):
    y, x = data
    model = switching_regression(y, 2, exog=x, switching_exog=[True, False])
    assert parameter_names(model) == [
        "const",
        "sigma",
        "beta",
        "gamma",
        "p_transition",
        "expected_duration",
    ]
    assert model.named_vars_to_dims["beta"] == ("regime", "regressor")
    assert model.named_vars_to_dims["gamma"] == ("common_regressor",)
    assert model.named_vars_to_dims["p_transition"] == ("from_regime", "to_regime")
    trans = np.array([[0.9, 0.1], [0.25, 0.75]])
    fixed = pm.do(model, {"p_transition": trans})
    np.testing.assert_allclose(pm.draw(fixed["expected_duration"]), [10.0, 4.0])


@pytest.mark.parametrize(
    ("exog", "message"),
    [
        (np.ones((120, 1)), "regressor 'x0' is constant"),
        (np.c_[np.arange(120.0), 2 * np.arange(120.0) + 1], "'x1' is a linear combination"),
        (np.full((119, 2), 1.0), r"exog must be \[N, T, P\]"),
        (np.array([["a"]] * 120), "exog must be numeric"),
    ],
)
def test_bad_regressors_are_named(exog, message, data):
    y, _ = data
    with pytest.raises(ValueError, match=message):
        switching_regression(y, 2, exog=exog)


def test_a_missing_regressor_where_the_response_is_present_is_named(data):
    y, x = data
    table = pd.DataFrame(x, columns=["income", "price"])
    table.loc[17, "price"] = np.nan
    with pytest.raises(ValueError, match="regressor 'price' is nan at series 0, step 17"):
        switching_regression(y, 2, exog=table)
    y = y.copy()
    y[17] = np.nan  # missing response: the regressor may be missing too
    switching_regression(y, 2, exog=table)


def test_bad_transition_covariates_are_named_as_given(data):
    y, _ = data
    with pytest.raises(ValueError, match=r"exog_tvtp must be \[N, T, P\]"):
        switching_regression(y, 2, exog_tvtp=np.ones((5, 1)))


def test_forecast_refuses_an_emission_that_changes_with_the_regressors(data):
    y, x = data
    model = switching_regression(y, 2, exog=x)
    values = {
        "level": [[[-1.0, 1.0]]],
        "const": [[[-1.0, 1.0]]],
        "beta": np.zeros((1, 1, 2, 2)),
        "sigma": [[1.0]],
        "p_transition": [[[[0.9, 0.1], [0.2, 0.8]]]],
    }
    posterior = from_dict({"posterior": {k: np.asarray(v) for k, v in values.items()}})
    with pytest.raises(NotImplementedError, match="changes with each step"):
        jaxbridge.forecast(posterior, model, steps=2)
