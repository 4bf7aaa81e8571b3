r"""Forecasts of a Markov-switching autoregression (:func:`~jaxbridge.pymc.switching_autoregression`)
that know the regimes.

For every posterior draw :math:`\theta_s` and each series, with :math:`T` its last observation:

* the filtered distribution of the last tuple of regimes, :math:`p(z_T, \dots, z_{T-p} \mid
  y_{1:T}, \theta_s)`, from the forward filter over the tuples (Hamilton 1989);
* the regime forecast :math:`p(z_{T+h} \mid y, \theta_s) = p(z_T \mid y, \theta_s)\,\Gamma^h`;
* one forecast path: the last tuple drawn from its filtered distribution, then
  :math:`z_{T+h} \sim \Gamma[z_{T+h-1}]` and the autoregression run on the values it makes,

  .. math::

      y_{T+h} = m_{z_{T+h}} + \sum_{j=1}^{p} \phi_j^{(z_{T+h})}
          \bigl(y_{T+h-j} - m_{z_{T+h-j}}\bigr) + \sigma_{z_{T+h}} \varepsilon_{T+h},

  with the observed values (and the drawn regimes) as the first lags.

The observation draws are posterior predictive draws: their intervals hold the uncertainty of
the regimes, the noise and the parameters.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache, partial

import jax
import jax.numpy as jnp
import numpy as np
import pymc as pm
import pytensor.tensor as pt
from pytensor.tensor.variable import TensorVariable

from jaxbridge import hmm
from jaxbridge.hmm._lagged import dense_chain, regime_marginals
from jaxbridge.pymc._draws import DrawGraph, draw_chunks, evaluator, hmm_terms

__all__ = ["PARAMETERS", "ARPaths"]

#: The builder's variables the recursion needs: regime means, AR coefficients, noise scales.
PARAMETERS = ("const", "ar", "sigma")


class ARPaths:
    """Forecast paths of a switching autoregression for batches of posterior draws."""

    def __init__(self, model: pm.Model, rv: TensorVariable, steps: int):
        self.order = rv.owner.op.order
        missing = [name for name in PARAMETERS if name not in model.named_vars]
        if missing or "beta" in model.named_vars or "gamma" in model.named_vars:
            raise NotImplementedError(
                f"forecast: {rv.name!r} has lagged regimes; forecasts run the autoregression of "
                "jaxbridge.pymc.switching_autoregression without regressors (their future "
                "values are not in the model)"
                + (f"; this model has no {', '.join(missing)}" if missing else "")
            )
        log_emission, init, trans, present = hmm_terms(model, rv)
        num_states = int(evaluator([], init.shape[-1])())
        const, ar, sigma = (model.named_vars[name] for name in PARAMETERS)
        regime_means = pt.broadcast_to(const, (num_states,))
        coefficients = pt.broadcast_to(ar, (num_states, self.order))
        scales = pt.broadcast_to(sigma, (num_states,))
        value = model.rvs_to_values[rv]
        observed, mask = evaluator([], [value, _mask(present, value)])()
        #: Index of each series' last modelled step ``[N]`` (its now).
        self.last_step = observed.shape[-1] - 1 - np.argmax(mask[..., ::-1], axis=-1)
        if (self.last_step < self.order - 1).any():
            raise ValueError(
                f"forecast: a series has fewer than order={self.order} modelled steps; the "
                "forecast's first lags are its last observed values"
            )
        lags = np.arange(self.order)  # y_{T-j}, j = 0 .. p-1
        self.recent = np.take_along_axis(observed, self.last_step[:, None] - lags, axis=-1)
        self.steps = steps
        self.terms = DrawGraph(
            model, [log_emission, init, trans, present, regime_means, coefficients, scales]
        )

    def __call__(
        self, values: list[np.ndarray], num_samples: int, seed: np.random.SeedSequence
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Posterior-mean current and forecast regime probabilities, and per draw ``[S, N, h]``
        the forecast regimes and observations."""
        chunk_fn = _chunk_function(self.steps, self.order, tuple(self.terms.in_axes))
        keys = jax.random.split(jax.random.key(int(seed.generate_state(1)[0])), num_samples)
        last, recent = jnp.asarray(self.last_step), jnp.asarray(self.recent)
        current, probs, states, observations = 0.0, 0.0, [], []
        for rows, (chunk_keys, *chunk) in draw_chunks([keys, *values], num_samples):
            now, ahead, path, ys = (
                np.asarray(x)[:rows] for x in chunk_fn(chunk_keys, last, recent, *self.terms(chunk))
            )
            current = current + np.asarray(now).sum(axis=0)
            probs = probs + np.asarray(ahead).sum(axis=0)
            states.append(np.asarray(path))
            observations.append(np.asarray(ys))
        return (
            current / num_samples,
            probs / num_samples,
            np.concatenate(states),
            np.concatenate(observations),
        )


@lru_cache(maxsize=16)
def _chunk_function(steps: int, order: int, in_axes: tuple) -> Callable:
    """:func:`_forecast_draw` vectorised over a chunk of draws (kept: a repeated forecast of
    the same shapes compiles nothing)."""
    draw = partial(_forecast_draw, steps=steps, order=order)
    return jax.jit(jax.vmap(draw, in_axes=(0, None, None, *in_axes)))


def _mask(present: TensorVariable | None, value: TensorVariable) -> TensorVariable:
    return pt.ones(value.shape, dtype=bool) if present is None else present


def _forecast_draw(
    key, last, recent, log_emission, init, trans, mask, means, coefficients, scales, *, steps, order
):
    """For one posterior draw: ``p(z_T | y)`` ``[N, K]``, ``p(z_{T+h} | y)`` ``[N, h, K]``, and
    one forecast path of regimes and values ``[N, h]`` each (module docstring)."""
    num_states = init.shape[-1]
    first, full = dense_chain(init, trans, time_varying=False, log_probs=False, order=order)
    filtered = hmm.filter(log_emission, first, full, mask).filtered_probs  # [N, T, K^(p+1)]
    now = jnp.take_along_axis(filtered, last[:, None, None], axis=-2)[:, 0]  # [N, M]
    tuple_key, path_key = jax.random.split(key)
    tuple_now = jax.random.categorical(tuple_key, jnp.log(now))  # [N]
    place = num_states ** jnp.arange(order, 0, -1)  # z_{T-j} is the digit K^(p-j), j < p
    regimes = (tuple_now[:, None] // place) % num_states  # [N, p]: z_T, ..., z_{T-p+1}

    def _step(carry, key_h):
        probs, regimes, values = carry
        probs = probs @ trans
        regime_key, noise_key = jax.random.split(key_h)
        regime = jax.random.categorical(regime_key, jnp.log(trans[regimes[:, 0]]))  # [N]
        deviations = values - means[regimes]  # [N, p]
        mean = means[regime] + jnp.sum(coefficients[regime] * deviations, axis=-1)
        value = mean + scales[regime] * jax.random.normal(noise_key, mean.shape, mean.dtype)
        regimes = jnp.concatenate([regime[:, None], regimes[:, :-1]], axis=-1)
        values = jnp.concatenate([value[:, None], values[:, :-1]], axis=-1)
        return (probs, regimes, values), (probs, regime, value)

    current = regime_marginals(now, num_states)
    carry = (current, regimes, recent.astype(means.dtype))
    _, (probs, path, values) = jax.lax.scan(_step, carry, jax.random.split(path_key, steps))
    return current, jnp.moveaxis(probs, 0, 1), path.T, values.T
