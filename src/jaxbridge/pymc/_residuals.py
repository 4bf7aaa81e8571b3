"""Ordinary normal pseudo-residuals of a fitted :class:`~jaxbridge.MarginalHMM`.

For each step the one-step-ahead predictive distribution of ``y_t`` given ``y_{1:t-1}`` is a
mixture of the state emissions, weighted by the predicted state probabilities

.. math::

    u_t = F(y_t \\mid y_{1:t-1}) = \\sum_k p(z_t = k \\mid y_{1:t-1}) \\, F_k(y_t), \\qquad
    r_t = \\Phi^{-1}(u_t),

with ``p(z_1 = k | ·) = init_k`` and ``p(z_t = · | y_{1:t-1}) = p(z_{t-1} = · | y_{1:t-1}) Γ_t``
(the forward filter, Rabiner 1989). When the model is right, the ``r_t`` are independent
standard normal: a QQ plot against ``N(0, 1)`` shows tails, skew or outliers the model misses.
For discrete emissions (counts) the mid-pseudo-residual ``Φ^{-1}((F(y_t - 1) + F(y_t)) / 2)``
is used (Zucchini, MacDonald & Langrock 2016, *Hidden Markov Models for Time Series*, §6.2).
Parameters are the posterior means of the free variables.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pymc as pm
import pytensor.tensor as pt
import xarray as xr
from pymc.logprob.basic import logcdf, logp
from scipy.special import ndtri

from jaxbridge import _compat, hmm
from jaxbridge.hmm._lagged import dense_chain
from jaxbridge.pymc._distribution import observed_values
from jaxbridge.pymc._draws import (
    evaluator,
    marginal_hmm_variable,
    observed_coords,
    observed_dims,
    stand_in_point,
)

#: ``u_t`` is kept this far inside (0, 1), so that ``r_t`` stays finite (``|r_t| < 8``).
_EDGE = 1e-15


def pseudo_residuals(idata: Any, model: pm.Model | None = None, var_name: str | None = None):
    """Ordinary normal pseudo-residuals ``r_t`` of the observed HMM (module docstring).

    Parameters
    ----------
    idata
        Posterior of ``model`` (its ``posterior`` group must hold every free variable).
    model
        The model; the one of the enclosing ``with`` block when ``None``.
    var_name
        Name of the observed ``MarginalHMM``; needed only when the model has several.

    Returns
    -------
    xarray.DataArray
        ``pseudo_residual (..., step)``, the observed variable's dims; NaN at missing steps.

    Raises
    ------
    ValueError
        For a multivariate emission (``pm.MvNormal``, ``pm.Dirichlet``, ...): a vector has no
        CDF to transform, so there are no ordinary pseudo-residuals.
    """
    return PseudoResiduals(pm.modelcontext(model), var_name)(idata)


class PseudoResiduals:
    """:func:`pseudo_residuals` of one model, set up once; :meth:`compile` compiles what it
    runs before the posterior exists."""

    def __init__(self, model: pm.Model, var_name: str | None = None):
        rv = marginal_hmm_variable(model, var_name)
        if rv.owner.op.event_ndim:
            raise ValueError(
                f"pseudo_residuals needs a univariate emission; {rv.name!r} has a multivariate "
                f"emission ({rv.owner.op.event_ndim} support dimension(s)), whose vectors have "
                "no CDF to transform"
            )
        _rng, init, trans, emission, mask = rv.owner.inputs
        value, present = observed_values(model.rvs_to_values[rv], mask)
        present = pt.ones(value.shape, dtype=bool) if present is None else present
        discrete = emission.dtype.startswith("int")
        at = value[..., None]
        cdfs = [logcdf(emission, at), *([logcdf(emission, at - 1)] if discrete else [])]
        outputs = [logp(emission, at), init, trans, present, *cdfs]
        self._fn = evaluator(model.free_RVs, outputs, on_unused_input="ignore")
        self._free, self._op = model.free_RVs, rv.owner.op
        self._dims = observed_dims(model, rv)
        self._coords = observed_coords(model, self._dims)

    def compile(self, point: list[np.ndarray] | None = None) -> None:
        """Compile the forward filter for the data, at ``point`` (a value of each free
        variable; :func:`~jaxbridge.pymc._draws.stand_in_point` when ``None``)."""
        self._at(stand_in_point(self._free) if point is None else point)

    def __call__(self, idata: Any) -> xr.DataArray:
        """The pseudo-residuals at the posterior mean of ``idata``'s free variables."""
        posterior = _compat.get_group(idata, "posterior")
        point = [posterior[v.name].mean(("chain", "draw")).values for v in self._free]
        residuals, present = self._at(point)
        return xr.DataArray(
            np.where(present, residuals, np.nan),
            dims=self._dims,
            coords=self._coords,
            name="pseudo_residual",
        )

    def _at(self, point: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """``r_t`` at every step and the present steps, at the free variables' ``point``."""
        log_emission, init_v, trans_v, present_v, *log_cdfs = self._fn(*point)
        time_varying, order = self._op.time_varying, self._op.order
        with _compat.x64():
            if order:  # the predictive mixture is over tuples of lagged regimes
                init_v, trans_v = dense_chain(
                    init_v, trans_v, time_varying=time_varying, log_probs=False, order=order
                )
            filtered = hmm.filter(
                log_emission, init_v, trans_v, present_v, time_varying=time_varying
            )
        predicted = _predicted(np.asarray(filtered.filtered_probs), init_v, trans_v, time_varying)
        u = np.mean([np.sum(predicted * np.exp(c), axis=-1) for c in log_cdfs], axis=0)
        return ndtri(np.clip(u, _EDGE, 1 - _EDGE)), present_v


def _predicted(filtered: np.ndarray, init, trans, time_varying: bool) -> np.ndarray:
    """``p(z_t = k | y_{1:t-1})`` ``[..., T, K]``: ``init`` at the first step, then the
    filtered marginals of the step before moved one step by the transition matrix."""
    trans = np.asarray(trans) if time_varying else np.asarray(trans)[..., None, :, :]
    moved = (filtered[..., :-1, None, :] @ trans)[..., 0, :]
    first = np.broadcast_to(np.asarray(init)[..., None, :], (*moved.shape[:-2], 1, moved.shape[-1]))
    return np.concatenate([first, moved], axis=-2)
