"""Hashable, picklable descriptions of the pure JAX functions a wrapped op runs.

Every op built by :func:`jaxbridge.wrap` carries one of three *specs*. A spec is a frozen
dataclass that is also the flat JAX function itself: it takes the op's inputs as arrays and
returns a tuple of arrays, one per op output.

* :class:`Call` — the user's function on flat array leaves ``(*x) -> (*y)``.
* :class:`VJP` — its vector-Jacobian product ``(*x, *ybar) -> (*xbar[wrt])``.
* :class:`ValueAndVJP` — both from one ``jax.vjp`` call ``(*x, *ybar) -> (*y, *xbar[wrt])``
  (what the fusion rewrite in :mod:`jaxbridge.wrap._rewrite` puts into compiled graphs).

``VJP`` and ``ValueAndVJP`` take any spec as ``base``, so derivatives of any order nest.
Specs compare by value (function identity, static pytree leaves, tree structure, index
sets), which makes identical wraps equal ops that PyTensor merges, and lets
:func:`jitted` share one ``jax.jit`` per spec. They hold only module-level classes, so they
pickle whenever the user's function does.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np


class _Slot:
    """Marker for the position of an array (dynamic) leaf in :attr:`Call.template`."""

    def __repr__(self) -> str:
        return "SLOT"

    def __reduce__(self) -> str:
        return "SLOT"


SLOT = _Slot()


@dataclass(frozen=True, eq=False)
class Opaque:
    """A static leaf without a usable ``__hash__``; compares by identity."""

    value: Any


def lookup(module: str | None, qualname: str | None):
    """The object importable as ``module.qualname``, or ``None``."""
    if not module or not qualname or "<" in qualname:
        return None
    obj = sys.modules.get(module)
    for part in qualname.split("."):
        obj = getattr(obj, part, None)
    return obj


class WrappedRef(NamedTuple):
    """Pickle reference to a function whose module-level name holds a decorator wrapping it
    (``@jaxbridge.wrap``), which plain pickling by name would reject."""

    module: str
    qualname: str

    def resolve(self):
        return lookup(self.module, self.qualname).__wrapped__


def _picklable_fn(fn):
    module, qualname = getattr(fn, "__module__", None), getattr(fn, "__qualname__", None)
    public = lookup(module, qualname)
    if public is not fn and getattr(public, "__wrapped__", None) is fn:
        return WrappedRef(module, qualname)
    return fn


def _make_call(fn, treedef, template, name):
    return Call(fn.resolve() if isinstance(fn, WrappedRef) else fn, treedef, template, name)


@dataclass(frozen=True)
class Call:
    """The user's function ``fn`` as a flat function of its array leaves.

    Attributes
    ----------
    fn : callable
        The wrapped JAX function.
    treedef : jax.tree_util.PyTreeDef
        Structure of ``(args, kwargs)``.
    template : tuple
        Leaves of ``(args, kwargs)``: :data:`SLOT` where an array goes, else the static
        (non-array) value, passed to ``fn`` unchanged.
    name : str
        Display name (not part of the op's identity).
    """

    fn: Any
    treedef: Any
    template: tuple
    name: str = field(default="", compare=False)

    def __reduce__(self):
        return _make_call, (_picklable_fn(self.fn), self.treedef, self.template, self.name)

    def rebuild(self, arrays) -> tuple[tuple, dict]:
        """``(args, kwargs)`` for ``fn``, with ``arrays`` in the array slots."""
        it = iter(arrays)
        leaves = [
            next(it) if v is SLOT else v.value if isinstance(v, Opaque) else v
            for v in self.template
        ]
        return jax.tree.unflatten(self.treedef, leaves)

    def __call__(self, *arrays):
        args, kwargs = self.rebuild(arrays)
        return tuple(jax.tree.leaves(self.fn(*args, **kwargs)))


def _pullback(spec, args: tuple):
    """Forward values of ``spec.base`` and its cotangent-weighted gradient w.r.t. ``spec.wrt``.

    ``args = (*x, *ybar)`` with one cotangent ``ybar`` per output index in ``spec.cot``;
    outputs in ``spec.fill`` get a constant-filled cotangent, the others zero (``float0``
    for integer outputs, as JAX requires).
    """
    x, ybar = args[: spec.n_in], args[spec.n_in :]

    def restricted(*x_wrt):
        full = list(x)
        for i, xi in zip(spec.wrt, x_wrt, strict=True):
            full[i] = xi
        return spec.base(*full)

    y, vjp_fn = jax.vjp(restricted, *(x[i] for i in spec.wrt))
    given = dict(zip(spec.cot, ybar, strict=True))
    filled = dict(spec.fill)
    cotangents = tuple(
        jnp.asarray(given[j], dtype=yj.dtype)
        if j in given
        else jnp.full_like(yj, filled[j])
        if j in filled
        else (
            jnp.zeros_like(yj)
            if jnp.issubdtype(yj.dtype, jnp.inexact)
            else np.zeros(yj.shape, dtype=jax.dtypes.float0)
        )
        for j, yj in enumerate(y)
    )
    return y, vjp_fn(cotangents)


@dataclass(frozen=True)
class VJP:
    """``(*x, *ybar) -> (*xbar[wrt])``: reverse-mode gradient of ``base`` by ``jax.vjp``.

    Attributes
    ----------
    base : spec
        The differentiated flat function (a :class:`Call` or another derived spec).
    n_in : int
        Number of inputs of ``base``.
    wrt : tuple of int
        Input indices differentiated (the floating-point ones that are needed).
    cot : tuple of int
        Output indices that receive a cotangent input.
    fill : tuple of (int, scalar)
        Output indices whose cotangent is a constant-filled array (the constant ``1`` of a
        log-density summed into ``model.logp()``), baked in rather than passed on each
        call. Outputs in neither ``cot`` nor ``fill`` get zero cotangents.
    """

    base: Any
    n_in: int
    wrt: tuple
    cot: tuple
    fill: tuple = ()

    @property
    def name(self) -> str:
        return f"vjp_{self.base.name}"

    def __call__(self, *args):
        return tuple(_pullback(self, args)[1])


@dataclass(frozen=True)
class ValueAndVJP(VJP):
    """``(*x, *ybar) -> (*y, *xbar[wrt])``: forward values and gradient from one ``jax.vjp``."""

    @property
    def name(self) -> str:
        return f"value_and_vjp_{self.base.name}"

    def __call__(self, *args):
        y, xbar = _pullback(self, args)
        return (*y, *xbar)


_JITTED: dict = {}


def jitted(spec):
    """The process-wide ``jax.jit`` of ``spec``: one per distinct spec, compiled once per shape."""
    try:
        return _JITTED[spec]
    except KeyError:
        fn = _JITTED[spec] = jax.jit(spec)
        return fn
