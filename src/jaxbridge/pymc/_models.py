r"""Ready-made marginal HMMs for sequences a user owns: the models the command line fits.

Every builder takes observations ``[N, T]`` (or one sequence ``[T]``; NaN marks a missing
value; :func:`mvnormal_hmm` takes vectors, ``[N, T, D]`` or ``[T, D]``) and the number of hidden
states ``K``, and returns a :class:`pymc.Model` whose
observed :class:`~jaxbridge.MarginalHMM` is named ``"hmm"``, with dims
``("sequence", "time")``. The hidden chain is the same in all of them:

.. math::

    \pi \sim \mathrm{Dirichlet}(\mathbf 1_K), \qquad
    A_{i\cdot} \sim \mathrm{Dirichlet}(\mathbf 1_K)

(``p_initial_state``, ``p_transition``; constants when ``K = 1``), or with ``covariates=``
transitions that follow covariates (:func:`~jaxbridge.pymc.covariate_transitions`). The
emissions differ:

==================  ============================================================================
:func:`page_hmm`    the example page's model: :math:`y \mid z=k \sim N((k+1)\,s, \sigma)`,
                    :math:`s \sim N(0, 1)`, :math:`\sigma \sim N^+(1)` (data on unit scale)
:func:`gaussian_hmm`  ordered means :math:`\mu_1 < \dots < \mu_K`, a noise scale per state
:func:`studentt_hmm`  the same with Student-t emissions, :math:`\nu \sim \Gamma(2, 0.1)`
:func:`poisson_hmm`   ordered rates :math:`\lambda_1 < \dots < \lambda_K`
:func:`mvnormal_hmm`  :math:`y \mid z=k \sim N_D(\mu_k, \Sigma_k)`, first components of the
                      means ordered, LKJ priors on the correlations
==================  ============================================================================

Ordered state parameters are constrained by a transform (:class:`~jaxbridge.pymc._ordered.
StandardOrdered`: the lowest value and the log gaps, with the data's location and scale factored
out), so states cannot swap labels, NUTS sees the same unit-scale geometry for data on any scale,
and the posterior holds the parameters themselves, in data units, with named dims: ``state``
(``emission_mu``, ``emission_sigma``, ``emission_rate``, ``p_initial_state``), ``from_state``
and ``to_state`` (``p_transition``). Priors are scaled to the data: with :math:`m` the median
and :math:`d` the standard deviation of the observed values,

.. math::

    \mu_k \overset{\text{iid}}{\sim} N(m, 2d) \text{ given } \mu_1 < \dots < \mu_K, \qquad
    \sigma_k \sim N^+(d); \qquad
    \lambda_k \overset{\text{iid}}{\sim} N^+(\bar y + d + 1) \text{ given }
    \lambda_1 < \dots < \lambda_K,

weakly informative on any location and scale. :func:`parameter_names` lists what a summary of
such a model reports.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np
import pymc as pm
import pytensor.tensor as pt
from pytensor.graph.traversal import ancestors

from jaxbridge.pymc._covariates import (
    check_covariates,
    covariate_transitions,
    transition_matrices,
)
from jaxbridge.pymc._distribution import MarginalHMM
from jaxbridge.pymc._ordered import StandardOrdered
from jaxbridge.pymc._stationary import stationary_distribution

#: Name of the observed marginal HMM in every model built here.
HMM_NAME = "hmm"


def page_hmm(
    observed: np.ndarray,
    states: int = 3,
    *,
    sequence: np.ndarray | None = None,
    covariates: np.ndarray | None = None,
    init: str = "free",
) -> pm.Model:
    r"""The example page's model: state ``k`` emits :math:`N((k+1)\,s, \sigma)`.

    ``emission_signal`` :math:`s \sim N(0, 1)` and ``emission_noise``
    :math:`\sigma \sim N^+(1)`: the priors suit data on roughly unit scale, with states at
    positive multiples of one signal. For other data use :func:`gaussian_hmm`.
    """

    def emission(values):
        signal = pm.Normal("emission_signal", 0.0, 1.0)
        noise = pm.HalfNormal("emission_noise", 1.0)
        return pm.Normal.dist(mu=(np.arange(states) + 1.0) * signal, sigma=noise)

    return _build(observed, states, sequence, emission, covariates, init=init)


def gaussian_hmm(
    observed: np.ndarray,
    states: int,
    *,
    shared_noise: bool = False,
    sequence: np.ndarray | None = None,
    covariates: np.ndarray | None = None,
    init: str = "free",
) -> pm.Model:
    r"""Gaussian HMM: :math:`y \mid z=k \sim N(\mu_k, \sigma_k)` with ordered means.

    Parameters
    ----------
    observed : ``[N, T]`` or ``[T]``
        Observations; NaN marks a missing value.
    states
        Number of hidden states ``K``.
    shared_noise
        One noise scale for all states instead of one per state.
    sequence
        Labels of the ``N`` sequences (coordinate ``sequence``).
    covariates : ``[N, T, P]``, optional
        Covariates driving the transitions (multinomial logit, see
        :func:`covariate_transitions`; an :class:`xarray.DataArray` names them by its last
        dim's coordinates): ``p_transition`` is replaced by
        ``transition_intercept [from_state, to_state]`` and ``transition_coef [from_state,
        covariate, to_state]``, deterministics of free ``transition_intercept_std [move]``
        and ``transition_coef_std [covariate, move]`` (one per move ``i -> j != i``, on
        standardised covariates: a softmax has no free diagonal to report).

    Returns
    -------
    pymc.Model
        ``emission_mu [state]`` (ordered) and ``emission_sigma [state]`` (a scalar when
        shared), and the hidden chain.
    """

    def emission(values):
        mu, sigma = _gaussian_states(values, states, shared_noise)
        return pm.Normal.dist(mu=mu, sigma=sigma)

    return _build(observed, states, sequence, emission, covariates, init=init)


def studentt_hmm(
    observed: np.ndarray,
    states: int,
    *,
    shared_noise: bool = False,
    sequence: np.ndarray | None = None,
    covariates: np.ndarray | None = None,
    init: str = "free",
) -> pm.Model:
    r"""Student-t HMM: :func:`gaussian_hmm` with :math:`t_\nu(\mu_k, \sigma_k)` emissions.

    ``emission_nu`` :math:`\nu \sim \Gamma(2, 0.1)` (Juárez & Steel 2010), shared by the states.
    """

    def emission(values):
        mu, sigma = _gaussian_states(values, states, shared_noise)
        nu = pm.Gamma("emission_nu", alpha=2.0, beta=0.1)
        return pm.StudentT.dist(nu=nu, mu=mu, sigma=sigma)

    return _build(observed, states, sequence, emission, covariates, init=init)


def poisson_hmm(
    observed: np.ndarray,
    states: int,
    *,
    sequence: np.ndarray | None = None,
    covariates: np.ndarray | None = None,
    init: str = "free",
) -> pm.Model:
    r"""Poisson HMM for counts: :math:`y \mid z=k \sim \mathrm{Poisson}(\lambda_k)`, ordered rates.

    Raises
    ------
    ValueError
        When an observed value is negative or not an integer.
    """
    check_counts(observed)

    def emission(values):
        scale = float(values.mean() + values.std() + 1.0) if values.size else 1.0
        rate = pm.HalfNormal(
            "emission_rate",
            scale,
            shape=states,
            dims="state",
            default_transform=None,  # the ordered transform keeps the rates positive
            transform=StandardOrdered(0.0, scale, positive=True),
        )
        return pm.Poisson.dist(rate)

    return _build(observed, states, sequence, emission, covariates, init=init)


def mvnormal_hmm(
    observed: np.ndarray,
    states: int,
    *,
    shared_cov: bool = False,
    eta: float = 2.0,
    sequence: np.ndarray | None = None,
    covariates: np.ndarray | None = None,
    init: str = "free",
) -> pm.Model:
    r"""Multivariate Gaussian HMM: :math:`y_t \mid z_t=k \sim N_D(\mu_k, \Sigma_k)`.

    Each component ``d`` is standardised by its median :math:`m_d` and standard deviation
    :math:`s_d` (``S = diag(s)``), and the free variables live on that scale:

    .. math::

        \mu_{k} = m + S\,\tilde\mu_k, \qquad
        \tilde\mu_{1,1} \sim N(0, 2),\ \tilde\mu_{k+1,1} - \tilde\mu_{k,1} \sim N^+(2),
        \ \tilde\mu_{k,d>1} \sim N(0, 2); \qquad
        \Sigma_k = S\,L_k L_k^\top S, \quad
        L_k \sim \mathrm{LKJCholeskyCov}(\eta,\ \text{sd} \sim N^+(1)).

    The means are ordered on their **first component** (``mu[:, 0]`` increasing), which stops
    the states swapping labels: put the component that best separates the states first. Each
    state has its own covariance (``shared_cov=False``, the default: states often differ in
    spread and correlation), or all share one.

    The reported ``emission_mu`` and ``emission_cov`` are deterministics: the free variables
    are ``emission_mu_first [state]`` (the first components, ordered), ``emission_mu_rest
    [state, other_component]`` (in data units) and ``emission_chol_std_<k> [cov_entry]``
    (PyMC's packed LKJ Cholesky factor on the standardised scale, one per covariance), because
    PyMC orders whole vectors and builds LKJ covariances only through such auxiliaries.

    Parameters
    ----------
    observed : ``[N, T, D]`` or ``[T, D]``
        Observation vectors; a step with NaN in any component is missing as a whole (see
        :class:`~jaxbridge.MarginalHMM`).
    states
        Number of hidden states ``K``.
    shared_cov
        One covariance matrix for all states instead of one per state.
    eta
        LKJ shape of the correlations: 1 is uniform, larger values shrink towards independence.
    sequence
        Labels of the ``N`` sequences (coordinate ``sequence``).
    covariates : ``[N, T, P]``, optional
        Covariates driving the transitions, as in :func:`gaussian_hmm`.
    init : {"free", "stationary"}
        The hidden chain's start, as in :func:`gaussian_hmm`.

    Returns
    -------
    pymc.Model
        Deterministics ``emission_mu [state, component]`` and ``emission_cov [state,
        component, component_to]`` (``[component, component_to]`` when shared) in data units,
        and the hidden chain; the observed ``hmm`` has dims ``("sequence", "time",
        "component")``.

    Raises
    ------
    ValueError
        When ``observed`` is not ``[N, T, D]`` or ``[T, D]``.
    """

    def emission(steps):
        mu, chol = _mvnormal_states(steps, states, shared_cov, eta)
        return pm.MvNormal.dist(mu=mu, chol=chol)

    return _build(observed, states, sequence, emission, covariates, vectors=True, init=init)


def check_counts(observed: np.ndarray) -> None:
    """Raise ``ValueError`` unless every observed (non-NaN) value is a non-negative integer."""
    values = _observed_values(observed)
    bad = values[(values < 0) | (values != np.round(values))]
    if bad.size:
        raise ValueError(
            f"observed: a Poisson HMM needs non-negative integer counts, found {float(bad[0]):g}"
        )


def parameter_names(model: pm.Model) -> list[str]:
    """The parameters a summary of ``model`` reports.

    Deterministics, and the free variables that are not auxiliaries, each deterministic in the
    place of its auxiliaries. A deterministic replaces the free variables it is computed from
    (``transition_coef`` is reported rather than its standardised auxiliary); when some of them
    reach the likelihood only through it, only those (a switching regression's ``const``
    replaces the ``level`` it is sampled as, not the coefficients it is also computed from).
    ``expected_duration`` is reported beside the transitions it is computed from.
    """
    rewritten = [var for var in model.deterministics if var.name != DURATION]
    direct = set(ancestors([*model.observed_RVs, *model.potentials], blockers=rewritten))
    replaced: dict[Any, set] = {}
    for var in rewritten:
        parents = set(ancestors([var])) & set(model.free_RVs)
        replaced[var] = (parents - direct) or parents
    auxiliary = set().union(*replaced.values())
    order = {var: i for i, var in enumerate(model.named_vars.values())}

    def place(var: Any) -> int:
        """A deterministic's place is its last auxiliary's, if it has one."""
        return max((order[rv] for rv in replaced.get(var, ())), default=order[var])

    reported = [var for var in model.named_vars.values() if var in model.deterministics]
    reported += [rv for rv in model.free_RVs if rv not in auxiliary]
    return [var.name for var in sorted(reported, key=place)]


# --------------------------------------------------------------------------- helpers


def _observed_values(observed: np.ndarray) -> np.ndarray:
    values = np.asarray(observed, dtype=float)
    return values[~np.isnan(values)]


def _gaussian_states(values: np.ndarray, states: int, shared_noise: bool):
    """Ordered means ``emission_mu [state]`` and scales ``emission_sigma [state]`` (a scalar
    when shared), priors scaled to the data (the module docstring's)."""
    center, spread = (float(np.median(values)), float(values.std())) if values.size else (0, 1)
    spread = spread if spread > 0 else 1.0
    transform = StandardOrdered(center, spread)
    mu = pm.Normal(
        "emission_mu",
        center,
        2.0 * spread,
        shape=states,
        dims="state",
        transform=transform,
    )
    per_state = {} if shared_noise else {"shape": states, "dims": "state"}
    sigma = pm.HalfNormal("emission_sigma", spread, **per_state)
    return mu, sigma


def _mvnormal_states(steps: np.ndarray, states: int, shared_cov: bool, eta: float):
    """Means ``[K, D]`` (first component ordered) and Cholesky factors ``[K or 1, D, D]``,
    priors scaled to the observed steps ``[M, D]`` (:func:`mvnormal_hmm`)."""
    num = steps.shape[-1]
    center = np.median(steps, axis=0) if len(steps) else np.zeros(num)
    spread = steps.std(axis=0) if len(steps) else np.ones(num)
    spread = np.where(spread > 0, spread, 1.0)
    first = pm.Normal(
        "emission_mu_first",
        center[0],
        2.0 * spread[0],
        shape=states,
        dims="state",
        transform=StandardOrdered(center[0], spread[0]),
    )
    mu = first[:, None]
    if num > 1:
        rest = pm.Normal(
            "emission_mu_rest",
            center[1:],
            2.0 * spread[1:],
            shape=(states, num - 1),
            dims=("state", "other_component"),
        )
        mu = pt.concatenate([mu, rest], axis=1)
    mu = pm.Deterministic("emission_mu", mu, dims=("state", "component"))
    rows, cols = np.tril_indices(num)
    chols = []
    for k in range(1 if shared_cov else states):
        packed = pm.LKJCholeskyCov(
            f"emission_chol_std_{k}",
            n=num,
            eta=eta,
            sd_dist=pm.HalfNormal.dist(1.0, shape=num),
            compute_corr=False,
            dims="cov_entry",
        )
        chols.append(pt.zeros((num, num))[rows, cols].set(packed))
    chol = spread[:, None] * pt.stack(chols)  # [K or 1, D, D], in data units
    cov = chol @ chol.transpose(0, 2, 1)
    if shared_cov:
        pm.Deterministic("emission_cov", cov[0], dims=("component", "component_to"))
    else:
        pm.Deterministic("emission_cov", cov, dims=("state", "component", "component_to"))
    return mu, chol


def _build(
    observed: np.ndarray,
    states: int,
    sequence: np.ndarray | None,
    emission: Callable[[np.ndarray], pm.Distribution],
    covariates: np.ndarray | None = None,
    *,
    vectors: bool = False,
    init: str = "free",
    state: str = "state",
    coords: dict[str, Any] | None = None,
    durations: bool = False,
    covariates_name: str = "covariates",
    order: int = 0,
    transition_prior: tuple[float, float] = (1.0, 1.0),
) -> pm.Model:
    """The model: hidden-chain priors, ``emission(observed values)``, the observed HMM.

    ``observed`` is ``[N, T]`` or ``[T]``; with ``vectors``, ``[N, T, D]`` or ``[T, D]``
    (``emission`` then gets the fully observed steps ``[M, D]``, and the observed HMM the
    dims ``(sequence, time, component)``). ``init`` is the hidden chain's start
    (:func:`hidden_chain`); ``state`` names the states' dims (``state``, ``from_state``,
    ``to_state``); ``coords`` are added to the model's; ``durations`` adds the states'
    expected durations; ``covariates_name`` names the covariates' argument in errors;
    ``order`` is :class:`~jaxbridge.MarginalHMM`'s (an emission over tuples of lagged states);
    ``transition_prior`` is :func:`hidden_chain`'s.
    """
    values = np.asarray(observed, dtype=float)
    layouts = "[N, T, D] or [T, D]" if vectors else "[N, T] or [T]"
    if values.ndim == 1 + vectors:
        values = values[None]
    if values.ndim != 2 + vectors:
        raise ValueError(f"observed must be {layouts}; got shape {np.shape(observed)}")
    if not (isinstance(states, int | np.integer) and states >= 1):
        raise ValueError(f"states must be a positive integer; got {states!r}")
    if init not in INITS:
        raise ValueError(f"init must be one of {', '.join(map(repr, INITS))}; got {init!r}")
    x = None
    if covariates is not None:
        if states < 2:
            raise ValueError("covariates drive the transitions: states must be at least 2")
        x = check_covariates(covariates, values.shape[:2], name=covariates_name)
    labels = np.arange(len(values)) if sequence is None else np.asarray(sequence)
    _check_observed(values, labels)
    model_coords = {
        "sequence": labels,
        "time": np.arange(values.shape[1]),
        **state_coords(states, state),
        **(coords or {}),
    }
    dims = ("sequence", "time")
    if values.ndim == 3:
        model_coords |= _component_coords(values.shape[2])
        dims = (*dims, "component")
    if x is not None:
        model_coords |= {
            "covariate": _covariate_labels(covariates, x),
            "move": move_labels(states),
        }
    with pm.Model(coords=model_coords) as model:
        steps = values.reshape(-1, *values.shape[2:])  # [N*T] or [N*T, D]
        dist = emission(steps[~np.isnan(steps).reshape(len(steps), -1).any(axis=1)])
        start, trans = hidden_chain(
            states, x, init, state, durations=durations, transition_prior=transition_prior
        )
        MarginalHMM(
            HMM_NAME,
            init=start,
            trans=trans,
            emission=dist,
            observed=values,
            time_varying=x is not None,
            order=order,
            dims=dims,
        )
    return model


#: Name of the states' expected durations (a quantity derived from the transitions, not a
#: reparametrisation of them: :func:`parameter_names` reports both).
DURATION = "expected_duration"

#: The hidden chain's start: a free probability vector, or the transitions' stationary
#: distribution.
INITS = ("free", "stationary")


def hidden_chain(
    states: int,
    x: np.ndarray | None,
    init: str,
    state: str = "state",
    *,
    durations: bool = False,
    transition_prior: tuple[float, float] = (1.0, 1.0),
) -> tuple[Any, Any]:
    r"""Priors of the hidden chain: ``(init [K] or [N, K], trans [K, K] or [N, T-1, K, K])``.

    ``p_transition [from_state, to_state]`` rows :math:`\sim \mathrm{Dirichlet}`, with
    concentration ``transition_prior = (stay, move)`` on staying and on each move (``(1, 1)``:
    uniform rows), or covariate-driven transitions from ``x [N, T, P]`` (:func:`_covariate_trans`). The start is
    ``p_initial_state [state]`` :math:`\sim \mathrm{Dirichlet}(\mathbf 1)` (``init="free"``)
    or the stationary distribution of the transitions (``init="stationary"``,
    :func:`~jaxbridge.pymc.stationary_distribution`; with covariates, of each sequence's
    transition matrix at its first step, as statsmodels' steady-state start). With
    ``durations``, the deterministic ``expected_duration [state]``, :math:`1 / (1 - p_{kk})`, is the mean number of steps a
    visit to state :math:`k` lasts (with covariates: at the covariates' mean). One state:
    constants.
    """
    if states == 1:
        return np.ones(1), np.ones((1, 1))
    names = state_coords(states, state)
    pair = tuple(list(names)[1:])
    start = None  # created first: the model's variables keep their order (start, transitions)
    if init == "free":
        start = pm.Dirichlet("p_initial_state", np.ones(states), shape=states, dims=state)
    if x is None:
        stay, move = transition_prior
        concentration = np.full((states, states), float(move)) + (stay - move) * np.eye(states)
        trans = pm.Dirichlet("p_transition", concentration, shape=(states, states), dims=pair)
        first, typical = trans, trans
    else:
        trans, transitions_at = _covariate_trans(x, states, pair)
        first = transitions_at(x[:, 0])  # [N, K, K]
        typical = transitions_at(x.reshape(-1, x.shape[2]).mean(axis=0))  # [K, K]
    if durations:
        stay = pt.diagonal(typical)
        pm.Deterministic(DURATION, 1.0 / (1.0 - stay), dims=state)
    return (stationary_distribution(first) if start is None else start), trans


def _check_observed(values: np.ndarray, labels: np.ndarray) -> None:
    """Refuse observations no model can fit: infinite values, a sequence with no observed
    step, values so large that their spread overflows (the priors are scaled by it).

    Raises
    ------
    ValueError
        Naming the sequence (by its label) and the step.
    """
    per_step = values.reshape(*values.shape[:2], -1)  # [N, T, D]
    bad = np.argwhere(np.isinf(per_step))
    if bad.size:
        seq, step, _ = bad[0]
        raise ValueError(
            f"observed values must be finite (NaN marks a missing one); sequence "
            f"{_label(labels[seq])} at step {step} is {per_step[tuple(bad[0])]}"
        )
    empty = np.isnan(per_step).any(axis=2).all(axis=1)
    if empty.any():
        raise ValueError(
            f"sequence {_label(labels[np.argmax(empty)])} has no observed step (every value is "
            "missing): drop it, or give it data"
        )
    with np.errstate(over="ignore", invalid="ignore"):
        spread = np.nanstd(per_step, axis=(0, 1))
    if not np.all(np.isfinite(spread)):
        seq, step, _ = np.unravel_index(np.nanargmax(np.abs(per_step)), per_step.shape)
        raise ValueError(
            f"observed values too large to fit: their spread overflows float64 (sequence "
            f"{_label(labels[seq])} at step {step} is {per_step[seq, step].max():g}); rescale "
            "the data (e.g. into thousands or millions)"
        )


def _label(label: object) -> str:
    """A sequence label as the user wrote it: ``'b'`` or ``3``, not ``np.str_('b')``."""
    return repr(np.asarray(label).item())


def state_coords(states: int, name: str = "state") -> dict[str, np.ndarray]:
    """Coordinates of the hidden states: ``state``, and ``from_state``/``to_state`` for the
    rows and columns of transition matrices (``regime``, ``from_regime``, ... for another
    ``name``)."""
    labels = np.arange(states)
    return {name: labels, f"from_{name}": labels, f"to_{name}": labels}


def move_labels(states: int) -> list[str]:
    """Labels ``"i->j"`` of the moves ``i -> j != i`` between states, row by row."""
    return [f"{i}->{j}" for i in range(states) for j in range(states) if i != j]


def _component_coords(num: int) -> dict[str, np.ndarray]:
    """Coordinates of vector observations' components, and of the parameters built on them."""
    labels = np.arange(num)
    rows, cols = np.tril_indices(num)
    return {
        "component": labels,
        "component_to": labels,
        "other_component": labels[1:],
        "cov_entry": np.array([f"{i},{j}" for i, j in zip(rows, cols, strict=True)]),
    }


def _covariate_labels(covariates: Any, x: np.ndarray) -> np.ndarray:
    """The covariates' names: the coordinates of the last dim of an :class:`xarray.DataArray`
    ``[N, T, P]`` (``jaxbridge fit`` passes its columns' names so), else ``0 .. P-1``."""
    dims, coords = getattr(covariates, "dims", ()), getattr(covariates, "coords", {})
    if len(dims) == 3 and dims[-1] in coords:
        return np.asarray(coords[dims[-1]].values)
    return np.arange(x.shape[2])


def _covariate_trans(
    x: np.ndarray, states: int, pair: tuple[str, str] = ("from_state", "to_state")
) -> tuple[pt.TensorVariable, Callable[[np.ndarray], pt.TensorVariable]]:
    r"""Covariate-driven ``trans [N, T-1, K, K]`` with standardised free coefficients, and the
    function giving the transition matrix at given covariates ``[..., P]``.

    The free variables act on standardised covariates :math:`(x - m) / s`:
    ``transition_intercept_std`` :math:`\sim N(0, 2)` and ``transition_coef_std``
    :math:`\sim N(0, 1)` (one per move ``i -> j != i``); the reported deterministics
    ``transition_intercept [K, K]`` and ``transition_coef [K, P, K]`` are in the covariates'
    own units (zero on the reference diagonal).
    """
    n_cov = x.shape[2]
    flat = x.reshape(-1, n_cov)
    center, scale = flat.mean(axis=0), flat.std(axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    # one-hot embedding of the moves i -> j != i into K x K (zero on the diagonal)
    moves = np.eye(states * states)[~np.eye(states, dtype=bool).ravel()]  # [K(K-1), K*K]
    a_std = pm.Normal("transition_intercept_std", 0.0, 2.0, shape=len(moves), dims="move")
    b_std = pm.Normal(
        "transition_coef_std", 0.0, 1.0, shape=(n_cov, len(moves)), dims=("covariate", "move")
    )
    a_full = pt.dot(a_std, moves).reshape((states, states))
    b_full = pt.dot(b_std, moves).reshape((n_cov, states, states)).transpose(1, 0, 2)
    coef = pm.Deterministic(
        "transition_coef",
        b_full / scale[None, :, None],
        dims=(pair[0], "covariate", pair[1]),
    )
    shift = pt.einsum("p,ipj->ij", center / scale, b_full)
    intercept = pm.Deterministic("transition_intercept", a_full - shift, dims=pair)
    return covariate_transitions(x, intercept, coef), partial(
        transition_matrices, intercept=intercept, coef=coef
    )
