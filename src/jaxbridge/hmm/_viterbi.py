"""Most probable state path by the Viterbi algorithm (max-product in log space).

``delta_1 = log init + log_emission_1``,
``delta_t(j) = max_i [delta_{t-1}(i) + log trans_t[i, j]] + log_emission_t(j)``, then
backtracking through the stored argmaxes (Rabiner 1989, section III.B). ``delta`` is
re-centred on its maximum each step and the offsets are summed after the loop, so
``float32`` keeps its resolution on long sequences.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax

from jaxbridge.hmm._inputs import prepare, to_batch_major
from jaxbridge.hmm._lagged import lagged_as_dense
from jaxbridge.hmm._types import ViterbiResult

__all__ = ["viterbi"]


def _centre(delta: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Subtract the maximum over states (axis 0 of ``[K, ...]``); return it too."""
    top = jnp.max(delta, axis=0)
    top = jnp.where(top == -jnp.inf, jnp.zeros((), top.dtype), top)
    return delta - top[None], top


def viterbi(
    log_emission: Any,
    init: Any,
    trans: Any,
    mask: Any = None,
    *,
    time_varying: bool = False,
    log_probs: bool = False,
    order: int = 0,
) -> ViterbiResult:
    """Most probable hidden path ``argmax_z p(z_{1:T} | y_{1:T})``.

    Arguments as :func:`~jaxbridge.hmm.log_likelihood`. Masked steps carry no emission
    term. Ties go to the lowest state index. With lagged states (``order > 0``) the most
    probable tuple path is found on the tuple chain's full matrix and its current regimes
    returned (the most probable regime path: tuple and regime paths correspond one to one).

    Returns
    -------
    ViterbiResult
        ``path [..., T]`` (int32) and ``log_prob [...] = log p(z*, y)``.
    """
    options = dict(time_varying=time_varying, log_probs=log_probs)
    init, trans, regime_of = lagged_as_dense(log_emission, init, trans, mask, order, **options)
    best = _viterbi_jit(log_emission, init, trans, mask, **options)
    return best._replace(path=regime_of(best.path))


@partial(jax.jit, static_argnames=("time_varying", "log_probs"))
def _viterbi_jit(log_emission, init, trans, mask, *, time_varying, log_probs) -> ViterbiResult:
    tm = prepare(
        log_emission, init, trans, mask, time_varying=time_varying, log_probs=log_probs, logs=True
    )
    log_trans = tm.trans

    def _step(delta_prev, xs):
        log_emission_t, log_trans_t = xs
        # scores[i, j, ...] = delta_{t-1}(i) + log trans_t[i, j]
        scores = delta_prev[:, None] + (log_trans if log_trans_t is None else log_trans_t)
        pointer = jnp.argmax(scores, axis=0).astype(jnp.int32)
        delta, top = _centre(jnp.max(scores, axis=0) + log_emission_t)
        return delta, (pointer, top)

    delta_1, top_1 = _centre(tm.init + tm.log_emission[0])
    delta_last, (pointers, tops) = lax.scan(
        _step, delta_1, (tm.log_emission[1:], log_trans if time_varying else None)
    )
    last = jnp.argmax(delta_last, axis=0).astype(jnp.int32)
    log_prob = top_1 + jnp.sum(tops, axis=0) + jnp.max(delta_last, axis=0)

    def _backtrack(state_next, pointer_next):
        state = jnp.take_along_axis(pointer_next, state_next[None], axis=0)[0]
        return state, state

    _, states = lax.scan(_backtrack, last, pointers, reverse=True)
    path = jnp.concatenate([states, last[None]])
    return ViterbiResult(to_batch_major(path, event_rank=0), log_prob)
