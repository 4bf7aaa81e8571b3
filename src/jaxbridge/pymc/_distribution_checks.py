"""Checks of :class:`~jaxbridge.MarginalHMM`'s inputs when the graph is built: the emission
is an unnamed PyMC distribution with a state axis, the shapes of ``init``, ``trans``, the
emission, ``mask`` and the observations agree wherever they are known before sampling, so
that a mistake is a clear error naming the argument, not a failure deep inside PyTensor or
JAX."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytensor
import pytensor.tensor as pt
from pymc.distributions.distribution import SymbolicRandomVariable
from pymc.pytensorf import constant_fold
from pymc.util import check_dist_not_registered
from pytensor.tensor.random.op import RandomVariable
from pytensor.tensor.variable import TensorVariable

from jaxbridge._validation import trans_rank


def emission_event_ndim(emission: TensorVariable) -> int:
    """Number of support dimensions of the emission distribution (0: univariate)."""
    return int(emission.owner.op.ndim_supp)


def check_emission(emission: Any) -> None:
    if not isinstance(emission, TensorVariable) or not isinstance(
        getattr(emission.owner, "op", None), RandomVariable | SymbolicRandomVariable
    ):
        raise TypeError(
            "emission must be an unnamed distribution created with the .dist() API, e.g. "
            f"pm.Normal.dist(mu=..., sigma=...); got {type(emission).__name__}"
        )
    check_dist_not_registered(emission)
    event_ndim = emission_event_ndim(emission)
    if emission.ndim < 1 + event_ndim:
        layout = "[..., K]" if event_ndim == 0 else f"[..., K, *E] with {event_ndim} support dim(s)"
        raise ValueError(
            f"emission's last batch dimension must index the K hidden states ({layout}); got "
            "one without batch dimensions (give its parameters a state dimension of length K)"
        )


def folded(x: TensorVariable) -> np.ndarray | None:
    """The value of ``x`` when constant folding can compute it at graph-build time."""
    (value,) = constant_fold([x], raise_not_constant=False)
    return None if isinstance(value, pytensor.graph.basic.Variable) else np.asarray(value)


def static_dim(x: TensorVariable, axis: int) -> int | None:
    """``x.shape[axis]`` when it is known at graph-build time."""
    dim = x.type.shape[axis]
    if dim is not None:
        return dim
    value = folded(x.shape[axis])
    return None if value is None else int(value)


def steps_from_inputs(trans, emission, mask, time_varying: bool) -> Any:
    if mask is not None:
        return pt.as_tensor_variable(mask).shape[-1]
    if time_varying:
        return trans.shape[-3] + 1
    step_axis = emission.ndim - emission_event_ndim(emission) - 2
    if step_axis >= 0:
        return emission.shape[step_axis]
    raise ValueError(
        "MarginalHMM cannot tell the number of steps T: pass observed, shape/dims, steps, "
        "a mask [..., T], or an emission with batch shape [..., T, K]"
    )


def check_shapes(init, trans, emission, mask, steps, time_varying: bool, order: int = 0) -> None:
    """Clear errors for inconsistent static shapes (K, T, ranks, mask dtype)."""
    trans_layout = "[..., T-1, K, K]" if time_varying else "[..., K, K]"
    if init.ndim < 1:
        raise ValueError(f"init must have shape [..., K]; got a {init.ndim}-d tensor")
    if trans.ndim < trans_rank(time_varying):
        raise ValueError(f"trans must have shape {trans_layout}; got a {trans.ndim}-d tensor")
    if mask.dtype != "bool":
        raise TypeError(f"mask must be boolean [..., T] (False = missing); got dtype {mask.dtype}")
    if mask.ndim < 1:
        raise ValueError("mask must have shape [..., T]; got a scalar")
    k = static_dim(emission, -1 - emission_event_ndim(emission))
    if order:
        _check_tuples(init, k, order)
        k = static_dim(init, -1)
    for name, value, axes in (("init", init, (-1,)), ("trans", trans, (-2, -1))):
        for axis in axes:
            dim = static_dim(value, axis)
            if k is not None and dim is not None and dim != k:
                raise ValueError(
                    f"{name} has {dim} states along axis {axis} but emission's last batch "
                    f"dimension (the states) has K={k}; {name} must be shaped "
                    f"{'[..., K]' if name == 'init' else trans_layout} with K={k}"
                )
    folded_steps = folded(steps)
    if folded_steps is None:
        return
    t = int(folded_steps)
    mask_t = static_dim(mask, -1)
    if mask_t is not None and mask_t != t:
        raise ValueError(f"mask must have shape [..., T] with T={t} steps; got {mask.type.shape}")
    if time_varying:
        trans_t = static_dim(trans, -3)
        if trans_t is not None and trans_t != t - 1:
            raise ValueError(
                f"time-varying trans must have shape [..., T-1, K, K] with T-1={t - 1}; "
                f"got {trans.type.shape}"
            )


def _check_tuples(init, tuples: int | None, order: int) -> None:
    """With lagged states the emission's state axis has ``K^(order+1)`` entries."""
    k = static_dim(init, -1)
    if k is not None and tuples is not None and tuples != k ** (order + 1):
        raise ValueError(
            f"emission's last batch dimension must index the K^(order+1) = {k ** (order + 1)} "
            f"tuples of the current and {order} lagged states (K={k} from init); got {tuples}"
        )


def check_observed_rank(observed, init, trans, emission, mask, time_varying: bool) -> None:
    """``observed [..., T, *E]`` must carry every batch dimension of the parameters and, with a
    multivariate emission, its support shape ``E``."""
    event_ndim = emission_event_ndim(emission)
    layout = "[..., T]" if event_ndim == 0 else f"[..., T, {', '.join(['D'] * event_ndim)}]"
    batch_ndims = {
        "init": np.ndim(init) - 1,
        "trans": np.ndim(trans) - trans_rank(time_varying),
        "emission": np.ndim(emission) - 2 - event_ndim,
        "mask": np.ndim(mask) - 1 if mask is not None else 0,
    }
    name, batch_ndim = max(batch_ndims.items(), key=lambda item: item[1])
    ndim = np.ndim(observed)
    if ndim < batch_ndim + 1 + event_ndim:
        raise ValueError(
            f"observed must have at least {batch_ndim + 1 + event_ndim} dimensions {layout}: "
            f"{name} has {batch_ndim} batch dimension(s) (one per sequence axis) and the "
            f"emission {event_ndim} support dimension(s); got observed with {ndim} dimension(s)"
        )
    event = [static_dim(emission, axis) for axis in range(-event_ndim, 0)]
    observed_event = np.shape(observed)[ndim - event_ndim :]
    if any(e is not None and e != o for e, o in zip(event, observed_event, strict=True)):
        raise ValueError(
            f"observed must have shape {layout} ending in the emission's support shape "
            f"{tuple(event)}; got shape {np.shape(observed)}"
        )
