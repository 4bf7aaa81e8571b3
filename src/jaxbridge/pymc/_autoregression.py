r"""Markov-switching autoregression (Hamilton 1989), Bayesian.

For each series (one or many, ragged lengths allowed) the regime :math:`z_t \in \{0, \dots,
K-1\}` follows a Markov chain, and the deviations from the regime means follow an
autoregression of order :math:`p`:

.. math::

    y_t - m_{t, z_t} = \sum_{j=1}^{p} \phi_{j}^{(z_t)} \bigl(y_{t-j} - m_{t-j, z_{t-j}}\bigr)
        + \varepsilon_t, \qquad \varepsilon_t \sim N(0, \sigma_{z_t}^2),
    \qquad m_{t, k} = \alpha_k + x_t^\top \beta_k + w_t^\top \gamma,

with statsmodels' ``MarkovAutoregression`` names and semantics: the mean (``const``, and the
regressors' coefficients ``beta``/``gamma``) switches or not (``switching_trend``,
``switching_exog``), the AR coefficients switch with the current regime or not
(``switching_ar``), the noise scale switches or not (``switching_variance``). As statsmodels
does, the likelihood conditions on each series' first :math:`p` observations.

Because the lagged terms are centred on the *lagged* regimes' means, the emission of step
:math:`t` depends on the tuple :math:`(z_t, \dots, z_{t-p})`: the model is a hidden Markov
model over :math:`K^{p+1}` tuples whose moves are those of the regimes, run by the structured
recursion of :func:`jaxbridge.hmm.log_likelihood` with ``order=p`` (one step costs
:math:`O(K^{p+2})`, not :math:`O(K^{2(p+1)})`). The chain starts from the stationary
distribution of the transitions (``init="stationary"``) or from a free ``p_initial_state``,
the distribution of the regime :math:`p` steps before the first modelled observation.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from jaxbridge.pymc._models import _build
from jaxbridge.pymc._switching import (
    _regressors,
    _switching_flags,
    regression_terms,
    series_values,
)

#: Default Dirichlet concentrations of staying in a regime and of each move out of it.
TRANSITION_PRIOR = (8.0, 2.0)


def switching_autoregression(
    observed: Any,
    states: int = 2,
    *,
    order: int,
    switching_ar: bool = False,
    switching_trend: bool = True,
    switching_variance: bool = False,
    exog: Any = None,
    switching_exog: bool | Sequence[bool] = False,
    init: str = "stationary",
    transition_prior: tuple[float, float] = TRANSITION_PRIOR,
    sequence: Any = None,
) -> pm.Model:
    r"""Markov-switching autoregression of order ``order`` (module docstring), as a PyMC model.

    Parameters
    ----------
    observed : ``[N, T]`` or ``[T]``
        The series :math:`y`; shorter series are padded with NaN at the end. Each series must
        be observed without gaps (the lags of every modelled step must be known) and be longer
        than ``order``.
    states
        Number of regimes ``K``.
    order
        The autoregression's order :math:`p`.
    switching_ar
        Whether the AR coefficients switch with the current regime (all lags together).
        statsmodels' default is ``True``; Hamilton's model, the default here, has common
        coefficients.
    switching_trend, switching_variance
        Whether the mean's intercept / the noise scale switch with the regime.
    exog, switching_exog
        Regressors of the mean :math:`m_{t,k}` (``[N, T, P]``, ``[T, P]`` for one series; named
        as in :func:`~jaxbridge.pymc.switching_regression`) and whether their coefficients
        switch (one flag, or one per regressor; statsmodels' default ``False``).
    init : {"stationary", "free"}
        The chain's start: the transitions' stationary distribution, or a free
        ``p_initial_state``.
    transition_prior
        Dirichlet concentrations ``(stay, move)`` of each row of ``p_transition``: on staying
        and on each move to another regime (see Notes).
    sequence
        Labels of the ``N`` series (coordinate ``sequence``).

    Returns
    -------
    pymc.Model
        Free variables ``const [regime]`` (or a scalar), ``beta``/``gamma`` with ``exog``,
        ``sigma [regime]`` (or a scalar), ``pacf [lag]`` (``[regime, lag]`` when switching)
        with the deterministic AR coefficients ``ar`` of the same dims, the chain's
        ``p_transition [from_regime, to_regime]``, deterministic ``expected_duration
        [regime]``, and the observed ``hmm [sequence, time]`` over the modelled steps
        (``time`` from ``order`` on: the first ``order`` observations are conditioned on).

    Notes
    -----
    Priors: those of :func:`~jaxbridge.pymc.switching_regression` for ``const``, ``beta``,
    ``gamma`` and ``sigma`` (scaled to the data). Rows of ``p_transition`` are
    :math:`\mathrm{Dirichlet}(8, 2)` for two regimes (``transition_prior=(8, 2)``: prior mean
    0.8 of staying, a visit of 5 steps on average): regimes persist, and each is entered now
    and then — the prior density vanishes as a move's probability goes to zero. With uniform
    rows the posterior of Hamilton's data keeps a long tail towards a regime that is never
    entered, whose mean the data then cannot place, and NUTS mixes poorly there. The AR
    coefficients are parametrised by their partial autocorrelations (Barndorff-Nielsen &
    Schou 1973; Monahan 1984), ``pacf`` :math:`r_j \sim U(-1, 1)` (Jones 1987), mapped to
    :math:`\phi` (``ar``) by the Durbin–Levinson recursion: every draw is a stationary
    autoregression, and the prior is proper.

    Regimes are ordered by their switching intercepts (regime 0 has the lowest mean: in
    Hamilton's model, the recession), with the highest intercept as the sampler's anchor and
    the gaps below it on a log scale (:class:`~jaxbridge.pymc._ordered.StandardOrdered` with
    ``from_top``): the regime of most steps is the best determined; without a switching
    intercept, they are ordered by the switching scales.

    Raises
    ------
    ValueError
        Naming the argument: ``order`` not a positive integer, a series with a gap (a NaN
        before its last observation), one not longer than ``order``, or a regressor that does
        not fit (as :func:`~jaxbridge.pymc.switching_regression`).
    """
    if isinstance(order, bool) or not isinstance(order, int | np.integer) or order < 1:
        raise ValueError(f"order must be a positive integer (the number of lags); got {order!r}")
    values, present = series_values(observed)
    _check_contiguous(present, order)
    x, names = _regressors(exog, values.shape, present)
    switching = _switching_flags(switching_exog, len(names))
    if not isinstance(switching_ar, bool | np.bool_):
        raise ValueError(
            f"switching_ar must be True or False (all lags switch, or none); got {switching_ar!r}"
        )
    filled = np.where(present, values, 0.0)  # padding: any value, those steps are masked
    coords = {
        "regressor": names[switching],
        "common_regressor": names[~switching],
        "lag": np.arange(1, order + 1),
        "time": np.arange(order, values.shape[1]),
    }

    def emission(_steps: np.ndarray) -> pm.Distribution:
        mean, sigma = regression_terms(
            values[present],
            x,
            present,
            switching,
            states,
            switching_trend,
            switching_variance,
            from_top=True,
        )
        phi = _ar_coefficients(bool(switching_ar), states, order)  # [K, p]
        mu = _tuple_means(filled, pt.as_tensor_variable(mean), phi, states, order)
        sigma = sigma if not switching_variance else pt.repeat(sigma, states**order)
        return pm.Normal.dist(mu=mu, sigma=sigma)

    return _build(
        values[:, order:],
        states,
        sequence,
        emission,
        init=init,
        state="regime",
        coords=coords,
        durations=True,
        order=order,
        transition_prior=transition_prior,
    )


def _check_contiguous(present: np.ndarray, order: int) -> None:
    """Each series: observed from its first step to its last, then NaN padding only, and
    longer than ``order``."""
    for n, row in enumerate(present):
        length = int(row.sum())
        if not row[:length].all():
            gap = int(np.flatnonzero(~row[:length])[0])
            raise ValueError(
                f"observed: series {n} has a missing value at step {gap} before its last "
                f"observation; a switching autoregression needs every lag of every modelled "
                "step (pad shorter series with NaN at the end only)"
            )
        if length <= order:
            raise ValueError(
                f"observed: series {n} has {length} observation(s); with order={order} the "
                f"likelihood conditions on the first {order}, so it needs more than {order}"
            )


def _ar_coefficients(switching_ar: bool, states: int, order: int) -> Any:
    """The free partial autocorrelations ``pacf`` and the deterministic AR coefficients ``ar``
    (Durbin–Levinson): ``[lag]``, or ``[regime, lag]`` when switching; returned as ``[K, p]``."""
    dims = ("regime", "lag") if switching_ar else ("lag",)
    shape = (states, order) if switching_ar else (order,)
    pacf = pm.Uniform("pacf", -1.0, 1.0, shape=shape, dims=dims)
    ar = pm.Deterministic("ar", durbin_levinson(pacf), dims=dims)
    return ar if switching_ar else pt.shape_padleft(ar, 1) * pt.ones((states, 1))


def durbin_levinson(pacf: Any) -> Any:
    r"""AR coefficients ``[..., p]`` from partial autocorrelations ``[..., p]`` in ``(-1, 1)``:
    :math:`\phi^{(k)}_j = \phi^{(k-1)}_j - r_k \phi^{(k-1)}_{k-j}`, :math:`\phi^{(k)}_k = r_k`
    (Monahan 1984). Stationary for any ``pacf`` inside the interval."""
    order = pacf.type.shape[-1]
    phi = pacf[..., :1]
    for k in range(1, order):
        r = pacf[..., k : k + 1]
        phi = pt.concatenate([phi - r * phi[..., ::-1], r], axis=-1)
    return phi


def _tuple_means(y: np.ndarray, mean: Any, phi: Any, states: int, order: int) -> Any:
    r"""Emission means ``[N, T-p, K^{p+1}]`` over the tuples ``(z_t, ..., z_{t-p})`` (C order):
    :math:`m_{t,z_t} + \sum_j \phi_j^{(z_t)} (y_{t-j} - m_{t-j, z_{t-j}})` for ``t >= p``, from
    ``y [N, T]``, the regime means ``mean`` (``[K]`` or ``[N, T, K]``) and ``phi [K, p]``."""
    steps = y.shape[1]
    mean = pt.broadcast_to(mean, (*y.shape, states))
    deviation = y[..., None] - mean  # [N, T, K]
    tuple_axes = list(range(2, order + 3))  # axis 2 + j holds z_{t-j}

    def on_axis(x: Any, lag: int) -> Any:
        """``x [N, T-p, K]`` moved to the tuple axis of ``z_{t-lag}``."""
        return pt.expand_dims(x, [a for a in tuple_axes if a != 2 + lag])

    total = on_axis(mean[:, order:, :], 0)
    for lag in range(1, order + 1):
        coefficient = pt.expand_dims(phi[:, lag - 1], [0, 1, *tuple_axes[1:]])  # on z_t's axis
        total = total + coefficient * on_axis(deviation[:, order - lag : steps - lag, :], lag)
    return total.reshape((y.shape[0], steps - order, states ** (order + 1)))
