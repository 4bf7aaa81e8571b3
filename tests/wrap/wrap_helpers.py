"""Module-level JAX functions (so compiled graphs using them pickle) and comparison helpers."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytensor

from jaxbridge import wrap
from jaxbridge.wrap import JaxOp


def sigmoid_sum(x, y):
    return jax.nn.sigmoid(x + y)


def two_outputs(x, y):
    """Non-scalar, multiple outputs mixing both inputs."""
    return jnp.sin(x) * y, jnp.outer(x, jnp.exp(y))


def scaled_power(x, n, scale=1.0):
    """``n`` an integer input (non-differentiable), ``scale`` a static Python float."""
    return scale * jnp.sum(x**n, axis=-1)


def pytree_fn(params, data):
    """Dict and tuple in, dict with a nested tuple out."""
    mu, log_sigma = params["mu"], params["log_sigma"]
    z = (data[0] - mu) / jnp.exp(log_sigma)
    return {"logp": jnp.sum(-0.5 * z**2 - log_sigma), "z": (z, data[1] * 2.0)}


def masked_sum(x, mask):
    return jnp.sum(jnp.where(mask, x**2, 0.0))


scaled_cube = functools.partial(scaled_power, scale=0.5)


@wrap
def decorated_logistic(x):
    """Wrapped at module level: the name ``decorated_logistic`` holds the wrapper."""
    return jnp.sum(jax.nn.log_sigmoid(x))


def jax_op_nodes(fn) -> list:
    """The :class:`JaxOp` nodes of a compiled PyTensor function."""
    return [n for n in fn.maker.fgraph.apply_nodes if isinstance(n.op, JaxOp)]


def compile_both(inputs, outputs, **kwargs):
    """The same graph compiled in PyTensor's default (C/Python) mode and in JAX mode."""
    return (
        pytensor.function(inputs, outputs, **kwargs),
        pytensor.function(inputs, outputs, mode="JAX", **kwargs),
    )


def assert_modes_agree(inputs, outputs, values, reference=None, rtol=1e-10):
    """Default mode == JAX mode (== ``reference`` when given), dtype by dtype."""
    default, jaxmode = compile_both(inputs, outputs)
    got_default = default(*values)
    got_jax = jaxmode(*values)
    for out, a, b in zip(outputs, got_default, got_jax, strict=True):
        assert a.dtype == out.dtype
        assert np.asarray(b).dtype == out.dtype
        np.testing.assert_allclose(a, b, rtol=rtol)
    if reference is not None:
        for a, r in zip(got_default, reference, strict=True):
            np.testing.assert_allclose(a, r, rtol=rtol)
    return got_default
