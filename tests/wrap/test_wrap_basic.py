"""The cases of pytensor's own ``tests/link/jax/test_wrap_jax.py``, run against ``jaxbridge.wrap``.

Every result is checked in PyTensor's default mode and in JAX mode, and against the JAX
function evaluated directly.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from wrap_helpers import assert_modes_agree, jax_op_nodes, pytree_fn, sigmoid_sum, two_outputs

from jaxbridge import wrap


def _values(rng, *shapes):
    return [rng.normal(size=s) for s in shapes]


def test_two_inputs_single_output(rng):
    x, y = pt.dvector("x", shape=(2,)), pt.dvector("y", shape=(2,))
    vx, vy = _values(rng, (2,), (2,))
    out = wrap(sigmoid_sum)(x, y)
    grads = pytensor.grad(out.sum(), [x, y])
    ref_grad = jax.grad(lambda a, b: sigmoid_sum(a, b).sum(), argnums=(0, 1))(vx, vy)
    assert_modes_agree([x, y], [out, *grads], [vx, vy], [sigmoid_sum(vx, vy), *ref_grad])


def test_disable_jit(rng):
    x, y = pt.dvector("x", shape=(2,)), pt.dvector("y", shape=(2,))
    vx, vy = _values(rng, (2,), (2,))
    out = wrap(sigmoid_sum)(x, y)
    fn = pytensor.function([x, y], [out, pytensor.grad(out.sum(), x)])
    with jax.disable_jit():
        got = fn(vx, vy)
    np.testing.assert_allclose(got[0], sigmoid_sum(vx, vy))


def test_tuple_output_and_unused_output(rng):
    x, y = pt.dvector("x", shape=(3,)), pt.dvector("y", shape=(3,))
    vx, vy = _values(rng, (3,), (3,))
    first, second = wrap(two_outputs)(x, y)
    assert first.type.shape == (3,) and second.type.shape == (3, 3)
    # the gradient of one output only: the other output's cotangent is disconnected
    grads = pytensor.grad(first.sum(), [x, y])
    ref = jax.grad(lambda a, b: two_outputs(a, b)[0].sum(), argnums=(0, 1))(vx, vy)
    assert_modes_agree([x, y], [first, *grads], [vx, vy], [two_outputs(vx, vy)[0], *ref])


def test_scalar_input_tuple_output(rng):
    x = pt.dscalar("x")
    out1, out2 = wrap(lambda a: (jax.nn.sigmoid(a), a))(x)
    (g,) = pytensor.grad(out1, [x])
    v = rng.normal()
    ref = jax.grad(jax.nn.sigmoid)(v)
    assert_modes_agree([x], [out1, out2, g], [v], [jax.nn.sigmoid(v), v, ref])


def test_pytree_input_pytree_output(rng):
    mu, log_sigma = pt.dscalar("mu"), pt.dscalar("log_sigma")
    data = (rng.normal(size=5), rng.normal(size=2))  # NumPy arrays: constant op inputs
    out = wrap(pytree_fn)({"mu": mu, "log_sigma": log_sigma}, data)
    assert set(out) == {"logp", "z"}
    z, doubled = out["z"]
    assert z.type.shape == (5,) and doubled.type.shape == (2,)
    grads = pytensor.grad(out["logp"], [mu, log_sigma])
    params = {"mu": 0.3, "log_sigma": -0.2}
    ref_out = pytree_fn(params, data)
    ref_grad = jax.grad(lambda p: pytree_fn(p, data)["logp"])(params)
    assert_modes_agree(
        [mu, log_sigma],
        [out["logp"], z, doubled, *grads],
        [0.3, -0.2],
        [ref_out["logp"], *ref_out["z"], ref_grad["mu"], ref_grad["log_sigma"]],
    )


def test_namedtuple_and_list_leaves(rng):
    from jaxbridge.datasets import HMMData

    arrays = HMMData(*(pt.dvector(n, shape=(2,)) for n in HMMData._fields[:4]), 1.0, 2.0)

    def total(d: HMMData):
        return {"s": d.states + d.emissions * d.signal, "t": [d.init * d.noise, d.trans]}

    out = wrap(total)(arrays)
    values = _values(rng, *[(2,)] * 4)
    ref = total(HMMData(*values, 1.0, 2.0))
    assert_modes_agree(list(arrays[:4]), [out["s"], *out["t"]], values, [ref["s"], *ref["t"]])


def test_numpy_and_jax_array_leaves_become_constant_inputs(rng):
    x = pt.dvector("x", shape=(3,))
    w_np, w_jax = rng.normal(size=3), jnp.arange(3.0)
    out = wrap(sigmoid_sum)(x, w_np) + wrap(two_outputs)(x, w_jax)[0]
    vx = rng.normal(size=3)
    ref = sigmoid_sum(vx, w_np) + two_outputs(vx, w_jax)[0]
    assert_modes_agree([x], [out], [vx], [ref])


def test_static_arguments_drive_python_control_flow(rng):
    x = pt.dvector("x", shape=(3,))
    vx = rng.normal(size=3)

    def nested(x, depth, which):
        assert which in ("sigmoid", "tanh")
        act = jax.nn.sigmoid if which == "sigmoid" else jnp.tanh
        for _ in range(depth):
            x = act(x)
        return x

    f = wrap(nested)
    a, b = f(x, depth=3, which="sigmoid"), f(x, 2, which="tanh")
    assert a.owner.op != b.owner.op
    assert_modes_agree([x], [a, b], [vx], [nested(vx, 3, "sigmoid"), nested(vx, 2, "tanh")])


def test_unused_matrix_output(rng):
    x, y = pt.dvector("x", shape=(3,)), pt.dvector("y", shape=(3,))
    vx, vy = _values(rng, (3,), (3,))
    _, outer = wrap(two_outputs)(x, y)
    (g,) = pytensor.grad(outer[0, 1], [x])
    expected = np.zeros(3)
    expected[0] = np.exp(vy[1])
    assert_modes_agree([x, y], [g], [vx, vy], [expected])


def test_unknown_static_shape_input(rng):
    x = pt.dvector("x")  # no static shape; broadcasting it with a 3-vector defeats
    # symbolic shapes, so the output type comes from a probe shape
    out = wrap(lambda a: jnp.cumsum(a) * jnp.ones(3))(x)
    assert out.type.shape == (None,)
    (g,) = pytensor.grad(out.sum(), [x])
    vx = rng.normal(size=3)
    assert_modes_agree([x], [out, g], [vx], [np.cumsum(vx), [3.0, 2.0, 1.0]])


def test_no_inputs():
    out = wrap(lambda: jnp.array(42.0))()
    assert out.eval() == 42.0


def test_shared_variable_input():
    x = pytensor.shared(np.ones(3))
    assert x.type.shape == (None,)
    out = wrap(lambda a: a * 2)(x)
    g = pytensor.grad(out.sum(), x)
    assert_modes_agree([], [out, g], [], [2 * np.ones(3), 2 * np.ones(3)])


def test_decorator_forms():
    x = pt.dvector("x", shape=(3,))

    @wrap
    def bare(a):
        return a.sum()

    @wrap(name="custom")
    def keyword(a):
        return a.sum()

    assert str(bare(x).owner.op) == "JaxOp{bare}"
    assert str(keyword(x).owner.op) == "JaxOp{custom}"
    assert bare.__name__ == "bare" and bare.__wrapped__ is not None


def test_repr_names_function_and_vjp():
    x = pt.dvector("x", shape=(3,))
    out = wrap(sigmoid_sum)(x, x)
    assert "sigmoid_sum" in str(out.owner.op)
    (g,) = pytensor.grad(out.sum(), [x])
    ops = {str(v.owner.op) for v in pytensor.graph.ancestors([g]) if v.owner}
    assert "JaxOp{vjp_sigmoid_sum}" in ops


DTYPES = ["float32", "float64", "int32", "int64", "bool"]


@pytest.mark.parametrize("in_dtype", DTYPES)
@pytest.mark.parametrize("out_dtype", DTYPES)
def test_dtypes(rng, in_dtype, out_dtype):
    x = pt.tensor("x", shape=(3,), dtype=in_dtype)
    y = pt.tensor("y", shape=(3,), dtype=in_dtype)
    vals = [(rng.normal(size=3) * 5).astype(in_dtype) for _ in range(2)]

    def add_cast(a, b):
        return (a + b if in_dtype != "bool" else a | b).astype(out_dtype)

    out = wrap(add_cast)(x, y)
    assert out.dtype == out_dtype
    outputs = [out]
    if in_dtype.startswith("float") and out_dtype.startswith("float"):
        grads = pytensor.grad(out.sum(), [x, y])
        assert all(g.dtype == in_dtype for g in grads)
        outputs += grads
    assert_modes_agree(
        [x, y], outputs, vals, [np.asarray(add_cast(*vals))] + [1] * (len(outputs) - 1), rtol=1e-6
    )


@pytest.mark.parametrize(
    "consume",
    [
        lambda out: out + 1.0,  # an inplace add on the op's output
        lambda out: out[1:] * 2.0,  # an inplace multiply on a view of it
        lambda out: pt.set_subtensor(out[0], -1.0),  # an inplace set_subtensor
    ],
    ids=["add", "view", "set_subtensor"],
)
def test_inplace_consumers_get_a_copy_not_jax_buffers(rng, consume):
    """Outputs handed out as zero-copy views of JAX's (read-only) buffers must not be the
    ones an inplace op writes into: results stay right call after call."""
    from jaxbridge.wrap._op import VIEWS_TAG

    x = pt.dvector("x", shape=(3,))
    out = wrap(jnp.exp)(x)
    fn = pytensor.function([x], [consume(out), consume(out).sum() * 0 + out.sum()])
    destroyed = [
        node for node in fn.maker.fgraph.apply_nodes if getattr(node.op, "destroy_map", None)
    ]
    assert destroyed, "the test needs an inplace consumer in the compiled graph"
    (node,) = jax_op_nodes(fn)
    assert getattr(node.tag, VIEWS_TAG) == (False,)  # destroyed: copied
    vx = rng.normal(size=3)
    want = pytensor.function([x], consume(pt.exp(x)))(vx)
    for _ in range(3):
        got, total = fn(vx)
        np.testing.assert_allclose(got, want)
        np.testing.assert_allclose(total, np.exp(vx).sum())


def test_outputs_nobody_destroys_are_zero_copy_views(rng):
    from jaxbridge.wrap._op import VIEWS_TAG

    x = pt.dvector("x", shape=(3,))
    out = wrap(jnp.exp)(x)
    fn = pytensor.function([x], pt.dot(out, out))  # read only
    (node,) = jax_op_nodes(fn)
    assert getattr(node.tag, VIEWS_TAG) == (True,)
    vx = rng.normal(size=3)
    np.testing.assert_allclose(fn(vx), np.exp(2 * vx).sum())
