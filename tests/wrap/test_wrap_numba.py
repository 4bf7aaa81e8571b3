"""numba mode (PyTensor 3's default linker): wrapped ops run without the object-mode fallback."""

import warnings

import jax.numpy as jnp
import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from pytensor.compile.mode import Mode
from wrap_helpers import jax_op_nodes, two_outputs

from jaxbridge import wrap

MODES = {"python": Mode(linker="py", optimizer="fast_run"), "numba": "NUMBA", "jax": "JAX"}


def _compile_quietly(inputs, outputs, mode):
    """Compile and call once with every warning an error: the fallback announces itself."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.filterwarnings("ignore", message="PyTensor could not link to a BLAS")
        return pytensor.function(inputs, outputs, mode=mode)


def test_value_gradient_and_fused_op_agree_across_modes(rng):
    x, y = pt.dvector("x", shape=(4,)), pt.dvector("y", shape=(4,))
    first, second = wrap(two_outputs)(x, y)
    loss = first.sum() + (second**2).sum()
    outputs = [first, second, *pytensor.grad(first.sum(), [x, y]), *pytensor.grad(loss, [x])]
    vx, vy = rng.normal(size=4), rng.normal(size=4)
    results = {}
    for name, mode in MODES.items():
        fn = _compile_quietly([x, y], outputs, mode)
        results[name] = fn(vx, vy)
        if name == "numba":
            kinds = sorted(type(n.op.spec).__name__ for n in jax_op_nodes(fn))
            assert "ValueAndVJP" in kinds  # the fusion rewrite runs in numba mode too
    for name in ("numba", "jax"):
        for got, want in zip(results[name], results["python"], strict=True):
            np.testing.assert_allclose(got, want, rtol=1e-12)


def test_log_density_value_and_gradient_is_one_fused_call(rng):
    x = pt.dvector("x", shape=(3,))
    logp = wrap(lambda a: -0.5 * jnp.sum(a**2))(x)
    fn = _compile_quietly([x], [logp, pytensor.grad(logp, x)], "NUMBA")
    (node,) = jax_op_nodes(fn)
    assert type(node.op.spec).__name__ == "ValueAndVJP"
    vx = rng.normal(size=3)
    value, grad = fn(vx)
    np.testing.assert_allclose(value, -0.5 * np.sum(vx**2))
    np.testing.assert_allclose(grad, -vx)


def test_scalar_and_integer_outputs(rng):
    x = pt.dvector("x", shape=(5,))
    out = wrap(lambda a: (jnp.sum(a), jnp.argmax(a)))(x)
    fn = _compile_quietly([x], list(out), "NUMBA")
    vx = rng.normal(size=5)
    total, where = fn(vx)
    assert total.shape == () and where.dtype == out[1].dtype
    np.testing.assert_allclose(total, vx.sum())
    assert where == np.argmax(vx)


def test_inplace_consumer_in_numba_mode(rng):
    x = pt.dvector("x", shape=(3,))
    out = wrap(jnp.exp)(x)
    fn = _compile_quietly([x], [pt.set_subtensor(out[0], -1.0), out.sum()], "NUMBA")
    vx = rng.normal(size=3)
    for _ in range(2):
        replaced, total = fn(vx)
        np.testing.assert_allclose(replaced, [-1.0, *np.exp(vx[1:])])
        np.testing.assert_allclose(total, np.exp(vx).sum())


def test_fallback_type_check_applies_in_numba_mode():
    def rank_by_length(a):
        return a.reshape(2, -1) if a.shape[0] % 2 == 0 else a

    x = pt.dvector("x")
    fn = _compile_quietly([x], wrap(rank_by_length)(x), "NUMBA")
    np.testing.assert_array_equal(fn(np.ones(3)), np.ones(3))
    with pytest.raises(TypeError, match=r"returned float64\[2, 2\]"):
        fn(np.ones(4))
