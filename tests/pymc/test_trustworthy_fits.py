"""The README's two-state example and users' own scales fit correctly (slow statistical tests).

These back the README's claim that ``jaxbridge fit``/``jaxbridge.sample`` find the dominant
mode and say when chains disagree: several data seeds, sampler seeds and every sampler.
"""

import numpy as np
import pytest
from readme_fits import INIT, TRANS, check_fit, readme_data, simulate_normal_hmm

from jaxbridge.pymc import gaussian_hmm, sample


@pytest.mark.slow
# data seed 1 with sampler seed 1 (the default sampler) is
# tests/pymc/test_dominant_mode.py::test_every_sampler_finds_the_dominant_mode[nutpie]
@pytest.mark.parametrize(("data_seed", "sampler_seed"), [(0, 0), (2, 2), (3, 0), (4, 7)])
def test_readme_two_state_example_recovered(data_seed, sampler_seed):
    states, y = readme_data(data_seed)
    model = gaussian_hmm(y, 2)
    idata = sample(model, draws=500, tune=500, chains=4, random_seed=sampler_seed)
    truth = {"emission_mu": [1.15, 2.30], "emission_sigma": [0.15, 0.15], "p_transition": TRANS}
    check_fit(model, idata, states, truth)


@pytest.mark.slow
@pytest.mark.parametrize(("shift", "scale"), [(0.0, 1.0), (-40.0, 0.01), (1e4, 300.0)])
def test_gaussian_hmm_fits_data_on_any_location_and_scale(shift, scale):
    """z-scored data with states at -1 and +1 (the trap of the page's model), moved and scaled."""
    rng = np.random.default_rng(5)
    states, unit = simulate_normal_hmm(rng, INIT, TRANS, 2.0, 0.3, n_series=40, n_steps=50)
    y = shift + scale * (unit - 3.0)  # state means -1 and +1 before the move
    model = gaussian_hmm(y, 2)
    # 2 x 1000 draws: the weakly identified initial-state probabilities need them to mix
    idata = sample(model, draws=1000, tune=1000, chains=2, random_seed=2, progressbar=False)
    truth = {
        "emission_mu": shift + scale * np.array([-1.0, 1.0]),
        "emission_sigma": scale * np.array([0.3, 0.3]),
    }
    check_fit(model, idata, states, truth)
