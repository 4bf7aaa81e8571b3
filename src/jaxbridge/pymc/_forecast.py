r"""Where each hidden chain is now, and what comes next: forecasts of a fitted
:class:`~jaxbridge.MarginalHMM`.

A sequence's "now" is its last present step :math:`T` (the last step with an observation:
padding and missing values at the end are skipped). For every posterior draw :math:`\theta_s`,
with :math:`\Gamma_{T+j}` the transition into step :math:`T + j`:

* the filtered state, :math:`\alpha_T = p(z_T \mid y_{1:T}, \theta_s)`, from the forward
  filter (Rabiner 1989);
* the state forecast, :math:`p(z_{T+h} \mid y_{1:T}, \theta_s) = \alpha_T \,\Gamma_{T+1}
  \cdots \Gamma_{T+h}` (:math:`\alpha_T\,\Gamma^h` for a homogeneous chain);
* one forecast path: :math:`z_T \sim \alpha_T`, :math:`z_{T+j} \sim \Gamma_{T+j}[z_{T+j-1}]`,
  then :math:`y_{T+j} \sim p_e(\cdot \mid z_{T+j}, \theta_s)`, the emission of the drawn state.

State probabilities are averaged over the draws; the observation draws are posterior
predictive draws, so their intervals include the uncertainty of the parameters.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache, partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pymc as pm
import pytensor.tensor as pt
import xarray as xr
from pytensor.tensor.random.op import RandomVariable
from pytensor.tensor.random.type import random_generator_type
from pytensor.tensor.variable import TensorVariable

from jaxbridge import _compat, hmm
from jaxbridge._labels import COVARIATE_PARAMETERS
from jaxbridge.pymc._ar_forecast import ARPaths
from jaxbridge.pymc._covariates import check_covariates, transition_matrices
from jaxbridge.pymc._draws import (
    DrawGraph,
    draw_chunks,
    evaluator,
    hmm_terms,
    marginal_hmm_variable,
    observed_coords,
    observed_dims,
    posterior_draws,
    unstack,
)


def forecast(
    idata: Any,
    model: pm.Model | None = None,
    steps: int = 1,
    *,
    var_name: str | None = None,
    covariates: Any = None,
    future_trans: Any = None,
    interval: float = 0.94,
    random_seed: int | None = None,
    group: str | None = None,
) -> xr.Dataset:
    r"""Filtered current states and ``steps``-ahead forecasts of states and observations.

    Parameters
    ----------
    idata
        Posterior of ``model``, :class:`arviz.InferenceData` or :class:`xarray.DataTree`
        (its ``posterior`` group must hold every free variable).
    model
        The model; the one of the enclosing ``with`` block when ``None``.
    steps
        Forecast horizon :math:`h \ge 1`.
    var_name
        Name of the observed ``MarginalHMM``; needed only when the model has several.
    covariates : ``[N, h, P]`` (or ``[N, h]``), optional
        For a model built with ``covariates=`` (:func:`~jaxbridge.pymc.gaussian_hmm` and the
        other builders): the covariates at the ``h`` future steps of each sequence, which
        drive the transitions into them (required for such a model).
    future_trans : ``[..., h, K, K]``, optional
        For any other model with time-varying transitions: the transition matrices into the
        ``h`` future steps (required for such a model; the same for every draw).
    interval
        Probability of the equal-tailed observation interval.
    random_seed
        Seed of the forecast paths and observation draws.
    group
        When given, the result is also stored in ``idata`` under this group name.

    Returns
    -------
    xarray.Dataset
        With ``...`` the sequence dims of the observed variable (its model dims without the
        last, time):

        * ``current_state_probs (..., state)``: posterior mean of :math:`p(z_T \mid y)`;
        * ``state_probs (..., horizon, state)``: posterior mean of
          :math:`p(z_{T+h} \mid y)`;
        * ``states``, ``observations (chain, draw, ..., horizon)``: one forecast path and
          its observations per posterior draw;
        * ``observation_mean``, ``observation_low``, ``observation_high (..., horizon)``:
          their mean and the ``interval`` (equal-tailed) bounds;
        * ``last_step (...)``: the index of each sequence's now, :math:`T`.

        ``horizon`` runs from 1 to ``steps`` (steps after :math:`T`).

    Raises
    ------
    ValueError
        For ``steps < 1``; for a time-varying model without ``covariates`` or
        ``future_trans``, or with covariates of the wrong shape.
    NotImplementedError
        For an emission that is not a univariate ``RandomVariable`` with scalar parameters
        (``pm.Normal.dist``, ``pm.StudentT.dist``, ``pm.Poisson.dist``, ...).

    Notes
    -----
    Emission parameters that vary along time are taken at the sequence's last present step.
    The module docstring gives the maths.
    """
    steps = _check_steps(steps)
    if not 0 < interval < 1:
        raise ValueError(f"interval must lie strictly between 0 and 1; got {interval!r}")
    model = pm.modelcontext(model)
    rv = marginal_hmm_variable(model, var_name)
    posterior, values = posterior_draws(idata, model)
    num_samples = posterior.sizes["chain"] * posterior.sizes["draw"]
    state_seed, observation_seed = np.random.SeedSequence(random_seed).spawn(2)
    if rv.owner.op.order:  # a switching autoregression: the recursion runs on its own draws
        if covariates is not None or future_trans is not None:
            raise ValueError("covariates and future_trans are for time-varying transitions")
        paths = ARPaths(model, rv, steps)
        last_step = paths.last_step
        with _compat.x64():
            current, probs, states, observations = paths(values, num_samples, state_seed)
    else:
        graph = _ForecastGraph(model, rv, steps, covariates, future_trans)
        last_step = graph.last_step
        with _compat.x64():  # the model's float64 values stay float64
            current, probs, states, params = _forecast_states(
                graph, values, num_samples, steps, rv.owner.op.time_varying, state_seed
            )
        observations = graph.draw_observations(params, states, observation_seed)
    dims = observed_dims(model, rv)[:-1]
    per_draw = ("chain", "draw", *dims, "horizon")
    low, high = np.quantile(observations, [(1 - interval) / 2, (1 + interval) / 2], axis=0)
    data = {
        "current_state_probs": ((*dims, "state"), current),
        "state_probs": ((*dims, "horizon", "state"), probs),
        "states": (per_draw, unstack([states], posterior)),
        "observations": (per_draw, unstack([observations], posterior)),
        "observation_mean": ((*dims, "horizon"), observations.mean(axis=0)),
        "observation_low": ((*dims, "horizon"), low),
        "observation_high": ((*dims, "horizon"), high),
        "last_step": (dims, last_step),
    }
    coords = observed_coords(model, dims) | {
        "chain": posterior["chain"].values,
        "draw": posterior["draw"].values,
        "horizon": np.arange(1, steps + 1),
        "state": np.arange(current.shape[-1]),
    }
    result = xr.Dataset(data, coords=coords, attrs={"interval": interval})
    if group is not None:
        _compat.set_group(idata, group, result)
    return result


def _check_steps(steps: Any) -> int:
    if isinstance(steps, bool) or not isinstance(steps, int | np.integer) or steps < 1:
        raise ValueError(f"steps must be a positive integer (the forecast horizon); got {steps!r}")
    return int(steps)


class _ForecastGraph:
    """The model's graphs a forecast needs, for batches of posterior draws.

    :attr:`terms` gives ``(log_emission, init, trans, present, future_trans, *params)`` per
    batch of draws: the HMM terms (:func:`~jaxbridge.pymc._draws.hmm_terms`), the future
    transitions ``[..., h, K, K]`` (``None`` for a homogeneous chain) and each emission
    parameter at the last present step, ``[..., K]``.
    """

    def __init__(
        self, model: pm.Model, rv: TensorVariable, steps: int, covariates: Any, future_trans: Any
    ):
        emission = rv.owner.inputs[3]
        self._op = _emission_op(emission)
        log_emission, init, trans, present = hmm_terms(model, rv)
        # [..., T, K] as numbers: a graph of the emission's shape would hold the emission
        shape = tuple(int(n) for n in evaluator([], emission.shape)())
        _check_constant_in_time(self._op.dist_params(emission.owner))
        last = _last_present(present, shape)
        #: Index of each sequence's last present step ``[...]``: its now.
        self.last_step = np.asarray(evaluator([], last)())
        params = [
            _at_step(pt.broadcast_to(p, shape), pt.as_tensor(self.last_step))
            for p in self._op.dist_params(emission.owner)
        ]
        ahead = _future_transitions(
            model, rv.owner.op.time_varying, self.last_step.shape, steps, covariates, future_trans
        )
        self._dtypes = [p.dtype for p in params]
        self.terms = DrawGraph(model, [log_emission, init, trans, present, ahead, *params])

    def draw_observations(
        self, params: list[np.ndarray], states: np.ndarray, seed: np.random.SeedSequence
    ) -> np.ndarray:
        """``y [S, ..., h]`` from the emission of ``states [S, ..., h]``, given its parameters
        at the last present step, ``params [S, ..., K]`` each."""
        at_states = [
            np.take_along_axis(
                np.broadcast_to(p[..., None, :], (*states.shape, p.shape[-1])),
                states[..., None],
                axis=-1,
            )[..., 0]
            for p in params
        ]
        rng = random_generator_type("rng")
        inputs = [pt.tensor(dtype=d, shape=(None,) * states.ndim) for d in self._dtypes]
        draw = evaluator([rng, *inputs], self._op.make_node(rng, None, *inputs).outputs[1])
        return np.asarray(draw(np.random.default_rng(seed), *at_states))


def _emission_op(emission: TensorVariable) -> RandomVariable:
    op = emission.owner.op
    if not isinstance(op, RandomVariable) or any(op.ndims_params):
        raise NotImplementedError(
            "forecast draws observations from univariate RandomVariable emissions with scalar "
            f"parameters (pm.Normal.dist, pm.StudentT.dist, pm.Poisson.dist, ...); got {op}"
        )
    return op


def _check_constant_in_time(params: list[TensorVariable]) -> None:
    """Refuse emission parameters that change along the time axis (``[..., T, K]``, e.g. the
    regressors' part of :func:`~jaxbridge.pymc.switching_regression`): their future values are
    not in the model."""
    if any(p.ndim >= 2 and not p.type.broadcastable[-2] for p in params):
        raise NotImplementedError(
            "forecast draws future observations from emission parameters that stay the same in "
            "time; this model's emission changes with each step (regressors), and their future "
            "values are not in the model"
        )


def _last_present(present: TensorVariable | None, shape: tuple[int, ...]) -> TensorVariable:
    """Index of each sequence's last present step ``[...]`` (the last step when none is),
    for emissions of ``shape`` ``[..., T, K]``."""
    num_steps = shape[-2]
    if present is None:
        return pt.as_tensor(np.full(shape[:-2], num_steps - 1))
    present = pt.broadcast_to(present, shape[:-1])
    return num_steps - 1 - pt.argmax(present[..., ::-1], axis=-1)


def _at_step(x: TensorVariable, step: TensorVariable) -> TensorVariable:
    """``x[..., step, :]`` for ``x [..., T, K]`` and ``step [...]``: ``[..., K]``."""
    return pt.take_along_axis(x, step[..., None, None], axis=-2)[..., 0, :]


def _future_transitions(
    model: pm.Model,
    time_varying: bool,
    batch_shape: tuple[int, ...],
    steps: int,
    covariates: Any,
    future_trans: Any,
) -> TensorVariable | None:
    """Transitions into the ``steps`` future steps ``[..., h, K, K]``; ``None`` when homogeneous.

    A builder's covariate-driven transitions (deterministics ``transition_intercept`` and
    ``transition_coef``) are computed from the future ``covariates``
    (:func:`~jaxbridge.pymc.covariate_transitions`); other time-varying models need
    ``future_trans``.
    """
    if not time_varying:
        if covariates is not None or future_trans is not None:
            raise ValueError(
                "covariates and future_trans are for time-varying transitions; this model's "
                "transitions are the same at every step"
            )
        return None
    if covariates is not None and future_trans is not None:
        raise ValueError("give covariates or future_trans, not both")
    if future_trans is not None:
        return _checked_future_trans(future_trans, steps)
    if not all(name in model.named_vars for name in COVARIATE_PARAMETERS):
        raise ValueError(
            "this model's transitions vary in time, so a forecast needs the transitions into "
            f"the {steps} future step(s): pass future_trans [..., {steps}, K, K]"
        )
    if covariates is None:
        raise ValueError(
            "this model's transitions follow covariates, so a forecast needs their future "
            f"values: pass covariates [N, {steps}, P], the covariates at the {steps} step(s) "
            "after each sequence's last observation"
        )
    intercept, coef = (model.named_vars[name] for name in COVARIATE_PARAMETERS)
    x = check_covariates(covariates, (int(np.prod(batch_shape)), steps))
    return transition_matrices(x, intercept, coef)


def _checked_future_trans(future_trans: Any, steps: int) -> TensorVariable:
    values = np.asarray(future_trans, dtype=float)
    if values.ndim < 3 or values.shape[-3] != steps or values.shape[-1] != values.shape[-2]:
        raise ValueError(
            f"future_trans must have shape [..., {steps}, K, K] (one matrix per future step); "
            f"got {values.shape}"
        )
    if (values < 0).any() or not np.allclose(values.sum(-1), 1.0):
        raise ValueError("future_trans rows must be probabilities summing to one")
    return pt.as_tensor_variable(values)


def _forecast_states(
    graph: _ForecastGraph,
    values: list[np.ndarray],
    num_samples: int,
    steps: int,
    time_varying: bool,
    seed: np.random.SeedSequence,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[np.ndarray]]:
    """Posterior-mean current and forecast state probabilities, and per draw ``[S, ...]`` the
    forecast paths and the emission parameters at the last present step."""
    *hmm_axes, param_axes = _split(graph.terms.in_axes)
    forecast_chunk = _chunk_function(steps, time_varying, tuple(hmm_axes))
    last = jnp.asarray(graph.last_step)
    keys = jax.random.split(jax.random.key(int(seed.generate_state(1)[0])), num_samples)
    current_sum, probs_sum, states, params = 0.0, 0.0, [], []
    for rows, (chunk_keys, *chunk) in draw_chunks([keys, *values], num_samples):
        *terms, chunk_params = _split(graph.terms(chunk))
        current, probs, path = (
            np.asarray(x)[:rows] for x in forecast_chunk(chunk_keys, last, *terms)
        )
        chunk_params = [
            p if axis is None else p[:rows]
            for p, axis in zip(chunk_params, param_axes, strict=True)
        ]
        current_sum = current_sum + np.asarray(current).sum(axis=0)
        probs_sum = probs_sum + np.asarray(probs).sum(axis=0)
        states.append(np.asarray(path))
        params.append(
            [
                p if axis == 0 else np.broadcast_to(p, (len(path), *p.shape))
                for p, axis in zip(chunk_params, param_axes, strict=True)
            ]
        )
    params = [np.concatenate(ps) for ps in zip(*params, strict=True)]
    return current_sum / num_samples, probs_sum / num_samples, np.concatenate(states), params


@lru_cache(maxsize=16)
def _chunk_function(steps: int, time_varying: bool, in_axes: tuple) -> Callable:
    """:func:`_forecast_draw` vectorised over a chunk of draws (kept: a repeated forecast of
    the same shapes compiles nothing)."""
    draw = partial(_forecast_draw, steps=steps, time_varying=time_varying)
    return jax.jit(jax.vmap(draw, in_axes=(0, None, *in_axes)))


def _split(terms: tuple | list) -> tuple:
    """``(log_emission, init, trans, present, future_trans, [params...])`` from the flat list
    of :attr:`_ForecastGraph.terms` outputs (or of their ``in_axes``)."""
    return (*terms[:5], list(terms[5:]))


@partial(jax.jit, static_argnames=("steps", "time_varying"))
def _forecast_draw(
    key, last, log_emission, init, trans, mask, future_trans, *, steps, time_varying
):
    """For one posterior draw: ``p(z_T | y)`` ``[..., K]``, ``p(z_{T+h} | y)`` ``[..., h, K]``
    and one forecast path ``[..., h]`` (module docstring)."""
    filtered = hmm.filter(log_emission, init, trans, mask, time_varying=time_varying)
    now = jnp.take_along_axis(filtered.filtered_probs, last[..., None, None], axis=-2)[..., 0, :]
    num_states = now.shape[-1]
    if future_trans is None:  # homogeneous: the same matrix at every future step
        future_trans = trans[..., None, :, :]
    ahead = jnp.broadcast_to(future_trans, (*now.shape[:-1], steps, num_states, num_states))
    now_key, path_key = jax.random.split(key)
    state = jax.random.categorical(now_key, jnp.log(now))

    def _step(carry, inputs):
        probs, state = carry
        trans_h, key_h = inputs
        probs = jnp.einsum("...i,...ij->...j", probs, trans_h)
        row = jnp.take_along_axis(trans_h, state[..., None, None], axis=-2)[..., 0, :]
        state = jax.random.categorical(key_h, jnp.log(row))
        return (probs, state), (probs, state)

    time_major = (jnp.moveaxis(ahead, -3, 0), jax.random.split(path_key, steps))
    _, (probs, states) = jax.lax.scan(_step, (now, state), time_major)
    return now, jnp.moveaxis(probs, 0, -2), jnp.moveaxis(states, 0, -1)
