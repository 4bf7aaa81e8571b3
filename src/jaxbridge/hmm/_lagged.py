r"""Chains of lagged states: the hidden state of step ``t`` is the tuple of the current and the
``p`` previous regimes, :math:`s_t = (z_t, z_{t-1}, \dots, z_{t-p})`.

Models whose emission at step ``t`` depends on the regimes of the ``p`` previous steps (Hamilton's
switching autoregression, 1989: the lagged terms are centred on the *lagged* regimes' means) are
hidden Markov models over these ``M = K^{p+1}`` tuples. Tuples are flattened in C order, the
current regime first: ``s = z_t K^p + z_{t-1} K^{p-1} + ... + z_{t-p}``. The tuple chain's
``M x M`` transition matrix is almost all zeros — ``(z_t, ..., z_{t-p})`` can only move to
``(z_{t+1}, z_t, ..., z_{t-p+1})``, with probability ``trans[z_t, z_{t+1}]`` — so a step of the
forward recursion

.. math::

    \hat\alpha_{t+1}(j, i, r) = \text{trans}[i, j] \sum_{l} \alpha_t(i, r, l)

(``i = z_t``, ``r`` the middle lags, ``l`` the oldest one) costs ``O(K^{p+1} K)`` rather than
``O(K^{2(p+1)})``, and only the ``K x K`` matrix is stored. The backward recursion is its
transpose, ``beta_t(i, r, l) = Σ_j trans[i, j] w_{t+1}(j, i, r)`` (free of the oldest lag ``l``).

All helpers here work on the internal time-major layout of :mod:`~jaxbridge.hmm._inputs`
(tuple axis first, batch dims last) except :func:`tuple_init` and :func:`dense_transitions`,
which take the user's batch-major layout.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxbridge._validation import check_hmm_inputs

__all__ = [
    "check_order",
    "dense_chain",
    "dense_transitions",
    "lagged_as_dense",
    "pull_back",
    "push_forward",
    "regime_marginals",
    "transition_counts",
    "tuple_init",
]


def check_order(order: object) -> int:
    """``order`` as an int ``>= 0``, or a ValueError naming it."""
    if isinstance(order, bool) or not isinstance(order, int | np.integer) or order < 0:
        raise ValueError(
            f"order must be an integer >= 0 (the number of lagged states); got {order!r}"
        )
    return int(order)


def _extend(x: jax.Array, trans: jax.Array) -> jax.Array:
    """``x [K^n, ...]`` over ``(z_s, ...)`` -> ``[K^{n+1}, ...]`` over ``(z_{s+1}, z_s, ...)``,
    ``out[j, i, r] = trans[i, j] x[i, r]``; ``trans [K, K, ...]``."""
    num_states = trans.shape[0]
    x = x.reshape((num_states, x.shape[0] // num_states, *x.shape[1:]))
    out = jnp.swapaxes(trans, 0, 1)[:, :, None] * x[None]  # [j, i, r, ...]
    return out.reshape((num_states * x.shape[0] * x.shape[1], *out.shape[3:]))


def _drop_oldest(x: jax.Array, num_states: int) -> jax.Array:
    """Sum the oldest lag out: ``[K^{n+1}, ...] -> [K^n, ...]``."""
    return x.reshape((x.shape[0] // num_states, num_states, *x.shape[1:])).sum(axis=1)


def push_forward(alpha: jax.Array, trans: jax.Array) -> jax.Array:
    """One prediction step of the tuple chain: ``p(s_{t+1} | y_{1:t})`` from ``alpha_t [M, ...]``
    (``p(s_t | y_{1:t})``) and ``trans [K, K, ...]``."""
    return _extend(_drop_oldest(alpha, trans.shape[0]), trans)


def pull_back(trans: jax.Array, weight: jax.Array) -> jax.Array:
    """The backward step: ``beta_t(i, r, l) = Σ_j trans[i, j] weight(j, i, r)`` for
    ``weight [M, ...]`` over ``s_{t+1}``; the result ``[M, ...]`` is constant in ``l``."""
    num_states = trans.shape[0]
    w = weight.reshape((num_states, num_states, -1, *weight.shape[1:]))  # [j, i, r, ...]
    summed = jnp.sum(jnp.swapaxes(trans, 0, 1)[:, :, None] * w, axis=0)  # [i, r, ...]
    summed = summed.reshape((-1, 1, *summed.shape[2:]))
    beta = jnp.broadcast_to(summed, (summed.shape[0], num_states, *summed.shape[2:]))
    return beta.reshape((-1, *beta.shape[2:]))


def transition_counts(alpha: jax.Array, weight_next: jax.Array, num_states: int) -> jax.Array:
    """``counts[i, j] = Σ_{r, l} alpha_t(i, r, l) weight_{t+1}(j, i, r)``: ``[K, K, ...]``, the
    step's contribution to ``∂ log p / ∂ trans`` (the expected transitions over ``trans``)."""
    previous = _drop_oldest(alpha, num_states)
    previous = previous.reshape((num_states, -1, *previous.shape[1:]))  # [i, r, ...]
    w = weight_next.reshape((num_states, num_states, -1, *weight_next.shape[1:]))  # [j, i, r]
    return jnp.swapaxes(jnp.sum(previous[None] * w, axis=2), 0, 1)


def tuple_init(
    init: jax.Array, trans: jax.Array, *, time_varying: bool, log_probs: bool, order: int
) -> jax.Array:
    """Distribution of the first tuple ``(z_1, ..., z_{1-p})`` ``[..., K^{p+1}]`` from that of
    its oldest regime ``init [..., K]`` and ``trans [..., K, K]`` (user layout; logs in and out
    when ``log_probs``): ``p(s_1) = init[z_{1-p}] Π_{s=1-p}^{0} trans[z_s, z_{s+1}]``. A
    time-varying ``trans [..., T-1, K, K]`` moves these first ``p`` steps with its first matrix.
    """
    init, trans = jnp.asarray(init), jnp.asarray(trans)
    if time_varying:
        trans = trans[..., 0, :, :]
    if log_probs:
        init, trans = jnp.exp(init), jnp.exp(trans)
    batch = jnp.broadcast_shapes(init.shape[:-1], trans.shape[:-2])
    x = jnp.moveaxis(jnp.broadcast_to(init, (*batch, init.shape[-1])), -1, 0)
    trans = jnp.moveaxis(jnp.broadcast_to(trans, (*batch, *trans.shape[-2:])), (-2, -1), (0, 1))
    for _ in range(order):
        x = _extend(x, trans)
    x = jnp.moveaxis(x, 0, -1)
    return jnp.log(x) if log_probs else x


def _dense_pattern(num_states: int, order: int) -> tuple[np.ndarray, ...]:
    """Index arrays of the nonzero entries of the dense tuple matrix: from-tuple, to-tuple, and
    the regimes ``(i, j)`` of ``trans`` each entry copies."""
    size = num_states ** (order + 1)
    source = np.repeat(np.arange(size), num_states)
    target_regime = np.tile(np.arange(num_states), size)
    current = source // num_states**order
    target = target_regime * num_states**order + source // num_states
    return source, target, current, target_regime


def dense_transitions(trans: jax.Array, order: int) -> jax.Array:
    """The tuple chain's full transition matrix ``[..., M, M]`` from ``trans [..., K, K]``
    (probabilities; any batch dims, a time axis included). For Viterbi, path sampling and
    tests; the forward–backward recursions never form it."""
    num_states = trans.shape[-1]
    size = num_states ** (order + 1)
    source, target, current, regime = _dense_pattern(num_states, order)
    dense = jnp.zeros((*trans.shape[:-2], size, size), trans.dtype)
    return dense.at[..., source, target].set(trans[..., current, regime])


def dense_chain(
    init: jax.Array, trans: jax.Array, *, time_varying: bool, log_probs: bool, order: int
) -> tuple[jax.Array, jax.Array]:
    """The tuple chain as an ordinary one: first-tuple distribution ``[..., M]`` and transition
    matrix ``[..., M, M]`` (``[..., T-1, M, M]`` when time varying), logs when ``log_probs``."""
    first = tuple_init(init, trans, time_varying=time_varying, log_probs=log_probs, order=order)
    trans = jnp.asarray(trans)
    dense = dense_transitions(jnp.exp(trans) if log_probs else trans, order)
    return first, jnp.log(dense) if log_probs else dense


def regime_marginals(probs: jax.Array, num_states: int) -> jax.Array:
    """``p(z_t = k | .)`` ``[..., K]`` from tuple probabilities ``[..., K^{p+1}]`` (the current
    regime is the leading digit)."""
    return probs.reshape((*probs.shape[:-1], num_states, -1)).sum(axis=-1)


def lagged_as_dense(
    log_emission: Any,
    init: Any,
    trans: Any,
    mask: Any,
    order: int,
    *,
    time_varying: bool,
    log_probs: bool,
) -> tuple[Any, Any, Callable[[jax.Array], jax.Array]]:
    """Validate the arguments of an inference function; for lagged states (``order > 0``) return
    the tuple chain as an ordinary one (:func:`dense_chain`) and the map from tuple paths to the
    current regimes, else the arguments unchanged and the identity."""
    order = check_order(order)
    options = dict(time_varying=time_varying, log_probs=log_probs)
    check_hmm_inputs(log_emission, init, trans, mask, order=order, **options)
    if not order:
        return init, trans, lambda path: path
    first, dense = dense_chain(init, trans, order=order, **options)
    divisor = np.shape(init)[-1] ** order
    return first, dense, lambda path: path // divisor
