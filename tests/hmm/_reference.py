"""Independent references for the HMM kernels: enumeration of all K^T paths.

Everything here is written in the most literal way (probability space, no recursions),
so it shares no code or numerical trick with :mod:`jaxbridge.hmm`. It is exact for any
parameters, zero probabilities included, and differentiable with ``jax.grad`` (in
probability space the likelihood is a polynomial in ``init`` and ``trans``).
"""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import logsumexp


def all_paths(num_states: int, num_steps: int) -> np.ndarray:
    """Every state path, ``[K**T, T]``."""
    return np.array(list(itertools.product(range(num_states), repeat=num_steps)), dtype=np.int32)


def _path_terms(log_emission, init, trans, mask, time_varying):
    """``p(z)`` and ``log p(y | z)`` for every path of one sequence: two ``[K**T]`` arrays.

    ``log_emission [T, K]``, ``init [K]``, ``trans [K, K]`` or ``[T-1, K, K]``, ``mask [T]``.
    """
    num_steps, num_states = log_emission.shape
    paths = all_paths(num_states, num_steps)
    steps = np.arange(num_steps)
    emission_terms = log_emission[steps, paths]  # [P, T]
    if mask is not None:
        emission_terms = jnp.where(jnp.asarray(mask), emission_terms, 0.0)
    prob = init[paths[:, 0]]
    for t in range(1, num_steps):
        trans_t = trans[t - 1] if time_varying else trans
        prob = prob * trans_t[paths[:, t - 1], paths[:, t]]
    return prob, jnp.sum(emission_terms, axis=1)


def log_joint(log_emission, init, trans, mask=None, *, time_varying=False):
    """``log p(z, y)`` for every path of one sequence: ``[K**T]``."""
    prob, log_lik = _path_terms(log_emission, init, trans, mask, time_varying)
    return jnp.log(prob) + log_lik


def log_likelihood(log_emission, init, trans, mask=None, *, time_varying=False):
    """``log p(y) = log Σ_z p(z) p(y | z)``, in probability space so that ``jax.grad`` is
    exact at zero probabilities too."""
    prob, log_lik = _path_terms(log_emission, init, trans, mask, time_varying)
    top = jax.lax.stop_gradient(jnp.max(log_lik))
    return top + jnp.log(jnp.sum(prob * jnp.exp(log_lik - top)))


def posterior_paths(log_emission, init, trans, mask=None, *, time_varying=False) -> np.ndarray:
    """``p(z | y)`` for every path, ``[K**T]``."""
    joint = np.asarray(log_joint(log_emission, init, trans, mask, time_varying=time_varying))
    return np.exp(joint - np.logaddexp.reduce(joint))


def smoothed(log_emission, init, trans, mask=None, *, time_varying=False) -> np.ndarray:
    """``p(z_t = k | y)``, ``[T, K]``."""
    num_steps, num_states = log_emission.shape
    post = posterior_paths(log_emission, init, trans, mask, time_varying=time_varying)
    paths = all_paths(num_states, num_steps)
    return np.stack([np.bincount(paths[:, t], post, num_states) for t in range(num_steps)])


def viterbi(log_emission, init, trans, mask=None, *, time_varying=False):
    """Most probable path ``[T]`` and its ``log p(z*, y)``."""
    num_steps, num_states = log_emission.shape
    joint = np.asarray(log_joint(log_emission, init, trans, mask, time_varying=time_varying))
    best = int(np.argmax(joint))
    return all_paths(num_states, num_steps)[best], joint[best]


def logsumexp_forward(log_emission, log_init, log_trans):
    """The seed page's log-space forward recursion (``lax.scan`` + ``logsumexp``, autodiff)."""

    def _step(log_alpha, log_emission_t):
        return logsumexp(log_alpha[:, None] + log_trans, axis=0) + log_emission_t, None

    log_alpha, _ = jax.lax.scan(_step, log_init + log_emission[0], log_emission[1:])
    return logsumexp(log_alpha)


def random_hmm(rng: np.random.Generator, batch, num_steps, num_states, *, time_varying=False):
    """Random ``log_emission [*batch, T, K]``, ``init [K]`` and ``trans``."""
    log_emission = rng.normal(scale=2.0, size=(*batch, num_steps, num_states))
    init = rng.dirichlet(np.ones(num_states))
    shape = (num_steps - 1, num_states) if time_varying else (num_states,)
    trans = rng.dirichlet(np.ones(num_states), size=shape)
    return log_emission, init, trans
