"""True HMM parameters for ``simulate``: parsing, defaults and validation.

A Normal-emission HMM with ``K`` states (the example page's generator, generalised) has

* ``init [K]``: initial state probabilities, ``p(z_0 = k)``;
* ``trans [K, K]``: transition probabilities, ``trans[i, j] = p(z_t = j | z_{t-1} = i)``;
* ``signal``, ``noise``: emissions ``y_t ~ Normal((z_t + 1) * signal, noise)``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from jaxbridge import _validation
from jaxbridge.cli._errors import CLIError
from jaxbridge.datasets import SEED_INIT, SEED_TRANS

#: Diagonal of the default transition matrix when ``K != 3``.
STAY = 0.9


class Truth(NamedTuple):
    """Generating parameters of a Normal-emission HMM (see the module docstring)."""

    init: np.ndarray
    trans: np.ndarray
    signal: float
    noise: float


def default_init(k: int) -> np.ndarray:
    """The page's initial probabilities for ``K = 3``, uniform ones otherwise."""
    return SEED_INIT.copy() if k == 3 else np.full(k, 1.0 / k)


def default_trans(k: int) -> np.ndarray:
    """The page's transitions for ``K = 3``; otherwise stay with 0.9, move uniformly."""
    if k == 3:
        return SEED_TRANS.copy()
    if k == 1:
        return np.ones((1, 1))
    trans = np.full((k, k), (1 - STAY) / (k - 1))
    np.fill_diagonal(trans, STAY)
    return trans


def parse_vector(text: str, name: str) -> np.ndarray:
    """``"0.9,0.09,0.01"`` -> ``array([0.9, 0.09, 0.01])``."""
    try:
        return np.array([float(x) for x in text.split(",")])
    except ValueError:
        raise CLIError(f"{name}: {text!r} is not a comma-separated list of numbers") from None


def parse_matrix(text: str, name: str) -> np.ndarray:
    """``"0.9,0.1;0.2,0.8"`` (rows separated by ``;``) -> a ``[rows, cols]`` array."""
    rows = [parse_vector(row, name) for row in text.split(";")]
    if len({len(row) for row in rows}) != 1:
        raise CLIError(f"{name}: rows of {text!r} have different lengths")
    return np.stack(rows)


def check_probabilities(p: np.ndarray, name: str) -> None:
    """Raise :class:`CLIError` unless ``p`` holds probabilities summing to one along its last axis."""
    try:
        _validation.check_probabilities(name, p)
    except ValueError as err:
        raise CLIError(str(err)) from None


def check_truth(truth: Truth, where: str) -> Truth:
    """Validate shapes and values of ``truth``; ``where`` prefixes the messages (file or ``--``)."""
    init, trans = np.asarray(truth.init, dtype=float), np.asarray(truth.trans, dtype=float)
    k = init.shape[0] if init.ndim == 1 else 0
    if k < 1:
        raise CLIError(f"{where}init: expected a non-empty vector, got shape {init.shape}")
    if trans.shape != (k, k):
        raise CLIError(f"{where}trans: expected shape ({k}, {k}) for {k} states, got {trans.shape}")
    check_probabilities(init, f"{where}init")
    check_probabilities(trans, f"{where}trans")
    if not np.isfinite(truth.signal):
        raise CLIError(f"{where}signal: must be a finite number (got {truth.signal})")
    if not (np.isfinite(truth.noise) and truth.noise > 0):
        raise CLIError(f"{where}noise: must be positive (got {truth.noise})")
    return Truth(init, trans, float(truth.signal), float(truth.noise))
