"""Posterior fits of the Markov-switching autoregression (slow): Hamilton's GNP model against his
published MLE and the NBER recessions, on several seeds."""

from __future__ import annotations

import numpy as np
import pytest
from readme_fits import assert_trustworthy

import jaxbridge
from jaxbridge.datasets import hamilton_gnp
from jaxbridge.pymc import switching_autoregression

pytestmark = pytest.mark.slow


#: Hamilton (1989)'s switching-mean AR(4) of real GNP growth at the published MLE (statsmodels'
#: TestHamiltonAR4, E-views) and its standard errors: (MLE, SE) per parameter.
HAMILTON_MLE = {
    "p00": (0.754673, 0.0965189),
    "p10": (0.095915, 0.0377362),
    "const0": (-0.358811, 0.2645396),
    "const1": (1.163516, 0.0745187),
    "ar1": (0.013486, 0.1199942),
    "ar2": (-0.057521, 0.137663),
    "ar3": (-0.246983, 0.1069103),
    "ar4": (-0.212923, 0.1105311),
}


@pytest.mark.parametrize("seed", [0, 1])
def test_hamilton_gnp_posterior_finds_the_recessions(seed):
    """NUTS on the shipped GNP data: the library's convergence checks pass (no divergence at
    target_accept=0.95, r_hat, ESS), posterior medians within 2 published standard errors of
    the MLE, and the smoothed recession probability above 0.5 in at least 6 of the 7 NBER
    recessions of the sample and below it in most expansion quarters."""
    table = hamilton_gnp()
    model = switching_autoregression(table["rgnp"].to_numpy(), 2, order=4)
    idata = jaxbridge.sample(model, random_seed=seed, target_accept=0.95, progressbar=False)
    assert_trustworthy(idata)
    posterior = idata.posterior
    median = {name: posterior[name].median(("chain", "draw")).values for name in posterior}
    ours = {
        "p00": median["p_transition"][0, 0],
        "p10": median["p_transition"][1, 0],
        "const0": median["const"][0],
        "const1": median["const"][1],
        **{f"ar{lag}": median["ar"][lag - 1] for lag in range(1, 5)},
    }
    for name, (mle, se) in HAMILTON_MLE.items():
        assert abs(ours[name] - mle) < 2 * se, (name, ours[name], mle, se)
    recession = jaxbridge.decode(idata, model)["state_probs"].isel(sequence=0, state=0).values
    nber = table["nber_recession"].to_numpy()[4:]  # the modelled quarters, from 1952Q2
    starts = np.flatnonzero(np.diff(np.r_[0, nber]) == 1)
    ends = np.flatnonzero(np.diff(np.r_[nber, 0]) == -1)
    assert len(starts) == 7
    found = [recession[s : e + 1].max() > 0.5 for s, e in zip(starts, ends, strict=True)]
    assert sum(found) >= 6, found
    assert np.mean(recession[nber == 0] < 0.5) > 0.85
