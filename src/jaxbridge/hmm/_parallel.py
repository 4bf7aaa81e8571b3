"""Parallel-in-time forward and backward passes with ``jax.lax.associative_scan``.

Following Särkkä & García-Fernández (2021, "Temporal parallelization of Bayesian
smoothers", IEEE TAC) and Hassan, Särkkä & García-Fernández (2021, "Temporal
parallelization of inference in hidden Markov models", IEEE TSP), the forward
recursion is a chain of matrix products::

    M_1[i, j] = init[j] e_1(j)             (every row the same)
    M_t[i, j] = trans_t[i, j] e_t(j)       (t >= 2)
    alpha_t  ∝ any row of M_1 @ M_2 @ ... @ M_t
    beta_t   ∝ M_{t+1} @ ... @ M_T @ 1

Matrix products are associative, so prefix and suffix products take ``O(log T)``
parallel depth. Every partial product is rescaled by its largest entry, which only
changes it by a positive factor and keeps long sequences finite.

The functions return exactly what their sequential twins in
:mod:`~jaxbridge.hmm._recursions` return (the normalisers ``c_t`` and Rabiner's scaled
``beta`` are recovered with one vectorised step each), so both methods share the
likelihood, smoother and gradient code. Unlike dynamax's parallel filter, masks
(through ``e_t = 1``) and time-varying transitions are supported.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax

from jaxbridge.hmm._recursions import safe_norm

__all__ = ["parallel_backward", "parallel_forward"]


def _matrices_last(trans: jax.Array, time_varying: bool) -> jax.Array:
    """``trans [(T-1,) K, K, ...]`` -> ``[(T-1,) ..., K, K]`` (batched ``@`` wants them last)."""
    first = 1 if time_varying else 0
    return jnp.moveaxis(trans, (first, first + 1), (-2, -1))


def _rescale(m: jax.Array) -> jax.Array:
    return m / safe_norm(jnp.max(m, axis=(-2, -1), keepdims=True))


def _chain(earlier: jax.Array, later: jax.Array) -> jax.Array:
    return _rescale(earlier @ later)


def _step_matrices(trans: jax.Array, emission: jax.Array) -> jax.Array:
    """``M_t = trans_t * e_t`` for ``t >= 2``: ``[T-1, ..., K, K]`` from batch-first inputs."""
    matrices = trans * emission[1:, ..., None, :]
    num_states = emission.shape[-1]
    return jnp.broadcast_to(matrices, (*emission[1:].shape[:-1], num_states, num_states))


def parallel_forward(
    init: jax.Array, trans: jax.Array, emission: jax.Array, *, time_varying: bool
) -> tuple[jax.Array, jax.Array]:
    """Filtered probabilities and normalisers, as :func:`~jaxbridge.hmm._recursions.forward_scan`."""
    trans = _matrices_last(trans, time_varying)
    emission = jnp.moveaxis(emission, 1, -1)  # [T, ..., K]
    first = jnp.moveaxis(init, 0, -1) * emission[0]
    first_matrix = jnp.broadcast_to(first[..., None, :], (*first.shape, first.shape[-1]))
    elements = jnp.concatenate([first_matrix[None], _step_matrices(trans, emission)])
    rows = lax.associative_scan(_chain, _rescale(elements))[..., 0, :]
    alpha = rows / safe_norm(jnp.sum(rows, axis=-1))[..., None]
    pred = (alpha[:-1, ..., None, :] @ trans)[..., 0, :]
    norm = jnp.concatenate([jnp.sum(first, axis=-1)[None], jnp.sum(pred * emission[1:], axis=-1)])
    return jnp.moveaxis(alpha, -1, 1), norm


def parallel_backward(
    trans: jax.Array, emission: jax.Array, alpha: jax.Array, *, time_varying: bool
) -> jax.Array:
    """Rabiner-scaled ``beta`` as :func:`~jaxbridge.hmm._recursions.backward_scan`.

    Suffix products give ``beta_t`` up to a positive factor per step; dividing by
    ``Σ_k alpha_t(k) beta_t(k)`` restores Rabiner's scaling (``alpha * beta`` sums to one).
    """
    trans = _matrices_last(trans, time_varying)
    emission = jnp.moveaxis(emission, 1, -1)
    elements = _rescale(_step_matrices(trans, emission))
    suffix = lax.associative_scan(
        lambda later, earlier: _chain(earlier, later), elements, reverse=True
    )
    beta = jnp.concatenate([jnp.sum(suffix, axis=-1), jnp.ones_like(emission[-1:])])
    beta = jnp.moveaxis(beta, -1, 1)  # [T, K, ...]
    return beta / safe_norm(jnp.sum(alpha * beta, axis=1))[:, None]
