"""What every sampler returns for the builders' models: the groups, variables, dims and coords
``pm.sample`` returns (no transformed values, no orphan dims), with named dims."""

import re
import warnings

import numpy as np
import pytest

from jaxbridge import _compat
from jaxbridge.pymc import (
    gaussian_hmm,
    mvnormal_hmm,
    page_hmm,
    parameter_names,
    poisson_hmm,
    sample,
    studentt_hmm,
)

SAMPLERS = ["pymc", "nutpie", "numpyro", "blackjax"]
#: One sampler per way of turning draws into InferenceData: PyMC's own, nutpie's, and PyMC's JAX
#: driver (NumPyro and BlackJAX share it; the gaussian model checks both in the default suite).
DRIVERS = ["pymc", "nutpie", "numpyro"]
DEFAULT_DIM = re.compile(r"_dim_\d+$")


def _series(rng):
    return np.concatenate([rng.normal(0, 1, (2, 25)), rng.normal(4, 1, (2, 25))], axis=1)


def _builders(rng):
    y, x = _series(rng), rng.normal(size=(2, 50, 1))
    return {
        "gaussian": lambda: gaussian_hmm(y, 2),
        "gaussian_shared": lambda: gaussian_hmm(y, 2, shared_noise=True),
        "studentt": lambda: studentt_hmm(y, 2),
        "poisson": lambda: poisson_hmm(rng.poisson(np.where(y > 2, 6, 1)).astype(float), 2),
        "page": lambda: page_hmm(y / 4, 2),
        "mvnormal": lambda: mvnormal_hmm(np.stack([y, -y + rng.normal(size=y.shape)], -1), 2),
        "covariates": lambda: gaussian_hmm(y, 2, covariates=x),
    }


def _layout(idata):
    """Groups, and per posterior variable its dims and coordinate values."""
    posterior = _compat.get_group(idata, "posterior")
    variables = {
        name: {dim: list(np.asarray(posterior[dim].values)) for dim in posterior[name].dims}
        for name in posterior.data_vars
    }
    return sorted(_compat.group_names(idata)), variables, dict(posterior.sizes)


def _sample(model, sampler, **kwargs):
    return sample(
        model, sampler=sampler, draws=10, tune=10, chains=2, random_seed=0,
        progressbar=False, check_convergence=False, **kwargs,
    )  # fmt: skip


@pytest.mark.parametrize("name", list(_builders(np.random.default_rng(0))))
def test_every_builder_parameter_has_named_dims(name, rng):
    model = _builders(rng)[name]()
    for var in [*model.free_RVs, *model.deterministics]:
        dims = model.named_vars_to_dims.get(var.name, ())
        assert len(dims) == var.ndim, f"{var.name}: dims {dims} for {var.ndim} axes"
        assert all(d in model.coords for d in dims)
    if "p_transition" in model.named_vars:
        assert model.named_vars_to_dims["p_transition"] == ("from_state", "to_state")
        assert model.named_vars_to_dims["p_initial_state"] == ("state",)


@pytest.mark.parametrize("name", ["gaussian", "studentt", "poisson"])
def test_no_auxiliary_variables_where_a_transform_serves(name, rng):
    """The ordered means/rates are the free variables themselves (an ordered transform), not
    deterministics of auxiliary ``*_std`` variables."""
    model = _builders(rng)[name]()
    assert not model.deterministics
    assert parameter_names(model) == [rv.name for rv in model.free_RVs]


def _check_layouts(layouts):
    reference = layouts["pymc"]
    groups, variables, sizes = reference
    assert "posterior" in groups and "sample_stats" in groups
    for dim in sizes:
        assert "__" not in dim and not DEFAULT_DIM.search(dim), dim
    for name in variables:
        assert "__" not in name
    for sampler, layout in layouts.items():
        assert layout == reference, sampler


def test_every_sampler_returns_what_pm_sample_returns(rng):
    model = _builders(rng)["gaussian"]()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        results = {sampler: _sample(model, sampler, init=None) for sampler in SAMPLERS}
    # a note the user cannot act on (PyMC's JAX driver donates buffers JAX cannot reuse)
    assert not [w for w in caught if "donated buffers" in str(w.message)]
    # nutpie on the mode search's compiled density (the default path) as well
    results["nutpie, after the mode search"] = _sample(model, "nutpie")
    _check_layouts({sampler: _layout(idata) for sampler, idata in results.items()})
    posterior = _compat.get_group(results["numpyro"], "posterior")
    assert posterior["p_transition"].sel(from_state=0, to_state=1).dims == ("chain", "draw")
    assert sorted(posterior.data_vars) == [
        "emission_mu", "emission_sigma", "p_initial_state", "p_transition"
    ]  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize("name", ["poisson", "page", "mvnormal", "covariates"])
def test_every_sampler_returns_what_pm_sample_returns_for_every_builder(name, rng):
    """The other builders' transformed values and auxiliary variables (positive ordered rates,
    scalar parameters, LKJ factors, logit coefficients), with every sampler (their own
    initialisation: the layout does not depend on the start), one per result driver
    (:data:`DRIVERS`). Shared noise and studentt add
    nothing new to these (a scalar as page's, gaussian's transforms): their dims are checked
    on the model above."""
    model = _builders(rng)[name]()
    layouts = {sampler: _layout(_sample(model, sampler, init=None)) for sampler in DRIVERS}
    _check_layouts(layouts)
