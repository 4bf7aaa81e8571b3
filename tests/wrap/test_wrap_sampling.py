"""Models holding wrapped ops pickle and sample with PyMC's samplers, C and JAX backends."""

import pickle

import cloudpickle
import numpy as np
import pymc as pm
import pytest
from wrap_helpers import jax_op_nodes, pytree_fn

from jaxbridge import wrap

DATA = (np.linspace(-1.0, 2.0, 5), np.ones(2))
POINT = np.array([0.3, -0.2])


def _model():
    with pm.Model() as model:
        mu = pm.Normal("mu", 0.0, 1.0)
        log_sigma = pm.Normal("log_sigma", 0.0, 1.0)
        pm.Potential("jax_term", wrap(pytree_fn)({"mu": mu, "log_sigma": log_sigma}, DATA)["logp"])
    return model


def test_logp_dlogp_function_pickles_with_standard_pickle():
    vg = _model().logp_dlogp_function(ravel_inputs=True)
    restored = pickle.loads(pickle.dumps(vg))
    vg.set_extra_values({})
    restored.set_extra_values({})
    for a, b in zip(vg(POINT), restored(POINT), strict=True):
        np.testing.assert_array_equal(a, b)
    assert len(jax_op_nodes(restored._pytensor_function)) == 1


def test_nuts_step_round_trips_through_cloudpickle():
    """What ``pm.sample(cores>1)`` sends to its worker processes."""
    model = _model()
    with model:
        step = pm.NUTS()
    restored = cloudpickle.loads(cloudpickle.dumps(step))
    expected = step._logp_dlogp_func._pytensor_function(POINT)
    got = restored._logp_dlogp_func._pytensor_function(POINT)
    for a, b in zip(expected, got, strict=True):
        np.testing.assert_array_equal(a, b)


def _posterior_mean_mu(idata):
    return float(idata.posterior["mu"].mean())


def _reference_mean_mu():
    """Posterior mean of mu by quadrature over (mu, log_sigma)."""
    grid = np.linspace(-4, 4, 401)
    mu, ls = np.meshgrid(grid, grid, indexing="ij")
    z = (DATA[0][:, None, None] - mu) / np.exp(ls)
    logp = np.sum(-0.5 * z**2 - ls, axis=0) - 0.5 * mu**2 - 0.5 * ls**2
    w = np.exp(logp - logp.max())
    return float((w * mu).sum() / w.sum())


@pytest.mark.slow
@pytest.mark.parametrize(
    "kwargs",
    [
        {"cores": 2, "mp_ctx": "forkserver"},
        {"nuts_sampler": "numpyro"},
        {
            "nuts_sampler": "nutpie",
            "nuts_sampler_kwargs": {"backend": "jax", "gradient_backend": "jax"},
        },
    ],
    ids=["pymc-cores2-forkserver", "numpyro", "nutpie-jax"],
)
def test_samplers_recover_the_posterior(kwargs):
    with _model():
        idata = pm.sample(
            draws=1000,
            tune=500,
            chains=2,
            random_seed=7,
            progressbar=False,
            compute_convergence_checks=False,
            **kwargs,
        )
    np.testing.assert_allclose(_posterior_mean_mu(idata), _reference_mean_mu(), atol=0.06)
