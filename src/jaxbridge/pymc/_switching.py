r"""Markov-switching regression (Hamilton 1989; Kim & Nelson 1999, ch. 4), Bayesian.

For each series :math:`n` (one or many, ragged lengths allowed), the regime :math:`z_t \in
\{0, \dots, K-1\}` follows a Markov chain, and

.. math::

    y_t = \alpha_{z_t} + x_t^\top \beta_{z_t} + w_t^\top \gamma + \varepsilon_t, \qquad
    \varepsilon_t \sim N(0, \sigma_{z_t}^2),

with statsmodels' ``MarkovRegression`` names and semantics: the intercept (``const``) switches
or not (``switching_trend``), each regressor's coefficient switches (``beta [regime,
regressor]``) or not (``gamma [common_regressor]``) (``switching_exog``), the noise scale
switches or not (``switching_variance``; statsmodels reports the variance ``sigma2``
:math:`= \sigma^2`), and the transitions are constant (``p_transition``) or follow covariates
through a multinomial logit (``exog_tvtp``, :func:`~jaxbridge.pymc.covariate_transitions`:
staying is the reference). The chain starts from the transitions' stationary distribution
(``init="stationary"``, statsmodels' default steady-state start) or from a free
``p_initial_state``. The regimes' expected durations :math:`1 / (1 - p_{kk})` are reported as
``expected_duration [regime]``.

The likelihood is that of :class:`~jaxbridge.MarginalHMM`: the regression's density at every
step and regime, one ``[N, T, K]`` tensor, feeds the forward algorithm.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from jaxbridge.pymc._models import _build
from jaxbridge.pymc._ordered import StandardOrdered


def switching_regression(
    observed: Any,
    states: int = 2,
    *,
    exog: Any = None,
    switching_exog: bool | Sequence[bool] = True,
    switching_trend: bool = True,
    switching_variance: bool = False,
    exog_tvtp: Any = None,
    init: str = "stationary",
    sequence: Any = None,
) -> pm.Model:
    r"""Markov-switching regression (module docstring), as a PyMC model.

    Parameters
    ----------
    observed : ``[N, T]`` or ``[T]``
        The response :math:`y`; NaN marks a missing step (pad shorter series with NaN).
    states
        Number of regimes ``K``.
    exog : ``[N, T, P]``, ``[T, P]`` (one series) or ``[N, T]`` / ``[T]`` (one regressor), optional
        Regressors (no constant column: the intercept is ``const``). A
        :class:`pandas.DataFrame` or an :class:`xarray.DataArray` names them (columns, or its
        last dim's coordinates), else they are ``x0, x1, ...``. Must be finite wherever
        ``observed`` is not missing.
    switching_exog
        Whether the regressors' coefficients switch with the regime: one flag for all, or one
        per regressor (statsmodels' ``switching_exog``).
    switching_trend, switching_variance
        Whether the intercept / the noise scale switch with the regime.
    exog_tvtp : ``[N, T, P']``, optional
        Covariates driving the transitions (statsmodels' ``exog_tvtp``, without its constant
        column: the logit has its own intercept). The covariate at step ``t`` drives the move
        into ``t``.
    init : {"stationary", "free"}
        The chain's start: the stationary distribution of the transitions (with
        ``exog_tvtp``, of the first step's matrix), or a free ``p_initial_state``.
    sequence
        Labels of the ``N`` series (coordinate ``sequence``).

    Returns
    -------
    pymc.Model
        Free variables ``level [regime]`` (or a scalar; ``const`` itself when no regressor is
        centred), ``beta [regime, regressor]``, ``gamma [common_regressor]``, ``sigma
        [regime]`` (or a scalar), the chain's ``p_transition [from_regime, to_regime]`` (or the
        logit's ``transition_intercept`` and ``transition_coef``), deterministics ``const``
        (from ``level``) and ``expected_duration [regime]`` (with ``exog_tvtp``: at the
        covariates' mean), and the observed ``hmm [sequence, time]``.

    Notes
    -----
    Priors, with :math:`m` and :math:`d` the median and standard deviation of the observed
    :math:`y`, and :math:`\bar x_p`, :math:`s_p` each regressor's mean and standard deviation:

    .. math::

        \beta_{kp}, \gamma_p \sim N(0, 2d / s_p), \qquad
        \lambda_k \sim N(m, 2d), \qquad
        \alpha_k = \lambda_k - \textstyle\sum_p \bar x_p \beta_{kp} - \sum_p \bar x_p \gamma_p,
        \qquad \sigma_k \sim N^+(d),

    weakly informative on any scale (a one-standard-deviation change of a regressor moves
    :math:`y` by a few of its standard deviations at most). The intercept is sampled as
    ``level`` :math:`\lambda_k`, the regression's value at the regressors' means, and reported
    as ``const`` :math:`\alpha_k` (its prior
    :math:`N\bigl(m, 2d\,\sqrt{1 + \sum_p \bar x_p^2 / s_p^2}\bigr)`): far from zero, an
    intercept at :math:`x = 0` is as correlated with the coefficients as the regressors' means
    are large. Without a switching intercept only the common regressors are centred (the
    switching ones' share then widens :math:`\lambda`'s prior: :math:`\alpha`'s is the same);
    without regressors to centre, ``const`` is sampled itself. Dirichlet(1) rows for
    ``p_transition``.

    Regimes are told apart by order: the switching levels are increasing (regime 0 has the
    lowest regression value at the regressors' means, the lowest intercept when there are no
    switching coefficients); without a switching intercept, the switching noise scales; with
    neither, nothing orders the regimes, and their labels may swap between chains (the
    sampler's mode check says so).

    Raises
    ------
    ValueError
        Naming the argument (and the regressor) for a shape that does not fit, a regressor that
        is missing where the response is present, constant, or collinear with the others.
    """
    values, present = series_values(observed)
    x, names = _regressors(exog, values.shape, present)
    switching = _switching_flags(switching_exog, len(names))
    coords = {"regressor": names[switching], "common_regressor": names[~switching]}
    tvtp = None if exog_tvtp is None else _named(exog_tvtp, "covariate")

    def emission(steps: np.ndarray) -> pm.Distribution:
        mu, sigma = regression_terms(
            steps, x, present, switching, states, switching_trend, switching_variance
        )
        return pm.Normal.dist(mu=mu, sigma=sigma)

    return _build(
        values,
        states,
        sequence,
        emission,
        tvtp,
        init=init,
        state="regime",
        coords=coords,
        durations=True,
        covariates_name="exog_tvtp",
    )


def regression_terms(
    steps: np.ndarray,
    x: np.ndarray,
    present: np.ndarray,
    switching: np.ndarray,
    states: int,
    switching_trend: bool,
    switching_variance: bool,
    from_top: bool = False,
) -> tuple[Any, Any]:
    """The free variables ``level`` (the intercept at the regressors' means), ``beta``,
    ``gamma`` and ``sigma``, the deterministic ``const`` (priors of
    :func:`switching_regression`'s Notes, from the observed values ``steps``), and the
    regression mean ``mu`` (``[K]``, or ``[N, T, K]`` with regressors ``x [N, T, P]``) and
    ``sigma``.

    The intercept is sampled at the regressors' means, ``const = level - coef @ x_mean`` over
    the centred regressors: all of them when the intercept switches, else the common ones
    (whose coefficient does not switch either). An intercept at ``x = 0`` far from the data is
    an extrapolation as correlated with the coefficients as the regressors' means are large,
    a correlation the sampler would have to adapt to (the fedfunds example: divergences and
    chains apart on half the seeds). Without centred regressors ``const`` is the free variable
    itself. ``mu`` is computed from ``const``: fixing it with :func:`pymc.do` fixes the
    regression."""
    center, spread = float(np.median(steps)), float(steps.std())
    spread = spread if spread > 0 else 1.0
    observed_x = x[present]  # [M, P]
    x_mean, x_sd = observed_x.mean(axis=0), observed_x.std(axis=0)
    coef_sd = 2.0 * spread / x_sd  # [P]
    centred = np.ones_like(switching) if switching_trend else ~switching
    # const's prior sd is 2d sqrt(1 + sum_p (x_mean_p / x_sd_p)^2) in every case: the centred
    # regressors' part comes from their coefficients
    level_sd = 2.0 * spread * float(np.sqrt(1.0 + np.sum((x_mean / x_sd)[~centred] ** 2)))
    ordered = switching_trend and states > 1
    level = pm.Normal(
        "level" if centred.any() else "const",
        center,
        level_sd,
        **_per_regime(switching_trend, states),
        **(
            {"transform": StandardOrdered(center, level_sd / 2.0, from_top=from_top)}
            if ordered
            else {}
        ),
    )
    ordered_sigma = switching_variance and not switching_trend and states > 1
    sigma = pm.HalfNormal(
        "sigma",
        spread,
        **_per_regime(switching_variance, states),
        **(
            {
                "default_transform": None,
                "transform": StandardOrdered(0.0, spread, positive=True),
            }
            if ordered_sigma
            else {}
        ),
    )
    beta = gamma = None
    if switching.any():
        beta = pm.Normal(
            "beta",
            0.0,
            coef_sd[switching],
            shape=(states, int(switching.sum())),
            dims=("regime", "regressor"),
        )
    if (~switching).any():
        gamma = pm.Normal(
            "gamma",
            0.0,
            coef_sd[~switching],
            shape=int((~switching).sum()),
            dims="common_regressor",
        )
    const = level
    if centred.any():
        if beta is not None and switching_trend:
            const = const - pt.dot(beta, x_mean[switching])
        if gamma is not None:
            const = const - pt.dot(gamma, x_mean[~switching])
        const = pm.Deterministic("const", const, dims="regime" if switching_trend else None)
    mu = const if switching_trend else pt.shape_padright(const, 1) * pt.ones(states)
    x_filled = np.where(present[..., None], x, 0.0)  # any value: masked steps
    if beta is not None:
        mu = mu + pt.tensordot(x_filled[..., switching], beta.T, axes=1)  # [N, T, K]
    if gamma is not None:
        mu = mu + pt.shape_padright(pt.dot(x_filled[..., ~switching], gamma), 1)
    return mu, sigma


def series_values(observed: Any) -> tuple[np.ndarray, np.ndarray]:
    """``observed`` as float series ``[N, T]`` and where they are present (not NaN)."""
    values = np.asarray(observed, dtype=float)
    if values.ndim == 1:
        values = values[None]
    if values.ndim != 2:
        raise ValueError(f"observed must be [N, T] or [T]; got shape {np.shape(observed)}")
    return values, ~np.isnan(values)


def _per_regime(switches: bool, states: int) -> dict[str, Any]:
    return {"shape": states, "dims": "regime"} if switches else {}


def _switching_flags(switching_exog: bool | Sequence[bool], num: int) -> np.ndarray:
    """One flag per regressor from ``switching_exog`` (a flag, or one per regressor)."""
    if isinstance(switching_exog, bool | np.bool_):
        return np.full(num, bool(switching_exog))
    flags = np.asarray(switching_exog)
    if flags.dtype != bool or flags.shape != (num,):
        raise ValueError(
            f"switching_exog must be True, False or one bool per regressor ({num}); "
            f"got {switching_exog!r}"
        )
    return flags


def _named(data: Any, dim: str) -> Any:
    """``data`` as an array, or as an :class:`xarray.DataArray` whose last dim names its
    columns when ``data`` is a :class:`pandas.DataFrame` (one series)."""
    columns = getattr(data, "columns", None)
    if columns is None:
        return data
    import xarray as xr

    return xr.DataArray(
        np.asarray(data, dtype=float)[None],
        dims=("sequence", "time", dim),
        coords={dim: np.asarray(columns, dtype=str)},
    )


def _regressors(
    exog: Any, shape: tuple[int, int], present: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Regressors ``[N, T, P]`` (float64) and their names ``[P]``, checked where ``present``.

    Raises
    ------
    ValueError
        Naming ``exog`` and the regressor: a shape that does not fit ``observed``, a value
        that is not finite where the response is present, a constant regressor, or one that
        is a linear combination of the others (with the intercept).
    """
    n, t = shape
    if exog is None:
        return np.zeros((n, t, 0)), np.array([], dtype=str)
    named = _named(exog, "regressor")
    dims, coords = getattr(named, "dims", ()), getattr(named, "coords", {})
    try:
        x = np.asarray(named, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(f"exog must be numeric: {err}") from None
    if x.ndim == 1 and n == 1 and x.shape == (t,):
        x = x[None, :, None]
    elif x.ndim == 2 and x.shape == (n, t):
        x = x[..., None]
    elif x.ndim == 2 and n == 1 and x.shape[0] == t:
        x = x[None]
    if x.ndim != 3 or x.shape[:2] != (n, t):
        raise ValueError(
            f"exog must be [N, T, P] = [{n}, {t}, P] like observed [{n}, {t}] (or [T, P] for "
            f"one series, [N, T] for one regressor); got shape {np.shape(named)}"
        )
    names = np.array(
        [str(name) for name in coords[dims[-1]].values]
        if len(dims) == 3 and dims[-1] in coords
        else [f"x{p}" for p in range(x.shape[2])]
    )
    observed_x = x[present]  # [M, P]
    for p, name in enumerate(names):
        bad = np.flatnonzero(~np.isfinite(observed_x[:, p]))
        if bad.size:
            seq, step = np.argwhere(present)[bad[0]]
            raise ValueError(
                f"exog: regressor '{name}' is {observed_x[bad[0], p]} at series {seq}, step "
                f"{step}, where observed is present: regressors must be finite wherever the "
                "response is observed"
            )
        if np.ptp(observed_x[:, p]) == 0:
            raise ValueError(
                f"exog: regressor '{name}' is constant: the intercept (const) already is; drop it"
            )
    design = np.column_stack([np.ones(len(observed_x)), observed_x])
    for p in range(1, design.shape[1]):
        if np.linalg.matrix_rank(design[:, : p + 1]) <= p:
            raise ValueError(
                f"exog: regressor '{names[p - 1]}' is a linear combination of the intercept and "
                f"the regressors before it ({', '.join(names[: p - 1]) or 'none'}): "
                "its coefficient cannot be told apart; drop it"
            )
    return x, names
