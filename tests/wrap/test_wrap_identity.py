"""Op identity, jit reuse, pickling and error messages."""

import pickle
import threading

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


def test_local_function_pickles_by_value_with_standard_pickle(rng):
    def local_fn(a):
        return jnp.sum(a**2)

    x = pt.dvector("x", shape=(3,))
    fn = pytensor.function([x], [wrap(local_fn)(x), wrap(lambda a: a * 2)(x)])
    vx = rng.normal(size=3)
    for restored in (pickle.loads(pickle.dumps(fn)), cloudpickle.loads(cloudpickle.dumps(fn))):
        got = restored(vx)
        np.testing.assert_allclose(got[0], np.sum(vx**2))
        np.testing.assert_allclose(got[1], 2 * vx)


@pytest.mark.parametrize("library_fn", [jnp.sin, jnp.linalg.slogdet, jax.nn.softplus])
def test_library_functions_pickle_by_name(rng, library_fn):
    """``jnp.sin`` is a jitted function whose inner function pickle cannot find by name."""
    x = pt.dmatrix("x", shape=(3, 3))
    out = wrap(library_fn)(x)
    fn = pytensor.function([x], out)
    restored = pickle.loads(pickle.dumps(fn))
    vx = rng.normal(size=(3, 3))
    for a, b in zip(fn(vx), restored(vx), strict=True):
        np.testing.assert_array_equal(a, b)
    (call,) = [n.op.spec for n in jax_op_nodes(restored)]
    assert call.fn is library_fn  # by name: the very same object, not a copy


def test_function_that_pickles_neither_way_is_named():
    lock = threading.Lock()

    def holds_a_lock(a):
        with lock:
            return a * 2

    x = pt.dvector("x", shape=(3,))
    fn = pytensor.function([x], wrap(holds_a_lock)(x))
    with pytest.raises(pickle.PicklingError, match=r"wrap\(holds_a_lock\): cannot pickle"):
        pickle.dumps(fn)


def test_static_arguments_are_keyed_by_type():
    """``1 == 1.0 == True`` in Python, but they make different ops (and dtypes)."""

    def by_type(a, value):
        return a + {bool: 10.0, int: 20.0, float: 30.0}[type(value)]

    x = pt.dvector("x", shape=(3,))
    outs = [wrap(by_type)(x, v) for v in (1, 1.0, True)]
    ops = [o.owner.op for o in outs]
    assert len(set(ops)) == 3
    assert ops[0] == wrap(by_type)(x, 1).owner.op  # equal values of one type still merge
    fn = pytensor.function([x], outs)
    assert len(jax_op_nodes(fn)) == 3
    np.testing.assert_array_equal(fn(np.zeros(3)), np.repeat([[20.0], [30.0], [10.0]], 3, axis=1))


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
