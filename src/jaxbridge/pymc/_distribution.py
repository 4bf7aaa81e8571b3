"""``MarginalHMM``: observed hidden-Markov sequences with the hidden states summed out.

The distribution is a :class:`~pymc.distributions.distribution.SymbolicRandomVariable` (the
pattern of ``pm.Mixture`` and ``pm.AR``) with inputs ``init [..., K]``, ``trans [..., K, K]``
(``[..., T-1, K, K]`` when time varying), the emission distribution resized to the batch shape
``[..., T, K]`` (its last *batch* dimension indexes the states) and ``mask [..., T]``. The
emission may be multivariate: with support shape ``E`` (``[D]`` for ``pm.MvNormal``, ``pm.Dirichlet``,
``pm.Multinomial``; ``()`` for a univariate one) it has shape ``[..., T, K, *E]`` and the
observations ``y [..., T, *E]``; univariate emissions are the case ``E = ()`` of the same code.

* **Random graph** (prior/posterior predictive): the hidden chain ``z`` is drawn by inverse
  CDF from uniforms ``u [..., T]``, ``z_1 = #{k : F_init(k) < u_1}``,
  ``z_t = #{k : F_{trans[z_{t-1}]}(k) < u_t}`` (a deterministic ``scan`` over time), then
  ``y_t [*E]`` is the emission draw of state ``z_t``.
* **Log-density** (:func:`marginal_hmm_logprob`): the emission's log-density at every
  observation and state, ``log_emission [..., T, K] = logp(emission, y[..., None, *E])`` (a
  state axis inserted before the support dimensions), feeds
  :func:`jaxbridge.hmm_logp` (one wrapped JAX call). Missing steps (mask False, or NaN in any
  component of ``y_t``) get a safe in-support fill value (a whole observed step) before the
  emission log-density (no NaN gradients) and are masked in the forward algorithm. The result is one log-likelihood per sequence ``[...]``,
  so ``pm.compute_log_likelihood`` is pointwise per sequence.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytensor
import pytensor.tensor as pt
from pymc.distributions.distribution import (
    Distribution,
    SymbolicRandomVariable,
    _support_point,
    support_point,
)
from pymc.distributions.shape_utils import (
    _change_dist_size,
    change_dist_size,
    get_support_shape,
    get_support_shape_1d,
    rv_size_is_none,
)
from pymc.logprob.abstract import _logprob
from pymc.logprob.basic import logp
from pytensor.graph.basic import Apply, Constant
from pytensor.raise_op import Assert
from pytensor.tensor.random.utils import normalize_size_param
from pytensor.tensor.variable import TensorVariable

from jaxbridge._validation import trans_rank
from jaxbridge.hmm._lagged import check_order
from jaxbridge.pymc._distribution_checks import (
    check_emission,
    check_observed_rank,
    check_shapes,
    emission_event_ndim,
    folded,
    steps_from_inputs,
)
from jaxbridge.pymc._logp import hmm_logp


class MarginalHMMRV(SymbolicRandomVariable):
    """Symbolic random variable of :class:`MarginalHMM` (see the module docstring)."""

    _print_name = ("MarginalHMM", "\\operatorname{MarginalHMM}")

    def __init__(self, *args, time_varying: bool, event_ndim: int = 0, order: int = 0, **kwargs):
        self.time_varying = time_varying
        self.event_ndim = event_ndim
        self.order = order
        trans_sig = "(s,k,k)" if time_varying else "(k,k)"
        event = "".join(f",e{i}" for i in range(event_ndim))
        states = "m" if order else "k"  # the K^(order+1) tuples of lagged states
        kwargs["extended_signature"] = (
            f"[rng],(k),{trans_sig},(t,{states}{event}),(t)->[rng],(t{event})"
        )
        super().__init__(*args, **kwargs)

    @property
    def chain(self) -> dict[str, Any]:
        """The hidden chain's options of the :mod:`jaxbridge.hmm` functions."""
        return {"time_varying": self.time_varying, "order": self.order}

    @classmethod
    def rv_op(
        cls, init, trans, emission, mask, steps, *, time_varying: bool, order: int = 0, size=None
    ):
        rng = pytensor.shared(np.random.default_rng())
        size = normalize_size_param(size)
        trans_core = trans_rank(time_varying)
        event_ndim = emission_event_ndim(emission)
        state_axis = emission.ndim - event_ndim - 1
        if rv_size_is_none(size):
            batch = pt.broadcast_shape(
                tuple(init.shape)[:-1],
                tuple(trans.shape)[:-trans_core],
                tuple(emission.shape)[: max(state_axis - 1, 0)],
                tuple(mask.shape)[:-1],
                arrays_are_shapes=True,
            )
        else:
            batch = tuple(size)
        emission = change_dist_size(emission, (*batch, steps, emission.shape[state_axis]))

        # shapes of the inner graph come from the resized emission (an input of the op)
        steps_shape = emission.shape[: emission.ndim - event_ndim - 1]  # [..., T]
        if order:  # the regimes z_{1-p}, ..., z_T
            steps_shape = (*steps_shape[:-1], steps_shape[-1] + order)
        # the node itself: calling the op hides the next rng (deprecated in PyTensor 3)
        uniform = pt.random.uniform.make_node(rng, normalize_size_param(steps_shape), 0.0, 1.0)
        next_rng, uniforms = uniform.outputs
        moves = trans
        if order and time_varying:  # the first matrix moves the p regimes before step 1 too
            first = pt.repeat(trans[..., :1, :, :], order, axis=-3)
            moves = pt.concatenate([first, trans], axis=-3)
        states = _lagged_states(_markov_chain(uniforms, init, moves, time_varying), init, order)
        draws = select_state(emission, states, event_ndim)
        return cls(
            inputs=[rng, init, trans, emission, mask],
            outputs=[next_rng, draws],
            time_varying=time_varying,
            event_ndim=event_ndim,
            order=order,
        )(rng, init, trans, emission, mask)

    def update(self, node: Apply) -> dict:
        return {node.inputs[0]: node.outputs[0]}


def select_state(values: TensorVariable, states: TensorVariable, event_ndim: int) -> TensorVariable:
    """``values[..., z, *E]`` from ``values [..., K, *E]`` and states ``z`` broadcastable to
    ``[...]``: the state axis is the one before the ``event_ndim`` support dimensions."""
    axis = values.ndim - event_ndim - 1
    return _take(values, pt.shape_padright(states, 1 + event_ndim), axis)


def _take(values: TensorVariable, index: TensorVariable, axis: int) -> TensorVariable:
    """``values`` at ``index`` along ``axis``, which ``index`` (same rank) has as a length-1
    axis and broadcasts to ``values`` on the others: ``take_along_axis``, as a one-hot sum when
    the axis has a static length (no ``arange`` of a symbolic length, which JAX cannot compile,
    so the model's draws compile to JAX)."""
    size = values.type.shape[axis]
    if size is None:
        shape = (*values.shape[:axis], 1, *values.shape[axis + 1 :])
        return pt.take_along_axis(values, pt.broadcast_to(index, shape), axis=axis).squeeze(axis)
    positions = np.arange(size).reshape((size,) + (1,) * (values.ndim - axis - 1))
    picked = pt.switch(pt.eq(index, positions), values, pt.zeros((), dtype=values.dtype))
    return pt.sum(picked, axis=axis, dtype=values.dtype)


def _lagged_states(regimes: TensorVariable, init: TensorVariable, order: int) -> TensorVariable:
    """Tuple states ``[..., T]`` (``z_t K^p + ... + z_{t-p}``, :mod:`jaxbridge.hmm._lagged`) from
    the regimes ``z_{1-p}, ..., z_T`` ``[..., T + p]``; the regimes themselves when ``order=0``."""
    if not order:
        return regimes
    num_states, steps = init.shape[-1], regimes.shape[-1] - order
    return sum(
        regimes[..., order - lag : order - lag + steps] * num_states ** (order - lag)
        for lag in range(order + 1)
    )


def _inverse_cdf(probs: TensorVariable, u: TensorVariable) -> TensorVariable:
    """Index ``k`` with ``F(k-1) < u <= F(k)`` for probability vectors ``probs [..., K]``."""
    cdf = pt.cumsum(probs, axis=-1)[..., :-1]  # the last entry is 1 up to round-off
    return pt.sum(cdf < u[..., None], axis=-1)


def _next_state(trans, z_prev, u):
    """Draw ``z_t`` from row ``z_prev`` of ``trans [..., K, K]`` by inverse CDF."""
    return _inverse_cdf(_take(trans, z_prev[..., None, None], axis=trans.ndim - 2), u)


def _markov_chain(uniforms, init, trans, time_varying: bool) -> TensorVariable:
    """Hidden states ``[..., T]`` driven by ``uniforms [..., T]`` (inverse CDF per step)."""
    batch = tuple(uniforms.shape)[:-1]
    num_states = init.shape[-1]
    u_time_major = pt.moveaxis(uniforms, -1, 0)
    first = _inverse_cdf(pt.broadcast_to(init, (*batch, num_states)), u_time_major[0])
    if time_varying:  # scan over (u_t, trans_t)
        trans = pt.broadcast_to(trans, (*batch, uniforms.shape[-1] - 1, num_states, num_states))
        rest = pytensor.scan(
            lambda u_t, trans_t, z_prev: _next_state(trans_t, z_prev, u_t),
            sequences=[u_time_major[1:], pt.moveaxis(trans, -3, 0)],
            outputs_info=[first],
            return_updates=False,
        )
    else:  # scan over u_t, trans a non-sequence
        # broadcast inside the loop: broadcast outside, to one series' batch of one, it becomes
        # an outer input whose static shape (1, K, K) the rewrites learn only after the loop's
        # inner type (?, K, K) was set, and PyTensor's clean-up of the Scan's inputs then fails
        # (an error printed to the user's terminal: tests/pymc/test_draws.py)
        rest = pytensor.scan(
            lambda u_t, z_prev, trans: _next_state(
                pt.broadcast_to(trans, (*z_prev.shape, *trans.shape[-2:])), z_prev, u_t
            ),
            sequences=[u_time_major[1:]],
            outputs_info=[first],
            non_sequences=[trans],
            return_updates=False,
        )
    return pt.moveaxis(pt.concatenate([first[None], rest], axis=0), 0, -1)


class MarginalHMM(Distribution):
    r"""Hidden Markov sequences ``y [..., T, *E]`` with the hidden states marginalised out.

    .. math::

        p(y_{1:T}) = \sum_{z_{1:T}} \text{init}_{z_1}\, p_e(y_1 \mid z_1)
            \prod_{t=2}^{T} \text{trans}_{z_{t-1} z_t}\, p_e(y_t \mid z_t)

    computed by the forward algorithm (Rabiner 1989) in one JAX call per evaluation.

    Parameters
    ----------
    name : str
    init : tensor ``[..., K]``
        Initial state probabilities (e.g. ``pm.Dirichlet``).
    trans : tensor ``[..., K, K]``, or ``[..., T-1, K, K]`` with ``time_varying=True``
        ``trans[i, j] = p(z_t = j | z_{t-1} = i)``.
    emission : unnamed distribution
        ``pm.X.dist(...)`` whose **last batch dimension indexes the K states**, e.g.
        ``pm.Normal.dist(mu=(pt.arange(3) + 1) * signal, sigma=noise)``; its batch shape is
        resized to ``[..., T, K]``, so parameters may also vary per sequence or step.
        Multivariate emissions (support shape ``E``, e.g. ``[D]``) work the same way:
        ``pm.MvNormal.dist(mu=mus, chol=chols)`` with ``mus [K, D]``, ``chols [K, D, D]``,
        or ``pm.Dirichlet.dist(a=alphas)`` / ``pm.Multinomial.dist(n=..., p=ps)`` with
        ``[K, D]`` parameters; the observations are then ``[..., T, D]``.
    mask : bool array ``[..., T]``, optional
        False marks a missing (or padding) step. NaN observations are missing too; with a
        multivariate emission a step with a NaN in **any** component is missing as a whole
        (its other components are not used: there is no per-component marginalisation).
    time_varying : bool
        Whether ``trans`` has a time axis.
    order : int
        Number ``p`` of lagged regimes the emission depends on (Hamilton's switching
        autoregression): the emission's state axis then has the ``K^(p+1)`` tuples
        ``(z_t, ..., z_{t-p})`` (C order, current regime first; see
        :func:`jaxbridge.hmm.log_likelihood`), ``init [..., K]`` is the distribution of the
        first step's oldest regime ``z_{1-p}``, and ``trans`` stays ``[..., K, K]``. Predictive
        draws then simulate the regimes and draw each step from its tuple's emission (an
        emission built from the observed lags gives one-step-ahead draws).
    steps : int, optional
        ``T``; only needed when neither ``observed``, ``shape``/``dims`` nor a mask fix it.
    **kwargs
        ``observed``, ``dims``, ``shape`` ... as for any PyMC distribution.

    Notes
    -----
    * The observations are ``[..., T]`` for a univariate emission and ``[..., T, *E]`` for
      one with support shape ``E``; a wrongly shaped ``observed`` raises naming the shape.
    * The log-density has one element per sequence (shape ``[...]``), so
      ``pm.compute_log_likelihood`` and ``az.loo`` treat each sequence as one observation.
    * Missing steps are stored in ``observed_data`` with a fill value (an observed value).
    * Predictive draws (``pm.sample_prior_predictive``, ``pm.sample_posterior_predictive``)
      simulate the hidden chain and then the emissions.
    """

    rv_type = MarginalHMMRV
    rv_op = MarginalHMMRV.rv_op

    def __new__(
        cls,
        name: str,
        init: Any,
        trans: Any,
        emission: TensorVariable,
        *,
        mask: Any = None,
        time_varying: bool = False,
        order: int = 0,
        steps: int | None = None,
        observed: Any = None,
        **kwargs: Any,
    ) -> TensorVariable:
        check_emission(emission)
        event_ndim = emission_event_ndim(emission)
        if observed is not None:
            observed, mask = _fill_missing(observed, mask, event_ndim)
            check_observed_rank(observed, init, trans, emission, mask, time_varying)
        steps = _support_steps(steps, event_ndim, dims=kwargs.get("dims"), observed=observed)
        return super().__new__(
            cls,
            name,
            init,
            trans,
            emission,
            mask=mask,
            time_varying=time_varying,
            order=order,
            steps=steps,
            observed=observed,
            **kwargs,
        )

    @classmethod
    def dist(
        cls,
        init: Any,
        trans: Any,
        emission: TensorVariable,
        *,
        mask: Any = None,
        time_varying: bool = False,
        order: int = 0,
        steps: int | None = None,
        **kwargs: Any,
    ) -> TensorVariable:
        check_emission(emission)
        order = check_order(order)
        init = pt.as_tensor_variable(init)
        trans = pt.as_tensor_variable(trans)
        steps = _support_steps(steps, emission_event_ndim(emission), shape=kwargs.get("shape"))
        if steps is None:
            steps = steps_from_inputs(trans, emission, mask, time_varying)
        steps = pt.as_tensor_variable(steps, dtype="int64", ndim=0)
        mask = pt.ones((steps,), dtype=bool) if mask is None else pt.as_tensor_variable(mask)
        check_shapes(init, trans, emission, mask, steps, time_varying, order)
        return super().dist(
            [init, trans, emission, mask, steps], time_varying=time_varying, order=order, **kwargs
        )


def _support_steps(steps: Any, event_ndim: int, **sources: Any) -> Any:
    """``T`` from ``shape``/``dims``/``observed`` (``[..., T, *E]``), checked against ``steps``."""
    if event_ndim == 0:
        return get_support_shape_1d(support_shape=steps, **sources)
    support = get_support_shape(support_shape=None, ndim_supp=1 + event_ndim, **sources)
    if support is None:
        return steps
    inferred = support[0]
    if steps is None:
        return inferred
    return Assert("steps does not match the observations' T (axis -1 - event dims)")(
        steps, pt.eq(steps, inferred)
    )


def _fill_missing(observed: Any, mask: Any, event_ndim: int = 0) -> tuple[Any, Any]:
    """Replace steps with a NaN (in any of their ``event_ndim`` support dimensions) by an
    observed step and mark them False in the mask ``[..., T]``.

    PyMC would otherwise try to impute NaN entries of a multivariate variable.
    """
    if isinstance(observed, TensorVariable | pt.sharedvar.SharedVariable):
        return observed, mask  # symbolic data: NaN are handled in the log-density
    values = np.asarray(observed)
    if values.ndim < 1 + event_ndim:
        layout = "[..., T]" if event_ndim == 0 else f"[..., T, *E] ({event_ndim} support dims)"
        raise ValueError(f"observed must be sequences {layout}; got a {values.ndim}-d value")
    if not np.issubdtype(values.dtype, np.floating):
        return observed, mask
    event_axes = tuple(range(values.ndim - event_ndim, values.ndim))
    missing = np.isnan(values).any(axis=event_axes)  # [..., T]
    if not missing.any():
        return observed, mask
    if missing.all():
        raise ValueError("observed holds only NaN: there is nothing to fit")
    present = ~missing
    if mask is not None:
        mask_values = np.asarray(mask)
        if mask_values.dtype != bool:
            raise TypeError(f"mask must be boolean [..., T]; got dtype {mask_values.dtype}")
        present = present & mask_values
    fill = values[~missing][0]  # a whole observed step [*E]: in the support
    filled = np.where(np.expand_dims(missing, event_axes), fill, values)
    return filled, present


@_change_dist_size.register(MarginalHMMRV)
def _change_marginal_hmm_size(op, dist, new_size, expand=False):
    _rng, init, trans, emission, mask = dist.owner.inputs
    step_axis = dist.ndim - op.event_ndim - 1
    if expand:
        new_size = tuple(new_size) + tuple(dist.shape[:step_axis])
    return MarginalHMMRV.rv_op(
        init,
        trans,
        emission,
        mask,
        dist.shape[step_axis],
        time_varying=op.time_varying,
        order=op.order,
        size=new_size,
    )


@_support_point.register(MarginalHMMRV)
def _marginal_hmm_support_point(op, rv, rng, init, trans, emission, mask):
    """The emission's support point in the initially most probable state (kept at every lag)."""
    regime = pt.argmax(init, axis=-1)[..., None]  # [..., 1]: the same state at every step
    state = regime * sum(init.shape[-1] ** lag for lag in range(op.order + 1))
    return select_state(support_point(emission), state, op.event_ndim)


@_logprob.register(MarginalHMMRV)
def marginal_hmm_logprob(op, values, rng, init, trans, emission, mask, **kwargs):
    """Per-sequence marginal log-likelihood ``[...]`` of ``value [..., T, *E]``."""
    (value,) = values
    log_emission, present = emission_log_density(value, emission, mask)
    return hmm_logp(log_emission, init, trans, present, **op.chain)


def emission_log_density(
    value: TensorVariable, emission: TensorVariable, mask: TensorVariable
) -> tuple[TensorVariable, TensorVariable | None]:
    r"""``log p(y_t | z_t = k)`` ``[..., T, K]`` and the present-steps mask ``[..., T]`` (or None).

    ``value [..., T, *E]`` gets a state axis before its support dimensions,
    ``logp(emission, y[..., T, None, *E])``, so that it broadcasts against the emission
    ``[..., T, K, *E]``. Missing steps (mask False or a NaN in any component) are evaluated at
    an observed step, which lies in the emission's support, so neither the value nor the
    gradient of the masked terms is NaN.
    """
    event_ndim = emission_event_ndim(emission)
    value, present = observed_values(value, mask, event_ndim)
    return logp(emission, pt.expand_dims(value, value.ndim - event_ndim)), present


def observed_values(
    value: TensorVariable, mask: TensorVariable, event_ndim: int = 0
) -> tuple[TensorVariable, TensorVariable | None]:
    """``value [..., T, *E]`` with its missing steps replaced by an observed step, and the
    present-steps mask ``[..., T]`` (or None when nothing is missing)."""
    present = _present(value, mask, event_ndim)
    if present is not None:
        event_shape = tuple(value.shape)[value.ndim - event_ndim :]
        steps = value.reshape((-1, *event_shape), ndim=1 + event_ndim)  # [steps, *E]
        fill = steps[pt.argmax(present.ravel())]
        value = pt.where(pt.shape_padright(present, event_ndim), value, fill)
    return value, present


def _present(value, mask, event_ndim: int = 0) -> TensorVariable | None:
    """Boolean ``[..., T]``: observed, and no component NaN; ``None`` when nothing is missing
    for sure."""
    value_may_be_nan = value.dtype.startswith("float") and not (
        isinstance(value, Constant) and not np.isnan(value.data).any()
    )
    mask_values = folded(mask)
    mask_all_true = mask_values is not None and bool(np.all(mask_values))
    if mask_all_true and not value_may_be_nan:
        return None
    step_ndim = value.ndim - event_ndim
    present = pt.broadcast_to(mask, tuple(value.shape)[:step_ndim])
    if value_may_be_nan:
        nan = pt.isnan(value)
        if event_ndim:
            nan = pt.any(nan, axis=tuple(range(step_ndim, value.ndim)))
        present = present & ~nan
    return present
