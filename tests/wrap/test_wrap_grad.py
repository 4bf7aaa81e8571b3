"""Gradients: VJPs checked against finite differences and JAX; integers are non-differentiable."""

import jax
import jax.numpy as jnp
import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from pytensor.gradient import DisconnectedInputError, verify_grad
from wrap_helpers import (
    assert_modes_agree,
    jax_op_nodes,
    masked_sum,
    pytree_fn,
    scaled_cube,
    scaled_power,
    sigmoid_sum,
    two_outputs,
)

from jaxbridge import wrap
from jaxbridge.wrap._spec import VJP


def _both_outputs(x, y):
    first, second = wrap(two_outputs)(x, y)
    return pt.concatenate([first, second.ravel()])


def _pytree_logp(mu, log_sigma):
    data = (np.linspace(-1.0, 2.0, 4), np.ones(2))
    return wrap(pytree_fn)({"mu": mu, "log_sigma": log_sigma}, data)["logp"]


def _logabsdet(a):
    return wrap(jnp.linalg.slogdet)(a).logabsdet  # a NamedTuple output


@pytest.mark.parametrize(
    ("fun", "shapes"),
    [
        (wrap(sigmoid_sum), [(4,), (4,)]),
        (_both_outputs, [(3,), (3,)]),  # non-scalar, two outputs
        (_pytree_logp, [(), ()]),
        (_logabsdet, [(3, 3)]),
    ],
    ids=["elementwise", "two-outputs", "pytree", "slogdet"],
)
def test_verify_grad(rng, fun, shapes):
    values = [rng.normal(size=s) for s in shapes]
    verify_grad(fun, values, rng=rng)


def test_second_derivatives(rng):
    """The VJP op is differentiable again: its finite differences and a Hessian agree."""
    f = wrap(two_outputs)
    verify_grad(lambda x, y: pytensor.grad(f(x, y)[1].sum(), x), [rng.normal(size=3)] * 2, rng=rng)

    x = pt.dvector("x", shape=(3,))
    y = pt.dvector("y", shape=(3,))
    hess = pytensor.gradient.hessian(f(x, y)[0].sum(), x)
    vx, vy = rng.normal(size=3), rng.normal(size=3)
    ref = jax.hessian(lambda a: two_outputs(a, vy)[0].sum())(vx)
    assert_modes_agree([x, y], [hess], [vx, vy], [ref])


def test_gradient_is_a_vjp_of_a_nonscalar_output(rng):
    """For ``y = f(x)`` with vector ``y``, d(w . y)/dx is J^T w, from one VJP op fed ``w``."""
    x = pt.dvector("x", shape=(3,))
    w = pt.dmatrix("w", shape=(3, 3))
    _, outer = wrap(two_outputs)(x, x)
    g = pytensor.grad((outer * w).sum(), x)
    vx, vw = rng.normal(size=3), rng.normal(size=(3, 3))
    jac = jax.jacobian(lambda a: two_outputs(a, a)[1])(vx)  # [3, 3, 3]
    ref = np.einsum("ij,ijk->k", vw, jac)
    got = assert_modes_agree([x, w], [g], [vx, vw], [ref])
    fn = pytensor.function([x, w], g)
    (node,) = jax_op_nodes(fn)
    assert type(node.op.spec) is VJP
    np.testing.assert_allclose(got[0], ref, rtol=1e-10)


def test_integer_input_is_not_differentiated(rng):
    """Gradient w.r.t. the float input of a function that also takes an integer input."""
    x = pt.dvector("x", shape=(4,))
    n = pt.lscalar("n")
    out = wrap(scaled_cube)(x, n)
    g = pytensor.grad(out, x)
    vx = rng.normal(size=4)
    ref = jax.grad(scaled_power)(vx, 3, scale=0.5)
    assert_modes_agree([x, n], [out, g], [vx, 3], [scaled_power(vx, 3, 0.5), ref])
    with pytest.raises(DisconnectedInputError):
        pytensor.grad(out, n)
    verify_grad(lambda a: wrap(scaled_cube)(a, np.int64(3)), [vx], rng=rng)


def test_boolean_input_is_not_differentiated(rng):
    x = pt.dvector("x", shape=(4,))
    mask = pt.tensor("mask", dtype="bool", shape=(4,))
    out = wrap(masked_sum)(x, mask)
    g = pytensor.grad(out, x)
    vx, vm = rng.normal(size=4), np.array([True, False, True, False])
    assert_modes_agree([x, mask], [g], [vx, vm], [2 * vx * vm])


def test_float32_gradient_stays_float32(rng):
    x = pt.fvector("x", shape=(3,))
    out = wrap(sigmoid_sum)(x, x)
    g = pytensor.grad(out.sum(), x)
    assert out.dtype == g.dtype == "float32"
    vx = rng.normal(size=3).astype("float32")
    ref = jax.grad(lambda a: sigmoid_sum(a, a).sum())(vx)
    assert_modes_agree([x], [out, g], [vx], [sigmoid_sum(vx, vx), ref], rtol=1e-6)
