"""Op identity, jit reuse, pickling and error messages."""

import pickle

import cloudpickle
import jax
import jax.numpy as jnp
import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
import wrap_counting
from wrap_helpers import (
    decorated_logistic,
    jax_op_nodes,
    scaled_cube,
    scaled_power,
    sigmoid_sum,
)

from jaxbridge import wrap
from jaxbridge.wrap._spec import jitted


def test_identical_wraps_are_equal_ops_and_merge():
    x = pt.dvector("x", shape=(3,))
    a, b = wrap(sigmoid_sum)(x, x), wrap(sigmoid_sum)(x, x)
    assert a.owner.op == b.owner.op and hash(a.owner.op) == hash(b.owner.op)
    fn = pytensor.function([x], [a, b])
    assert len(jax_op_nodes(fn)) == 1


@pytest.mark.parametrize(
    "other",
    [
        lambda x: wrap(jax.nn.sigmoid)(x + x),  # other function
        lambda x: wrap(sigmoid_sum)(x.astype("float32"), x.astype("float32")),  # other type
        lambda x: wrap(sigmoid_sum)(x[:2], x[:2]),  # other static shape
    ],
)
def test_different_wraps_are_different_ops(other):
    x = pt.dvector("x", shape=(3,))
    assert wrap(sigmoid_sum)(x, x).owner.op != other(x).owner.op


def test_static_leaves_are_part_of_the_identity():
    x = pt.dvector("x", shape=(3,))
    f = wrap(scaled_power)
    assert f(x, 2, scale=1.0).owner.op == f(x, 2, scale=1.0).owner.op
    assert f(x, 2, scale=1.0).owner.op != f(x, 2, scale=2.0).owner.op


def test_jit_is_shared_and_compiled_once():
    x = pt.dvector("x", shape=(4,))
    f1 = pytensor.function([x], wrap(wrap_counting.counted)(x))
    f2 = pytensor.function([x], wrap(wrap_counting.counted)(x) + 1)
    (n1,), (n2,) = jax_op_nodes(f1), jax_op_nodes(f2)
    assert n1.op.jitted is n2.op.jitted is jitted(n1.op.spec)
    before = len(wrap_counting.TRACES)
    for _ in range(3):
        f1(np.ones(4))
        f2(np.ones(4))
    assert len(wrap_counting.TRACES) - before <= 1  # 0 if an earlier test compiled it


def test_compiled_function_pickles_with_standard_pickle(rng):
    x, n = pt.dvector("x", shape=(3,)), pt.lscalar("n")
    out = wrap(scaled_cube)(x, n)  # a functools.partial of a module-level function
    fn = pytensor.function([x, n], [out, pytensor.grad(out, x)])
    restored = pickle.loads(pickle.dumps(fn))
    vx = rng.normal(size=3)
    for a, b in zip(fn(vx, 3), restored(vx, 3), strict=True):
        np.testing.assert_array_equal(a, b)
    assert [type(n.op.spec).__name__ for n in jax_op_nodes(restored)] == ["ValueAndVJP"]


def test_module_level_decorated_function_pickles(rng):
    """``@wrap`` at module level hides the raw function's name; pickling still works."""
    assert pickle.loads(pickle.dumps(decorated_logistic)) is decorated_logistic
    x = pt.dvector("x", shape=(3,))
    out = decorated_logistic(x)
    fn = pytensor.function([x], [out, pytensor.grad(out, x)])
    restored = pickle.loads(pickle.dumps(fn))
    vx = rng.normal(size=3)
    for a, b in zip(fn(vx), restored(vx), strict=True):
        np.testing.assert_array_equal(a, b)


def test_unpicklable_function_fails_clearly_and_cloudpickle_works(rng):
    def local_fn(a):
        return jnp.sum(a**2)

    x = pt.dvector("x", shape=(3,))
    fn = pytensor.function([x], wrap(local_fn)(x))
    with pytest.raises((pickle.PicklingError, AttributeError), match="local_fn"):
        pickle.dumps(fn)
    restored = cloudpickle.loads(cloudpickle.dumps(fn))  # what pm.sample(cores>1) uses
    vx = rng.normal(size=3)
    np.testing.assert_allclose(restored(vx), np.sum(vx**2))


def test_wrong_number_of_arguments():
    x = pt.dvector("x", shape=(3,))
    with pytest.raises(TypeError, match=r"wrap\(sigmoid_sum\).*'y'"):
        wrap(sigmoid_sum)(x)
    with pytest.raises(TypeError, match=r"wrap\(sigmoid_sum\).*too many"):
        wrap(sigmoid_sum)(x, x, x)


def test_shapes_jax_rejects_name_function_and_arguments():
    x, y = pt.dvector("x", shape=(3,)), pt.dvector("y", shape=(4,))
    with pytest.raises(ValueError, match=r"wrap\(sigmoid_sum\).*x: float64\[3\].*y: float64\[4\]"):
        wrap(sigmoid_sum)(x, y)


def test_non_array_output_is_named():
    x = pt.dvector("x", shape=(3,))

    def bad(a):
        return {"value": a.sum(), "label": "not an array"}

    with pytest.raises(TypeError, match=r"wrap\(bad\): output \['label'\] is a str"):
        wrap(bad)(x)


def test_non_tensor_argument_is_named():
    x = pt.dvector("x", shape=(3,))
    with pytest.raises(TypeError, match=r"wrap\(sigmoid_sum\): argument 'y' is not a tensor"):
        wrap(sigmoid_sum)(x, np.array(["a", "b", "c"], dtype=object))
