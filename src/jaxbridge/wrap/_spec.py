"""Hashable, picklable descriptions of the pure JAX functions a wrapped op runs.

Every op built by :func:`jaxbridge.wrap` carries a *spec*. A spec is a frozen
dataclass that is also the flat JAX function itself: it takes the op's inputs as arrays and
returns a tuple of arrays, one per op output.

* :class:`Call` — the user's function on flat array leaves ``(*x) -> (*y)``.
* :class:`VJP` — its vector-Jacobian product ``(*x, *ybar) -> (*xbar[wrt])``.
* :class:`ValueAndVJP` — both from one ``jax.vjp`` call ``(*x, *ybar) -> (*y, *xbar[wrt])``
  (what the fusion rewrite in :mod:`jaxbridge.wrap._rewrite` puts into compiled graphs).
* :class:`Vectorized` — any spec over leading batch dimensions (:mod:`jaxbridge.wrap._vectorize`).

``VJP`` and ``ValueAndVJP`` take any spec as ``base``, so derivatives of any order nest.
Specs compare by value (function identity, static pytree leaves, tree structure, index
sets), which makes identical wraps equal ops that PyTensor merges, and lets
:func:`jitted` share one ``jax.jit`` per spec. They hold only module-level classes and pickle
the user's function by name where it is importable, else by value (cloudpickle).
"""

from __future__ import annotations

import importlib
import pickle
import sys
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import cloudpickle
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
class Static:
    """A static (non-array) leaf, compared by type and value: ``1``, ``1.0`` and ``True`` are
    equal in Python but may drive the function differently, so they make different ops."""

    value: Any

    def _key(self) -> tuple:
        return type(self.value), self.value

    def __eq__(self, other) -> bool:
        return type(other) is type(self) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())


@dataclass(frozen=True, eq=False)
class Opaque(Static):
    """A static leaf without a usable ``__hash__``; compares by identity."""

    def __eq__(self, other) -> bool:
        return self is other

    def __hash__(self) -> int:
        return id(self)


def lookup(module: str | None, qualname: str | None):
    """The object importable as ``module.qualname``, or ``None``."""
    if not module or not qualname or "<" in qualname:
        return None
    obj = sys.modules.get(module)
    for part in qualname.split("."):
        obj = getattr(obj, part, None)
    return obj


class NamedRef(NamedTuple):
    """Pickle reference to the object importable as ``module.qualname``: covers functions that
    pickle's own by-name lookup rejects, such as ``jax.numpy.sin`` (a jitted function whose
    inner function is not importable) or a module-level ``@jaxbridge.wrap`` function's raw
    function (``wrapped=True``: the name holds the decorator)."""

    module: str
    qualname: str
    wrapped: bool = False

    def resolve(self):
        importlib.import_module(self.module)
        found = lookup(self.module, self.qualname)
        return found.__wrapped__ if self.wrapped else found


class ByValue(NamedTuple):
    """A function pickled by value with cloudpickle (local functions, lambdas, closures)."""

    payload: bytes

    def resolve(self):
        return pickle.loads(self.payload)


def _picklable_fn(fn, name: str):
    """``fn``, or a reference that pickles: by name first, then by value (cloudpickle).

    Raises
    ------
    pickle.PicklingError
        Naming the wrapped function, when it pickles neither way.
    """
    module, qualname = getattr(fn, "__module__", None), getattr(fn, "__qualname__", None)
    public = lookup(module, qualname)
    if public is fn:
        return NamedRef(module, qualname)
    if public is not None and getattr(public, "__wrapped__", None) is fn:
        return NamedRef(module, qualname, wrapped=True)
    try:
        pickle.dumps(fn)
    except Exception as by_name:
        try:
            return ByValue(cloudpickle.dumps(fn))
        except Exception as by_value:
            raise pickle.PicklingError(
                f"jaxbridge.wrap({name}): cannot pickle the function {fn!r}: not by name "
                f"({by_name}), nor by value with cloudpickle ({by_value})"
            ) from None
    return fn


def _make_call(fn, treedef, template, name):
    if isinstance(fn, NamedRef | ByValue):
        fn = fn.resolve()
    return Call(fn, treedef, template, name)


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
        fn = _picklable_fn(self.fn, self.name)
        return _make_call, (fn, self.treedef, self.template, self.name)

    def rebuild(self, arrays) -> tuple[tuple, dict]:
        """``(args, kwargs)`` for ``fn``, with ``arrays`` in the array slots."""
        it = iter(arrays)
        leaves = [
            next(it) if v is SLOT else v.value if isinstance(v, Static) else v
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


@dataclass(frozen=True)
class Vectorized:
    """``base`` over leading batch dimensions, broadcast as NumPy's generalised ufuncs do:
    one :func:`jax.numpy.vectorize` call (a ``jax.vmap`` per batch dimension) for the batch.

    Attributes
    ----------
    base : spec
        The flat function on core dimensions.
    signature : str
        Its generalised-ufunc signature, e.g. ``"(i00),(i10)->(),(o10,o11)"``.
    n_out : int
        Number of outputs of ``base``.
    """

    base: Any
    signature: str
    n_out: int

    @property
    def name(self) -> str:
        return f"vectorized_{self.base.name}"

    def __call__(self, *arrays):
        if self.n_out == 1:
            out = jnp.vectorize(lambda *x: self.base(*x)[0], signature=self.signature)(*arrays)
            return (out,)
        return tuple(jnp.vectorize(self.base, signature=self.signature)(*arrays))


_JITTED: dict = {}


def jitted(spec):
    """The process-wide ``jax.jit`` of ``spec``: one per distinct spec, compiled once per shape."""
    try:
        return _JITTED[spec]
    except KeyError:
        fn = _JITTED[spec] = jax.jit(spec)
        return fn
