"""float64 stays float64 whatever was imported first; float32 stays float32."""

import os
import subprocess
import sys
import textwrap

import pytest

CHECK = textwrap.dedent(
    """
    import numpy as np, pytensor, pytensor.tensor as pt, jax.numpy as jnp
    from jaxbridge import wrap
    x = pt.dscalar("x")
    f = pytensor.function([x], wrap(lambda a: a + 1e-12)(x))
    out = f(1.0)
    assert out.dtype == np.float64 and out != 1.0, (out.dtype, out)
    y = pt.fscalar("y")
    assert wrap(lambda a: a * 2)(y).dtype == "float32"
    print("ok")
    """
)


@pytest.mark.parametrize(
    ("first", "flags"),
    [
        ("import pymc", ""),  # the reported failure: float32 results after `import pymc`
        ("import pytensor.link.jax.dispatch", "floatX=float32"),  # this import turns x64 off
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
