"""Batched wrapped ops: one vectorised JAX call for a whole batch, in every mode.

PyTensor batches an op it cannot batch itself into a :class:`~pytensor.tensor.blockwise.Blockwise`
node (``pt.vectorize``, :func:`pytensor.graph.replace.vectorize_graph`, gradients of batched
graphs), which in C, Python and numba modes loops over the batch, calling the core op once per
batch element. A :class:`~jaxbridge.wrap._op.JaxOp` batches itself instead: its
``_vectorize_node`` dispatch returns one op running :class:`~jaxbridge.wrap._spec.Vectorized`
(``jax.numpy.vectorize`` of its spec), and a rewrite replaces any ``Blockwise`` of a ``JaxOp``
built directly. The batched op is a ``JaxOp`` like any other: its gradient is one ``jax.vjp``
of the vectorised function, and it fuses with that gradient as the core op would.
"""

from __future__ import annotations

from pytensor.compile.mode import optdb
from pytensor.graph.basic import Apply
from pytensor.graph.replace import _vectorize_node
from pytensor.graph.rewriting.basic import in2out, node_rewriter
from pytensor.tensor.blockwise import Blockwise, safe_signature

from jaxbridge.wrap._op import JaxOp
from jaxbridge.wrap._spec import Vectorized


def _batched_exprs(op: JaxOp, input_types, batch: int) -> tuple | None:
    """Shape expressions of the batched op's outputs (see :class:`JaxOp`): each batch dim is
    that of an input not statically 1 there (PyTensor broadcasts only static 1s), each core
    dim the core op's expression moved behind the batch dims."""
    if op.shape_exprs is None:
        return None

    def batch_dim(k: int):
        for i, t in enumerate(input_types):
            if t.shape[k] != 1:
                return t.shape[k] if t.shape[k] is not None else f"d{i}_{k}"
        return 1

    def shifted(expr):
        if isinstance(expr, int):
            return expr
        for i, t in enumerate(op.input_types):
            for k in range(t.ndim):
                if expr == f"d{i}_{k}":
                    return f"d{i}_{k + batch}"
        return None  # compound: read off the output

    batch_exprs = tuple(batch_dim(k) for k in range(batch))
    return tuple(batch_exprs + tuple(map(shifted, e)) for e in op.shape_exprs)


def batched_node(op: JaxOp, inputs) -> Apply:
    """``op`` applied to ``inputs`` with leading batch dimensions, as one :class:`JaxOp`."""
    signature = safe_signature([t.ndim for t in op.input_types], [t.ndim for t in op.output_types])
    blockwise = Blockwise(op, signature=signature).make_node(*inputs)
    batch = blockwise.outputs[0].type.ndim - op.output_types[0].ndim
    if batch == 0:
        return op.make_node(*inputs)
    vectorized = JaxOp(
        Vectorized(op.spec, signature, len(op.output_types)),
        [v.type for v in blockwise.inputs],
        [v.type for v in blockwise.outputs],
        _batched_exprs(op, [v.type for v in blockwise.inputs], batch),
    )
    return vectorized.make_node(*blockwise.inputs)


@_vectorize_node.register(JaxOp)
def _vectorize_jax_op(op: JaxOp, node: Apply, *batched_inputs) -> Apply:
    return batched_node(op, batched_inputs)


@node_rewriter([Blockwise])
def blockwise_of_jax_op(fgraph, node):
    """``Blockwise(JaxOp)`` -> one vectorised :class:`JaxOp`."""
    if isinstance(node.op.core_op, JaxOp):
        return batched_node(node.op.core_op, node.inputs).outputs
    return None


optdb.register(
    "jaxbridge_vectorize_blockwise",
    in2out(blockwise_of_jax_op),
    "fast_run",
    "fast_compile",
    "jax",
    "numba",
    position=0.5,
)
