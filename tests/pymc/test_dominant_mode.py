"""Every sampler finds the dominant mode of the README's two-state example and recovers the
truth (slow statistical test; one file of its own, so that pytest-xdist's one-worker-per-file
schedule runs these fits beside tests/pymc/test_trustworthy_fits.py's, not after them)."""

import pytest
from readme_fits import TRANS, check_fit, readme_data

from jaxbridge.pymc import gaussian_hmm, sample


@pytest.mark.slow
@pytest.mark.parametrize("sampler", ["pymc", "numpyro", "blackjax", "nutpie"])
def test_every_sampler_finds_the_dominant_mode(sampler):
    """The one "every sampler recovers the truth" test (the page's model with every sampler
    is tests/pymc/test_sampler_fits.py's short run; the page's model at full length with the
    default sampler is tests/cli/test_fit.py::test_demo_default_settings_recover_the_page)."""
    states, y = readme_data(1)  # the seed whose chains all fell into a local mode before
    model = gaussian_hmm(y, 2)
    idata = sample(
        model, sampler=sampler, draws=500, tune=500, chains=4, random_seed=1, progressbar=False
    )
    truth = {"emission_mu": [1.15, 2.30], "emission_sigma": [0.15, 0.15], "p_transition": TRANS}
    check_fit(model, idata, states, truth)
