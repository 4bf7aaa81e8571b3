"""The public entry point: :func:`wrap` turns a JAX function into a PyTensor-callable."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax

from jaxbridge.wrap._op import JaxOp
from jaxbridge.wrap._signature import infer_outputs, split_args
from jaxbridge.wrap._spec import lookup


class Wrapped:
    """A JAX function made callable on PyTensor variables (see :func:`wrap`).

    Calling it builds one :class:`~jaxbridge.wrap._op.JaxOp` node and returns its outputs,
    as PyTensor variables in the pytree structure the JAX function returns.
    """

    def __init__(self, fn: Callable, name: str | None = None, allow_eval: bool = True):
        if not callable(fn):
            raise TypeError(f"jaxbridge.wrap expects a callable, got {type(fn).__name__}")
        self.fn = fn
        self.name = name or getattr(fn, "__name__", None) or type(fn).__name__
        self.allow_eval = allow_eval
        functools.update_wrapper(self, fn, updated=())

    def __repr__(self) -> str:
        return f"jaxbridge.wrap({self.name})"

    def __reduce__(self):
        if lookup(self.__module__, self.__qualname__) is self:  # a module-level @wrap
            return self.__qualname__
        return Wrapped, (self.fn, self.name, self.allow_eval)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        split = split_args(self.fn, self.name, args, kwargs)
        info = infer_outputs(split.call, split.inputs, split.names, allow_eval=self.allow_eval)
        op = JaxOp(split.call, [v.type for v in split.inputs], info.types, info.shape_exprs)
        outputs = op(*split.inputs, return_list=True) if info.types else []
        return jax.tree.unflatten(info.treedef, outputs)


def wrap(
    jax_function: Callable | None = None, *, allow_eval: bool = True, name: str | None = None
) -> Any:
    """Make a JAX function callable on PyTensor variables, with gradients.

    A drop-in for :func:`pytensor.wrap_jax` (same calling conventions and keywords:
    ``from jaxbridge import wrap as wrap_jax``), with the differences listed under Notes.

    Parameters
    ----------
    jax_function : callable
        A pure, jittable JAX function. Its arguments may be pytrees (tuples, lists, dicts,
        NamedTuples, ...) whose leaves are arrays or static Python values. Compiled functions
        and models that hold it pickle (``pm.sample(cores>1)``, saving a compiled
        function): by name where it is importable (``jax.numpy.sin``, a module-level
        function, a ``functools.partial`` of one), else by value with cloudpickle (local
        functions, lambdas); a function that pickles neither way is a ``PicklingError``
        naming it.
    allow_eval : bool, default True
        When JAX cannot infer the output types from symbolic input dimensions, may
        jaxbridge evaluate the inputs' shape graph (as :func:`pytensor.wrap_jax` does) or,
        failing that, try unknown dimensions of size 1 and 2? With ``False`` that case is a
        ``ValueError`` asking for ``pt.specify_shape``.
    name : str, optional
        Name shown in graphs (default ``jax_function.__name__``).

    Returns
    -------
    Wrapped
        Callable taking PyTensor variables, NumPy arrays (both become op inputs), Python
        scalars and other static values, or pytrees of them; returns PyTensor variables in
        the structure the function returns. ``wrap`` also works as a bare decorator
        (``@wrap``) or with keywords (``@wrap(allow_eval=False, name="f")``).

    Notes
    -----
    * Output types come from ``jax.eval_shape``; unknown input dimensions are symbolic, so
      no ``specify_shape`` is needed, and static output dimensions stay static.
    * Gradients are vector-Jacobian products (``jax.vjp``) in a second op, itself
      differentiable. Integer and boolean inputs get disconnected gradients.
    * In a compiled graph that holds both the op and its VJP on the same inputs, with a
      cotangent that does not depend on the op's outputs (a log-density summed into
      ``model.logp()``), a rewrite replaces both by one op making one ``jax.vjp`` call.
    * float64 without a global switch: the function runs (and its types are inferred) in a
      scoped ``jax.enable_x64(True)`` context, so float64 inputs give float64 results
      whatever ``jax_enable_x64`` says, and float32 inputs stay float32. Inside the
      function, Python float literals are then float64 too.
    * With ``mode="JAX"`` the un-jitted function is inlined into the graph's single jit
      (PyTensor's JAX linker itself switches JAX's global x64 flag on for float64 graphs).
    * Multiprocessing: on Linux ``pm.sample(cores>1)`` uses Python's default start method,
      ``fork``, which JAX (multithreaded) warns may deadlock. Pass ``mp_ctx="forkserver"``
      (or ``"spawn"``): workers then unpickle the model.
    * Differences from :func:`pytensor.wrap_jax`, all deliberate: NumPy and JAX array
      arguments become constant inputs of the op (``wrap_jax`` treats them as static
      values); input dimensions PyTensor does not know need no ``pt.specify_shape``
      (symbolic shapes; ``allow_eval=False`` only forbids the fallbacks); an output that is
      not an array is a ``TypeError`` naming it (``wrap_jax`` passes it through); static
      arguments ``1``, ``1.0`` and ``True`` make different ops. Every call checks that the
      results have the inferred rank, static dimensions and dtype.

    Examples
    --------
    >>> import jax.numpy as jnp, pytensor, pytensor.tensor as pt
    >>> from jaxbridge import wrap
    >>> @wrap
    ... def logp(x, params):
    ...     return jnp.sum(-0.5 * ((x - params["mu"]) / params["sigma"]) ** 2)
    >>> mu = pt.dscalar("mu")
    >>> out = logp(jnp.ones(3), {"mu": mu, "sigma": 2.0})
    >>> f = pytensor.function([mu], [out, pytensor.grad(out, mu)])  # one fused JAX call
    >>> [float(v) for v in f(0.0)]
    [-0.375, 0.75]
    """
    if jax_function is None:
        return functools.partial(wrap, allow_eval=allow_eval, name=name)
    return Wrapped(jax_function, name, allow_eval)
