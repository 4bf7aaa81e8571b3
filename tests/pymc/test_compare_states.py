"""compare_states: one-step-ahead terms against a NumPy forward pass and enumeration, the
table against ArviZ called directly, and (slow) K = 2 ranked first on 2-state data."""

import itertools

import arviz as az
import numpy as np
import pymc as pm
import pytest
import xarray as xr
from scipy.stats import norm

import jaxbridge
from jaxbridge import _compat
from jaxbridge.pymc import compare_states, gaussian_hmm, poisson_hmm
from jaxbridge.pymc._compare import MIN_SEQUENCES, step_log_likelihood

#: Draws per chain of the stand-in posteriors (ArviZ 1.x's Pareto fit needs a few in the tail).
DRAWS = 40


def _draws(model: pm.Model, seed: int, draws: int = DRAWS) -> object:
    """Prior draws of ``model`` standing in for a posterior: 2 chains x ``draws``."""
    chains = []
    for chain in range(2):
        prior = pm.sample_prior_predictive(draws=draws, model=model, random_seed=seed + chain)
        chains.append(_compat.get_group(prior, "prior"))
    posterior = xr.concat(chains, dim="chain").assign_coords(chain=[0, 1])
    return _compat.inference_data({"posterior": posterior})


def _data(rng, n_sequences: int, n_steps: int) -> np.ndarray:
    y = rng.normal(size=(n_sequences, n_steps)) + 2.0 * (rng.random((n_sequences, 1)) < 0.5)
    y[0, 1] = np.nan  # a missing step
    return y


def _numpy_steps(y, init, trans, mu, sigma) -> np.ndarray:
    """``log p(y_t | y_1:t-1)`` of one sequence by a plain NumPy forward pass (NaN: missing)."""
    predicted, out = np.asarray(init, float), []
    for y_t in y:
        if np.isnan(y_t):
            filtered, step = predicted, np.nan
        else:
            joint = predicted * norm.pdf(y_t, mu, sigma)
            filtered, step = joint / joint.sum(), np.log(joint.sum())
        out.append(step)
        predicted = filtered @ trans
    return np.array(out)


def _enumerated(y, init, trans, mu, sigma) -> float:
    """``log p(y)`` summing ``p(z, y)`` over every state path (missing steps: no term)."""
    total = 0.0
    for path in itertools.product(range(len(init)), repeat=len(y)):
        p = init[path[0]] * np.prod([trans[a, b] for a, b in itertools.pairwise(path)])
        p *= np.prod(
            [norm.pdf(v, mu[z], sigma[z]) for v, z in zip(y, path, strict=True) if not np.isnan(v)]
        )
        total += p
    return np.log(total)


@pytest.fixture(scope="module")
def small():
    """Gaussian HMMs with K = 1, 2, 3 on 3 tiny sequences, prior draws as posteriors."""
    y = _data(np.random.default_rng(3), 3, 5)
    models = {k: gaussian_hmm(y, k) for k in (1, 2, 3)}
    fits = {k: _draws(m, seed=10 * k) for k, m in models.items()}
    return y, models, fits


def test_step_terms_match_a_numpy_forward_pass_and_sum_to_enumeration(small):
    y, models, fits = small
    steps = step_log_likelihood(fits[2], models[2])
    assert steps.dims == ("chain", "draw", "sequence", "time")
    assert steps.shape == (2, DRAWS, 3, 5)
    assert np.isnan(steps.values[..., 0, 1]).all()
    post = _compat.get_group(fits[2], "posterior")
    for c, d in itertools.product(range(2), range(0, DRAWS, 13)):
        draw = post.isel(chain=c, draw=d)
        params = [draw[n].values for n in ("p_initial_state", "p_transition")]
        params += [draw["emission_mu"].values, draw["emission_sigma"].values]
        for n in range(3):
            expected = _numpy_steps(y[n], *params)
            np.testing.assert_allclose(steps.values[c, d, n], expected, rtol=1e-10)
            np.testing.assert_allclose(
                np.nansum(steps.values[c, d, n]), _enumerated(y[n], *params), rtol=1e-10
            )


@pytest.mark.parametrize("states", [1, 3])
def test_step_terms_sum_to_pymc_log_likelihood(small, states):
    """Summed over steps: the per-sequence values of ``pm.compute_log_likelihood``."""
    _, models, fits = small
    steps = step_log_likelihood(fits[states], models[states])
    with models[states]:
        pymc = pm.compute_log_likelihood(fits[states], progressbar=False)
    expected = _compat.get_group(pymc, "log_likelihood")["hmm"]
    np.testing.assert_allclose(steps.sum("time", skipna=True), expected, rtol=1e-10)


def _arviz_elpd(posterior: xr.Dataset, pointwise: xr.DataArray) -> tuple[float, float, object]:
    """ELPD and its se from ``az.loo`` on the pointwise values, without jaxbridge."""
    groups = {"posterior": posterior, "log_likelihood": pointwise.to_dataset(name="y")}
    if _compat.ARVIZ_1:
        loo = az.loo(xr.DataTree.from_dict(groups), pointwise=True)
        return loo.elpd, loo.se, loo
    loo = az.loo(az.InferenceData(**groups), pointwise=True)
    return loo["elpd_loo"], loo["se"], loo


@pytest.mark.filterwarnings("ignore::UserWarning")  # ArviZ: high Pareto k of prior draws
@pytest.mark.parametrize("by", ["sequence", "step"])
def test_table_matches_arviz_on_the_same_pointwise_values(small, by):
    y, models, fits = small
    result = compare_states(fits, models, by=by)
    assert result.by == by
    assert list(result.table.index) == list(result.table.sort_values("rank").index)
    assert result.best == result.table.index[0]
    assert set(result.table.index) == {1, 2, 3}
    loos = {}
    for k in (1, 2, 3):
        pointwise = result.log_likelihood[k]
        steps = step_log_likelihood(fits[k], models[k])
        if by == "sequence":
            expected = steps.sum("time", skipna=True).values
        else:
            expected = steps.values.reshape(2, DRAWS, -1)[..., ~np.isnan(y.ravel())]
        np.testing.assert_allclose(pointwise.values, expected.reshape(2, DRAWS, -1))
        posterior = _compat.get_group(fits[k], "posterior")
        elpd, se, loos[str(k)] = _arviz_elpd(posterior, pointwise)
        row = result.table.loc[k]
        np.testing.assert_allclose([row["elpd"], row["se"]], [elpd, se], rtol=1e-10)
    direct = az.compare(loos, round_to="none") if _compat.ARVIZ_1 else az.compare(loos)
    np.testing.assert_allclose(
        result.table["weight"].values,
        direct.loc[[str(k) for k in result.table.index], "weight"].values,
        atol=1e-6,
    )
    np.testing.assert_allclose(
        result.table["dse"].values,
        direct.loc[[str(k) for k in result.table.index], "dse"].values,
        rtol=1e-8,
    )
    best_elpd = result.table["elpd"].max()
    np.testing.assert_allclose(result.table["elpd_diff"], best_elpd - result.table["elpd"])
    assert f"would pick K={result.recommended}" in result.verdict
    assert result.table["recommended"].sum() == 1


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_auto_leaves_out_sequences_only_when_there_are_enough(rng):
    few = _data(rng, MIN_SEQUENCES - 1, 4)
    many = _data(rng, MIN_SEQUENCES, 4)
    for y, expected in ((few, "step"), (many, "sequence")):
        models = {k: poisson_hmm(np.nan_to_num(np.abs(np.round(y)), nan=1), k) for k in (1, 2)}
        fits = {k: _draws(m, seed=k) for k, m in models.items()}
        result = compare_states(fits, models)
        assert result.by == expected
        n_obs = len(y) if expected == "sequence" else y.size
        assert result.log_likelihood[1].sizes["observation"] == n_obs


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f, m: ({2: f[2]}, {2: m[2]}), "at least two fits"),
        (lambda f, m: (f, {1: m[1], 2: m[2]}), "same keys"),
        (lambda f, m: ({0: f[1], 2: f[2]}, {0: m[1], 2: m[2]}), r"K >= 1; got \[0\]"),
    ],
    ids=["one fit", "keys differ", "K = 0"],
)
def test_bad_fits_are_refused_naming_the_argument(small, change, message):
    _, models, fits = small
    with pytest.raises(ValueError, match=message):
        compare_states(*change(fits, models))


def test_bad_by_and_different_data_are_refused(small):
    y, models, fits = small
    with pytest.raises(ValueError, match="by must be one of"):
        compare_states(fits, models, by="time")
    other = gaussian_hmm(y[:2], 2)
    with pytest.raises(ValueError, match="K=1 and K=2 do not observe the same data"):
        compare_states({1: fits[1], 2: _draws(other, 0)}, {1: models[1], 2: other})


def test_exported_at_the_top_level():
    assert jaxbridge.compare_states is compare_states


# --------------------------------------------------------------------------- slow


def _two_state_data(seed: int, n_sequences: int, n_steps: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    z = np.zeros((n_sequences, n_steps), dtype=int)
    z[:, 0] = rng.integers(2, size=n_sequences)
    for t in range(1, n_steps):
        switch = rng.random(n_sequences) < 0.1
        z[:, t] = np.where(switch, 1 - z[:, t - 1], z[:, t - 1])
    return rng.normal(np.array([0.0, 2.5])[z], 0.8)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize(
    ("shape", "by"), [((30, 30), "sequence"), ((1, 300), "step")], ids=["many", "one long"]
)
def test_two_state_data_ranks_two_states_first(seed, shape, by):
    y = _two_state_data(seed, *shape)
    models = {k: gaussian_hmm(y, k) for k in (1, 2, 3)}
    fits = {
        k: jaxbridge.sample(m, draws=300, tune=300, chains=2, random_seed=seed, progressbar=False)
        for k, m in models.items()
    }
    result = compare_states(fits, models)
    assert result.by == by
    assert result.best == 2, result.table.to_string()
    assert result.table.loc[1, "elpd_diff"] > 4 * result.table.loc[1, "dse"]
