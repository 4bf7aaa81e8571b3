"""Value-and-VJP fusion: one wrapped-JAX node when forward and gradient share their inputs."""

import jax
import numpy as np
import pymc as pm
import pytensor
import pytensor.tensor as pt
import pytest
from wrap_helpers import jax_op_nodes, pytree_fn, two_outputs

from jaxbridge import wrap
from jaxbridge.wrap._spec import VJP, Call, ValueAndVJP

DATA = (np.linspace(-1.0, 2.0, 5), np.ones(2))


def _logp_graph():
    mu, log_sigma = pt.dscalar("mu"), pt.dscalar("log_sigma")
    logp = wrap(pytree_fn)({"mu": mu, "log_sigma": log_sigma}, DATA)["logp"]
    return [mu, log_sigma], logp


def _reference(mu, log_sigma):
    def f(m, s):
        return pytree_fn({"mu": m, "log_sigma": s}, DATA)["logp"]

    value, grads = jax.value_and_grad(f, argnums=(0, 1))(mu, log_sigma)
    return [value, *grads]


def _specs(fn):
    return sorted(type(n.op.spec).__name__ for n in jax_op_nodes(fn))


@pytest.mark.parametrize("mode", [None, "JAX"])
def test_logp_and_grad_fuse_into_one_node(mode):
    inputs, logp = _logp_graph()
    fn = pytensor.function(inputs, [logp, *pytensor.grad(logp, inputs)], mode=mode)
    assert _specs(fn) == ["ValueAndVJP"]
    (node,) = jax_op_nodes(fn)
    # d logp / d logp = 1 is baked in: no cotangent input is passed per call
    assert node.op.spec.fill == ((0, 1.0),) and node.op.spec.cot == ()
    assert len(node.inputs) == node.op.spec.n_in
    np.testing.assert_allclose(fn(0.3, -0.2), _reference(0.3, -0.2), rtol=1e-12)


def test_nonuniform_constant_cotangent_stays_an_input(rng):
    x = pt.dvector("x", shape=(3,))
    first, _ = wrap(two_outputs)(x, x)
    weights = np.array([1.0, -2.0, 3.0])
    loss = (first * weights).sum()
    fn = pytensor.function([x], [loss, pytensor.grad(loss, x)])
    (node,) = jax_op_nodes(fn)
    assert type(node.op.spec) is ValueAndVJP
    assert node.op.spec.cot == (0,) and node.op.spec.fill == ()
    vx = rng.normal(size=3)

    def ref(a):
        return (two_outputs(a, a)[0] * weights).sum()

    value, grad = fn(vx)
    np.testing.assert_allclose(value, ref(vx), rtol=1e-12)
    np.testing.assert_allclose(grad, jax.grad(ref)(vx), rtol=1e-12)


def test_cotangent_depending_on_the_output_is_left_alone(rng):
    """d sum(y^2)/dx needs y before the VJP: forward and VJP must stay separate."""
    x = pt.dvector("x", shape=(3,))
    first, _ = wrap(two_outputs)(x, x)
    loss = (first**2).sum()
    fn = pytensor.function([x], [loss, pytensor.grad(loss, x)])
    assert _specs(fn) == ["Call", "VJP"]
    vx = rng.normal(size=3)

    def ref(a):
        return (two_outputs(a, a)[0] ** 2).sum()

    value, grad = fn(vx)
    np.testing.assert_allclose(value, ref(vx), rtol=1e-12)
    np.testing.assert_allclose(grad, jax.grad(ref)(vx), rtol=1e-12)


def test_value_only_and_gradient_only_graphs_are_untouched():
    inputs, logp = _logp_graph()
    assert _specs(pytensor.function(inputs, logp)) == ["Call"]
    assert _specs(pytensor.function(inputs, pytensor.grad(logp, inputs))) == ["VJP"]


def test_unused_gradients_are_pruned():
    """Gradient w.r.t. one input: the VJP differentiates that input only."""
    inputs, logp = _logp_graph()
    fn = pytensor.function(inputs, [logp, pytensor.grad(logp, inputs[0])])
    (node,) = jax_op_nodes(fn)
    assert type(node.op.spec) is ValueAndVJP
    # not log_sigma, not the constant data
    assert [node.inputs[i].name for i in node.op.spec.wrt] == ["mu"]
    np.testing.assert_allclose(fn(0.3, -0.2), _reference(0.3, -0.2)[:2], rtol=1e-12)


def _pymc_model():
    with pm.Model() as model:
        mu = pm.Normal("mu", 0.0, 1.0)
        log_sigma = pm.Normal("log_sigma", 0.0, 1.0)
        logp = wrap(pytree_fn)({"mu": mu, "log_sigma": log_sigma}, DATA)["logp"]
        pm.Potential("jax_term", logp)
    return model


def test_pymc_logp_dlogp_function_has_one_fused_node():
    model = _pymc_model()
    vg = model.logp_dlogp_function(ravel_inputs=True)
    vg.set_extra_values({})
    assert _specs(vg._pytensor_function) == ["ValueAndVJP"]
    point = np.array([0.3, -0.2])
    logp, dlogp = vg(point)
    normal = jax.scipy.stats.norm.logpdf
    ref_value, ref_mu, ref_ls = _reference(0.3, -0.2)
    np.testing.assert_allclose(logp, ref_value + normal(0.3) + normal(-0.2), rtol=1e-12)
    np.testing.assert_allclose(dlogp, [ref_mu - 0.3, ref_ls + 0.2], rtol=1e-12)


def test_pymc_jax_graph_has_one_fused_node():
    """pymc's JAX samplers (numpyro, blackjax, nutpie's JAX backend) see one fused op."""
    from pymc.sampling.jax import get_jaxified_graph

    model = _pymc_model()
    inputs = model.value_vars
    outs = [model.logp(), *pytensor.grad(model.logp(), inputs)]
    jax_fn = get_jaxified_graph(inputs=inputs, outputs=outs)
    default = pytensor.function(inputs, outs)
    np.testing.assert_allclose(jax_fn(0.3, -0.2), default(0.3, -0.2), rtol=1e-12)
    jax_mode = pytensor.function(inputs, outs, mode="JAX")
    assert _specs(jax_mode) == ["ValueAndVJP"]


def test_fused_spec_and_separate_specs_agree(rng):
    """The fused op's function equals the forward and VJP functions it replaces."""
    x = rng.normal(size=3)
    call = wrap(two_outputs)(pt.dvector(shape=(3,)), pt.dvector(shape=(3,)))[0].owner.op.spec
    assert isinstance(call, Call)
    cot = (rng.normal(size=3), rng.normal(size=(3, 3)))
    fused = ValueAndVJP(call, 2, (0, 1), (0, 1))(x, x, *cot)
    separate = (*call(x, x), *VJP(call, 2, (0, 1), (0, 1))(x, x, *cot))
    for a, b in zip(fused, separate, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12)
    # a baked constant cotangent equals the same constant passed as an input
    baked = VJP(call, 2, (0,), (1,), ((0, 2.5),))(x, x, cot[1])
    passed = VJP(call, 2, (0,), (0, 1))(x, x, np.full(3, 2.5), cot[1])
    np.testing.assert_allclose(baked[0], passed[0], rtol=1e-12)
