"""Covariate-driven transitions: the builder's log-likelihood against a NumPy forward pass."""

import numpy as np
import pymc as pm
import pytest
import xarray as xr
from readme_fits import R_HAT_BOUND
from scipy import stats
from scipy.special import logsumexp, softmax

from jaxbridge.pymc import covariate_transitions, gaussian_hmm, parameter_names, poisson_hmm


def _numpy_transitions(x, intercept, coef):
    """``softmax_j(a_ij + x[n, t] @ b[i, :, j])`` with staying the zero-logit reference."""
    logits = intercept[None, None] + np.einsum("ntp,ipj->ntij", x[:, 1:], coef)
    logits = logits * (1 - np.eye(intercept.shape[0]))
    return softmax(logits, axis=-1)


def _numpy_forward(log_emission, init, trans):
    """log p(y) by the log-space forward algorithm; ``trans [T-1, K, K]``; NaN rows skipped."""
    log_alpha = np.log(init) + np.nan_to_num(log_emission[0])
    for t in range(1, len(log_emission)):
        log_alpha = logsumexp(log_alpha[:, None] + np.log(trans[t - 1]), axis=0)
        log_alpha = log_alpha + np.nan_to_num(log_emission[t])
    return logsumexp(log_alpha)


def test_transitions_match_numpy_and_the_diagonal_is_the_reference(rng):
    x = rng.normal(size=(2, 6, 3))
    intercept, coef = rng.normal(size=(3, 3)), rng.normal(size=(3, 3, 3))
    got = covariate_transitions(x, intercept, coef).eval()
    assert got.shape == (2, 5, 3, 3)
    np.testing.assert_allclose(got.sum(-1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(got, _numpy_transitions(x, intercept, coef), rtol=1e-12)
    diag = np.eye(3)[:, None, :] * 5.0  # changing the reference entries changes nothing
    np.testing.assert_allclose(
        covariate_transitions(x, intercept + 7 * np.eye(3), coef + diag).eval(), got, rtol=1e-12
    )


def test_gaussian_model_log_likelihood_against_numpy_forward_pass(rng):
    n, t, k = 3, 8, 2
    observed = rng.normal(size=(n, t)) + 2.0
    observed[1, 3] = np.nan
    x = np.stack([rng.normal(10.0, 3.0, size=(n, t)), rng.uniform(size=(n, t))], axis=-1)
    model = gaussian_hmm(observed, k, covariates=x)
    reported = parameter_names(model)
    assert "transition_coef" in reported and "transition_intercept" in reported
    assert "p_transition" not in model.named_vars
    point = model.initial_point(0)
    for name in point:  # a point away from the prior centre
        point[name] = point[name] + rng.normal(scale=0.5, size=np.shape(point[name]))
    hmm = model["hmm"]
    logp = model.compile_logp(vars=[hmm], jacobian=False)(point)
    names = ("emission_mu", "emission_sigma", "p_initial_state")
    outputs = model.replace_rvs_by_values(
        [model[v] for v in (*names, "transition_intercept", "transition_coef")]
    )
    values = model.compile_fn(outputs, inputs=model.value_vars, on_unused_input="ignore")(point)
    mu, sigma, init, intercept, coef = values
    trans = _numpy_transitions(x, intercept, coef)
    log_emission = stats.norm.logpdf(observed[..., None], mu, sigma)
    want = sum(_numpy_forward(log_emission[i], init, trans[i]) for i in range(n))
    np.testing.assert_allclose(logp, want, rtol=1e-10)
    np.testing.assert_allclose(np.diagonal(coef, axis1=0, axis2=2), 0.0)


@pytest.mark.parametrize(
    ("covariates", "match"),
    [
        (np.zeros((3, 7, 1)), r"covariates must be \[N, T, P\] = \[2, 6, P\]"),
        (np.full((2, 6, 1), np.nan), r"covariates\[0, 0, 0\] is nan"),
    ],
)
def test_bad_covariates_are_named(covariates, match):
    with pytest.raises(ValueError, match=match):
        poisson_hmm(np.ones((2, 6)), 2, covariates=covariates)


def test_one_state_has_no_transitions_to_drive():
    with pytest.raises(ValueError, match="states must be at least 2"):
        gaussian_hmm(np.ones((2, 6)), 1, covariates=np.zeros((2, 6)))


def test_prior_predictive_draws_sequences_of_the_observed_shape():
    n, t = 4, 12
    model = poisson_hmm(np.ones((n, t)), 2, covariates=np.linspace(0, 1, n * t).reshape(n, t))
    with model:
        draws = pm.sample_prior_predictive(draws=20, random_seed=1)
    simulated = draws.prior_predictive["hmm"].values
    assert simulated.shape == (1, 20, n, t)
    assert (simulated >= 0).all() and np.array_equal(simulated, np.round(simulated))


def _simulate(rng, intercept, coef, mu, sigma, n, t):
    """Sequences of a 2-state Gaussian HMM whose moves follow one covariate."""
    x = rng.normal(size=(n, t, 1))
    trans = _numpy_transitions(x, intercept, coef)
    z = np.zeros((n, t), dtype=int)
    z[:, 0] = rng.integers(0, 2, size=n)
    for step in range(1, t):
        p_move = trans[np.arange(n), step - 1, z[:, step - 1], 1 - z[:, step - 1]]
        z[:, step] = np.where(rng.random(n) < p_move, 1 - z[:, step - 1], z[:, step - 1])
    return rng.normal(mu[z], sigma[z]), x


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2])
def test_recovers_covariate_effects(seed):
    """Simulated from known effects, the fit covers them (99% HDI) with converged chains."""
    import jaxbridge
    from jaxbridge import _compat

    rng = np.random.default_rng(seed)
    intercept = np.array([[0.0, -2.0], [-1.5, 0.0]])
    coef = np.array([[[0.0, 1.5]], [[-1.0, 0.0]]])  # [K, P=1, K]
    mu, sigma = np.array([0.0, 3.0]), np.array([1.0, 1.0])
    observed, x = _simulate(rng, intercept, coef, mu, sigma, n=40, t=60)
    model = gaussian_hmm(observed, 2, covariates=x)
    idata = jaxbridge.sample(model, draws=500, tune=500, chains=2, random_seed=seed)
    names = ["transition_intercept", "transition_coef", "emission_mu"]
    summary = _compat.summary(idata, names, 0.99)  # 12 checks over 2 seeds: 94% would miss one
    moving = summary[summary["sd"] > 0]  # not the reference diagonal, fixed at zero
    assert (moving["r_hat"] < R_HAT_BOUND).all()
    truth = {
        "transition_intercept[0, 1]": -2.0,
        "transition_intercept[1, 0]": -1.5,
        "transition_coef[0, 0, 1]": 1.5,
        "transition_coef[1, 0, 0]": -1.0,
        "emission_mu[0]": 0.0,
        "emission_mu[1]": 3.0,
    }
    lower, upper = summary.columns[2], summary.columns[3]
    for label, value in truth.items():
        assert summary.loc[label, lower] <= value <= summary.loc[label, upper], label


def test_covariates_named_by_a_data_array_label_the_coefficients(rng):
    y = rng.normal(size=(2, 8))
    x = rng.normal(size=(2, 8, 2))
    named = xr.DataArray(x, dims=("sequence", "time", "column"), coords={"column": ["t", "d"]})
    model = gaussian_hmm(y, 2, covariates=named)
    assert list(model.coords["covariate"]) == ["t", "d"]
    assert model.named_vars_to_dims["transition_coef"] == ("from_state", "covariate", "to_state")
    assert list(gaussian_hmm(y, 2, covariates=x).coords["covariate"]) == [0, 1]
