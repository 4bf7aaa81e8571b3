"""The example page's HMM log-likelihood, wrapped with one line of ``jaxbridge.wrap``."""

import jax
import numpy as np
import pymc as pm
import pytensor
import pytensor.tensor as pt
import pytest
from wrap_helpers import jax_op_nodes

from jaxbridge import wrap
from jaxbridge.datasets import seed_page_data
from jaxbridge.datasets import seed_page_vec_hmm_logp as vec_hmm_logp

hmm_logp_op = wrap(vec_hmm_logp)


@pytest.fixture(scope="module")
def page():
    d = seed_page_data()
    args = (d.emissions, d.signal, d.noise, np.log(d.init), np.log(d.trans))
    value = jax.jit(vec_hmm_logp)(*args)
    grads = jax.jit(jax.grad(vec_hmm_logp, argnums=list(range(5))))(*args)
    return d, args, float(value), grads


def test_reference_matches_the_page(page):
    _, _, value, grads = page
    np.testing.assert_allclose(value, -37.0035, atol=1e-4)
    np.testing.assert_allclose(grads[1], -297.865, atol=1e-3)


@pytest.mark.parametrize("mode", [None, "JAX"])
def test_value_and_gradients_match_jax(page, mode):
    _, args, value, grads = page
    inputs = [
        pt.dmatrix("emission_observed"),
        pt.dscalar("emission_signal"),
        pt.dscalar("emission_noise"),
        pt.dvector("logp_initial_state"),
        pt.dmatrix("logp_transition"),
    ]
    logp = hmm_logp_op(*inputs)
    assert logp.type.dtype == "float64" and logp.type.ndim == 0
    fn = pytensor.function(inputs, [logp, *pytensor.grad(logp, inputs)], mode=mode)
    got = fn(*args)
    np.testing.assert_allclose(got[0], value, rtol=1e-10)
    for g, ref in zip(got[1:], grads, strict=True):
        np.testing.assert_allclose(g, ref, rtol=1e-8, atol=1e-10)
    assert [type(n.op.spec).__name__ for n in jax_op_nodes(fn)] == ["ValueAndVJP"]


def test_pymc_model_with_potential(page):
    """Flat priors: dlogp w.r.t. the signal is exactly the HMM gradient, computed by one node."""
    d, _, value, grads = page
    with pm.Model() as model:
        signal = pm.Flat("emission_signal")
        noise = pm.HalfFlat("emission_noise")
        pm.Potential(
            "hmm_loglike",
            hmm_logp_op(d.emissions, signal, noise, np.log(d.init), np.log(d.trans)),
        )
    vg = model.logp_dlogp_function(ravel_inputs=True)
    vg.set_extra_values({})
    (node,) = jax_op_nodes(vg._pytensor_function)
    assert type(node.op.spec).__name__ == "ValueAndVJP"
    logp, dlogp = vg(np.array([d.signal, np.log(d.noise)]))
    # HalfFlat is log-transformed: + log|d noise / d log noise| = log(noise)
    np.testing.assert_allclose(logp, value + np.log(d.noise), rtol=1e-10)
    np.testing.assert_allclose(dlogp[0], grads[1], rtol=1e-8)
    np.testing.assert_allclose(dlogp[1], grads[2] * d.noise + 1, rtol=1e-8)
