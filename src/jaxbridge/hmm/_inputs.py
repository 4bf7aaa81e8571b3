"""Bring user arguments into the time-major layout that every recursion works on.

User layout is batch-major: ``log_emission[..., T, K]``, ``mask[..., T]``,
``trans[..., K, K]`` (or ``[..., T-1, K, K]``). ``lax.scan`` and
``lax.associative_scan`` run over the leading axis, so the recursions use

* ``log_emission [T, ..., K]`` with masked steps set to 0 (no emission term; a ``where``
  rather than a product, so NaN/inf padding cannot leak into values or gradients),
* ``init [..., K]`` and ``trans [..., K, K]`` / ``[T-1, ..., K, K]`` with their batch dims
  padded to the full batch rank (size-1 dims broadcast, nothing is copied).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

__all__ = ["TimeMajor", "prepare", "scale_emissions", "to_batch_major"]


class TimeMajor(NamedTuple):
    """HMM arguments in time-major layout (see the module docstring)."""

    log_emission: jax.Array  # [T, ..., K]
    init: jax.Array  # [..., K] (probabilities, or logs when prepared with ``logs=True``)
    trans: jax.Array  # [..., K, K] or [T-1, ..., K, K]
    batch_shape: tuple[int, ...]


def _float_dtype(*xs: Any) -> jnp.dtype:
    dtype = jnp.result_type(*xs)
    return dtype if jnp.issubdtype(dtype, jnp.floating) else jnp.result_type(float)


def _pad_batch(x: jax.Array, batch_rank: int, core_rank: int) -> jax.Array:
    """Insert leading size-1 batch dims so that ``x`` has ``batch_rank`` batch dims."""
    missing = batch_rank - (x.ndim - core_rank)
    return x.reshape((1,) * missing + x.shape)


def prepare(
    log_emission: Any,
    init: Any,
    trans: Any,
    mask: Any = None,
    *,
    time_varying: bool = False,
    log_probs: bool = False,
    logs: bool = False,
) -> TimeMajor:
    """Broadcast, convert and transpose the HMM arguments (validated by the caller).

    ``logs`` selects the space of the returned ``init``/``trans``: probabilities
    (``False``, for the scaled recursions) or log-probabilities (``True``, for Viterbi
    and sampling), converting from whatever ``log_probs`` says the inputs are.
    """
    dtype = _float_dtype(log_emission, init, trans)
    log_emission = jnp.asarray(log_emission, dtype)
    init = jnp.asarray(init, dtype)
    trans = jnp.asarray(trans, dtype)
    if logs != log_probs:
        init, trans = (jnp.log(init), jnp.log(trans)) if logs else (jnp.exp(init), jnp.exp(trans))

    batch_shapes = [
        log_emission.shape[:-2],
        init.shape[:-1],
        trans.shape[: -3 if time_varying else -2],
    ]
    if mask is not None:
        batch_shapes.append(jnp.shape(mask)[:-1])
    batch_shape = jnp.broadcast_shapes(*batch_shapes)
    log_emission = jnp.broadcast_to(log_emission, (*batch_shape, *log_emission.shape[-2:]))
    if mask is not None:
        mask = jnp.broadcast_to(jnp.asarray(mask), log_emission.shape[:-1])
        log_emission = jnp.where(mask[..., None], log_emission, jnp.zeros((), dtype))
    log_emission = jnp.moveaxis(log_emission, -2, 0)

    init = _pad_batch(init, len(batch_shape), 1)
    trans = _pad_batch(trans, len(batch_shape), 3 if time_varying else 2)
    if time_varying:
        trans = jnp.moveaxis(trans, -3, 0)
    return TimeMajor(log_emission, init, trans, batch_shape)


def to_batch_major(x: jax.Array, event_rank: int = 1) -> jax.Array:
    """Move the leading time axis of ``x[T, ..., *event]`` to ``[..., T, *event]``."""
    return jnp.moveaxis(x, 0, x.ndim - 1 - event_rank)


def scale_emissions(log_emission: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Split ``log_emission[T, ..., K]`` into ``exp(log_emission - shift)`` and ``shift[T, ...]``.

    ``shift`` is the per-step maximum over states (0 where every state is impossible,
    so that step yields a zero normaliser and a log-likelihood of ``-inf`` instead of
    NaN). It is wrapped in ``stop_gradient``: the likelihood does not depend on it.
    """
    shift = jnp.max(log_emission, axis=-1)
    shift = lax.stop_gradient(jnp.where(shift == -jnp.inf, jnp.zeros((), shift.dtype), shift))
    return jnp.exp(log_emission - shift[..., None]), shift
