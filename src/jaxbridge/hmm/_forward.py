"""Sequential scaled forward and backward recursions (Rabiner 1989, section V.A).

With emissions ``e_t(k) = exp(log_emission[t, k] - shift_t)`` (see
:func:`~jaxbridge.hmm._inputs.scale_emissions`) the forward pass keeps the filtered
distribution ``alpha_t = p(z_t | y_{1:t})`` normalised at every step::

    alpha_1 ∝ init * e_1,        alpha_t ∝ (alpha_{t-1} @ trans_t) * e_t,

and returns the normalisers ``c_t`` (``c_t exp(shift_t) = p(y_t | y_{1:t-1})``), so that
``log p(y_{1:T}) = Σ_t log c_t + shift_t``. The backward pass returns Rabiner's scaled
``beta_t`` (``beta_T = 1``, ``beta_{t-1} = trans_t @ (e_t * beta_t) / c_t``), for which
``alpha_t * beta_t = p(z_t | y_{1:T})`` exactly. No logarithm or ``logsumexp`` is taken
inside a loop, which keeps long sequences finite in float32 and the loop body small.

All arrays use the internal layout of :mod:`~jaxbridge.hmm._inputs`: ``emission
[T, K, ...]``, ``trans [K, K, ...]`` or, when time varying, ``[T-1, K, K, ...]`` with
``trans[t-1]`` the transition into step ``t``.
"""

from __future__ import annotations

from functools import reduce
from operator import add

import jax
import jax.numpy as jnp
from jax import lax

__all__ = [
    "backward_scan",
    "forward_scan",
    "matvec",
    "posterior_weights_scan",
    "safe_norm",
    "sum_states",
    "vecmat",
]

# Up to this many states the products are written out as K whole-batch vector operations,
# which XLA fuses into one loop; above it a matrix product wins (benchmarks/kernel_scaling.py).
_SMALL_K = 4


def _is_shared(trans: jax.Array) -> bool:
    return all(d == 1 for d in trans.shape[2:])


def sum_states(x: jax.Array) -> jax.Array:
    """``Σ_k x[k]`` over the leading state axis: ``[K, ...] -> [...]``."""
    return reduce(add, list(x)) if x.shape[0] <= _SMALL_K else jnp.sum(x, axis=0)


def vecmat(alpha: jax.Array, trans: jax.Array) -> jax.Array:
    """``out[j] = Σ_i alpha[i] trans[i, j]``: ``alpha[K, ...]``, ``trans[K, K, ...]`` -> ``[K, ...]``."""
    num_states = trans.shape[0]
    if num_states <= _SMALL_K:
        return reduce(add, [alpha[i][None] * trans[i] for i in range(num_states)])
    if _is_shared(trans):
        return jnp.tensordot(trans.reshape(num_states, num_states), alpha, axes=(0, 0))
    return jnp.sum(alpha[:, None] * trans, axis=0)


def matvec(trans: jax.Array, beta: jax.Array) -> jax.Array:
    """``out[i] = Σ_j trans[i, j] beta[j]``: ``trans[K, K, ...]``, ``beta[K, ...]`` -> ``[K, ...]``."""
    num_states = trans.shape[0]
    if num_states <= _SMALL_K:
        return reduce(add, [trans[:, j] * beta[j][None] for j in range(num_states)])
    if _is_shared(trans):
        return jnp.tensordot(trans.reshape(num_states, num_states), beta, axes=(1, 0))
    return jnp.sum(trans * beta[None], axis=1)


def safe_norm(norm: jax.Array) -> jax.Array:
    """Normaliser usable as a divisor: zero (an impossible step) becomes one."""
    return jnp.where(norm > 0, norm, jnp.ones((), norm.dtype))


def _padded(trans: jax.Array, *, at_end: bool) -> jax.Array:
    """Time-varying ``trans [T-1, K, K, ...]`` padded to ``T`` with a zero matrix.

    Both scans run over all ``T`` steps (no ``concatenate`` of their ``[T, K, ...]``
    outputs); the extra step's product with the zero matrix is never used.
    """
    dummy = jnp.zeros((1, *trans.shape[1:]), trans.dtype)
    return jnp.concatenate([trans, dummy] if at_end else [dummy, trans])


def forward_scan(
    init: jax.Array, trans: jax.Array, emission: jax.Array, *, time_varying: bool
) -> tuple[jax.Array, jax.Array]:
    """Scaled forward pass.

    Parameters
    ----------
    init : [K, ...]
    trans : [K, K, ...] or [T-1, K, K, ...]
    emission : [T, K, ...]
        Shifted emission likelihoods ``e_t``.

    Returns
    -------
    alpha : [T, K, ...]
        Filtered probabilities ``p(z_t | y_{1:t})``.
    norm : [T, ...]
        Normalisers ``c_t`` (zero where the data are impossible).
    """

    def _step(predicted, xs):
        # predicted = p(z_t | y_{1:t-1}); returns p(z_{t+1} | y_{1:t})
        emission_t, trans_next = xs
        unnormalised = predicted * emission_t
        norm = sum_states(unnormalised)
        alpha = unnormalised / safe_norm(norm)[None]
        return vecmat(alpha, trans if trans_next is None else trans_next), (alpha, norm)

    xs = (emission, _padded(trans, at_end=True) if time_varying else None)
    _, (alpha, norm) = lax.scan(_step, jnp.broadcast_to(init, emission.shape[1:]), xs)
    return alpha, norm


def _backward(
    trans: jax.Array,
    emission: jax.Array,
    norm: jax.Array,
    alpha: jax.Array | None,
    *,
    time_varying: bool,
):
    """Backward recursion; per step it emits ``beta_t``, or with ``alpha`` the pair
    ``(alpha_t * beta_t, w_t)`` with ``w_t = e_t * beta_t / c_t``.

    ``e_t / c_t`` is formed inside the step rather than as a separate ``[T, K, ...]`` array,
    and the gradient's per-step quantities come out of the loop that computes them: each
    full-size pass saved outside the loop was worth more than a kernel inside it on CPU.
    """

    def _step(beta, xs):
        # beta = beta_t; returns beta_{t-1} = trans_t @ w_t
        emission_t, norm_t, trans_t, alpha_t = xs
        weight = emission_t * beta / safe_norm(norm_t)[None]
        out = beta if alpha_t is None else (alpha_t * beta, weight)
        return matvec(trans if trans_t is None else trans_t, weight), out

    xs = (emission, norm, _padded(trans, at_end=False) if time_varying else None, alpha)
    _, out = lax.scan(_step, jnp.ones_like(emission[0]), xs, reverse=True)
    return out


def backward_scan(
    trans: jax.Array, emission: jax.Array, norm: jax.Array, *, time_varying: bool
) -> jax.Array:
    """Scaled backward pass (Rabiner's ``beta_hat``).

    Parameters
    ----------
    trans : [K, K, ...] or [T-1, K, K, ...]
    emission : [T, K, ...]
    norm : [T, ...]
        Forward normalisers from :func:`forward_scan`.

    Returns
    -------
    beta : [T, K, ...]
        ``p(y_{t+1:T} | z_t) / p(y_{t+1:T} | y_{1:t})``; ``alpha * beta`` are the
        smoothed marginals.
    """
    return _backward(trans, emission, norm, None, time_varying=time_varying)


def posterior_weights_scan(
    trans: jax.Array,
    emission: jax.Array,
    norm: jax.Array,
    alpha: jax.Array,
    *,
    time_varying: bool,
) -> tuple[jax.Array, jax.Array]:
    """Backward pass returning what the likelihood gradient needs instead of ``beta``.

    Parameters
    ----------
    trans, emission, norm
        As :func:`backward_scan`.
    alpha : [T, K, ...]
        Filtered probabilities from :func:`forward_scan`.

    Returns
    -------
    posterior : [T, K, ...]
        Smoothed marginals ``alpha_t * beta_t``.
    weight : [T, K, ...]
        ``w_t = e_t * beta_t / c_t``.
    """
    return _backward(trans, emission, norm, alpha, time_varying=time_varying)
