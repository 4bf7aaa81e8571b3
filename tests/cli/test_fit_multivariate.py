"""``jaxbridge fit --emission mvnormal --columns``: vector observations from CSV columns."""

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from jaxbridge.cli._data import describe
from jaxbridge.cli._errors import CLIError
from jaxbridge.cli._io import read_data
from jaxbridge.cli._model import build_model

CSV = (
    "sequence,time,y1,y2,temp\n"
    "a,0,1.0,10.0,5\n"
    "a,1,,11.0,6\n"  # one component missing: the step is missing
    "a,2,3.0,12.0,7\n"
    "b,5,2.0,20.0,8\n"
    "b,6,2.5,21.0,9\n"
)


def test_value_columns_are_read_as_vectors(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text(CSV)
    data = read_data(path, ("temp",), ("Y1", "y2"))
    assert data["emissions"].dims == ("sequence", "time", "component")
    assert list(data["component"].values) == ["Y1", "y2"]
    np.testing.assert_array_equal(
        data["emissions"].values,
        [[[1, 10], [np.nan, 11], [3, 12]], [[2, 20], [2.5, 21], [np.nan, np.nan]]],
    )
    assert data["covariates"].shape == (2, 3, 1)
    assert "1 missing value (steps), components Y1, y2" in describe(data)


@pytest.mark.parametrize(
    ("name", "text", "columns", "message"),
    [
        ("d.csv", CSV, ("y1", "y3"), r"no column 'y3' for --columns"),
        ("d.npy", None, ("y1",), r"--columns names CSV value columns; \.npy files have none"),
    ],
    ids=["absent column", "not a csv"],
)
def test_column_problems_are_clear_errors(tmp_path, name, text, columns, message):
    path = tmp_path / name
    if text is None:
        np.save(path, np.ones((2, 5)))
    else:
        path.write_text(text)
    with pytest.raises(CLIError, match=message):
        read_data(path, (), columns)


def test_vectors_need_the_mvnormal_emission(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text(CSV)
    data = read_data(path, (), ("y1", "y2"))
    with pytest.raises(CLIError, match=r"fit them with --emission mvnormal, not normal"):
        build_model(data, 2, "normal", source="d.csv")
    fitted = build_model(data, 2, "mvnormal", source="d.csv")
    assert fitted.var_names == ["emission_mu", "emission_cov", "p_initial_state", "p_transition"]


@pytest.mark.slow
def test_fit_mvnormal_writes_the_run_folder(call, tmp_path, rng):
    n, t = 4, 30
    states = (np.arange(t) // 10) % 2
    rows = [
        f"s{i},{step},{rng.normal(3.0 * states[step]):.3f},{rng.normal(-2.0 * states[step]):.3f}"
        for i in range(n)
        for step in range(t)
    ]
    rows[7] = rows[7].rsplit(",", 1)[0] + ","  # a missing component
    (tmp_path / "d.csv").write_text("sequence,time,y1,y2\n" + "\n".join(rows) + "\n")
    folder = tmp_path / "run"
    code, _, err = call(
        "fit", tmp_path / "d.csv", "--states", 2, "--emission", "mvnormal", "--columns", "y1,y2",
        "--out", folder, "--draws", 30, "--tune", 30, "--chains", 1,
    )  # fmt: skip
    assert code == 0, err
    assert "no pseudo-residuals: vector observations" in err
    table = pd.read_csv(folder / "summary.csv", index_col="parameter")
    assert {"emission_mu[1, 0]", "emission_cov[0, 1, 0]"} <= set(table.index)
    for figure in ("data.png", "checks.png", "states.png", "posterior.png"):
        assert (folder / figure).stat().st_size > 0
    decoded = xr.load_dataset(folder / "states.nc")
    assert decoded["state_probs"].dims == ("sequence", "time", "state")
    assert "pseudo_residual" not in decoded
    assert xr.load_dataset(folder / "data.nc")["emissions"].shape == (n, t, 2)
    viterbi = decoded["viterbi"].values
    assert np.mean(viterbi == states) > 0.9 or np.mean(viterbi == 1 - states) > 0.9
    code, _, err = call("report", folder, "--quiet")
    assert code == 0, err
