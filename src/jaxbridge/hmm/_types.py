"""Result types of the HMM inference functions (NamedTuples, so they are JAX pytrees)."""

from __future__ import annotations

from typing import NamedTuple

import jax

__all__ = ["FilterResult", "SmoothResult", "ViterbiResult"]


class FilterResult(NamedTuple):
    """Forward filtering result.

    Attributes
    ----------
    filtered_probs : [..., T, K]
        ``p(z_t = k | y_{1:t})``.
    log_likelihood : [...]
        ``log p(y_{1:T})``.
    step_log_likelihood : [..., T]
        One-step-ahead log predictive densities ``log p(y_t | y_{1:t-1})``, the logs of the
        forward filter's normalisers (``log p(y_1)`` at the first step); zero at masked steps,
        so they sum over ``T`` to ``log_likelihood``.
    """

    filtered_probs: jax.Array
    log_likelihood: jax.Array
    step_log_likelihood: jax.Array


class SmoothResult(NamedTuple):
    """Forward–backward smoothing result.

    Attributes
    ----------
    smoothed_probs : [..., T, K]
        ``p(z_t = k | y_{1:T})``.
    log_likelihood : [...]
        ``log p(y_{1:T})``.
    """

    smoothed_probs: jax.Array
    log_likelihood: jax.Array


class ViterbiResult(NamedTuple):
    """Most probable state path.

    Attributes
    ----------
    path : [..., T] int32
        ``argmax_z p(z_{1:T} | y_{1:T})``.
    log_prob : [...]
        ``log p(z*_{1:T}, y_{1:T})``, the joint log-probability of that path and the data.
    """

    path: jax.Array
    log_prob: jax.Array
