"""Batched wrapped ops: one vectorised JAX call for the whole batch, no Blockwise loop."""

import jax.numpy as jnp
import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from pytensor.compile.mode import Mode
from pytensor.gradient import verify_grad
from pytensor.graph.replace import vectorize_graph
from pytensor.tensor.blockwise import Blockwise
from wrap_helpers import jax_op_nodes, two_outputs

from jaxbridge import wrap

MODES = {
    "python": Mode(linker="py", optimizer="fast_run"),
    "c": None,
    "numba": "NUMBA",
    "jax": "JAX",
}


def _blockwise_nodes(fn) -> list:
    return [n for n in fn.maker.fgraph.apply_nodes if isinstance(n.op, Blockwise)]


def softmax_logsumexp(x):
    return jnp.exp(x - jnp.max(x)) / jnp.sum(jnp.exp(x - jnp.max(x))), jnp.log(jnp.sum(jnp.exp(x)))


@pytest.mark.parametrize("mode", list(MODES))
def test_pt_vectorize_of_a_wrapped_function_is_one_op(rng, mode):
    batched = pt.vectorize(wrap(softmax_logsumexp), signature="(k)->(k),()")
    x = pt.dmatrix("x")
    probs, lse = batched(x)
    fn = pytensor.function([x], [probs, lse, pytensor.grad(lse.sum(), x)], mode=MODES[mode])
    assert _blockwise_nodes(fn) == []
    if mode != "jax":
        # value and gradient of the whole batch: one jax.vjp of the vectorised function
        (node,) = jax_op_nodes(fn)
        assert type(node.op.spec).__name__ == "ValueAndVJP"
        assert type(node.op.spec.base).__name__ == "Vectorized"
    vx = rng.normal(size=(6, 4))
    got_probs, got_lse, got_grad = fn(vx)
    want_lse = np.log(np.exp(vx).sum(axis=1))
    np.testing.assert_allclose(got_lse, want_lse)
    np.testing.assert_allclose(got_probs, np.exp(vx - want_lse[:, None]))
    np.testing.assert_allclose(got_grad, got_probs)  # d logsumexp / dx = softmax


def test_vectorize_graph_broadcasts_batch_dims_like_blockwise(rng):
    x, y = pt.dvector("x", shape=(3,)), pt.dvector("y", shape=(3,))
    first, second = wrap(two_outputs)(x, y)
    bx, by = pt.tensor3("bx", shape=(2, 1, 3)), pt.dmatrix("by", shape=(5, 3))
    b_first, b_second = vectorize_graph([first, second], {x: bx, y: by})
    assert b_first.type.shape == (2, 5, 3) and b_second.type.shape == (2, 5, 3, 3)
    fn = pytensor.function([bx, by], [b_first, b_second])
    assert _blockwise_nodes(fn) == [] and len(jax_op_nodes(fn)) == 1
    vx, vy = rng.normal(size=(2, 1, 3)), rng.normal(size=(5, 3))
    got_first, got_second = fn(vx, vy)
    for i in range(2):
        for j in range(5):
            np.testing.assert_allclose(got_first[i, j], np.sin(vx[i, 0]) * vy[j])
            np.testing.assert_allclose(got_second[i, j], np.outer(vx[i, 0], np.exp(vy[j])))


def test_blockwise_built_directly_is_rewritten(rng):
    x = pt.dvector("x", shape=(4,))
    core = wrap(lambda a: jnp.cumsum(a) ** 2)(x).owner.op
    bx = pt.dmatrix("bx")
    out = Blockwise(core, signature="(i)->(i)")(bx)
    fn = pytensor.function([bx], out)
    assert _blockwise_nodes(fn) == [] and len(jax_op_nodes(fn)) == 1
    vx = rng.normal(size=(3, 4))
    np.testing.assert_allclose(fn(vx), np.cumsum(vx, axis=1) ** 2)


def test_gradient_of_the_batched_op(rng):
    batched = pt.vectorize(wrap(lambda a, b: jnp.sum(jnp.sin(a) * b)), signature="(k),(k)->()")
    vx, vy = rng.normal(size=(3, 4)), rng.normal(size=(4,))
    verify_grad(lambda a, b: batched(a, b), [vx, vy], rng=rng)
