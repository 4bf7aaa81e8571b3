"""Bring user arguments into the internal layout that every recursion works on.

User layout is batch-major: ``log_emission[..., T, K]``, ``mask[..., T]``,
``trans[..., K, K]`` (or ``[..., T-1, K, K]``). Internally time comes first (``lax.scan``
and ``lax.associative_scan`` run over the leading axis), then states, and the batch
dims ``...`` come last::

    log_emission [T, K, ...]      masked steps set to 0 (no emission term)
    init         [K, ...]
    trans        [K, K, ...]      or [T-1, K, K, ...] when time varying

With the batch innermost, every per-step operation is a handful of ``K`` whole-batch
vector operations (contiguous, SIMD-friendly), instead of many tiny ``K``-sized ones
(measured in ``benchmarks/kernel_scaling.py``, see ``benchmarks/RESULTS.md``). Batch dims of
``init``/``trans`` are padded with size-1 dims to the full batch rank (nothing copied).
Masking uses ``where`` rather than a product, so NaN/inf padding cannot leak into values
or gradients.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from jaxbridge._validation import hmm_batch_shape, trans_rank

__all__ = ["TimeMajor", "prepare", "scale_emissions", "to_batch_major"]


class TimeMajor(NamedTuple):
    """HMM arguments in time-major layout (see the module docstring)."""

    log_emission: jax.Array  # [T, K, ...]
    init: jax.Array  # [K, ...] (probabilities, or logs when prepared with ``logs=True``)
    trans: jax.Array  # [K, K, ...] or [T-1, K, K, ...]
    batch_shape: tuple[int, ...]


def _float_dtype(*xs: Any) -> jnp.dtype:
    dtype = jnp.result_type(*xs)
    return dtype if jnp.issubdtype(dtype, jnp.floating) else jnp.result_type(float)


def _batch_last(x: jax.Array, batch_rank: int, core_rank: int) -> jax.Array:
    """``x[*batch, *core]`` -> ``[*core, *batch]`` with the batch padded to ``batch_rank`` dims."""
    missing = batch_rank - (x.ndim - core_rank)
    x = x.reshape((1,) * missing + x.shape)
    return jnp.moveaxis(x, tuple(range(batch_rank)), tuple(range(core_rank, x.ndim)))


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

    batch_shape = hmm_batch_shape(log_emission, init, trans, mask, time_varying)
    log_emission = jnp.broadcast_to(log_emission, (*batch_shape, *log_emission.shape[-2:]))
    if mask is not None:
        mask = jnp.broadcast_to(jnp.asarray(mask), log_emission.shape[:-1])
        log_emission = jnp.where(mask[..., None], log_emission, jnp.zeros((), dtype))
    rank = len(batch_shape)
    log_emission = _batch_last(log_emission, rank, 2)
    init = _batch_last(init, rank, 1)
    trans = _batch_last(trans, rank, trans_rank(time_varying))
    return TimeMajor(log_emission, init, trans, batch_shape)


def to_batch_major(x: jax.Array, event_rank: int = 1) -> jax.Array:
    """Internal ``x[T, *event, ...]`` -> user layout ``[..., T, *event]``."""
    core = 1 + event_rank
    return jnp.moveaxis(x, tuple(range(core, x.ndim)), tuple(range(x.ndim - core)))


def scale_emissions(log_emission: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Split ``log_emission[T, K, ...]`` into ``exp(log_emission - shift)`` and ``shift[T, ...]``.

    ``shift`` is the per-step maximum over states (0 where every state is impossible,
    so that step yields a zero normaliser and a log-likelihood of ``-inf`` instead of
    NaN). It is wrapped in ``stop_gradient``: the likelihood does not depend on it.
    """
    shift = jnp.max(log_emission, axis=1)
    shift = lax.stop_gradient(jnp.where(shift == -jnp.inf, jnp.zeros((), shift.dtype), shift))
    return jnp.exp(log_emission - shift[:, None]), shift
