"""Mode search before sampling, chain starts, and the convergence verdict."""

import numpy as np
import pytensor
import pytest

from jaxbridge.datasets import simulate_normal_hmm
from jaxbridge.pymc import ConvergenceWarning, gaussian_hmm, sample
from jaxbridge.pymc._init import _Density, _Layout, constrained_points, find_modes

INIT = np.array([0.5, 0.5])
TRANS = np.array([[0.95, 0.05], [0.1, 0.9]])


@pytest.fixture(scope="module")
def two_state():
    """The README's two-state example, small: states at 1.15 and 2.30, noise 0.15."""
    states, y = simulate_normal_hmm(
        np.random.default_rng(0), INIT, TRANS, 1.15, 0.15, n_series=6, n_steps=60
    )
    return gaussian_hmm(y, 2), states, y


def test_modes_are_found_and_chains_start_apart_in_the_best_basin(two_state):
    model, _, _ = two_state
    search = find_modes(model, chains=4, starts=12, random_seed=1)
    densities = [m.log_density for m in search.modes]
    assert densities == sorted(densities, reverse=True)
    assert sum(m.starts for m in search.modes) <= 12
    # the best mode is the truth: means near 1.15 and 2.30, noise near 0.15
    layout = _Layout(model)
    density = _Density(model, layout)
    outputs = model.replace_rvs_by_values([model["emission_mu"], model["emission_sigma"]])
    means_and_scales = pytensor.function(layout.value_vars, outputs, on_unused_input="ignore")
    for flat in search.points:
        mu, sigma = means_and_scales(*layout.unravel(flat))
        np.testing.assert_allclose(mu, [1.15, 2.30], atol=0.1)
        np.testing.assert_allclose(sigma, 0.15, atol=0.05)
    # every start lies within d units of the best mode's log density, and they differ
    dim = len(search.points[0])
    for flat in search.points:
        assert density(flat)[0] >= search.modes[0].log_density - dim - 1e-6
    assert len({tuple(np.round(p, 12)) for p in search.points}) == 4


@pytest.mark.parametrize("jax_implementation", [True, False], ids=["jax", "fallback"])
def test_density_equals_the_models_logp_one_sequence_and_ops_without_jax(jax_implementation):
    """The mode search's density: JAX mode where the graph allows (a single sequence, whose
    dims' lengths are shared variables broadcast from 1), the default mode otherwise (an op
    without a JAX implementation); the value is the model's log density either way."""
    import pymc as pm
    import pytensor.tensor as pt
    from pytensor.graph.basic import Apply
    from pytensor.graph.op import Op

    class PythonOnly(Op):
        """``-x**2 / 2`` with a gradient, computed in Python only (no JAX implementation)."""

        def make_node(self, x):
            x = pt.as_tensor_variable(x)
            return Apply(self, [x], [x.type()])

        def perform(self, node, inputs, outputs):
            outputs[0][0] = np.asarray(-0.5 * inputs[0] ** 2)

        def grad(self, inputs, output_grads):
            return [-inputs[0] * output_grads[0]]

    _, y = simulate_normal_hmm(np.random.default_rng(2), INIT, TRANS, 1.0, 0.3, 1, 40)
    model = gaussian_hmm(y, 2)
    if not jax_implementation:
        with model:
            pm.Potential("extra", PythonOnly()(model.free_RVs[0].sum()))
    layout = _Layout(model)
    density = _Density(model, layout)
    assert (density.jax is not None) == jax_implementation
    point = layout.ravel(layout.point) + 0.1
    value, grad = density(point)
    expected = model.compile_logp(jacobian=True)(
        dict(zip([v.name for v in layout.value_vars], layout.unravel(point), strict=True))
    )
    np.testing.assert_allclose(value, expected, rtol=1e-12)
    assert grad.shape == point.shape and np.all(np.isfinite(grad))


def test_constrained_points_round_trip(two_state):
    model, _, _ = two_state
    layout = _Layout(model)
    point = model.initial_point()
    flat = layout.ravel(point)
    (values,) = constrained_points(model, [flat])
    for rv in model.free_RVs:
        transform = model.rvs_to_transforms.get(rv)
        value = values[rv.name]
        unconstrained = (
            value if transform is None else transform.forward(value, *rv.owner.inputs).eval()
        )
        np.testing.assert_allclose(unconstrained, point[model.rvs_to_values[rv].name], atol=1e-10)


def test_under_tuned_run_warns_and_records_it(two_state):
    model, _, _ = two_state
    with pytest.warns(ConvergenceWarning, match="do not trust|closer look"):
        idata = sample(
            model,
            sampler="pymc",
            draws=30,
            tune=5,
            chains=2,
            random_seed=3,
            progressbar=False,
            init=None,
        )
    attrs = idata.posterior.attrs
    assert attrs["jaxbridge_converged"] == 0
    assert attrs["jaxbridge_problems"]
    assert "jaxbridge_modes" not in attrs  # init=None: no search


@pytest.mark.parametrize("sampler", ["nutpie", "numpyro"])
def test_models_with_initval_sample_with_jax_samplers(sampler):
    """Ordered Poisson rates written the usual way (``transform=ordered`` needs an ``initval``)."""
    import jax
    import pymc as pm
    from pymc.distributions.transforms import ordered

    from jaxbridge.hmm import simulate
    from jaxbridge.pymc import MarginalHMM

    states = np.asarray(simulate(jax.random.key(0), INIT, TRANS, 40, batch_shape=(8,)))
    counts = np.random.default_rng(1).poisson(np.array([2.0, 9.0])[states])
    with pm.Model() as model:
        rates = pm.Normal("rates", 5.0, 5.0, shape=2, transform=ordered, initval=[1.0, 2.0])
        trans = pm.Dirichlet("trans", np.ones(2), shape=(2, 2))
        MarginalHMM("y", INIT, trans, pm.Poisson.dist(pm.math.abs(rates)), observed=counts)
    idata = sample(
        model, sampler=sampler, draws=150, tune=150, chains=2, random_seed=4, progressbar=False
    )
    means = idata.posterior["rates"].mean(("chain", "draw")).values
    np.testing.assert_allclose(means, [2.0, 9.0], rtol=0.25)
    assert model.rvs_to_initial_values[model["rates"]] is not None  # put back afterwards


def test_nutpie_samples_the_searchs_density_and_stores_the_models_values(two_state):
    """nutpie's function-based model (no second compilation of the graph) evaluates the
    model's log density and gradient (Jacobian included) and stores the posterior's
    constrained values, checked against PyMC's own compiled functions around the starts."""
    import pytensor

    from jaxbridge.pymc.samplers._base import posterior_graph
    from jaxbridge.pymc.samplers._nutpie import _functions

    model, _, _ = two_state
    layout = _Layout(model)
    search = find_modes(model, chains=2, starts=4, random_seed=5)
    assert search.density is not None
    names, shapes, make_logp_fn, make_expand_fn = _functions(model, search)
    assert names == posterior_graph(model)[0]
    logp_fn, expand = make_logp_fn(), make_expand_fn(0, 0, 0)
    pymc_logp = model.compile_logp(jacobian=True)
    pymc_dlogp = model.compile_dlogp(jacobian=True)
    outputs = model.replace_rvs_by_values([model[name] for name in names])
    values_fn = pytensor.function(layout.value_vars, outputs, on_unused_input="ignore")
    rng = np.random.default_rng(6)
    for flat in search.points[0] + rng.normal(scale=0.3, size=(3, len(search.points[0]))):
        point = dict(zip([v.name for v in layout.value_vars], layout.unravel(flat), strict=True))
        value, grad = logp_fn(flat)
        np.testing.assert_allclose(value, pymc_logp(point), rtol=1e-10)
        np.testing.assert_allclose(grad, pymc_dlogp(point), rtol=1e-8, atol=1e-8)
        stored = expand(flat)
        for name, shape, expected in zip(
            names, shapes, values_fn(*layout.unravel(flat)), strict=True
        ):
            assert stored[name].shape == shape
            np.testing.assert_allclose(stored[name], expected, rtol=1e-10)
