"""Convergence findings (jaxbridge.pymc._diagnostics): each kind in its own words and advice,
ESS figures and thresholds in one convention, parameters named as the summary names them."""

import numpy as np
import pytest

from jaxbridge import _compat
from jaxbridge.cli._report import summary_table
from jaxbridge.pymc import ConvergenceWarning
from jaxbridge.pymc._diagnostics import ADVICE, check, diagnose

CHAINS, DRAWS = 4, 500


def _idata(rng, posterior, *, diverging=0, lp=None, dims=None, coords=None):
    stats = {
        "diverging": np.arange(CHAINS * DRAWS).reshape(CHAINS, DRAWS) < diverging,
        "lp": rng.normal(size=(CHAINS, DRAWS)) if lp is None else lp,
    }
    return _compat.from_dict(
        {"posterior": posterior, "sample_stats": stats}, dims=dims, coords=coords
    )


def _good(rng, *shape):
    return rng.normal(size=(CHAINS, DRAWS, *shape))


def _apart(rng):
    """Chains that disagree: the second pair shifted by one sd."""
    return rng.normal(size=(CHAINS, DRAWS)) + np.array([0, 0, 1, 1])[:, None]


def _slow(rng, draws=DRAWS):
    """Autocorrelated chains (AR(1) with 0.7): about 350 effective draws of 2000."""
    x = np.zeros((CHAINS, draws))
    for t in range(1, draws):
        x[:, t] = 0.7 * x[:, t - 1] + rng.normal(size=CHAINS)
    return x


def test_a_run_with_only_divergences_is_not_called_unconverged(rng):
    result = diagnose(_idata(rng, {"a": _good(rng)}, diverging=1), ["a"])
    assert result.problems == ["divergences: 1 divergent transition(s) after tuning"]
    text = result.message()
    assert "did not converge" not in text
    assert ADVICE["divergences"] in text and "target_accept" in text
    assert "run longer" not in text  # the other findings' advice is not given


def test_disagreeing_chains_are_unconverged_with_their_own_advice(rng):
    result = diagnose(_idata(rng, {"a": _good(rng), "b": _apart(rng)}), ["a", "b"])
    assert result.problems[0].startswith("r_hat: r_hat above 1.01 (chains disagree) for b (")
    assert result.message().startswith("the chains did not converge")
    assert ADVICE["r_hat"] in result.message() and ADVICE["divergences"] not in result.message()


def test_ess_figures_and_threshold_are_both_totals_over_chains(rng):
    idata = _idata(rng, {"a": _slow(rng)})
    result = diagnose(idata, ["a"])
    ess = _compat.summary(idata, ["a"], 0.94).loc["a", "ess_bulk"]
    assert 100 < ess < 400  # above the per-chain figure, below the total threshold
    assert f"ess: bulk ESS below 400 (100 per chain x 4 chains) for a ({ess:.0f})" in (
        result.problems
    )
    assert ADVICE["ess"] in result.message()


def test_chains_in_different_modes_are_unconverged(rng):
    lp = rng.normal(size=(CHAINS, DRAWS)) + np.array([0, 0, 0, -50])[:, None]
    result = diagnose(_idata(rng, {"a": _good(rng)}, lp=lp), ["a"])
    (line,) = result.problems
    assert line.startswith("modes: the chains sit in different modes")
    assert result.message().startswith("the chains did not converge")


def test_warnings_name_the_summary_rows_and_the_summary_flags_each(rng):
    """A covariate model's coefficients: constant reference entries are no parameters (no
    row, no finding, no numpy warning), and a coefficient whose chains disagree is named as
    summary.csv names it, and flagged there."""
    coef = _good(rng, 2, 1, 2)
    coef[..., [0, 1], :, [0, 1]] = 0.0  # the reference entries
    coef[..., 1, 0, 0] = _apart(rng)
    idata = _idata(
        rng,
        {"transition_coef": coef},
        dims={"transition_coef": ["from_state", "covariate", "to_state"]},
        coords={"covariate": ["temp"]},
    )
    with pytest.warns(ConvergenceWarning) as record:
        check(idata, ["transition_coef"])
    (warning,) = record
    assert "r_hat: r_hat above 1.01 (chains disagree) for transition_coef[1, temp, 0]" in str(
        warning.message
    )
    assert "transition_coef[0, temp, 0]" not in str(warning.message)
    table = summary_table(idata, ["transition_coef"], {})
    assert table.loc["transition_coef[1, temp, 0]", "flag"].startswith("r_hat")
    assert table.loc["transition_coef[0, temp, 1]", "flag"] == ""
