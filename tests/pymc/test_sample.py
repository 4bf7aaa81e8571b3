"""jaxbridge.sample: every sampler, on a model with a wrapped JAX op, against a conjugate posterior."""

import jax
import numpy as np
import pymc as pm
import pytest

from jaxbridge._compat import get_group, group_attrs, group_names
from jaxbridge.pymc import sample
from jaxbridge.pymc._sample import (
    AUTO_ORDER,
    DENSE_MASS_MAX_DIM,
    auto_candidates,
    dense_mass_default,
    installed_samplers,
)
from jaxbridge.pymc.samplers._base import has_jax_ops
from jaxbridge.wrap import wrap

SAMPLERS = ["pymc", "numpyro", "blackjax", "nutpie"]
N_OBS, PRIOR_SD = 40, 10.0


def _normal_loglik(y, mu):
    """Module-level JAX log-likelihood, wrapped into the model as a PyTensor op."""
    return jax.scipy.stats.norm.logpdf(y, mu, 1.0).sum()


@pytest.fixture(scope="module")
def conjugate_model():
    """y ~ Normal(mu, 1) through a wrapped JAX op, mu ~ Normal(0, 10), and an idle HalfNormal tau.

    Exact posterior: mu | y ~ Normal(sum(y) / (n + 1/100), 1 / sqrt(n + 1/100)); tau keeps its
    HalfNormal(1) prior, mean sqrt(2 / pi). tau is sampled on the log scale, so its draws also
    check that the log transform is undone.
    """
    y = np.random.default_rng(7).normal(2.0, 1.0, size=N_OBS)
    with pm.Model() as model:
        mu = pm.Normal("mu", 0.0, PRIOR_SD)
        pm.HalfNormal("tau", 1.0)
        pm.Potential("loglik", wrap(_normal_loglik)(y, mu))
    assert has_jax_ops(model)
    precision = N_OBS + PRIOR_SD**-2
    return model, y.sum() / precision, precision**-0.5


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_sampler_matches_conjugate_posterior_and_is_reproducible(conjugate_model, sampler):
    model, post_mean, post_sd = conjugate_model
    kwargs = dict(sampler=sampler, draws=150, tune=150, chains=2, progressbar=False)
    idata = sample(model, random_seed=11, **kwargs)

    mu = idata.posterior["mu"]
    assert mu.shape == (2, 150)
    # Monte Carlo error of the mean with ~300 draws is about post_sd / 17
    assert abs(float(mu.mean()) - post_mean) < 0.35 * post_sd
    assert abs(float(mu.std()) - post_sd) < 0.3 * post_sd
    tau = idata.posterior["tau"].values
    assert (tau > 0).all() and "tau_log__" not in idata.posterior
    assert abs(tau.mean() - np.sqrt(2 / np.pi)) < 0.2
    assert "sample_stats" in group_names(idata)
    # a smooth posterior: at most a stray divergence or two in 300 short-tuned draws (nutpie
    # 0.16.11 with PyMC 6: 0-2 per run of this test's settings over seeds 0-27, in the idle
    # log-scale tau, with nutpie's starts drawn by PyMC and by jaxbridge alike)
    assert int(idata.sample_stats["diverging"].sum()) <= 2

    again = sample(model, random_seed=11, **kwargs)
    np.testing.assert_array_equal(again.posterior["mu"].values, mu.values)


@pytest.mark.slow
def test_pymc_parallel_chains_start_from_a_fork_server(conjugate_model):
    model, post_mean, post_sd = conjugate_model
    idata = sample(
        model,
        sampler="pymc",
        draws=200,
        tune=200,
        chains=2,
        cores=2,
        random_seed=5,
        progressbar=False,
    )
    assert idata.posterior["mu"].shape == (2, 200)
    assert abs(float(idata.posterior["mu"].mean()) - post_mean) < 0.35 * post_sd


def test_blackjax_single_chain_and_progressbar(conjugate_model, capsys):
    model, post_mean, post_sd = conjugate_model
    idata = sample(model, sampler="blackjax", draws=60, tune=60, chains=1, random_seed=1)
    assert idata.posterior["mu"].shape == (1, 60)
    assert abs(float(idata.posterior["mu"].mean()) - post_mean) < 1.0 * post_sd
    err = capsys.readouterr().err
    assert "BlackJAX warm-up" in err and "BlackJAX sampling" in err and "60/60" in err


@pytest.mark.parametrize(
    ("sampler", "diagonal"),
    [("numpyro", {"nuts": {"dense_mass": False}}), ("blackjax", {"dense_mass": False})],
)
def test_jax_samplers_adapt_a_dense_mass_matrix_to_a_small_correlated_model(sampler, diagonal):
    """With correlation 0.99 a diagonal mass matrix forces small steps (about 14 leapfrog steps
    per draw); a dense one adapts to the correlation (about 4)."""
    cov = np.array([[1.0, 0.99], [0.99, 1.0]])
    with pm.Model() as model:
        pm.MvNormal("x", mu=np.zeros(2), cov=cov)
    assert dense_mass_default(model)
    kwargs = dict(sampler=sampler, draws=200, tune=300, chains=2, random_seed=3, progressbar=False)
    steps = {}
    for name, options in {"dense": {}, "diagonal": diagonal}.items():
        idata = sample(model, check_convergence=False, **kwargs, **options)
        x = idata.posterior["x"].values.reshape(-1, 2)
        assert abs(np.corrcoef(x.T)[0, 1] - 0.99) < 0.01
        steps[name] = float(idata.sample_stats["n_steps"].mean())
    assert steps["dense"] < 0.5 * steps["diagonal"], steps


def test_dense_mass_default_follows_the_unconstrained_dimension():
    with pm.Model() as small:
        pm.Dirichlet("p", np.ones(3), size=3)  # 3 x 2 unconstrained
        pm.Normal("z", size=DENSE_MASS_MAX_DIM - 6)
    assert dense_mass_default(small)
    with pm.Model() as large:
        pm.Normal("z", size=DENSE_MASS_MAX_DIM + 1)
    assert not dense_mass_default(large)
    with pm.Model() as dynamic:
        n = pm.Data("n_obs", np.zeros(3)).shape[0]
        pm.Normal("z", shape=n)  # size known only when the data are
    assert not dense_mass_default(dynamic)


def test_auto_rule_follows_installed_samplers_devices_and_model(conjugate_model, monkeypatch):
    from jaxbridge.pymc import _sample

    model = conjugate_model[0]
    assert set(installed_samplers()) == set(SAMPLERS)  # the test environment has all four
    assert auto_candidates(model) == list(AUTO_ORDER)
    assert auto_candidates(model, devices=1) == ["numpyro", "blackjax"]
    assert auto_candidates(model, shard="sequences") == ["numpyro", "blackjax"]
    with pm.Model() as discrete:
        pm.Poisson("count", 3.0)
    assert auto_candidates(discrete) == ["pymc"]
    monkeypatch.setattr(_sample, "installed_samplers", lambda: ["pymc"])
    with pytest.raises(ImportError, match="the request needs one of 'numpyro', 'blackjax'"):
        auto_candidates(model, devices=1)


def test_auto_falls_back_to_the_next_sampler_with_one_log_line(
    conjugate_model, monkeypatch, caplog
):
    """A sampler that cannot take the model is never a dead end under sampler='auto'; the
    result records the skipped candidate."""
    from jaxbridge.pymc.samplers import ADAPTERS

    tried = []

    def nutpie_fails(request):
        tried.append("nutpie")
        raise NotImplementedError("nutpie cannot compile this op\nsecond line")

    def pymc_runs(request):
        tried.append("pymc")
        return pymc_run(request)

    pymc_run = ADAPTERS["pymc"].run
    monkeypatch.setitem(ADAPTERS, "nutpie", ADAPTERS["nutpie"]._replace(run=nutpie_fails))
    monkeypatch.setitem(ADAPTERS, "pymc", ADAPTERS["pymc"]._replace(run=pymc_runs))
    model, mean, sd = conjugate_model
    with caplog.at_level("WARNING", logger="jaxbridge"):
        idata = sample(
            model, draws=200, tune=200, chains=1, random_seed=3, progressbar=False,
            on_sampling_start=lambda name: tried.append(f"start {name}"),
        )  # fmt: skip
    # each candidate announced as it starts, after the mode search
    assert tried == ["start nutpie", "nutpie", "start pymc", "pymc"]
    attrs = group_attrs(idata, "posterior")
    assert attrs["inference_library"] == "pymc" and attrs["jaxbridge_sampler"] == "pymc"
    # the result says which candidate was skipped and why, in one line
    assert (
        attrs["jaxbridge_skipped"] == "nutpie: NotImplementedError: nutpie cannot compile this op"
    )
    assert abs(float(get_group(idata, "posterior")["mu"].mean()) - mean) < 4 * sd
    (record,) = [r for r in caplog.records if "falling back" in r.getMessage()]
    assert record.getMessage() == (
        "jaxbridge: sampler='nutpie' failed (NotImplementedError: nutpie cannot compile this "
        "op); falling back to 'pymc'"
    )
    with pytest.raises(NotImplementedError, match="nutpie cannot compile"):  # chosen: no fallback
        sample(model, sampler="nutpie", draws=10, tune=10, chains=1, progressbar=False)


def test_unknown_sampler_is_a_clear_error(conjugate_model):
    with pytest.raises(ValueError, match="sampler must be one of"):
        sample(conjugate_model[0], sampler="stan")


@pytest.mark.parametrize("caller_chooses", [False, True])
def test_nutpie_gets_the_low_rank_mass_matrix_unless_the_caller_chose(
    conjugate_model, monkeypatch, caller_chooses
):
    """jaxbridge asks nutpie for its low-rank modified mass matrix (nutpie >= 0.16.11 spells it
    ``adaptation="low_rank"``, older versions ``low_rank_modified_mass_matrix=True``); an
    adaptation the caller names is passed through untouched."""
    import inspect

    import nutpie

    real, seen = nutpie.sample, []

    def spy(*args, **kwargs):
        seen.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(nutpie, "sample", spy)
    new_api = "adaptation" in inspect.signature(real).parameters
    default = {"adaptation": "low_rank"} if new_api else {"low_rank_modified_mass_matrix": True}
    own = {"adaptation": "diag"} if new_api else {"low_rank_modified_mass_matrix": False}
    model, mean, sd = conjugate_model
    idata = sample(
        model,
        sampler="nutpie",
        draws=100,
        tune=100,
        chains=1,
        random_seed=2,
        progressbar=False,
        nuts=own if caller_chooses else {},
    )
    (kwargs,) = seen
    expected = own if caller_chooses else default
    assert {key: kwargs.get(key) for key in expected} == expected
    assert abs(float(get_group(idata, "posterior")["mu"].mean()) - mean) < 4 * sd
