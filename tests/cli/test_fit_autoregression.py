"""``jaxbridge fit --ar P``: a Markov-switching autoregression from a CSV file."""

import json

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from jaxbridge._compat import get_group
from jaxbridge.cli._errors import CLIError
from jaxbridge.cli._io import read_data
from jaxbridge.cli._model import build_model


def _series(rng, steps=120):
    """A switching-mean AR(1): regimes alternate every 20 quarters, mean 0 or 3."""
    z = (np.arange(steps) // 20) % 2
    mean = np.array([0.0, 3.0])[z]
    y = mean.copy()
    for t in range(1, steps):
        y[t] = mean[t] + 0.5 * (y[t - 1] - mean[t - 1]) + 0.4 * rng.normal()
    quarters = pd.period_range("1960Q1", periods=steps, freq="Q").astype(str)
    return pd.DataFrame({"sequence": "s", "time": quarters, "value": y}), z


def test_the_model_is_the_switching_autoregression(tmp_path, rng):
    table, _ = _series(rng)
    table.to_csv(tmp_path / "d.csv", index=False)
    data = read_data(tmp_path / "d.csv", (), (), ())
    fit = build_model(
        data, 2, "normal", source="d.csv", order=2, switching_ar=True, shared_noise=True
    )
    assert fit.var_names == ["const", "sigma", "ar", "p_transition", "expected_duration"]
    assert fit.model.named_vars_to_dims["ar"] == ("regime", "lag")
    assert fit.model["sigma"].ndim == 0
    assert fit.model["hmm"].owner.op.order == 2


def test_problems_are_one_line_errors(call, tmp_path, rng):
    table, _ = _series(rng)
    table.to_csv(tmp_path / "d.csv", index=False)
    for extra, message in [
        (("--switching-ar",), "--switching-ar needs --ar P"),
        (("--ar", 1, "--emission", "poisson"), "--ar: a switching regression has normal noise"),
        (("--ar", 0), "--ar: must be at least 1"),
        (("--ar", 1, "--target-accept", 1.5), "--target-accept: must lie strictly between 0"),
    ]:
        code, _, err = call("fit", tmp_path / "d.csv", "--states", 2, *extra)
        assert code == 2, err
        assert message in err, err
        assert not (tmp_path / "runs").exists()
    table.loc[5, "value"] = np.nan
    table.to_csv(tmp_path / "gap.csv", index=False)
    with pytest.raises(CLIError, match="series 0 has a missing value at step 5"):
        build_model(read_data(tmp_path / "gap.csv", (), (), ()), 2, "normal", source="", order=1)


@pytest.mark.one_stack
def test_fit_conditions_on_the_first_values_and_finds_the_regimes(call, tmp_path, rng):
    """A short end-to-end fit: AR coefficient and means recovered, the first P steps (the
    conditioned ones) without decoded states, the regimes found by date, replicated data equal
    to the observations on the conditioned steps, dated regime-aware forecasts."""
    table, z = _series(rng)
    table.to_csv(tmp_path / "d.csv", index=False)
    folder = tmp_path / "run"
    code, out, err = call(
        "fit", tmp_path / "d.csv", "--states", 2, "--ar", 1, "--shared-noise", "--out", folder,
        "--draws", 300, "--tune", 300, "--forecast", 3,
    )  # fmt: skip
    assert code == 0, err
    assert "built the 2-state Markov-switching AR(1)" in err
    settings = json.loads((folder / "run.json").read_text())["settings"]
    assert settings["ar"] == 1 and settings["target_accept"] == 0.95
    summary = pd.read_csv(folder / "summary.csv", index_col="parameter")
    np.testing.assert_allclose(summary.loc[["const[0]", "const[1]"], "mean"], [0, 3], atol=0.3)
    assert abs(summary.loc["ar[1]", "mean"] - 0.5) < 0.2
    states = xr.load_dataset(folder / "states.nc")
    probs = states["state_probs"].values[0]  # [T, K]
    assert np.isnan(probs[0]).all() and np.isfinite(probs[1:]).all()
    assert states["viterbi"].values[0, 0] == -1
    assert (states["most_probable_state"].values[0, 1:] == z[1:]).mean() > 0.95
    assert "sequence s, state 1: 1965Q1 to 1969Q4" in out
    replicated = get_group(xr.open_datatree(folder / "posterior.nc"), "posterior_predictive")
    np.testing.assert_allclose(replicated["hmm"].values[..., 0], table["value"].iloc[0])
    assert replicated.attrs["one_step_ahead"] == 1  # said in checks.png
    # regime-aware forecasts: after 1989Q4 (regime 1 since 1985Q1), three quarters ahead
    forecast = pd.read_csv(folder / "forecast.csv")
    assert list(forecast["date"]) == ["1989Q4", "1990Q1", "1990Q2", "1990Q3"]
    assert forecast["p_state_1"].iloc[0] > 0.9 and forecast["p_state_1"].is_monotonic_decreasing
    assert (forecast["observation_low"].iloc[1:] < forecast["observation_high"].iloc[1:]).all()
