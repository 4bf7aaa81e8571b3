"""float64 stays float64 whatever was imported first and whatever JAX's global flag says;
float32 stays float32; the global flag itself is never touched by ``wrap``."""

import os
import subprocess
import sys
import textwrap

import jax
import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from wrap_helpers import sigmoid_sum

from jaxbridge import wrap

CHECK = textwrap.dedent(
    """
    import jax, numpy as np, pytensor, pytensor.tensor as pt, jax.numpy as jnp
    from jaxbridge import wrap
    before = jax.config.jax_enable_x64
    x = pt.dscalar("x")
    f = pytensor.function([x], wrap(lambda a: a + 1e-12)(x))
    out = f(1.0)
    assert out.dtype == np.float64 and out != 1.0, (out.dtype, out)
    y = pt.fscalar("y")
    assert wrap(lambda a: a * 2)(y).dtype == "float32"
    assert jax.config.jax_enable_x64 == before
    print("ok")
    """
)


@pytest.mark.parametrize(
    ("first", "flags"),
    [
        ("import pymc", ""),  # the reported failure: float32 results after `import pymc`
        ("import pytensor.link.jax.dispatch", "floatX=float32"),  # this import turns x64 off
        ("import jax; jax.config.update('jax_enable_x64', False)", ""),  # the user's choice
    ],
)
def test_float64_survives_import_order(first, flags):
    env = dict(os.environ, PYTENSOR_FLAGS=flags, JAXBRIDGE_CACHE_DIR="off")
    env.pop("JAX_ENABLE_X64", None)
    result = subprocess.run(
        [sys.executable, "-c", f"{first}\n{CHECK}"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().endswith("ok")


def test_float64_values_and_gradients_exact_with_global_x64_off():
    x = pt.dvector("x", shape=(3,))
    out = wrap(sigmoid_sum)(x, x)
    f = pytensor.function([x], [out, pytensor.grad(out.sum(), x)])
    value = np.array([0.1, 1e-10, 2.0])
    jax.config.update("jax_enable_x64", False)
    try:
        got, grad = f(value)
        assert not jax.config.jax_enable_x64
    finally:
        jax.config.update("jax_enable_x64", True)
    s = 1 / (1 + np.exp(-2 * value))
    assert got.dtype == grad.dtype == np.float64
    np.testing.assert_allclose(got, s, rtol=1e-14)
    np.testing.assert_allclose(grad, 2 * s * (1 - s), rtol=1e-13)
