"""``jaxbridge fit --regressors``: a Markov-switching regression from CSV columns."""

import json

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from jaxbridge.cli._data import describe
from jaxbridge.cli._errors import CLIError
from jaxbridge.cli._io import read_data
from jaxbridge.cli._model import build_model

CSV = (
    "sequence,time,value,lag,gap,inf\n"
    "a,0,1.0,0.5,1.0,2.0\n"
    "a,1,,,1.5,2.5\n"  # a missing value: its regressors may be missing too
    "a,2,3.0,1.0,0.5,3.5\n"
    "b,5,2.0,2.0,0.0,1.0\n"
    "b,6,2.5,2.0,-1.0,4.0\n"
)


def test_regressor_columns_are_read_by_name_missing_where_the_value_is(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text(CSV)
    data = read_data(path, (), (), ("Lag", "gap"))
    assert data["regressors"].dims == ("sequence", "time", "regressor")
    assert list(data["regressor"].values) == ["Lag", "gap"]
    np.testing.assert_array_equal(data["regressors"].values[0, :, 0], [0.5, np.nan, 1.0])
    assert "regressors Lag, gap" in describe(data)


def test_the_model_is_the_switching_regression_with_the_columns_names(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text(CSV)
    data = read_data(path, (), (), ("lag", "gap", "inf"))
    fit = build_model(data, 2, "normal", source="d.csv", switching=("lag",), shared_noise=True)
    assert list(fit.model.coords["regressor"]) == ["lag"]
    assert list(fit.model.coords["common_regressor"]) == ["gap", "inf"]
    assert fit.var_names == ["const", "sigma", "beta", "gamma", "p_transition", "expected_duration"]
    assert fit.model["sigma"].ndim == 0  # --shared-noise: one scale


@pytest.mark.parametrize(
    ("edit", "names", "kind", "message"),
    [
        (
            ("a,2,3.0,1.0,", "a,2,3.0,,"),
            ("lag",),
            "normal",
            r"regressor 'lag' is nan at series 0, step 2",
        ),
        (("", ""), ("lag",), "poisson", r"has normal noise, not --emission poisson"),
        (("", ""), ("lag", "pressure"), "normal", r"no column 'pressure' for --regressors"),
        (
            ("a,2,3.0,1.0,", "a,2,3.0,high,"),
            ("lag",),
            "normal",
            r"line 4: regressor 'lag' 'high' is not a number",
        ),
    ],
    ids=[
        "missing where the value is present",
        "not normal",
        "absent column",
        "not a number",
    ],
)
def test_regressor_problems_are_one_line_errors(tmp_path, edit, names, kind, message):
    path = tmp_path / "d.csv"
    path.write_text(CSV.replace(*edit))
    with pytest.raises(CLIError, match=message):
        build_model(read_data(path, (), (), names), 2, kind, source="d.csv", switching=names)


def test_bad_combinations_are_refused_before_any_work(call, tmp_path):
    path = tmp_path / "d.csv"
    path.write_text(CSV)
    for extra, message in [
        (("--forecast", 2), "--forecast with --regressors"),
        (("--common-regressors", "lag"), "both name lag"),
    ]:
        code, _, err = call("fit", path, "--states", 2, "--regressors", "lag", *extra)
        assert code == 2, err
        assert message in err and len(err.strip().splitlines()) == 1
        assert not (tmp_path / "runs").exists()
    np.save(tmp_path / "d.npy", np.ones((2, 5)))
    code, _, err = call("fit", tmp_path / "d.npy", "--states", 2, "--regressors", "lag")
    assert code == 2 and "--regressors names CSV columns; .npy files have none" in err


def test_fit_reports_coefficients_durations_and_dated_episodes(call, tmp_path, rng):
    """A short end-to-end fit on quarterly dates: regime coefficients by column name, expected
    durations, the settings in run.json, and the regimes' episodes by date."""
    steps = 120
    z = (np.arange(steps) // 30) % 2
    x = rng.normal(size=steps)
    y = np.array([0.0, 3.0])[z] + np.array([1.0, -1.0])[z] * x + 0.3 * rng.normal(size=steps)
    quarters = pd.period_range("1980Q1", periods=steps, freq="Q").astype(str)
    table = pd.DataFrame({"sequence": "s", "time": quarters, "value": y, "x": x})
    table.to_csv(tmp_path / "d.csv", index=False)
    folder = tmp_path / "run"
    code, out, err = call(
        "fit", tmp_path / "d.csv", "--states", 2, "--regressors", "x", "--out", folder,
        "--draws", 200, "--tune", 200,
    )  # fmt: skip
    assert code == 0, err
    assert "quarterly dates 1980Q1 to 2009Q4" in err
    summary = pd.read_csv(folder / "summary.csv", index_col="parameter")
    assert {"beta[0, x]", "beta[1, x]", "expected_duration[0]", "sigma[1]"} <= set(summary.index)
    np.testing.assert_allclose(summary.loc[["beta[0, x]", "beta[1, x]"], "mean"], [1, -1], atol=0.2)
    settings = json.loads((folder / "run.json").read_text())["settings"]
    assert settings["regressors"] == ["x"] and settings["init"] == "stationary"
    # the regimes alternate every 30 quarters: episodes of regime 1 from 1987Q3 (step 30)
    episodes = pd.read_csv(folder / "episodes.csv")
    ones = episodes[episodes["state"] == 1]
    firsts = pd.PeriodIndex(ones["first"], freq="Q")[:2]
    true = pd.PeriodIndex(["1987Q3", "2002Q3"], freq="Q")
    assert all(abs((a - b).n) <= 1 for a, b in zip(firsts, true, strict=True)), ones
    assert "episodes (state probability > 0.5):" in out and "sequence s, state 1: 198" in out
    assert list(xr.load_dataset(folder / "states.nc")["date"].values[0, :2]) == ["1980Q1", "1980Q2"]
