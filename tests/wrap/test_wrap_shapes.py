"""Output types from ``jax.eval_shape``: static shapes propagate, unknown ones stay symbolic."""

import jax.numpy as jnp
import numpy as np
import pytensor
import pytensor.tensor as pt
from wrap_helpers import jax_op_nodes, two_outputs

from jaxbridge import wrap


def shapes_fn(x, y):
    return {"outer": jnp.outer(x, y), "cat": jnp.concatenate([x, x[1:]]), "total": jnp.sum(x)}


def test_static_shapes_propagate():
    out = wrap(shapes_fn)(pt.dvector(shape=(3,)), pt.dvector(shape=(4,)))
    assert out["outer"].type.shape == (3, 4)
    assert out["cat"].type.shape == (5,)
    assert out["total"].type.shape == ()


def test_unknown_input_dims_stay_unknown_others_static(rng):
    """No specify_shape needed; dims independent of the unknown one stay static."""
    x = pt.dvector("x")  # shape (None,)
    out = wrap(shapes_fn)(x, np.ones(4))
    assert out["outer"].type.shape == (None, 4)
    assert out["cat"].type.shape == (None,)
    vx = rng.normal(size=6)
    outer, cat = pytensor.function([x], [out["outer"], out["cat"]])(vx)
    np.testing.assert_allclose(outer, np.outer(vx, np.ones(4)))
    np.testing.assert_allclose(cat, np.concatenate([vx, vx[1:]]))


def test_infer_shape_answers_without_running_jax():
    """An output dim equal to an input dim is inferred from the input: no JAX call needed."""
    x = pt.dvector("x")
    out = wrap(shapes_fn)(x, np.ones(4))
    fn = pytensor.function([x], out["outer"].shape)
    assert jax_op_nodes(fn) == []
    np.testing.assert_array_equal(fn(np.zeros(7)), [7, 4])
    # a compound dim (2 * n - 1) is read off the computed output instead
    fn = pytensor.function([x], out["cat"].shape)
    np.testing.assert_array_equal(fn(np.zeros(7)), [13])


def test_symbolic_shapes_rejected_fall_back_to_probe(rng):
    """Adding two unknown-length vectors defeats symbolic shapes; the op still works."""
    x, y = pt.dvector("x"), pt.dvector("y")
    first, second = wrap(two_outputs)(x, y)
    assert first.type.shape == (None,) and second.type.shape == (None, None)
    vx, vy = rng.normal(size=5), rng.normal(size=5)
    got = pytensor.function([x, y], [first, second, pytensor.grad(first.sum(), x)])(vx, vy)
    np.testing.assert_allclose(got[0], np.sin(vx) * vy)
    np.testing.assert_allclose(got[1], np.outer(vx, np.exp(vy)))
    np.testing.assert_allclose(got[2], np.cos(vx) * vy)


def test_runtime_shape_changes_recompile_correctly(rng):
    x = pt.dvector("x")
    fn = pytensor.function([x], wrap(shapes_fn)(x, np.ones(2))["cat"], mode="JAX")
    for n in (2, 5):
        v = rng.normal(size=n)
        np.testing.assert_allclose(fn(v), np.concatenate([v, v[1:]]))
