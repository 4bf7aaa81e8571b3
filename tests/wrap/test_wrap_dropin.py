"""``from jaxbridge import wrap as wrap_jax``: every calling convention of ``pytensor.wrap_jax``."""

import inspect

import jax.numpy as jnp
import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from pytensor import wrap_jax as pytensor_wrap_jax
from wrap_helpers import jax_op_nodes, two_outputs

from jaxbridge import wrap as wrap_jax


def add(x, y):
    return jnp.add(x, y)


def complex_function(x, y, scale=1.0):
    return {"sum": jnp.add(x, y) * scale}


def test_signature_accepts_every_keyword_of_pytensor_wrap_jax():
    ours = inspect.signature(wrap_jax).parameters
    for name, param in inspect.signature(pytensor_wrap_jax).parameters.items():
        assert name in ours, f"pytensor.wrap_jax takes {name!r}"
        assert ours[name].kind == param.kind and ours[name].default == param.default


@pytest.mark.parametrize(
    "make",
    [
        lambda f: wrap_jax(f),
        lambda f: wrap_jax(jax_function=f),
        lambda f: wrap_jax()(f),
        lambda f: wrap_jax(allow_eval=True)(f),
        lambda f: wrap_jax(allow_eval=False)(f),
        lambda f: wrap_jax(f, allow_eval=False),
    ],
    ids=["plain", "keyword", "empty-decorator", "decorator-eval", "decorator-no-eval", "no-eval"],
)
def test_calling_conventions_of_the_pytensor_docstring(make):
    x, y = pt.scalar("x"), pt.scalar("y")
    f = pytensor.function([x, y], [make(add)(x, y)])
    np.testing.assert_allclose(f(1, 2), [3.0])

    x, y = pt.vector("x", shape=(3,)), pt.vector("y", shape=(3,))
    result = make(complex_function)(x, y, scale=2.0)
    f = pytensor.function([x, y], [result["sum"]])
    np.testing.assert_allclose(f(np.ones(3), np.arange(3.0)), [2 * (1 + np.arange(3.0))])


def test_unknown_shapes_need_no_specify_shape_even_without_eval():
    """Where ``pytensor.wrap_jax`` raises (unknown shapes), symbolic dimensions suffice."""
    x, y = pt.vector("x"), pt.vector("y")
    out = wrap_jax(lambda a, b: a * 2 + jnp.sum(b), allow_eval=False)(x, y)
    with pytest.raises(ValueError, match="specify_shape"):
        pytensor_wrap_jax(lambda a, b: a * 2 + jnp.sum(b), allow_eval=False)(x, y)
    f = pytensor.function([x, y], out)
    np.testing.assert_allclose(f(np.ones(4), np.ones(2)), 4 * np.ones(4))


def test_without_eval_symbolic_failure_asks_for_specify_shape():
    x, y = pt.dvector("x"), pt.dvector("y")  # broadcasting two unknown lengths: no symbols
    with pytest.raises(ValueError, match=r"wrap\(two_outputs\).*pt.specify_shape"):
        wrap_jax(two_outputs, allow_eval=False)(x, y)
    first, _ = wrap_jax(two_outputs)(x, y)  # allowed: a fallback finds the types
    assert first.type.shape == (None,)


def test_evaluated_shapes_as_pytensor_wrap_jax_does(rng):
    """Inputs whose shapes can be evaluated (shared variables) give the fallback's types."""
    x = pytensor.shared(rng.normal(size=4))
    y = pytensor.shared(rng.normal(size=4))
    first, second = wrap_jax(two_outputs)(x, y)
    f = pytensor.function([], [first, second])
    got = f()
    np.testing.assert_allclose(got[0], np.sin(x.get_value()) * y.get_value())
    assert got[1].shape == (4, 4) and len(jax_op_nodes(f)) == 1


def test_fallback_types_are_checked_on_every_call():
    """The output's rank depends on the input's length: a probed type cannot know, so the
    call is a named error rather than a silently wrong type."""

    def rank_by_length(a):
        return a.reshape(2, -1) if a.shape[0] % 2 == 0 else a

    x = pt.dvector("x")
    out = wrap_jax(rank_by_length)(x)  # symbolic shapes fail; probe size 1: a vector
    assert out.type.ndim == 1
    f = pytensor.function([x], out)
    np.testing.assert_array_equal(f(np.ones(3)), np.ones(3))
    with pytest.raises(TypeError, match=r"JaxOp\{rank_by_length\} returned float64\[2, 2\]"):
        f(np.ones(4))
