"""Posterior state paths by forward filtering, backward sampling (Chib 1996; Frühwirth-Schnatter 2006).

After the scaled forward pass, ``z_T ~ p(z_T | y_{1:T}) = alpha_T`` and, going backwards,
``p(z_t = i | z_{t+1} = j, y) ∝ alpha_t(i) trans_{t+1}[i, j]``.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax

from jaxbridge.hmm._inputs import prepare, scale_emissions
from jaxbridge.hmm._lagged import lagged_as_dense
from jaxbridge.hmm._recursions import forward_scan

__all__ = ["sample_paths"]


def _backward_sample(key, alpha, trans, time_varying: bool) -> jax.Array:
    """One path ``[T, ...]`` from filtered ``alpha [T, K, ...]``."""
    num_steps, num_states = alpha.shape[:2]
    keys = jax.random.split(key, num_steps)
    last = jax.random.categorical(keys[-1], jnp.log(alpha[-1]), axis=0).astype(jnp.int32)

    def _step(state_next, xs):
        key_t, alpha_t, trans_next = xs
        trans_next = trans if trans_next is None else trans_next  # [K, K, ...]
        full = jnp.broadcast_to(trans_next, (num_states, *alpha_t.shape))
        column = jnp.take_along_axis(full, state_next[None, None], axis=1)[:, 0]
        state = jax.random.categorical(key_t, jnp.log(alpha_t * column), axis=0).astype(jnp.int32)
        return state, state

    _, states = lax.scan(
        _step, last, (keys[:-1], alpha[:-1], trans if time_varying else None), reverse=True
    )
    return jnp.concatenate([states, last[None]])


def sample_paths(
    key: jax.Array,
    log_emission: Any,
    init: Any,
    trans: Any,
    mask: Any = None,
    *,
    num_samples: int = 1,
    time_varying: bool = False,
    log_probs: bool = False,
    order: int = 0,
) -> jax.Array:
    """Draw hidden paths from ``p(z_{1:T} | y_{1:T})`` (forward filtering, backward sampling).

    Arguments as :func:`~jaxbridge.hmm.log_likelihood`, plus a JAX PRNG ``key`` and
    ``num_samples``. With lagged states (``order > 0``) the tuple paths are drawn on the
    tuple chain's full matrix and the current regimes returned.

    Returns
    -------
    [num_samples, ..., T] int32
    """
    if int(num_samples) < 1:
        raise ValueError(f"num_samples must be >= 1; got {num_samples}")
    options = dict(time_varying=time_varying, log_probs=log_probs)
    init, trans, regime_of = lagged_as_dense(log_emission, init, trans, mask, order, **options)
    return regime_of(
        _sample_paths_jit(
            key,
            log_emission,
            init,
            trans,
            mask,
            num_samples=int(num_samples),
            time_varying=time_varying,
            log_probs=log_probs,
        )
    )


@partial(jax.jit, static_argnames=("num_samples", "time_varying", "log_probs"))
def _sample_paths_jit(
    key, log_emission, init, trans, mask, *, num_samples, time_varying, log_probs
) -> jax.Array:
    tm = prepare(log_emission, init, trans, mask, time_varying=time_varying, log_probs=log_probs)
    emission, _ = scale_emissions(tm.log_emission)
    alpha, _ = forward_scan(tm.init, tm.trans, emission, time_varying=time_varying)
    keys = jax.random.split(key, num_samples)
    paths = jax.vmap(lambda k: _backward_sample(k, alpha, tm.trans, time_varying))(keys)
    return jnp.moveaxis(paths, 1, -1)
