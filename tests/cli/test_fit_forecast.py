"""``jaxbridge fit --forecast H``: forecast.nc, forecast.csv and forecast.png in the run folder,
redrawn by ``report``."""

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from jaxbridge.cli._figures_dynamics import forecast_figure
from jaxbridge.cli._report import forecast_table
from jaxbridge.cli._run import FORECAST, FORECAST_REPORT, RUN_FILES

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _forecast(rng, n=2, h=3, k=2):
    probs = rng.dirichlet(np.ones(k), size=(n, h))
    return xr.Dataset(
        {
            "current_state_probs": (("sequence", "state"), rng.dirichlet(np.ones(k), size=n)),
            "state_probs": (("sequence", "horizon", "state"), probs),
            "observation_mean": (("sequence", "horizon"), rng.normal(size=(n, h))),
            "observation_low": (("sequence", "horizon"), rng.normal(size=(n, h)) - 2),
            "observation_high": (("sequence", "horizon"), rng.normal(size=(n, h)) + 2),
            "last_step": ("sequence", np.array([5, 3])),
        },
        coords={"sequence": ["a", "b"], "horizon": np.arange(1, h + 1)},
        attrs={"interval": 0.94},
    )


def test_forecast_table_has_now_and_every_step_ahead(rng):
    forecast = _forecast(rng)
    table = forecast_table(forecast)
    assert list(table.columns) == [
        "sequence", "horizon", "time", "p_state_0", "p_state_1",
        "observation_mean", "observation_low", "observation_high",
    ]  # fmt: skip
    assert len(table) == 2 * 4
    b = table[table["sequence"] == "b"]
    assert list(b["horizon"]) == [0, 1, 2, 3] and list(b["time"]) == [3, 4, 5, 6]
    np.testing.assert_allclose(
        b[["p_state_0", "p_state_1"]].values[0], forecast["current_state_probs"][1]
    )
    np.testing.assert_allclose(b["observation_mean"].values[1:], forecast["observation_mean"][1])
    assert b["observation_mean"].isna().values[0]
    data = xr.Dataset({"emissions": (("sequence", "time"), rng.normal(size=(2, 6)))})
    assert len(forecast_figure(data, forecast).axes) == 4  # two panels per sequence


@pytest.mark.slow
def test_fit_with_forecast_writes_and_report_redraws_it(call, tmp_path, rng):
    rows = [
        f"s{i},{step},{rng.normal(3.0 * ((step // 6) % 2)):.3f}"
        for i, length in enumerate([20, 14, 17])
        for step in range(length)
    ]
    (tmp_path / "d.csv").write_text("sequence,time,value\n" + "\n".join(rows) + "\n")
    folder = tmp_path / "run"
    code, _, err = call(
        "fit", tmp_path / "d.csv", "--states", 2, "--forecast", 4, "--out", folder,
        "--draws", 20, "--tune", 20, "--chains", 1, "--quiet",
    )  # fmt: skip
    assert code == 0, err
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        (*RUN_FILES, FORECAST, *FORECAST_REPORT)
    )
    table = pd.read_csv(folder / "forecast.csv")
    assert list(table["sequence"].unique()) == ["s0", "s1", "s2"]
    assert list(table.groupby("sequence")["time"].first()) == [19, 13, 16]  # each one's now
    assert (table.groupby("sequence")["horizon"].max() == 4).all()
    probs = table[["p_state_0", "p_state_1"]].values
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-9)
    ahead = table[table["horizon"] > 0]
    assert (ahead["observation_low"] <= ahead["observation_mean"]).all()
    assert (ahead["observation_mean"] <= ahead["observation_high"]).all()
    forecast = xr.load_dataset(folder / FORECAST)
    assert forecast["observations"].shape == (1, 20, 3, 4)
    assert (folder / "forecast.png").read_bytes().startswith(PNG_MAGIC)

    (folder / "forecast.png").unlink()
    code, _, err = call("report", folder, "--quiet")
    assert code == 0, err
    assert (folder / "forecast.png").read_bytes().startswith(PNG_MAGIC)


def test_forecast_with_covariates_is_refused_before_any_work(call, tmp_path):
    (tmp_path / "d.csv").write_text("sequence,time,value,temp\na,0,1.0,3\na,1,2.0,4\n")
    code, _, err = call(
        "fit", tmp_path / "d.csv", "--states", 2, "--covariates", "temp", "--forecast", 2,
        "--out", tmp_path / "run",
    )  # fmt: skip
    assert code == 2
    assert "--forecast with --covariates" in err and "jaxbridge.forecast" in err
    assert not (tmp_path / "run").exists()
    code, _, err = call("fit", tmp_path / "d.csv", "--states", 2, "--forecast", -1)
    assert code == 2 and "--forecast" in err and "must be at least 0" in err
    code, _, err = call(
        "fit", tmp_path / "d.csv", "--states", 2, "--emission", "mvnormal", "--columns", "value,temp",
        "--forecast", 2, "--out", tmp_path / "run",
    )  # fmt: skip
    assert code == 2 and "--forecast with --emission mvnormal" in err
    assert not (tmp_path / "run").exists()
