"""Value-and-gradient fusion: one ``jax.vjp`` call instead of a forward call plus a VJP call.

PyMC's ``logp_dlogp_function`` (and ``pytensor.function([x], [logp, grad])``) compile a graph
holding a wrapped op ``y = f(x)`` and its VJP op ``xbar = vjp_f(x, ybar)``. When the cotangent
``ybar`` does not depend on ``y`` — true for a log-density summed into ``model.logp()``,
whose cotangent is the constant 1 or a broadcast of it — both nodes can be computed by one
``ValueAndVJP`` op, i.e. one jitted ``jax.vjp``. When ``ybar`` depends on ``y`` (e.g. the
gradient of ``sum(y**2)``) the VJP needs ``y`` first, and the graph is left alone.

The same pass drops gradients nobody uses (e.g. w.r.t. observed data) from VJP ops, and bakes
constant-filled cotangents (the ``1`` of ``d logp / d term``) into the op instead of passing
them as inputs (one host-to-device transfer less per call).

Registered in ``optdb`` after the last merge of the main phases (so the forward and VJP nodes
share their input variables) under the ``fast_run``, ``fast_compile`` and ``jax`` tags. It
serves every caller that compiles PyTensor's *gradient graph*: ``logp_dlogp_function`` in the
C, Python and numba modes (PyMC's NUTS, nutpie's numba backend) and in ``mode="JAX"`` (nutpie's
JAX backend with ``gradient_backend="pytensor"``), where the fused op puts one ``jax.vjp`` into
the graph's jit. The JAX samplers (NumPyro, BlackJAX, nutpie with ``gradient_backend="jax"``)
jaxify the log-density alone and differentiate it with ``jax.grad``: they never see the VJP
op, and this rewrite does nothing for them.
"""

from __future__ import annotations

import numpy as np
from pytensor.compile.mode import optdb
from pytensor.graph.features import ReplaceValidate
from pytensor.graph.rewriting.basic import GraphRewriter, MergeOptimizer
from pytensor.graph.traversal import ancestors
from pytensor.tensor.variable import TensorConstant

from jaxbridge.wrap._op import VIEWS_TAG, JaxOp, grad_shape_exprs
from jaxbridge.wrap._spec import VJP, ValueAndVJP


def _find_forward(fgraph, node):
    """The node computing ``node``'s base spec on the same inputs, if any."""
    spec = node.op.spec
    x = node.inputs[: spec.n_in]
    if not x:
        return None
    for client, _ in fgraph.clients[x[0]]:
        if (
            client is not node
            and isinstance(client.op, JaxOp)
            and client.op.spec == spec.base
            and len(client.inputs) == len(x)
            and all(a is b for a, b in zip(client.inputs, x, strict=True))
        ):
            return client
    return None


def _cotangents_independent(node, forward) -> bool:
    cotangents = node.inputs[node.op.spec.n_in :]
    outs = set(forward.outputs)
    return not any(v in outs for v in ancestors(cotangents))


def _uniform_value(var):
    """The scalar filling a constant ``var`` (``ones_like`` etc.), else ``None``."""
    if not isinstance(var, TensorConstant):
        return None
    flat = np.ravel(var.data)
    if flat.size == 0 or not (flat == flat[0]).all():
        return None
    return flat[0].item()


def _rewrite_vjp(fgraph, node) -> None:
    op, spec = node.op, node.op.spec
    used = [k for k, out in enumerate(node.outputs) if fgraph.clients[out]]
    if not used:
        return
    x = node.inputs[: spec.n_in]
    cot, cot_inputs, fill = [], [], list(spec.fill)
    for j, var in zip(spec.cot, node.inputs[spec.n_in :], strict=True):
        value = _uniform_value(var)
        if value is None:
            cot.append(j)
            cot_inputs.append(var)
        else:
            fill.append((j, value))
    inputs = [*x, *cot_inputs]
    input_types = [v.type for v in inputs]
    wrt = tuple(spec.wrt[k] for k in used)
    grad_types = [op.output_types[k] for k in used]
    grad_exprs = grad_shape_exprs(input_types, wrt)
    forward = _find_forward(fgraph, node)
    pairs = []
    if forward is not None and _cotangents_independent(node, forward):
        fop = forward.op
        new_spec = ValueAndVJP(spec.base, spec.n_in, wrt, tuple(cot), tuple(fill))
        out_types = [*fop.output_types, *grad_types]
        exprs = None if fop.shape_exprs is None else (*fop.shape_exprs, *grad_exprs)
        pairs += zip(forward.outputs, range(len(forward.outputs)), strict=True)
    elif len(used) < len(node.outputs) or fill != list(spec.fill):
        new_spec = VJP(spec.base, spec.n_in, wrt, tuple(cot), tuple(fill))
        out_types, exprs = grad_types, grad_exprs
    else:
        return
    offset = len(pairs)
    pairs += [(node.outputs[k], offset + m) for m, k in enumerate(used)]
    outs = JaxOp(new_spec, input_types, out_types, exprs)(*inputs, return_list=True)
    fgraph.replace_all_validate(
        [(old, outs[m]) for old, m in pairs], reason="jaxbridge_fuse_value_and_vjp"
    )


class FuseValueAndVJP(GraphRewriter):
    """Merge each wrapped op with its VJP into one ``ValueAndVJP`` op where that is valid."""

    def add_requirements(self, fgraph):
        fgraph.attach_feature(ReplaceValidate())

    def apply(self, fgraph):
        # a forward node and its VJP are paired by sharing their input variables: merge equal
        # computations first, so a duplicate left by an earlier rewrite cannot keep them apart
        MergeOptimizer().rewrite(fgraph)
        for node in fgraph.toposort():
            if (
                node in fgraph.apply_nodes
                and isinstance(node.op, JaxOp)
                and type(node.op.spec) is VJP
            ):
                _rewrite_vjp(fgraph, node)


optdb.register(
    "jaxbridge_fuse_value_and_vjp",
    FuseValueAndVJP(),
    "fast_run",
    "fast_compile",
    "jax",
    position=49.2,
)


class MarkOutputViews(GraphRewriter):
    """Let :class:`JaxOp` nodes return zero-copy (read-only) views of JAX's output buffers.

    Allowed for an output that no inplace op destroys (directly or through a view) and that
    is not a graph output; the others are copied, since JAX's buffers are read-only. Runs
    last, once the inplace rewrites have placed their destroyers. The graph is unchanged.
    """

    def apply(self, fgraph):
        destroyers = getattr(fgraph, "destroyers", lambda _: ())
        returned = set(fgraph.outputs)
        for node in fgraph.apply_nodes:
            if isinstance(node.op, JaxOp):
                views = tuple(o not in returned and not destroyers(o) for o in node.outputs)
                setattr(node.tag, VIEWS_TAG, views)


optdb.register(
    "jaxbridge_mark_output_views",
    MarkOutputViews(),
    "fast_run",
    "fast_compile",
    position=200,
)
