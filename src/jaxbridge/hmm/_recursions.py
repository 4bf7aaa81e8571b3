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
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from jaxbridge.hmm import _lagged

__all__ = [
    "Gradients",
    "backward_scan",
    "forward_scan",
    "gradient_scan",
    "matvec",
    "safe_norm",
    "sum_states",
    "sum_to",
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


def _predict(alpha: jax.Array, trans: jax.Array, order: int) -> jax.Array:
    """``p(s_{t+1} | y_{1:t})`` from ``alpha_t``: a vector–matrix product, or for a chain of
    lagged states (``order > 0``) the structured step of :mod:`~jaxbridge.hmm._lagged`."""
    return _lagged.push_forward(alpha, trans) if order else vecmat(alpha, trans)


def _back(trans: jax.Array, weight: jax.Array, order: int) -> jax.Array:
    """The transpose of :func:`_predict`: ``trans @ weight``, or its lagged-chain form."""
    return _lagged.pull_back(trans, weight) if order else matvec(trans, weight)


def _counts(alpha: jax.Array, weight_next: jax.Array, num_states: int, order: int) -> jax.Array:
    """One step's ``Σ alpha_t(i ...) w_{t+1}(j ...)`` ``[K, K, ...]`` over the chain's moves."""
    if order:
        return _lagged.transition_counts(alpha, weight_next, num_states)
    return alpha[:, None] * weight_next[None]


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
    init: jax.Array,
    trans: jax.Array,
    emission: jax.Array,
    *,
    time_varying: bool,
    order: int = 0,
) -> tuple[jax.Array, jax.Array]:
    """Scaled forward pass.

    Parameters
    ----------
    init : [K, ...]
    trans : [K, K, ...] or [T-1, K, K, ...]
    emission : [T, K, ...]
        Shifted emission likelihoods ``e_t``.
    order
        With ``order = p > 0`` the chain's states are tuples of ``p + 1`` regimes
        (:mod:`~jaxbridge.hmm._lagged`): ``init`` and ``emission`` have ``K^{p+1}`` states,
        ``trans`` stays ``K x K``.

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
        return _predict(alpha, trans if trans_next is None else trans_next, order), (alpha, norm)

    xs = (emission, _padded(trans, at_end=True) if time_varying else None)
    _, (alpha, norm) = lax.scan(_step, jnp.broadcast_to(init, emission.shape[1:]), xs)
    return alpha, norm


def sum_to(x: jax.Array, shape: tuple[int, ...]) -> jax.Array:
    """Sum ``x`` over the axes where ``shape`` (same rank) broadcasts with size 1."""
    axes = tuple(
        i for i, (s, n) in enumerate(zip(shape, x.shape, strict=True)) if s == 1 and n != 1
    )
    return jnp.sum(x, axis=axes, keepdims=True) if axes else x


def _weight(emission_t: jax.Array, beta: jax.Array, norm_t: jax.Array) -> jax.Array:
    """``w_t = e_t * beta_t / c_t`` (formed in the step: no extra ``[T, K, ...]`` array)."""
    return emission_t * beta / safe_norm(norm_t)[None]


def backward_scan(
    trans: jax.Array, emission: jax.Array, norm: jax.Array, *, time_varying: bool, order: int = 0
) -> jax.Array:
    """Scaled backward pass (Rabiner's ``beta_hat``).

    Parameters
    ----------
    trans : [K, K, ...] or [T-1, K, K, ...]
    emission : [T, K, ...]
    norm : [T, ...]
        Forward normalisers from :func:`forward_scan`.
    order
        As :func:`forward_scan`.

    Returns
    -------
    beta : [T, K, ...]
        ``p(y_{t+1:T} | z_t) / p(y_{t+1:T} | y_{1:t})``; ``alpha * beta`` are the
        smoothed marginals.
    """

    def _step(beta, xs):
        # beta = beta_t; returns beta_{t-1} = trans_t @ w_t
        emission_t, norm_t, trans_t = xs
        weight = _weight(emission_t, beta, norm_t)
        return _back(trans if trans_t is None else trans_t, weight, order), beta

    xs = (emission, norm, _padded(trans, at_end=False) if time_varying else None)
    _, beta = lax.scan(_step, jnp.ones_like(emission[0]), xs, reverse=True)
    return beta


class Gradients(NamedTuple):
    """What the backward pass hands the likelihood gradient (see :func:`gradient_scan`)."""

    posterior: jax.Array  # [T, K, ...]  alpha_t * beta_t
    first_weight: jax.Array  # [K, ...]  w_1
    transitions: jax.Array  # trans.shape  Σ_t alpha_{t-1}(i) w_t(j)


def gradient_scan(
    trans: jax.Array,
    emission: jax.Array,
    norm: jax.Array,
    alpha: jax.Array,
    cotangent: jax.Array,
    *,
    time_varying: bool,
    order: int = 0,
) -> Gradients:
    """Backward pass that returns the gradient's ingredients instead of ``beta``.

    With ``w_t = e_t * beta_t / c_t``, step ``t`` (running backwards) emits the smoothed
    marginal ``alpha_t * beta_t`` and adds ``alpha_t(i) w_{t+1}(j)`` (``w_{t+1}`` carried
    from the previous step) to the expected transition counts: summed in the carry for a
    shared ``trans``, emitted per step (summed over its broadcast dims) when time varying.
    Everything comes out of the loop that computes it: on CPU each full ``[T, K, ...]``
    pass saved outside the loop was worth more than the extra work inside it.

    Parameters
    ----------
    trans, emission, norm
        As :func:`backward_scan`.
    alpha : [T, K, ...]
        Filtered probabilities from :func:`forward_scan`.
    cotangent : [...]
        Weight of each sequence's log-likelihood. The recursion is linear in ``beta``, so
        starting it from ``beta_T = cotangent`` instead of one weights every output,
        before the counts are summed over sequences.
    order
        As :func:`forward_scan`; the counts are over the ``K x K`` moves of the regimes.

    Returns
    -------
    Gradients
        ``posterior [T, K, ...]``, ``first_weight [K, ...]`` and ``transitions`` with
        the shape of ``trans``.
    """

    def _step(carry, xs):
        # carry: beta_t, w_{t+1}, counts; returns beta_{t-1}, w_t
        beta, weight_next, counts = carry
        emission_t, norm_t, trans_t, alpha_t = xs
        weight = _weight(emission_t, beta, norm_t)
        outer = _counts(alpha_t, weight_next, num_states, order)
        if time_varying:
            out = (alpha_t * beta, sum_to(outer, trans_t.shape))
        else:
            out, counts, trans_t = (alpha_t * beta, None), counts + outer, trans
        return (_back(trans_t, weight, order), weight, counts), out

    num_states = trans.shape[1] if time_varying else trans.shape[0]
    beta_last = jnp.broadcast_to(cotangent[None], emission.shape[1:]).astype(emission.dtype)
    counts_shape = (num_states, num_states, *emission.shape[2:])  # [K, K, ...]
    counts = None if time_varying else jnp.zeros(counts_shape, emission.dtype)
    init = (beta_last, jnp.zeros_like(beta_last), counts)
    xs = (emission, norm, _padded(trans, at_end=False) if time_varying else None, alpha)
    (_, first_weight, counts), (posterior, per_step) = lax.scan(_step, init, xs, reverse=True)
    transitions = per_step[:-1] if time_varying else sum_to(counts, trans.shape)
    return Gradients(posterior, first_weight, transitions)
