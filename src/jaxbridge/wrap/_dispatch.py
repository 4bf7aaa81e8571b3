"""``mode="JAX"``: a :class:`JaxOp` becomes its un-jitted spec, so the whole graph jits as one.

Importing PyTensor's JAX dispatch sets ``jax_enable_x64`` from ``pytensor.config.floatX``;
jaxbridge's x64 choice (:mod:`jaxbridge._config`) is re-applied afterwards.
"""

from __future__ import annotations

import jax.numpy as jnp
from pytensor.link.jax.dispatch import jax_funcify

from jaxbridge._config import enable_x64
from jaxbridge.wrap._op import JaxOp

enable_x64()


@jax_funcify.register(JaxOp)
def jax_funcify_jaxop(op, node=None, **kwargs):
    """The op's flat function, inputs cast to their PyTensor dtypes.

    PyTensor's JAX linker passes 0-d inputs as Python scalars, which JAX would widen
    (float32 -> float64 under x64); the casts keep the traced dtypes equal to the op's.
    """
    spec = op.spec
    dtypes = [t.dtype for t in op.input_types]
    single = len(op.output_types) == 1

    def jax_op(*inputs):
        outputs = spec(*(jnp.asarray(x, dtype=d) for x, d in zip(inputs, dtypes, strict=True)))
        return outputs[0] if single else outputs

    return jax_op
