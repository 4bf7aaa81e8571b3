"""The marginal HMM log-likelihood as a differentiable PyTensor expression.

:func:`hmm_logp` puts :func:`jaxbridge.hmm.log_likelihood` (scaled forward algorithm with a
forward–backward gradient; Rabiner 1989) into a PyTensor graph through :func:`jaxbridge.wrap`.
In a compiled ``logp + dlogp`` function (PyMC's NUTS) the value and its gradient come from one
JAX call, fused by wrap's value-and-VJP rewrite.
"""

from __future__ import annotations

from typing import Any

import pytensor.tensor as pt
from pytensor.tensor.variable import TensorVariable

from jaxbridge.hmm._lagged import check_order
from jaxbridge.hmm._sharding import sharded_log_likelihood
from jaxbridge.wrap import wrap


def _log_likelihood(log_emission, init, trans, mask, time_varying, log_probs, order=0):
    """Module-level (picklable) JAX function behind :func:`hmm_logp`.

    Inside :func:`jaxbridge.shard_sequences` (``jaxbridge.sample(..., shard="sequences")``) the
    sequences are split across the context's devices; elsewhere this is
    :func:`jaxbridge.hmm.log_likelihood` itself.
    """
    return sharded_log_likelihood(
        log_emission, init, trans, mask, time_varying=time_varying, log_probs=log_probs, order=order
    )


_wrapped_log_likelihood = wrap(_log_likelihood, name="hmm_log_likelihood")


def hmm_logp(
    log_emission: Any,
    init: Any,
    trans: Any,
    mask: Any = None,
    *,
    time_varying: bool = False,
    log_probs: bool = False,
    order: int = 0,
) -> TensorVariable:
    r"""Marginal log-likelihood of hidden Markov sequences, per sequence, as a PyTensor variable.

    .. math::

        \log p(y_{1:T}) = \log \sum_{z_{1:T}} \pi_{z_1} e_1(z_1)
            \prod_{t=2}^{T} A_{z_{t-1} z_t}\, e_t(z_t),
        \qquad e_t(k) = p(y_t \mid z_t = k),

    computed by the scaled forward algorithm, with gradients by forward–backward
    (Rabiner 1989), in one wrapped JAX call (:func:`jaxbridge.hmm.log_likelihood`).

    Parameters
    ----------
    log_emission : tensor ``[..., T, K]``
        ``log p(y_t | z_t = k)`` for every step and state.
    init : tensor ``[..., K]``
        Initial state probabilities :math:`\pi` (logs when ``log_probs``).
    trans : tensor ``[..., K, K]``, or ``[..., T-1, K, K]`` when ``time_varying``
        Transition probabilities ``trans[i, j] = p(z_t = j | z_{t-1} = i)`` (logs when
        ``log_probs``).
    mask : bool tensor ``[..., T]``, optional
        False marks a missing observation: no emission term, the chain still moves.
    time_varying, log_probs : bool
        See above.
    order : int
        Number of lagged regimes the emission depends on: ``log_emission`` is then
        ``[..., T, K^(order+1)]`` over the tuples of :func:`jaxbridge.hmm.log_likelihood`.

    Returns
    -------
    TensorVariable ``[...]``
        One log-likelihood per sequence (batch dims of all arguments broadcast). Sum it for a
        model term: ``pm.Potential("hmm", hmm_logp(...).sum())``.

    Raises
    ------
    ValueError, TypeError
        When the static shapes or dtypes do not fit (``K`` mismatch, mask not ``[..., T]``).
    """
    log_emission = pt.as_tensor_variable(log_emission)
    dtype = log_emission.dtype if log_emission.dtype.startswith("float") else "float64"
    args = [pt.as_tensor_variable(x).astype(dtype) for x in (log_emission, init, trans)]
    if mask is not None:
        mask = pt.as_tensor_variable(mask)
        if mask.dtype != "bool":
            raise TypeError(f"mask must be a boolean tensor [..., T]; got dtype {mask.dtype}")
    return _wrapped_log_likelihood(
        *args, mask, bool(time_varying), bool(log_probs), check_order(order)
    )
