"""Marginal log-likelihood, filter and smoother, with a forward–backward custom VJP.

The log-likelihood is ``log p(y_{1:T}) = Σ_t log c_t + shift_t`` from the scaled forward
pass. Its gradient is the classical forward–backward identity (Rabiner 1989; see also
Särkkä & García-Fernández 2021 for the parallel passes)::

    ∂ log p / ∂ log_emission[t, k] = p(z_t = k | y)                  = alpha_t(k) beta_t(k)
    ∂ log p / ∂ init[k]            = w_1(k)
    ∂ log p / ∂ trans_t[i, j]      = Σ_t alpha_{t-1}(i) w_t(j)   (= Σ_t ξ_t(i, j) / trans_t[i, j])

with ``w_t = e_t * beta_t / c_t`` in the scaled quantities. This form never divides by a
transition probability, so zero entries (impossible transitions, zero initial
probabilities) get their correct, finite derivative instead of ``0/0``.

Second derivatives are not a goal of this kernel, but they work: JAX differentiates the
backward pass itself (``jax.hessian`` matches enumeration in the tests); there is no
hand-written second-order rule and that path is not optimised.

The rule is used for both methods; the sequential and parallel passes return the same
quantities (filtered ``alpha``, normalisers ``c``, Rabiner-scaled ``beta``).
"""

from __future__ import annotations

from functools import partial
from typing import Any, Literal

import jax
import jax.numpy as jnp

from jaxbridge._validation import check_hmm_inputs
from jaxbridge.hmm._inputs import TimeMajor, prepare, scale_emissions, to_batch_major
from jaxbridge.hmm._lagged import check_order, regime_marginals, tuple_init
from jaxbridge.hmm._parallel import parallel_backward, parallel_forward
from jaxbridge.hmm._recursions import (
    Gradients,
    backward_scan,
    forward_scan,
    gradient_scan,
    safe_norm,
    sum_to,
)
from jaxbridge.hmm._types import FilterResult, SmoothResult

__all__ = ["filter", "log_likelihood", "smooth"]

Method = Literal["sequential", "parallel"]
_METHODS = ("sequential", "parallel")


def _forward(method: Method, init, trans, emission, time_varying: bool, order: int):
    if method == "parallel":
        return parallel_forward(init, trans, emission, time_varying=time_varying)
    return forward_scan(init, trans, emission, time_varying=time_varying, order=order)


def _backward(method: Method, trans, emission, alpha, norm, time_varying: bool, order: int):
    if method == "parallel":
        return parallel_backward(trans, emission, alpha, time_varying=time_varying)
    return backward_scan(trans, emission, norm, time_varying=time_varying, order=order)


def _step_terms(norm: jax.Array, shift: jax.Array) -> jax.Array:
    """``log p(y_t | y_{1:t-1}) = log c_t + shift_t``: ``[T, ...] -> [T, ...]``."""
    return jnp.log(norm) + shift


def _total(norm: jax.Array, shift: jax.Array) -> jax.Array:
    """``log p(y_{1:T}) = Σ_t log c_t + shift_t``, one log after the loop: ``[T, ...] -> [...]``."""
    return jnp.sum(_step_terms(norm, shift), axis=0)


def _expected_transitions(
    alpha_prev: jax.Array, weight: jax.Array, trans_shape: tuple[int, ...], time_varying: bool
) -> jax.Array:
    """``Σ alpha_{t-1}(i) w_t(j)`` over time (unless time varying) and broadcast batch dims.

    ``alpha_prev`` and ``weight`` are ``[T-1, K, ...]``; the result has ``trans_shape``
    (``[K, K, ...]`` or ``[T-1, K, K, ...]``). Written as a broadcast product reduced in
    one fusion: XLA's CPU ``dot`` for this contraction (over the leading and trailing axes
    of a ``[T-1, K, N]`` layout) was much slower (``benchmarks/RESULTS.md``).
    """
    outer = alpha_prev[:, :, None] * weight[:, None, :]  # [T-1, K, K, ...], fused, not stored
    trans_batch = trans_shape[3:] if time_varying else trans_shape[2:]
    summed = [3 + i for i, size in enumerate(trans_batch) if size == 1]
    axes = tuple(summed if time_varying else [0, *summed])
    return jnp.sum(outer, axis=axes).reshape(trans_shape)


def _log_likelihood_autodiff(
    log_emission, init, trans, time_varying: bool, method: Method, order: int
):
    """``log p(y)`` from time-major arrays; JAX differentiates the recursion itself."""
    emission, shift = scale_emissions(log_emission)
    _, norm = _forward(method, init, trans, emission, time_varying, order)
    return _total(norm, shift)


_log_likelihood_vjp = jax.custom_vjp(_log_likelihood_autodiff, nondiff_argnums=(3, 4, 5))


def _log_likelihood_fwd(log_emission, init, trans, time_varying, method, order):
    emission, shift = scale_emissions(log_emission)
    alpha, norm = _forward(method, init, trans, emission, time_varying, order)
    return _total(norm, shift), (emission, alpha, norm, init, trans)


def _sequential_gradients(trans, emission, norm, alpha, cotangent, time_varying, order):
    return gradient_scan(
        trans, emission, norm, alpha, cotangent, time_varying=time_varying, order=order
    )


def _parallel_gradients(trans, emission, norm, alpha, cotangent, time_varying, order):
    """:func:`~jaxbridge.hmm._recursions.gradient_scan`'s result from the parallel ``beta``."""
    beta = parallel_backward(trans, emission, alpha, time_varying=time_varying)
    beta = beta * cotangent[None, None]
    weight = emission * beta / safe_norm(norm)[:, None]
    transitions = _expected_transitions(alpha[:-1], weight[1:], trans.shape, time_varying)
    return Gradients(alpha * beta, weight[0], transitions)


def _log_likelihood_bwd(time_varying, method, order, residuals, cotangent):
    emission, alpha, norm, init, trans = residuals
    gradients = _parallel_gradients if method == "parallel" else _sequential_gradients
    grads = gradients(trans, emission, norm, alpha, cotangent, time_varying, order)
    return grads.posterior, sum_to(grads.first_weight, init.shape), grads.transitions


_log_likelihood_vjp.defvjp(_log_likelihood_fwd, _log_likelihood_bwd)


_STATIC = ("time_varying", "log_probs", "method", "order")


def _checked(jitted, log_emission, init, trans, mask, time_varying, log_probs, method, order):
    """Validate in Python (free when already traced), then run the jitted computation."""
    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}; got {method!r}")
    order = check_order(order)
    if order and method == "parallel":
        raise ValueError("method='parallel' is not available for lagged states (order > 0)")
    options = dict(time_varying=time_varying, log_probs=log_probs)
    check_hmm_inputs(log_emission, init, trans, mask, order=order, **options)
    return jitted(log_emission, init, trans, mask, method=method, order=order, **options)


def _prepared(log_emission, init, trans, mask, *, time_varying, log_probs, order) -> TimeMajor:
    """:func:`~jaxbridge.hmm._inputs.prepare`, with the first tuple's distribution as ``init``
    for a chain of lagged states."""
    if order:
        init = tuple_init(init, trans, time_varying=time_varying, log_probs=log_probs, order=order)
    return prepare(log_emission, init, trans, mask, time_varying=time_varying, log_probs=log_probs)


@partial(jax.jit, static_argnames=_STATIC)
def _log_likelihood_jit(log_emission, init, trans, mask, *, time_varying, log_probs, method, order):
    """The forward pass with the forward–backward gradient rule (``_log_likelihood_vjp``).

    Differentiating the scan itself (what :func:`filter`'s ``log_likelihood`` gives) was
    never faster at the sizes measured (``benchmarks/kernel_scaling.py``) and needs more
    memory."""
    options = dict(time_varying=time_varying, log_probs=log_probs, order=order)
    tm = _prepared(log_emission, init, trans, mask, **options)
    return _log_likelihood_vjp(tm.log_emission, tm.init, tm.trans, time_varying, method, order)


def _regimes(probs: jax.Array, num_states: int, order: int) -> jax.Array:
    """Batch-major ``[..., T, K]`` marginals from time-major tuple probabilities."""
    probs = to_batch_major(probs)
    return regime_marginals(probs, num_states) if order else probs


@partial(jax.jit, static_argnames=_STATIC)
def _filter_jit(log_emission, init, trans, mask, *, time_varying, log_probs, method, order):
    options = dict(time_varying=time_varying, log_probs=log_probs, order=order)
    tm = _prepared(log_emission, init, trans, mask, **options)
    emission, shift = scale_emissions(tm.log_emission)
    alpha, norm = _forward(method, tm.init, tm.trans, emission, time_varying, order)
    steps = _step_terms(norm, shift)
    alpha = _regimes(alpha, init.shape[-1], order)
    return FilterResult(alpha, jnp.sum(steps, axis=0), to_batch_major(steps, 0))


@partial(jax.jit, static_argnames=_STATIC)
def _smooth_jit(log_emission, init, trans, mask, *, time_varying, log_probs, method, order):
    options = dict(time_varying=time_varying, log_probs=log_probs, order=order)
    tm = _prepared(log_emission, init, trans, mask, **options)
    emission, shift = scale_emissions(tm.log_emission)
    alpha, norm = _forward(method, tm.init, tm.trans, emission, time_varying, order)
    beta = _backward(method, tm.trans, emission, alpha, norm, time_varying, order)
    probs = _regimes(alpha * beta, init.shape[-1], order)
    return SmoothResult(probs, _total(norm, shift))


def log_likelihood(
    log_emission: Any,
    init: Any,
    trans: Any,
    mask: Any = None,
    *,
    time_varying: bool = False,
    log_probs: bool = False,
    method: Method = "sequential",
    order: int = 0,
) -> jax.Array:
    """Marginal log-likelihood ``log p(y_{1:T})`` of a hidden Markov model.

    Parameters
    ----------
    log_emission : [..., T, K]
        ``log p(y_t | z_t = k)``.
    init : [..., K]
        Initial distribution ``p(z_1 = k)`` (logs when ``log_probs``).
    trans : [..., K, K], or [..., T-1, K, K] when ``time_varying``
        ``trans[i, j] = p(z_t = j | z_{t-1} = i)``; when time varying ``trans[t-1]`` is
        the transition into step ``t`` (logs when ``log_probs``).
    mask : [..., T] bool, optional
        False marks a missing observation: the step has no emission term but the chain
        still transitions. Values of ``log_emission`` there are ignored, NaN included.
    time_varying, log_probs
        See above.
    method : {"sequential", "parallel"}
        ``lax.scan`` over time (Rabiner 1989) or ``lax.associative_scan`` (Hassan,
        Särkkä & García-Fernández 2021; ``O(log T)`` depth, for accelerators).
    order : int
        Number of lagged regimes ``p`` the emission depends on (Hamilton 1989's switching
        autoregression). With ``p > 0`` the hidden state of step ``t`` is the tuple
        ``(z_t, ..., z_{t-p})``: ``log_emission`` is ``[..., T, K^(p+1)]`` (tuples in C order,
        the current regime first), ``init [..., K]`` is the distribution of the first tuple's
        oldest regime ``z_{1-p}``, ``trans`` stays ``[..., K, K]``, and each step costs
        ``O(K^(p+1) K)`` (see :mod:`jaxbridge.hmm._lagged`). Sequential method only.

    Returns
    -------
    [...]
        Batch dims of all arguments broadcast together.

    Notes
    -----
    Gradients come from a forward–backward custom VJP (see the module docstring). Value
    checks on ``init``/``trans`` (sums to one, NaN, negative entries) run only on concrete
    inputs, never under ``jax.jit``: call the jitted function eagerly once to check them.

    Masked positions of ``log_emission`` get an exactly zero gradient, whatever their
    values. If you compute ``log_emission`` from padded data, sanitise the padding first
    (``y = jnp.where(mask, y, 0.0)``): a NaN produced *before* this function still poisons
    your own chain rule (``0 * NaN``), which no kernel can undo.
    """
    return _checked(
        _log_likelihood_jit, log_emission, init, trans, mask, time_varying, log_probs, method, order
    )


def filter(
    log_emission: Any,
    init: Any,
    trans: Any,
    mask: Any = None,
    *,
    time_varying: bool = False,
    log_probs: bool = False,
    method: Method = "sequential",
    order: int = 0,
) -> FilterResult:
    """Filtered marginals ``p(z_t | y_{1:t})``, ``log p(y_{1:T})`` and its one-step terms.

    Arguments as :func:`log_likelihood`. Returns :class:`FilterResult` with
    ``filtered_probs [..., T, K]`` (with ``order > 0``, of the current regime: the tuples'
    probabilities summed over the lags), ``log_likelihood [...]`` and ``step_log_likelihood
    [..., T]``, the one-step-ahead log predictive densities ``log p(y_t | y_{1:t-1}) = log c_t``
    (the normalisers of the scaled forward pass; zero at masked steps), whose sum over ``T``
    is ``log_likelihood``.
    """
    return _checked(
        _filter_jit, log_emission, init, trans, mask, time_varying, log_probs, method, order
    )


def smooth(
    log_emission: Any,
    init: Any,
    trans: Any,
    mask: Any = None,
    *,
    time_varying: bool = False,
    log_probs: bool = False,
    method: Method = "sequential",
    order: int = 0,
) -> SmoothResult:
    """Smoothed marginals ``p(z_t | y_{1:T})`` by forward–backward, and ``log p(y_{1:T})``.

    Arguments as :func:`log_likelihood`. Returns :class:`SmoothResult` with
    ``smoothed_probs [..., T, K]`` (of the current regime when ``order > 0``) and ``log_likelihood [...]``. Differentiable by autodiff.
    """
    return _checked(
        _smooth_jit, log_emission, init, trans, mask, time_varying, log_probs, method, order
    )
