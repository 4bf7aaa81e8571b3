"""The README's two-state example and the checks of a fit to it, shared by the slow
statistical tests."""

import numpy as np

from jaxbridge.cli._report import summary_table
from jaxbridge.datasets import simulate_normal_hmm
from jaxbridge.pymc import decode, parameter_names

__all__ = ["INIT", "TRANS", "check_fit", "readme_data", "simulate_normal_hmm"]


INIT = np.array([0.5, 0.5])
TRANS = np.array([[0.95, 0.05], [0.1, 0.9]])


def readme_data(seed: int):
    """``jaxbridge simulate --states 2 --init 0.5,0.5 --trans "0.95,0.05;0.1,0.9" --seed S``."""
    return simulate_normal_hmm(
        np.random.default_rng(seed), INIT, TRANS, 1.15, 0.15, n_series=70, n_steps=50
    )


def check_fit(model, idata, states, truth):
    attrs = idata.posterior.attrs
    assert attrs["jaxbridge_converged"] == 1, attrs["jaxbridge_problems"]
    table = summary_table(idata, parameter_names(model), truth)
    assert (table["r_hat"] < 1.01).all(), table
    # every true value within 4 posterior sd (z-scores; a 94% HDI misses 1 in 17 by chance)
    known = table.dropna(subset=["true"])
    assert ((known["mean"] - known["true"]).abs() < 4 * known["sd"]).all(), known
    decoded = decode(idata, model)
    assert (decoded["viterbi"].values == states).mean() > 0.95
    assert (decoded["most_probable_state"].values == states).mean() > 0.95
