"""The example page's simulated data set, reproduced draw for draw.

The page ("How to wrap a JAX function for use in PyMC", Vieira 2022) simulates 70 Normal-emission
HMM sequences of 1 + 50 steps with NumPy's ``default_rng(104109109)``, after first drawing one
throw-away sequence. :func:`seed_page_data` repeats exactly those draws, so its arrays equal the
page's ``hidden_state`` and ``emission_observed``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

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
