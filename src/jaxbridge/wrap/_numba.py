"""numba mode: wrapped ops called from numba-compiled graphs without PyTensor's generic fallback.

PyTensor 3's default linker is numba, and PyMC 6's plain ``pm.sample()`` runs nutpie on it.
An op numba cannot compile runs through PyTensor's *fallback*: an object-mode block calling
the op's ``perform`` with fresh output storage lists, announced by one warning per op and
graph. A :class:`~jaxbridge.wrap._op.JaxOp` has nothing for numba to compile (its work is one
jitted XLA call), so its numba implementation is the object-mode block alone, calling that
jitted function directly: no storage lists, no warning, the same result checks as
:meth:`~jaxbridge.wrap._op.JaxOp.perform`.

The dispatch is registered by a graph rewrite tagged ``numba``, which only numba-linked
compilations run: importing jaxbridge imports neither numba nor PyTensor's numba backend.
"""

from __future__ import annotations

from pytensor.compile.mode import optdb
from pytensor.graph.rewriting.basic import GraphRewriter

from jaxbridge.wrap._op import JaxOp

_registered = False


def _numba_funcify_jax_op(op: JaxOp, node=None, **kwargs):
    """``(numba function, cache key)`` for ``op``: one object-mode call of its jitted spec.

    Not cacheable across processes (the key is ``None``): the function closes over a Python
    callable.
    """
    import numba
    from pytensor.link.numba.dispatch.basic import get_numba_type, numba_njit

    types = [get_numba_type(out.type) for out in node.outputs]
    single = len(types) == 1
    ret_sig = types[0] if single else numba.types.Tuple(types)
    results = op.results

    def call(inputs):
        values = results(node, inputs)
        return values[0] if single else tuple(values)

    @numba_njit
    def jax_op(*inputs):
        with numba.objmode(ret=ret_sig):
            ret = call(inputs)
        return ret

    return jax_op, None


def register_numba_dispatch() -> None:
    """Register :func:`_numba_funcify_jax_op` with PyTensor's numba backend (once)."""
    global _registered
    if not _registered:
        from pytensor.link.numba.dispatch.basic import register_funcify_and_cache_key

        register_funcify_and_cache_key(JaxOp)(_numba_funcify_jax_op)
        _registered = True


class RegisterNumbaDispatch(GraphRewriter):
    """Leaves the graph unchanged; makes sure the numba linker finds :class:`JaxOp`'s dispatch."""

    def apply(self, fgraph):
        register_numba_dispatch()


optdb.register("jaxbridge_numba_dispatch", RegisterNumbaDispatch(), "numba", position=200.5)
