"""Forward simulation of Markov chains and of HMMs with Normal emissions."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jaxbridge._validation import broadcast_batch_shapes, check_transition_inputs

__all__ = ["simulate", "simulate_normal"]


def _check_simulation(init, trans, num_steps, batch_shape, *, time_varying) -> tuple[int, ...]:
    """Validate the chain parameters; return the broadcast batch shape."""
    if int(num_steps) < 1:
        raise ValueError(f"num_steps must be >= 1; got {num_steps}")
    _, init_batch, trans_batch = check_transition_inputs(
        init, trans, time_varying=time_varying, log_probs=False, num_steps=num_steps
    )
    return broadcast_batch_shapes(
        {"batch_shape": tuple(batch_shape), "init": init_batch, "trans": trans_batch}
    )


def simulate(
    key: jax.Array,
    init: Any,
    trans: Any,
    num_steps: int,
    *,
    batch_shape: Sequence[int] = (),
    time_varying: bool = False,
) -> jax.Array:
    """Simulate hidden state paths: ``z_1 ~ init``, ``z_t ~ trans_t[z_{t-1}]``.

    Parameters
    ----------
    key
        JAX PRNG key.
    init : [..., K]
        Initial probabilities.
    trans : [..., K, K], or [..., num_steps-1, K, K] when ``time_varying``
        Transition probabilities, rows sum to one.
    num_steps
        ``T >= 1``.
    batch_shape
        Number of independent chains; broadcast with the batch dims of ``init``/``trans``.

    Returns
    -------
    ``[*batch_shape, num_steps]`` int32
    """
    shape = _check_simulation(init, trans, num_steps, batch_shape, time_varying=time_varying)
    return _simulate_jit(
        key, init, trans, num_steps=int(num_steps), shape=shape, time_varying=time_varying
    )


@partial(jax.jit, static_argnames=("num_steps", "shape", "time_varying"))
def _simulate_jit(key, init, trans, *, num_steps, shape, time_varying) -> jax.Array:
    log_init = jnp.log(jnp.asarray(init))
    log_trans = jnp.log(jnp.asarray(trans))
    num_states = log_init.shape[-1]
    if time_varying:
        log_trans = jnp.moveaxis(
            jnp.broadcast_to(log_trans, (*shape, num_steps - 1, num_states, num_states)), -3, 0
        )
    keys = jax.random.split(key, num_steps)
    first = jax.random.categorical(keys[0], log_init, shape=shape).astype(jnp.int32)

    def _step(state_prev, xs):
        key_t, log_trans_t = xs
        rows = jnp.broadcast_to(
            log_trans if log_trans_t is None else log_trans_t, (*shape, num_states, num_states)
        )
        logits = jnp.take_along_axis(rows, state_prev[..., None, None], axis=-2)[..., 0, :]
        state = jax.random.categorical(key_t, logits).astype(jnp.int32)
        return state, state

    _, rest = lax.scan(_step, first, (keys[1:], log_trans if time_varying else None))
    return jnp.moveaxis(jnp.concatenate([first[None], rest]), 0, -1)


def simulate_normal(
    key: jax.Array,
    init: Any,
    trans: Any,
    means: Any,
    sigma: Any,
    num_steps: int,
    *,
    batch_shape: Sequence[int] = (),
) -> tuple[jax.Array, jax.Array]:
    """Simulate an HMM with Normal emissions ``y_t ~ Normal(means[z_t], sigma)``.

    ``means`` is ``[K]``; ``sigma`` a scalar or ``[K]`` (per-state scale). Other arguments
    as :func:`simulate`.

    Returns
    -------
    states : ``[*batch_shape, num_steps]`` int32
    emissions : ``[*batch_shape, num_steps]``
    """
    means = jnp.asarray(means)
    sigma = jnp.asarray(sigma)
    num_states = np.shape(init)[-1]
    if means.shape != (num_states,):
        raise ValueError(f"means must have shape [K] with K={num_states}; got shape {means.shape}")
    if sigma.shape not in ((), (num_states,)):
        raise ValueError(
            f"sigma must be a scalar or have shape [K]={num_states}; got shape {sigma.shape}"
        )
    shape = _check_simulation(init, trans, num_steps, batch_shape, time_varying=False)
    return _simulate_normal_jit(
        key, init, trans, means, sigma, num_steps=int(num_steps), shape=shape
    )


@partial(jax.jit, static_argnames=("num_steps", "shape"))
def _simulate_normal_jit(key, init, trans, means, sigma, *, num_steps, shape):
    state_key, noise_key = jax.random.split(key)
    states = _simulate_jit(
        state_key, init, trans, num_steps=num_steps, shape=shape, time_varying=False
    )
    scale = sigma[states] if sigma.ndim else sigma
    dtype = jnp.result_type(means, sigma, float)
    noise = jax.random.normal(noise_key, states.shape, dtype)
    return states, means[states] + scale * noise
