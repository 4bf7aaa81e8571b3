"""The op's signature: pytree arguments <-> PyTensor variables, output types from ``jax.eval_shape``.

Leaves of the call's ``(args, kwargs)`` pytree split in two:

* *array leaves* — PyTensor variables, NumPy/JAX arrays and NumPy scalars — become the op's
  inputs (arrays as PyTensor constants);
* *static leaves* — Python scalars, strings, any other object — are passed to the function
  unchanged and are part of the op's identity (so ``depth=3`` may drive a Python loop).

Output types come from ``jax.eval_shape``. Input dimensions that PyTensor does not know
statically are given JAX *symbolic* dimensions (``jax.export.symbolic_shape``), so output
dimensions that do not depend on them stay static, and those that do are recorded as
symbolic expressions (``"2*d0_0 - 1"``) that :meth:`JaxOp.infer_shape` evaluates on the
input shapes. Functions that reject symbolic dimensions (e.g. they broadcast two unknown
dimensions together) fall back to concrete shapes (the inputs' evaluated shapes, else probe
sizes 1 and 2), and then all output dimensions are left unknown.
"""

from __future__ import annotations

import inspect
from typing import Any, NamedTuple

import jax
import numpy as np
import pytensor
import pytensor.tensor as pt
from jax import export
from pytensor.compile.mode import Mode
from pytensor.graph.basic import Variable
from pytensor.tensor.basic import infer_static_shape
from pytensor.tensor.type import TensorType

from jaxbridge._compat import x64
from jaxbridge.wrap._spec import SLOT, Call, Opaque, Static


class SplitArgs(NamedTuple):
    """The array leaves of a call (as PyTensor variables), their names, and the :class:`Call`."""

    inputs: list
    names: list
    call: Call


def _is_array_leaf(x) -> bool:
    return isinstance(x, Variable | np.ndarray | np.generic | jax.Array)


def _static(x) -> Static:
    try:
        hash(x)
    except TypeError:
        return Opaque(x)
    return Static(x)


def _leaf_names(fn, paths) -> list[str]:
    """Readable names of leaves: ``"y['a']"`` for ``f(x, y={'a': ...})``."""
    try:
        params = list(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        params = []
    names = []
    for path in paths:
        (kind, *rest) = path
        if kind.idx == 0:  # positional argument
            pos = rest[0].idx
            head = params[pos] if pos < len(params) else f"args[{pos}]"
            tail = rest[1:]
        else:
            head, tail = rest[0].key, rest[1:]
        names.append(head + jax.tree_util.keystr(tuple(tail)))
    return names


def check_signature(fn, name: str, args, kwargs) -> None:
    """Raise ``TypeError`` naming ``fn`` when ``args``/``kwargs`` do not fit its signature."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return
    try:
        sig.bind(*args, **kwargs)
    except TypeError as err:
        raise TypeError(f"jaxbridge.wrap({name}): wrong arguments: {err}") from None


def split_args(fn, name: str, args: tuple, kwargs: dict) -> SplitArgs:
    """Flatten ``(args, kwargs)``; array leaves become PyTensor variables, the rest static."""
    check_signature(fn, name, args, kwargs)
    leaves_with_paths, treedef = jax.tree_util.tree_flatten_with_path(
        (tuple(args), dict(kwargs)), is_leaf=lambda x: isinstance(x, Variable)
    )
    paths = [p for p, _ in leaves_with_paths]
    leaves = [v for _, v in leaves_with_paths]
    all_names = _leaf_names(fn, paths)
    inputs, names, template = [], [], []
    for leaf, leaf_name in zip(leaves, all_names, strict=True):
        if _is_array_leaf(leaf):
            if isinstance(leaf, jax.Array):
                leaf = np.asarray(leaf)
            try:
                inputs.append(pt.as_tensor_variable(leaf))
            except (TypeError, ValueError, NotImplementedError) as err:
                raise TypeError(
                    f"jaxbridge.wrap({name}): argument {leaf_name!r} is not a tensor: {err}"
                ) from None
            names.append(leaf_name)
            template.append(SLOT)
        else:
            template.append(_static(leaf))
    return SplitArgs(inputs, names, Call(fn, treedef, tuple(template), name))


class OutputInfo(NamedTuple):
    """Result of :func:`infer_outputs`.

    Attributes
    ----------
    types : list of TensorType
    treedef : PyTreeDef of the function's output
    shape_exprs : tuple of tuples, one per output: ``int`` (static), ``str`` (symbolic
        expression in the input-dimension symbols ``d{input}_{axis}``) or ``None`` (unknown).
    """

    types: list
    treedef: Any
    shape_exprs: tuple


class OutputTypeError(TypeError):
    """The wrapped function returned something that is not an array."""


def _check_outputs(name: str, out):
    leaves, treedef = jax.tree_util.tree_flatten_with_path(out)
    for path, leaf in leaves:
        if not isinstance(leaf, jax.Array | np.ndarray | np.generic | bool | int | float | complex):
            where = jax.tree_util.keystr(path) or "the result"
            raise OutputTypeError(
                f"jaxbridge.wrap({name}): output {where} is a {type(leaf).__name__}, "
                "expected a JAX array (the function must return arrays or pytrees of arrays)"
            )
    return treedef


def _eval_shape(call: Call, shapes, dtypes):
    treedef_box = []

    def traced(*arrays):
        args, kwargs = call.rebuild(arrays)
        out = call.fn(*args, **kwargs)
        treedef_box.append(_check_outputs(call.name, out))
        return tuple(jax.tree.leaves(out))

    structs = [jax.ShapeDtypeStruct(s, d) for s, d in zip(shapes, dtypes, strict=True)]
    with x64():  # as the op will run: float64 stays float64 (jaxbridge.wrap._op)
        return jax.eval_shape(traced, *structs), treedef_box[0]


def _symbolic_shapes(types) -> tuple[list, bool]:
    names = [f"d{i}_{k}" for i, t in enumerate(types) for k, s in enumerate(t.shape) if s is None]
    if not names:
        return [t.shape for t in types], False
    symbols = iter(export.symbolic_shape(", ".join(names)))
    shapes = [tuple(next(symbols) if s is None else s for s in t.shape) for t in types]
    return shapes, True


def _shape_exprs(struct) -> tuple:
    return tuple(d if isinstance(d, int) else str(d) for d in struct.shape)


def _jax_error(name: str, input_names, types, err: Exception, advice: str = "") -> ValueError:
    described = ", ".join(
        f"{n}: {t.dtype}{list(s if s is not None else '?' for s in t.shape)}"
        for n, t in zip(input_names, types, strict=True)
    )
    msg = str(err).split("\n--------------------")[0]
    return ValueError(
        f"jaxbridge.wrap({name}): JAX rejected the inputs ({described or 'no inputs'}): {msg}"
        + (f"; {advice}" if advice else "")
    )


def infer_outputs(
    call: Call, inputs: list, input_names: list, *, allow_eval: bool = True
) -> OutputInfo:
    """Output types, structure and symbolic shapes of ``call`` on ``inputs`` (no evaluation).

    When JAX rejects symbolic input dimensions and ``allow_eval``, the fallbacks run in turn:
    the inputs' shapes evaluated from their graph (as :func:`pytensor.wrap_jax` does), then
    every unknown dimension set to 1, then 2; output dimensions are then unknown.

    Raises
    ------
    TypeError
        The function returns something that is not an array.
    ValueError
        JAX rejects the inputs' shapes or dtypes (message lists every argument), or symbolic
        shapes fail and ``allow_eval`` is false (message asks for ``pt.specify_shape``).
    """
    types = [v.type for v in inputs]
    dtypes = [t.dtype for t in types]
    shapes, symbolic = _symbolic_shapes(types)
    try:
        structs, treedef = _eval_shape(call, shapes, dtypes)
    except OutputTypeError:
        raise
    except Exception as err:
        if not symbolic:
            raise _jax_error(call.name, input_names, types, err) from None
        if not allow_eval:
            raise _jax_error(
                call.name,
                input_names,
                types,
                err,
                "give the inputs static shapes with "
                "pt.specify_shape, or allow_eval=True to let jaxbridge find example shapes",
            ) from None
        structs, treedef = _fallback(call, inputs, input_names, err)
        exprs = tuple(tuple(None for _ in s.shape) for s in structs)
    else:
        exprs = tuple(_shape_exprs(s) for s in structs)
    out_types = [
        TensorType(s.dtype, shape=tuple(d if isinstance(d, int) else None for d in e))
        for s, e in zip(structs, exprs, strict=True)
    ]
    return OutputInfo(out_types, treedef, exprs)


def _evaluated_shapes(inputs: list) -> list[tuple] | None:
    """The inputs' shapes, from static inference or by evaluating their shape graph (the
    approach of :func:`pytensor.wrap_jax`); ``None`` when they depend on unknown inputs."""
    shapes = [infer_static_shape(v.shape)[1] for v in inputs]
    if all(None not in shape for shape in shapes):
        return [tuple(shape) for shape in shapes]
    try:
        fn = pytensor.function(
            [],
            [pt.as_tensor(v.shape, dtype="int64") for v in inputs],
            on_unused_input="ignore",
            mode=Mode(linker="py", optimizer="fast_compile"),
        )
    except Exception:  # the shapes depend on inputs with no value yet
        return None
    return [tuple(int(d) for d in shape) for shape in fn()]


def _fallback(call: Call, inputs: list, input_names: list, first_err: Exception):
    """``eval_shape`` on the evaluated input shapes, else with unknown dimensions 1, then 2."""
    types = [v.type for v in inputs]
    dtypes = [t.dtype for t in types]
    evaluated = _evaluated_shapes(inputs)
    candidates = [evaluated] if evaluated is not None else []
    candidates += [
        [tuple(size if s is None else s for s in t.shape) for t in types] for size in (1, 2)
    ]
    for shapes in candidates:
        try:
            return _eval_shape(call, shapes, dtypes)
        except Exception:  # try the next candidate
            continue
    raise _jax_error(call.name, input_names, types, first_err) from None
