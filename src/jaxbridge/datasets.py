"""The example page's simulated data set, reproduced draw for draw.

The page ("How to wrap a JAX function for use in PyMC", Vieira 2022) simulates 70 Normal-emission
HMM sequences of 1 + 50 steps with NumPy's ``default_rng(104109109)``, after first drawing one
throw-away sequence. :func:`seed_page_data` repeats exactly those draws, so its arrays equal the
page's ``hidden_state`` and ``emission_observed``. :func:`seed_page_vec_hmm_logp` is the page's own
JAX log-likelihood, verbatim, kept as a reference.

:func:`fedfunds` is the quarterly US federal funds rate with the output gap and inflation, the
data of the Markov-switching regression examples of Stata's ``mswitch`` manual and of
statsmodels' ``MarkovRegression`` tests. :func:`hamilton_gnp` is Hamilton's (1989) real GNP
growth with the NBER recession quarters, the founding example of Markov-switching
autoregression.
"""

from __future__ import annotations

from importlib import resources
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

SEED_PAGE_RANDOM_SEED = 104109109


class HMMData(NamedTuple):
    """A simulated Normal-emission HMM data set.

    Attributes
    ----------
    states : int array ``[N, T]``
        Hidden states, in ``0 .. K-1``.
    emissions : float array ``[N, T]``
        Observations, ``Normal((state + 1) * signal, noise)``.
    init : float array ``[K]``
        Initial state probabilities.
    trans : float array ``[K, K]``
        Transition probabilities, ``trans[i, j] = p(z_t = j | z_{t-1} = i)``.
    signal, noise : float
        Emission parameters.
    """

    states: np.ndarray
    emissions: np.ndarray
    init: np.ndarray
    trans: np.ndarray
    signal: float
    noise: float


SEED_INIT = np.array([0.9, 0.09, 0.01])
SEED_TRANS = np.array([[0.9, 0.09, 0.01], [0.1, 0.8, 0.1], [0.2, 0.1, 0.7]])
SEED_SIGNAL = 1.15
SEED_NOISE = 0.15


def simulate_normal_hmm(
    rng: np.random.Generator,
    init: np.ndarray,
    trans: np.ndarray,
    signal: float,
    noise: float,
    n_series: int,
    n_steps: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Simulate ``n_series`` sequences of ``1 + n_steps`` states and Normal emissions.

    The page's generator, generalised to ``K = len(init)`` states: ``z_0 ~ Cat(init)``,
    ``z_t ~ Cat(trans[z_{t-1}])``, ``y_t ~ Normal((z_t + 1) * signal, noise)``. Draws are made
    sequence by sequence in the page's order, so the page's seed gives the page's data.

    Returns
    -------
    states : ``[n_series, 1 + n_steps]`` int64, emissions : ``[n_series, 1 + n_steps]`` float64
    """
    k = len(init)
    possible = np.arange(k)
    states = np.empty((n_series, n_steps + 1), dtype=np.int64)
    emissions = np.empty((n_series, n_steps + 1))
    for i in range(n_series):
        states[i, 0] = rng.choice(possible, p=init)
        for t in range(1, n_steps + 1):
            states[i, t] = rng.choice(possible, p=trans[states[i, t - 1]])
        emissions[i] = rng.normal((states[i] + 1) * signal, noise)
    return states, emissions


def seed_page_data(n_series: int = 70, n_steps: int = 50) -> HMMData:
    """The example page's data: 70 sequences x (1 + 50) steps, K = 3, signal 1.15, noise 0.15."""
    rng = np.random.default_rng(SEED_PAGE_RANDOM_SEED)
    args = (SEED_INIT, SEED_TRANS, SEED_SIGNAL, SEED_NOISE)
    simulate_normal_hmm(rng, *args, n_series=1, n_steps=n_steps)  # the page's throw-away draw
    states, emissions = simulate_normal_hmm(rng, *args, n_series=n_series, n_steps=n_steps)
    return HMMData(states, emissions, SEED_INIT.copy(), SEED_TRANS.copy(), SEED_SIGNAL, SEED_NOISE)


def seed_page_hmm_logp(
    emission_observed,
    emission_signal,
    emission_noise,
    logp_initial_state,
    logp_transition,
):
    """The page's ``hmm_logp``, verbatim: the marginal log-likelihood of a single HMM process.

    Kept as the independent reference (log-space ``logsumexp`` forward recursion, autodiff
    gradients) that tests and benchmarks compare jaxbridge against.
    """
    import jax
    import jax.scipy as jsp

    hidden_states = np.array([0, 1, 2])

    # Compute log-likelihood of observed emissions for each (step x possible hidden state)
    logp_emission = jsp.stats.norm.logpdf(
        emission_observed[:, None],
        (hidden_states + 1) * emission_signal,
        emission_noise,
    )

    # We use the forward_algorithm to compute log_alpha(x_t) = logp(x_t, y_1:t)
    log_alpha = logp_initial_state + logp_emission[0]
    log_alpha, _ = jax.lax.scan(
        f=lambda log_alpha_prev, logp_emission: (
            jsp.special.logsumexp(log_alpha_prev + logp_transition.T, axis=-1) + logp_emission,
            None,
        ),
        init=log_alpha,
        xs=logp_emission[1:],
    )

    return jsp.special.logsumexp(log_alpha)


def seed_page_vec_hmm_logp(*args):
    """The page's ``vec_hmm_logp``: :func:`seed_page_hmm_logp` vmapped over sequences, summed."""
    import jax
    import jax.numpy as jnp

    vmap = jax.vmap(
        seed_page_hmm_logp,
        # Only the first argument, needs to be vectorized
        in_axes=(0, None, None, None, None),
    )
    # For simplicity we sum across all the HMM processes
    return jnp.sum(vmap(*args))


def fedfunds() -> pd.DataFrame:
    """US federal funds rate, output gap and inflation, quarterly, 1954Q3–2010Q4 (226 quarters).

    Returns
    -------
    pandas.DataFrame
        Indexed by quarter (``date``, a quarterly :class:`pandas.PeriodIndex`), with columns
        ``fedfunds`` (effective federal funds rate, percent a year), ``ogap`` (output gap,
        percent of potential output) and ``inf`` (inflation, percent a year; missing in the
        first quarters).

    Notes
    -----
    Stata's ``usmacro`` data set (https://www.stata-press.com/data/r14/usmacro), built from the
    Federal Reserve's FRED series (federal funds rate, GDP deflator) and the Congressional
    Budget Office's potential output; the example of Stata's Markov-switching manual
    (``mswitch``, Stata 14) and of statsmodels' ``MarkovRegression`` tests, which carry the
    published maximum-likelihood estimates.
    """
    import pandas as pd

    with resources.files("jaxbridge").joinpath("_data", "fedfunds.csv").open() as handle:
        table = pd.read_csv(handle)
    table.index = pd.PeriodIndex(table.pop("date"), freq="Q", name="date")
    return table


def hamilton_gnp() -> pd.DataFrame:
    """Hamilton's (1989) US real GNP growth, quarterly, 1951Q2–1984Q4 (135 quarters).

    Returns
    -------
    pandas.DataFrame
        Indexed by quarter (``date``, a quarterly :class:`pandas.PeriodIndex`), with columns
        ``rgnp`` (100 times the quarterly change of log real GNP, the series of Hamilton's
        Markov-switching autoregression) and ``nber_recession`` (1 in the quarters the NBER
        dates as recession: after a business-cycle peak, through the trough).

    Notes
    -----
    The data of Hamilton (1989), "A New Approach to the Economic Analysis of Nonstationary Time
    Series and the Business Cycle", *Econometrica* 57(2), as carried (with the recession
    indicator) by statsmodels' ``MarkovAutoregression`` tests and Stata's ``rgnp`` data set;
    the published maximum-likelihood fit of the switching-mean AR(4) has log-likelihood
    -181.26339.
    """
    import pandas as pd

    with resources.files("jaxbridge").joinpath("_data", "hamilton_gnp.csv").open() as handle:
        table = pd.read_csv(handle)
    table.index = pd.PeriodIndex(table.pop("date"), freq="Q", name="date")
    return table
