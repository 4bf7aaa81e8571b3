"""PyTensor graphs of a model as JAX functions: the mode search's log density and the draws
engine's graphs (:mod:`jaxbridge.pymc._draws`) run through one conversion.

Shared variables (data, coordinate lengths) become constants, as in PyMC's JAX samplers, so
that shapes are static; PyTensor's JAX rewrites run (they also take random variables out of
shape graphs; a graph that still needs a random generator after them is converted only by
:func:`jax_random_graph`, which takes the generators' states as arguments: the replicated
data's draws), then ``jax_funcify`` converts the graph. The result is meant to run in float64
(:func:`jaxbridge._compat.x64`).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pytensor.tensor as pt
from pytensor.compile.sharedvalue import SharedVariable
from pytensor.graph.replace import clone_replace
from pytensor.graph.traversal import ancestors
from pytensor.tensor.random.type import RandomType

from jaxbridge import _compat

#: What converting a graph to JAX, or tracing the result, raises when JAX cannot take it (an
#: op without a JAX implementation, a shape known only at run time).
NOT_JAX = (NotImplementedError, TypeError)


def jax_graph(inputs: Sequence[Any], outputs: Sequence[Any]) -> Callable[..., list] | None:
    """``f(*inputs) -> [outputs]``, a JAX-traceable function of the graph, or ``None`` when
    PyTensor cannot convert it (or a random generator stays in the graph after the rewrites).
    Failed parameter checks give ``-inf``, as in PyMC's JAX samplers.
    """
    converted = _convert(inputs, outputs, random=False)
    return None if converted is None else converted[0]


def jax_random_graph(
    inputs: Sequence[Any], outputs: Sequence[Any]
) -> tuple[Callable[..., list], int] | None:
    """``(f, n)``: ``f(*inputs, *states) -> [outputs]`` for a graph that draws random
    numbers, where ``states`` are the ``n`` generators' states as JAX takes them
    (:func:`generator_states`); ``None`` when PyTensor cannot convert the graph."""
    return _convert(inputs, outputs, random=True)


def generator_states(seed: np.random.SeedSequence, n: int) -> list[Any]:
    """``n`` independent generator states for a :func:`jax_random_graph` function."""
    with _compat.global_x64_kept():
        from pytensor.link.jax.dispatch import jax_typify

    return [jax_typify(np.random.default_rng(child)) for child in seed.spawn(n)]


def _convert(
    inputs: Sequence[Any], outputs: Sequence[Any], *, random: bool
) -> tuple[Callable[..., list], int] | None:
    """The converted graph and its number of generator inputs (``random``: kept after the
    rewrites; otherwise a graph that still needs one is not converted)."""
    from pytensor.compile.mode import get_mode
    from pytensor.graph.fg import FunctionGraph

    shared = [var for var in ancestors(outputs) if isinstance(var, SharedVariable)]
    constants = {
        var: pt.constant(var.get_value(), name=var.name)
        for var in shared
        if not isinstance(var.type, RandomType)
    }
    # a random generator may feed a shape only (a random variable's), which the rewrites
    # take away: an input of the graph until then
    generators = [var for var in shared if isinstance(var.type, RandomType)]
    outputs = clone_replace(list(outputs), constants) if constants else list(outputs)
    try:  # constants become JAX arrays when converted: float64 ones must stay float64
        with _compat.global_x64_kept(), _compat.x64():
            from pytensor.link.jax.dispatch import jax_funcify

            fgraph = FunctionGraph([*inputs, *generators], outputs, clone=True)
            mode = get_mode("JAX").including("local_check_parameter_to_ninf_switch")
            mode.optimizer.rewrite(fgraph)
            for generator in fgraph.inputs[len(inputs) :][::-1]:
                if fgraph.clients[generator]:
                    if random:
                        continue
                    return None
                fgraph.remove_input(fgraph.inputs.index(generator))
            with warnings.catch_warnings():
                # shape checks of broadcasting: JAX checks shapes itself when it traces
                warnings.filterwarnings("ignore", "Skipping Assert", UserWarning)
                return jax_funcify(fgraph), len(fgraph.inputs) - len(inputs)
    except NOT_JAX:
        return None
