"""Multivariate emissions in ``MarginalHMM`` (``pm.MvNormal``, ``pm.Dirichlet``, ``pm.Multinomial``)
against independent NumPy forward passes and enumeration with SciPy densities."""

import itertools

import numpy as np
import pymc as pm
import pytensor.tensor as pt
import pytest
import scipy.stats as st

from jaxbridge import MarginalHMM, decode
from jaxbridge._compat import from_dict, get_group
from jaxbridge.pymc import mvnormal_hmm, parameter_names, pseudo_residuals

INIT = np.array([0.6, 0.3, 0.1])
TRANS = np.array([[0.8, 0.15, 0.05], [0.1, 0.7, 0.2], [0.25, 0.25, 0.5]])


def _covariances(rng, k, d):
    a = rng.normal(size=(k, d, d))
    return a @ a.transpose(0, 2, 1) + 0.5 * np.eye(d)


def _mvnormal_density(y, mus, covs):
    """``p(y_t | z_t = k)`` ``[T, K]`` from SciPy; NaN rows give NaN."""
    return np.stack(
        [st.multivariate_normal(m, c).pdf(y) for m, c in zip(mus, covs, strict=True)], axis=-1
    )


def _forward(dens, init, trans, present=None):
    """Scaled forward algorithm in NumPy: ``log p(y_{1:T})`` from densities ``[T, K]``;
    ``trans`` ``[K, K]`` or ``[T-1, K, K]``; absent steps contribute no emission factor."""
    steps = len(dens)
    present = np.ones(steps, bool) if present is None else present
    dens = np.where(present[:, None], dens, 1.0)
    trans = np.broadcast_to(trans, (steps - 1, *np.shape(trans)[-2:]))
    alpha, total = init * dens[0], 0.0
    for t in range(steps):
        if t:
            alpha = (alpha @ trans[t - 1]) * dens[t]
        total += np.log(alpha.sum())
        alpha = alpha / alpha.sum()
    return total


def _logp(rv, value):
    return pm.logp(rv, value).eval()


def test_mvnormal_logp_matches_a_numpy_forward_pass_per_sequence(rng):
    n, t, k, d = 3, 9, 3, 2
    mus, covs = rng.normal(size=(k, d)) * 2, _covariances(rng, k, d)
    y = rng.normal(size=(n, t, d)) * 2
    for emission in (
        pm.MvNormal.dist(mu=mus, cov=covs),
        pm.MvNormal.dist(mu=mus, chol=np.linalg.cholesky(covs)),
    ):
        rv = MarginalHMM.dist(INIT, TRANS, emission, shape=(n, t, d))
        expected = [_forward(_mvnormal_density(y[i], mus, covs), INIT, TRANS) for i in range(n)]
        np.testing.assert_allclose(_logp(rv, y), expected, rtol=1e-10)


def test_tiny_case_equals_the_sum_over_all_paths(rng):
    k, d, t = 3, 2, 4
    mus, covs = rng.normal(size=(k, d)), _covariances(rng, k, d)
    y = rng.normal(size=(t, d))
    dens = _mvnormal_density(y, mus, covs)
    total = sum(
        INIT[z[0]] * dens[0, z[0]] * np.prod([TRANS[a, b] * dens[i + 1, b] for i, (a, b) in
                                              enumerate(itertools.pairwise(z))])
        for z in itertools.product(range(k), repeat=t)
    )  # fmt: skip
    rv = MarginalHMM.dist(INIT, TRANS, pm.MvNormal.dist(mu=mus, cov=covs), steps=t)
    np.testing.assert_allclose(_logp(rv, y), np.log(total), rtol=1e-10)


def test_a_step_with_any_nan_component_is_missing_as_a_whole(rng):
    n, t, k, d = 2, 8, 3, 3
    mus, covs = rng.normal(size=(k, d)), _covariances(rng, k, d)
    y = rng.normal(size=(n, t, d))
    y[0, 2, 1] = np.nan  # one component
    y[1, 5] = np.nan  # all of them
    y[1, 0, 2] = np.nan  # the first step
    present = ~np.isnan(y).any(axis=-1)
    expected = []
    for i in range(n):
        dens = _mvnormal_density(np.nan_to_num(y[i]), mus, covs)
        expected.append(_forward(dens, INIT, TRANS, present[i]))
    emission = pm.MvNormal.dist(mu=mus, cov=covs)
    with pm.Model() as model:  # NaN observations: filled and masked, no imputation
        MarginalHMM("y", INIT, TRANS, emission, observed=y)
    assert not model.free_RVs
    np.testing.assert_allclose(model.compile_logp(sum=False)({})[0], expected, rtol=1e-10)
    # symbolic values: NaN handled in the log-density, gradient finite
    rv = MarginalHMM.dist(INIT, TRANS, emission, shape=(n, t, d))
    np.testing.assert_allclose(_logp(rv, y), expected, rtol=1e-10)
    mu = pt.matrix("mu")
    rv_mu = MarginalHMM.dist(INIT, TRANS, pm.MvNormal.dist(mu=mu, cov=covs), shape=(n, t, d))
    grad = pt.grad(pm.logp(rv_mu, y).sum(), mu).eval({mu: mus})
    assert np.isfinite(grad).all()


def test_an_explicit_mask_combines_with_nan(rng):
    t, k, d = 6, 3, 2
    mus, covs = rng.normal(size=(k, d)), _covariances(rng, k, d)
    y = rng.normal(size=(t, d))
    y[4, 0] = np.nan
    mask = np.array([True, False, True, True, True, True])
    rv = MarginalHMM.dist(INIT, TRANS, pm.MvNormal.dist(mu=mus, cov=covs), mask=mask)
    dens = _mvnormal_density(np.nan_to_num(y), mus, covs)
    expected = _forward(dens, INIT, TRANS, mask & ~np.isnan(y).any(-1))
    np.testing.assert_allclose(_logp(rv, y), expected, rtol=1e-10)


def test_time_varying_transitions_and_per_step_means(rng):
    n, t, k, d = 2, 7, 3, 2
    trans = rng.dirichlet(np.ones(k), size=(n, t - 1, k))
    mus = rng.normal(size=(n, t, k, d))  # the emission varies per sequence and step
    covs = _covariances(rng, k, d)
    y = rng.normal(size=(n, t, d))
    emission = pm.MvNormal.dist(mu=mus, cov=covs)
    rv = MarginalHMM.dist(INIT, trans, emission, time_varying=True)
    expected = []
    for i in range(n):
        dens = np.stack(
            [[st.multivariate_normal(mus[i, s, j], covs[j]).pdf(y[i, s]) for j in range(k)]
             for s in range(t)]
        )  # fmt: skip
        expected.append(_forward(dens, INIT, trans[i]))
    np.testing.assert_allclose(_logp(rv, y), expected, rtol=1e-10)


def test_dirichlet_and_multinomial_emissions_match_scipy(rng):
    k, d, t = 3, 4, 6
    alphas = rng.uniform(0.5, 5.0, size=(k, d))
    y = rng.dirichlet(np.ones(d), size=t)
    rv = MarginalHMM.dist(INIT, TRANS, pm.Dirichlet.dist(a=alphas), steps=t)
    dens = np.stack([st.dirichlet(a).pdf(y.T) for a in alphas], axis=-1)
    np.testing.assert_allclose(_logp(rv, y), _forward(dens, INIT, TRANS), rtol=1e-10)

    probs = rng.dirichlet(np.ones(d), size=k)
    counts = np.stack([rng.multinomial(12, probs[i % k]) for i in range(t)])
    rv = MarginalHMM.dist(INIT, TRANS, pm.Multinomial.dist(n=12, p=probs), steps=t)
    dens = np.stack([st.multinomial(12, p).pmf(counts) for p in probs], axis=-1)
    # PyMC's and SciPy's multinomial log-pmfs themselves differ by ~1e-7 (relative)
    np.testing.assert_allclose(_logp(rv, counts), _forward(dens, INIT, TRANS), rtol=1e-6)


def _alternating(shift):
    """Two states visited 0, 1, 0, 1, ... emitting (almost exactly) their 2-d means."""
    mus = pt.stack([pt.stack([shift, 0.0]), pt.stack([shift + 10.0, 5.0])])
    emission = pm.MvNormal.dist(mu=mus, cov=1e-8 * np.eye(2))
    return np.array([1.0, 0.0]), np.array([[0.0, 1.0], [1.0, 0.0]]), emission


def test_prior_and_posterior_predictive_draws_follow_the_chain():
    n, t = 3, 6
    expected = np.where(np.arange(t)[:, None] % 2 == 0, [0.0, 0.0], [10.0, 5.0])  # [T, 2]
    with pm.Model(coords={"seq": range(n), "time": range(t), "comp": ["a", "b"]}) as model:
        shift = pm.Normal("shift", 0.0, 1.0)
        init, trans, emission = _alternating(shift)
        MarginalHMM("y", init, trans, emission, dims=("seq", "time", "comp"))
        prior = get_group(pm.sample_prior_predictive(4, random_seed=1), "prior")
    shifts = prior["shift"].values[..., None, None, None] * [1.0, 0.0]
    draws = prior["y"]
    assert draws.dims == ("chain", "draw", "seq", "time", "comp")
    np.testing.assert_allclose(draws.values - shifts - expected, 0.0, atol=1e-3)

    posterior = from_dict({"posterior": {"shift": np.array([[2.0, -3.0]])}})
    with model:
        predictive = pm.sample_posterior_predictive(
            posterior, var_names=["y"], random_seed=2, progressbar=False
        )
    draws = get_group(predictive, "posterior_predictive")["y"].values
    assert draws.shape == (1, 2, n, t, 2)
    shifts = np.array([2.0, -3.0])[:, None, None, None] * [1.0, 0.0]
    np.testing.assert_allclose(draws[0] - shifts - expected, 0.0, atol=1e-3)


def test_random_draws_have_the_state_means_of_a_simulated_chain(rng):
    k, d, t = 3, 2, 4000
    mus = np.array([[-5.0, 0.0], [0.0, 5.0], [5.0, 0.0]])
    rv = MarginalHMM.dist(INIT, TRANS, pm.MvNormal.dist(mu=mus, cov=0.01 * np.eye(d)), steps=t)
    y = pm.draw(rv, random_seed=3)
    assert y.shape == (t, d)
    states = np.argmin(((y[:, None] - mus) ** 2).sum(-1), axis=-1)
    np.testing.assert_allclose(np.abs(y - mus[states]).max(), 0, atol=0.6)
    counts = np.zeros((k, k))
    np.add.at(counts, (states[:-1], states[1:]), 1)
    np.testing.assert_allclose(counts / counts.sum(1, keepdims=True), TRANS, atol=0.05)


def test_decode_matches_enumeration(rng):
    t, d = 5, 2
    mus, covs = np.array([[0.0, 0.0], [1.5, -1.0], [3.0, 1.0]]), _covariances(rng, 3, d)
    y = rng.normal(size=(2, t, d)) + 1.0
    with pm.Model(coords={"seq": ["a", "b"], "time": range(t), "comp": ["x", "z"]}) as model:
        shift = pm.Normal("shift", 0.0, 1.0)
        emission = pm.MvNormal.dist(mu=mus + shift, cov=covs)
        MarginalHMM("y", INIT, TRANS, emission, observed=y, dims=("seq", "time", "comp"))
    idata = from_dict({"posterior": {"shift": np.zeros((1, 2))}})
    ds = decode(idata, model, viterbi="draws")
    assert ds["state_probs"].dims == ("seq", "time", "state")
    assert ds["viterbi"].dims == ("chain", "draw", "seq", "time")
    for i in range(2):
        log_dens = np.log(_mvnormal_density(y[i], mus, covs))
        paths = np.array(list(itertools.product(range(3), repeat=t)))
        logp = np.log(INIT[paths[:, 0]]) + log_dens[np.arange(t), paths].sum(-1)
        logp += np.log(TRANS[paths[:, :-1], paths[:, 1:]]).sum(-1)
        probs = np.exp(logp - np.logaddexp.reduce(logp))
        marginals = np.stack([probs @ (paths == j) for j in range(3)], axis=-1)
        np.testing.assert_allclose(ds["state_probs"].values[i], marginals, atol=1e-10)
        np.testing.assert_array_equal(ds["viterbi"].values[0, 0, i], paths[np.argmax(logp)])


def test_wrong_observed_shapes_are_clear_errors(rng):
    mus, covs = rng.normal(size=(3, 2)), _covariances(rng, 3, 2)
    emission = pm.MvNormal.dist(mu=mus, cov=covs)
    with pm.Model():
        with pytest.raises(ValueError, match=r"observed must have shape \[\.\.\., T, D\]"):
            MarginalHMM("a", INIT, TRANS, emission, observed=np.zeros((4, 6, 3)))
        with pytest.raises(ValueError, match=r"at least 3 dimensions \[\.\.\., T, D\]"):
            MarginalHMM("b", INIT, TRANS, pm.MvNormal.dist(mu=mus[None, None], cov=covs),
                        observed=np.zeros((6, 2)))  # fmt: skip
        with pytest.raises(ValueError, match=r"observed must be sequences \[\.\.\., T, \*E\]"):
            MarginalHMM("c", INIT, TRANS, emission, observed=np.zeros(6))
        with pytest.raises(ValueError, match=r"last batch dimension must index the K hidden"):
            MarginalHMM("d", INIT, TRANS, pm.MvNormal.dist(mu=mus[0], cov=covs[0]),
                        observed=np.zeros((6, 2)))  # fmt: skip
        with pytest.raises(ValueError, match=r"init has 3 states .* K=2"):
            MarginalHMM("e", INIT, TRANS, pm.MvNormal.dist(mu=mus[:2], cov=covs[:2]),
                        observed=np.zeros((6, 2)))  # fmt: skip


def test_pseudo_residuals_refuse_multivariate_emissions(rng):
    model = mvnormal_hmm(rng.normal(size=(2, 5, 2)), 2)
    posterior = {v.name: pm.draw(v, random_seed=1)[None, None] for v in model.free_RVs}
    with pytest.raises(ValueError, match="pseudo_residuals needs a univariate emission"):
        pseudo_residuals(from_dict({"posterior": posterior}), model)


def test_mvnormal_hmm_builder(rng):
    y = rng.normal(size=(3, 10, 2)) * [1.0, 100.0] + [0.0, 1000.0]
    y[1, 4, 0] = np.nan
    model = mvnormal_hmm(y, 3, sequence=["a", "b", "c"])
    assert parameter_names(model) == [
        "emission_mu",
        "emission_cov",
        "p_initial_state",
        "p_transition",
    ]
    assert model.named_vars_to_dims["hmm"] == ("sequence", "time", "component")
    point = model.initial_point()
    assert np.isfinite(model.compile_logp()(point))
    constrained = {v.name: v for v in model.unobserved_value_vars}
    mean_of = model.compile_fn(
        constrained["emission_mu"], inputs=model.value_vars, on_unused_input="ignore"
    )
    for _ in range(5):  # any unconstrained point: ordered on the first component
        mu = mean_of({name: rng.normal(size=np.shape(v)) for name, v in point.items()})
        assert mu.shape == (3, 2)
        assert np.all(np.diff(mu[:, 0]) > 0)
    draw = pm.draw(model["emission_cov"], random_seed=1)
    assert draw.shape == (3, 2, 2)
    np.testing.assert_allclose(draw, draw.transpose(0, 2, 1))
    assert np.all(np.linalg.eigvalsh(draw) > 0)
    shared = mvnormal_hmm(y[0], 2, shared_cov=True)
    assert pm.draw(shared["emission_cov"], random_seed=1).shape == (2, 2)
    x = rng.normal(size=(3, 10, 1))
    assert "transition_coef" in mvnormal_hmm(y, 2, covariates=x).named_vars
    with pytest.raises(ValueError, match=r"observed must be \[N, T, D\] or \[T, D\]"):
        mvnormal_hmm(y[0, :, 0], 2)


def _simulate(rng, init, trans, mus, covs, n, t):
    y = np.empty((n, t, mus.shape[1]))
    for i in range(n):
        z = rng.choice(len(init), p=init)
        for s in range(t):
            if s:
                z = rng.choice(len(init), p=trans[z])
            y[i, s] = rng.multivariate_normal(mus[z], covs[z])
    return y


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2])
def test_mvnormal_hmm_recovers_the_truth(seed):
    """Simulated data: the 99% HDI covers every parameter, the chains converge."""
    import jaxbridge
    from jaxbridge import _compat

    rng = np.random.default_rng(seed)
    init, trans = np.array([0.5, 0.5]), np.array([[0.9, 0.1], [0.2, 0.8]])
    mus = np.array([[0.0, 1.0], [3.0, -1.0]])
    covs = np.array([[[1.0, 0.5], [0.5, 1.0]], [[0.5, -0.2], [-0.2, 0.8]]])
    y = _simulate(rng, init, trans, mus, covs, n=10, t=60)
    model = mvnormal_hmm(y, 2)
    idata = jaxbridge.sample(model, draws=500, tune=500, chains=2, random_seed=seed)
    names = ["emission_mu", "emission_cov", "p_transition"]
    summary = _compat.summary(idata, names, 0.99)
    assert (summary["r_hat"] < 1.01).all()
    truth = {"emission_mu": mus, "emission_cov": covs, "p_transition": trans}
    lower, upper = summary.columns[2], summary.columns[3]
    for name, values in truth.items():
        for index in np.ndindex(values.shape):
            label = f"{name}[{', '.join(map(str, index))}]"
            assert summary.loc[label, lower] <= values[index] <= summary.loc[label, upper], label
