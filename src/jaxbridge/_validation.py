"""Input validation shared by all jaxbridge layers.

Two kinds of checks live here:

* **Static checks** (ranks, shapes, dtypes) read only ``.shape`` and ``.dtype``. They run
  at trace time and therefore cost nothing inside a jitted function.
* **Value checks** (NaN, negative probabilities, rows not summing to one) need the
  numbers. They run only on concrete arrays (NumPy arrays, or JAX arrays outside
  ``jax.jit``/``vmap``/``grad``) and are skipped silently when an argument is a tracer,
  so the compiled hot path never pays for them. Call a function eagerly once to have
  its values checked.

Every failure raises :class:`ValueError` (or :class:`TypeError` for a wrong dtype) whose
message names the argument and states what was expected and what was received.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
    "HMMShapes",
    "broadcast_batch_shapes",
    "check_floating",
    "check_hmm_inputs",
    "check_mask",
    "check_min_ndim",
    "check_probabilities",
    "check_transition_inputs",
    "is_concrete",
]


class HMMShapes(NamedTuple):
    """Static sizes of an HMM problem: broadcast batch shape ``...``, ``T`` and ``K``."""

    batch_shape: tuple[int, ...]
    num_steps: int
    num_states: int


def is_concrete(x: Any) -> bool:
    """True when ``x`` holds values (not a JAX tracer), so value checks can run."""
    return not isinstance(x, jax.core.Tracer)


def check_floating(name: str, x: Any) -> None:
    """Raise TypeError unless ``x`` has a floating-point dtype."""
    if not jnp.issubdtype(jnp.result_type(x), jnp.floating):
        raise TypeError(f"{name} must be a floating-point array; got dtype {jnp.result_type(x)}")


def check_min_ndim(name: str, x: Any, min_ndim: int, layout: str) -> None:
    """Raise ValueError unless ``x`` has at least ``min_ndim`` dimensions (``layout`` names them)."""
    if np.ndim(x) < min_ndim:
        raise ValueError(
            f"{name} must have shape {layout} (at least {min_ndim} dimensions); "
            f"got shape {tuple(np.shape(x))}"
        )


def trans_rank(time_varying: bool) -> int:
    """Core rank of ``trans``: ``[K, K]``, or ``[T-1, K, K]`` when time varying."""
    return 3 if time_varying else 2


def hmm_batch_shape(
    log_emission: Any, init: Any, trans: Any, mask: Any, time_varying: bool
) -> tuple[int, ...]:
    """The batch shape ``...`` the HMM arguments broadcast to (shapes checked beforehand)."""
    shapes = [
        np.shape(log_emission)[:-2],
        np.shape(init)[:-1],
        np.shape(trans)[: -trans_rank(time_varying)],
    ]
    if mask is not None:
        shapes.append(np.shape(mask)[:-1])
    return tuple(np.broadcast_shapes(*shapes))


def broadcast_batch_shapes(named_shapes: dict[str, Sequence[int]]) -> tuple[int, ...]:
    """Broadcast the batch shapes of several arguments, naming them in the error."""
    try:
        return tuple(np.broadcast_shapes(*(tuple(s) for s in named_shapes.values())))
    except ValueError:
        got = ", ".join(f"{k}: {tuple(v)}" for k, v in named_shapes.items())
        raise ValueError(f"batch dimensions '...' do not broadcast; got {got}") from None


def _tolerance(x: np.ndarray) -> float:
    return 1e-4 if x.dtype.itemsize <= 4 else 1e-6


def check_probabilities(name: str, x: Any, *, log_probs: bool = False, axis: int = -1) -> None:
    """Check that ``x`` holds probability vectors along ``axis`` (values only when concrete).

    Rejects NaN, negative entries (or ``+inf``/NaN logs when ``log_probs``) and vectors
    whose sum differs from one by more than ``1e-6`` (float64) or ``1e-4`` (float32).
    Skipped under tracing (see the module docstring).
    """
    if not is_concrete(x):
        return
    values = np.asarray(x)
    if np.isnan(values).any():
        raise ValueError(
            f"{name} contains NaN; expected {'log-' if log_probs else ''}probabilities"
        )
    probs = np.exp(values) if log_probs else values
    if (probs < 0).any():
        raise ValueError(f"{name} must be non-negative probabilities; got minimum {probs.min()}")
    if probs.size == 0:
        return
    sums = probs.sum(axis=axis)
    worst = np.abs(sums - 1.0).max()
    if not worst <= _tolerance(values):
        what = "exp(" + name + ")" if log_probs else name
        raise ValueError(
            f"{what} must sum to one along its last axis; got sums up to {worst:.3g} away from 1 "
            f"(e.g. {np.ravel(sums)[np.argmax(np.abs(np.ravel(sums) - 1.0))]!r})"
        )


def check_mask(mask: Any, expected_tail: int) -> None:
    """Check that ``mask`` is a boolean array shaped ``[..., T]``."""
    if jnp.result_type(mask) != jnp.bool_:
        raise TypeError(f"mask must be a boolean array [..., T]; got dtype {jnp.result_type(mask)}")
    check_min_ndim("mask", mask, 1, "[..., T]")
    if np.shape(mask)[-1] != expected_tail:
        raise ValueError(
            f"mask must have shape [..., T] with T={expected_tail}; got shape {tuple(np.shape(mask))}"
        )


def check_transition_inputs(
    init: Any,
    trans: Any,
    *,
    time_varying: bool,
    log_probs: bool,
    num_steps: int | None = None,
) -> tuple[int, tuple[int, ...], tuple[int, ...]]:
    """Check ``init[..., K]`` and ``trans[..., K, K]`` (``[..., T-1, K, K]`` if time-varying).

    Returns ``(K, init_batch_shape, trans_batch_shape)``.
    """
    check_floating("init", init)
    check_floating("trans", trans)
    check_min_ndim("init", init, 1, "[..., K]")
    trans_layout = "[..., T-1, K, K]" if time_varying else "[..., K, K]"
    check_min_ndim("trans", trans, trans_rank(time_varying), trans_layout)
    num_states = np.shape(init)[-1]
    trans_shape = tuple(np.shape(trans))
    if trans_shape[-2:] != (num_states, num_states):
        raise ValueError(
            f"trans must have shape {trans_layout} with K={num_states} (from init); "
            f"got shape {trans_shape}"
        )
    trans_batch = trans_shape[:-3] if time_varying else trans_shape[:-2]
    if time_varying and num_steps is not None and trans_shape[-3] != num_steps - 1:
        raise ValueError(
            f"time-varying trans must have shape [..., T-1, K, K] with T-1={num_steps - 1}; "
            f"got shape {trans_shape}"
        )
    check_probabilities("init", init, log_probs=log_probs)
    check_probabilities("trans", trans, log_probs=log_probs)
    return num_states, tuple(np.shape(init)[:-1]), trans_batch


def check_hmm_inputs(
    log_emission: Any,
    init: Any,
    trans: Any,
    mask: Any = None,
    *,
    time_varying: bool = False,
    log_probs: bool = False,
    order: int = 0,
) -> HMMShapes:
    """Validate the arguments of the HMM inference functions and return their sizes.

    Parameters
    ----------
    log_emission : [..., T, K], or [..., T, K^(order+1)] for a chain of lagged states
    init : [..., K]
    trans : [..., K, K], or [..., T-1, K, K] when ``time_varying``
    mask : [..., T] bool, optional

    Returns
    -------
    HMMShapes
        The broadcast batch shape ``...``, ``T`` and ``K``.
    """
    check_floating("log_emission", log_emission)
    check_min_ndim("log_emission", log_emission, 2, "[..., T, K]")
    *emission_batch, num_steps, num_states = np.shape(log_emission)
    if num_steps < 1:
        raise ValueError(
            f"log_emission must have T >= 1 time steps; got shape {np.shape(log_emission)}"
        )
    init_k = np.shape(init)[-1] if np.ndim(init) else None
    if order:
        if init_k is None or num_states != init_k ** (order + 1):
            raise ValueError(
                f"log_emission must have shape [..., T, K^(order+1)] (one column per tuple of "
                f"the current and {order} lagged states) with K={init_k} (from init): "
                f"{init_k ** (order + 1) if init_k else '?'} columns; got shape "
                f"{np.shape(log_emission)}"
            )
    elif init_k != num_states:
        raise ValueError(
            f"init must have shape [..., K] with K={num_states} (from log_emission); "
            f"got shape {tuple(np.shape(init))}"
        )
    _, init_batch, trans_batch = check_transition_inputs(
        init, trans, time_varying=time_varying, log_probs=log_probs, num_steps=num_steps
    )
    batches = {"log_emission": emission_batch, "init": init_batch, "trans": trans_batch}
    if mask is not None:
        check_mask(mask, num_steps)
        batches["mask"] = np.shape(mask)[:-1]
    return HMMShapes(broadcast_batch_shapes(batches), num_steps, num_states)
