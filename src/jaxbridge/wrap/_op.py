"""The PyTensor op that runs a spec (:mod:`jaxbridge.wrap._spec`) with one jitted JAX call.

One class serves the forward function, its VJP and the fused value-and-VJP: what differs is
the spec. :meth:`JaxOp.pullback` builds the VJP op, whose own ``pullback`` builds the VJP of
the VJP, so derivatives of any order exist.

:class:`JaxOp` subclasses PyTensor's own :class:`~pytensor.link.jax.ops.JAXOp` only to share
its JAX dispatch (``jax_funcify`` of a ``JAXOp`` is its :meth:`~JaxOp.perform_jax`, on PyTensor
2.38 and 3.x): jaxbridge never imports ``pytensor.link.jax.dispatch``, whose import flips
JAX's global x64 flag. Every call made outside a JAX-compiled graph runs in a scoped
float64 context (:func:`jaxbridge._compat.x64`), so results keep their PyTensor dtypes
whatever the global ``jax_enable_x64`` says.
"""

from __future__ import annotations

from functools import cached_property

import jax.numpy as jnp
import numpy as np
import pytensor.tensor as pt
from pytensor.gradient import DisconnectedType, NullType, disconnected_type
from pytensor.graph.basic import Apply
from pytensor.graph.op import Op
from pytensor.link.jax.ops import JAXOp
from pytensor.tensor.exceptions import ShapeError
from pytensor.tensor.shape import Shape_i

from jaxbridge._compat import PYTENSOR_3, x64
from jaxbridge.wrap._spec import VJP, jitted

VIEWS_TAG = "jaxbridge_output_views"
"""``node.tag`` attribute: per output, may :meth:`JaxOp.perform` hand out a read-only view of
JAX's result buffer? Set by :class:`jaxbridge.wrap._rewrite.MarkOutputViews` for outputs that
no inplace op destroys and that are not returned to the user; absent means copy."""


def is_differentiable(dtype: str) -> bool:
    """Only floating-point and complex tensors carry gradients; integers and booleans do not."""
    return np.dtype(dtype).kind in "fc"


def _fits(shape: tuple, static: tuple) -> bool:
    """Has an array of ``shape`` the rank and static dimensions of a type's ``static`` shape?"""
    return len(shape) == len(static) and all(
        s is None or s == d for d, s in zip(shape, static, strict=True)
    )


def grad_shape_exprs(input_types, wrt) -> tuple:
    """Shape expressions of gradients: those of the inputs ``wrt`` (``d{i}_{k}`` if unknown)."""
    return tuple(
        tuple(s if s is not None else f"d{i}_{k}" for k, s in enumerate(input_types[i].shape))
        for i in wrt
    )


class JaxOp(JAXOp):
    """A PyTensor op evaluating ``spec(*inputs)`` with one call of its ``jax.jit``.

    Parameters
    ----------
    spec : Call, VJP or ValueAndVJP
        The flat JAX function (hashable: part of the op's identity).
    input_types, output_types : sequence of TensorType
    shape_exprs : tuple, optional
        Per output, per dimension: ``int``, a symbolic expression in the input dimensions
        ``d{input}_{axis}``, or ``None`` (unknown). Used by :meth:`infer_shape`.

    Notes
    -----
    :meth:`infer_shape` maps output dimensions that *equal* an input dimension (symbol
    ``d{i}_{k}``) to that input's shape, and leaves compound expressions (``2*d0_0 - 1``)
    to the output's own shape: an arithmetic shape graph would become a traced value in
    ``mode="JAX"``, where shapes must be concrete.
    """

    __props__ = ("spec", "input_types", "output_types")

    def __init__(self, spec, input_types, output_types, shape_exprs=None):
        self.spec = spec
        self.input_types = tuple(input_types)
        self.output_types = tuple(output_types)
        self.shape_exprs = shape_exprs
        self.name = spec.name
        Op.__init__(self)  # not JAXOp.__init__, which jits a function of its own

    def __str__(self) -> str:
        return f"{type(self).__name__}{{{self.name}}}"

    def __getstate__(self):
        state = self.__dict__.copy()
        state.pop("jitted", None)
        state.pop("_out_dtypes", None)
        return state

    @cached_property
    def jitted(self):
        """The shared ``jax.jit`` of :attr:`spec` (looked up once per op instance)."""
        return jitted(self.spec)

    @cached_property
    def _out_dtypes(self) -> tuple:
        return tuple(np.dtype(t.dtype) for t in self.output_types)

    def make_node(self, *inputs) -> Apply:
        if len(inputs) != len(self.input_types):
            raise TypeError(f"{self} expects {len(self.input_types)} inputs, got {len(inputs)}")
        inputs = [
            t.filter_variable(pt.as_tensor_variable(x))
            for t, x in zip(self.input_types, inputs, strict=True)
        ]
        return Apply(self, inputs, [t() for t in self.output_types])

    def results(self, node, inputs) -> list[np.ndarray]:
        """The outputs for ``inputs``: one jitted call, checked against the output types.

        Outputs marked by :class:`~jaxbridge.wrap._rewrite.MarkOutputViews` are zero-copy
        (read-only) views of JAX's buffers, the others copies.
        """
        with x64():
            results = self.jitted(*inputs)
        views = getattr(node.tag, VIEWS_TAG, None) or (False,) * len(results)
        values = []
        for result, dtype, out_type, view in zip(
            results, self._out_dtypes, self.output_types, views, strict=True
        ):
            value = np.asarray(result) if view else np.array(result)
            if value.dtype != dtype or not _fits(value.shape, out_type.shape):
                raise TypeError(
                    f"{self} returned {value.dtype}{list(value.shape)} where "
                    f"{dtype}{[d if d is not None else '?' for d in out_type.shape]} was "
                    "inferred (the function's output type depends on input values?)"
                )
            values.append(value)
        return values

    def perform(self, node, inputs, outputs):
        for storage, value in zip(outputs, self.results(node, inputs), strict=True):
            storage[0] = value

    def perform_jax(self, *inputs):
        """The un-jitted function, for PyTensor's JAX linker (the whole graph jits as one).

        PyTensor's JAX linker passes 0-d inputs as Python scalars, which JAX would widen
        (float32 -> float64 under x64); the casts keep the traced dtypes equal to the op's.
        """
        dtypes = [t.dtype for t in self.input_types]
        outputs = self.spec(*(jnp.asarray(x, dtype=d) for x, d in zip(inputs, dtypes, strict=True)))
        return outputs[0] if len(outputs) == 1 else outputs

    def _infer_shape(self, node, input_shapes):
        if self.shape_exprs is None:
            raise ShapeError(f"{self} has no shape information")
        env = {
            f"d{i}_{k}": dim for i, shape in enumerate(input_shapes) for k, dim in enumerate(shape)
        }
        return [
            tuple(
                expr if isinstance(expr, int) else env[expr] if expr in env else Shape_i(k)(out)
                for k, expr in enumerate(exprs)
            )
            for out, exprs in zip(node.outputs, self.shape_exprs, strict=True)
        ]

    if PYTENSOR_3:

        def infer_shape(self, node, input_shapes):
            return self._infer_shape(node, input_shapes)

    else:  # PyTensor 2.38 passes the function graph first

        def infer_shape(self, fgraph, node, input_shapes):
            return self._infer_shape(node, input_shapes)

    def connection_pattern(self, node):
        outs = [is_differentiable(t.dtype) for t in self.output_types]
        return [[is_differentiable(t.dtype) and o for o in outs] for t in self.input_types]

    def pullback(self, inputs, outputs, output_grads):
        """Gradient graph: one :class:`JaxOp` running ``jax.vjp`` of :attr:`spec`."""
        wrt = tuple(i for i, t in enumerate(self.input_types) if is_differentiable(t.dtype))
        cot = tuple(
            j
            for j, (out, g) in enumerate(zip(outputs, output_grads, strict=True))
            if is_differentiable(out.dtype) and not isinstance(g.type, DisconnectedType | NullType)
        )
        grads = [disconnected_type() for _ in inputs]
        if not wrt:
            return grads
        if not cot:
            for i in wrt:
                grads[i] = inputs[i].zeros_like()
            return grads
        cotangents = [pt.cast(output_grads[j], outputs[j].dtype) for j in cot]
        vjp_op = JaxOp(
            VJP(self.spec, len(inputs), wrt, cot),
            [*self.input_types, *(c.type for c in cotangents)],
            [self.input_types[i] for i in wrt],
            grad_shape_exprs(self.input_types, wrt),
        )
        for i, g in zip(wrt, vjp_op(*inputs, *cotangents, return_list=True), strict=True):
            grads[i] = g
        return grads

    L_op = pullback  # PyTensor 2.38's name for the same hook
