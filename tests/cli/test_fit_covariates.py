"""``jaxbridge fit --covariates``: covariate columns in, transition effects and a figure out."""

import json
import warnings

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from jaxbridge.cli._errors import CLIError
from jaxbridge.cli._figures_dynamics import transitions_figure
from jaxbridge.cli._io import read_data

CSV = (
    "sequence,time,value,temp,dose\n"
    "a,0,1.0,10,0\n"
    "a,1,,11,1\n"  # a missing observation: its covariates still count
    "a,2,3.0,12,0\n"
    "b,5,2.0,20,1\n"
    "b,6,2.5,21,1\n"
)


def test_csv_covariate_columns_are_read_by_name(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text(CSV)
    data = read_data(path, ("Temp", "dose"))
    covariates = data["covariates"].values
    assert covariates.shape == (2, 3, 2)
    np.testing.assert_array_equal(covariates[0], [[10, 0], [11, 1], [12, 0]])
    np.testing.assert_array_equal(covariates[1], [[20, 1], [21, 1], [0, 0]])  # zero: padding
    assert list(data["covariate"].values) == ["Temp", "dose"]
    assert "covariates" not in read_data(path)  # only when asked


@pytest.mark.parametrize(
    ("text", "names", "message"),
    [
        (CSV, ("pressure",), r"no column 'pressure' for --covariates"),
        (
            CSV.replace("a,2,3.0,12,0", "a,2,3.0,,0"),
            ("temp",),
            r"line 4: covariate 'temp' is missing",
        ),
        (
            CSV.replace("a,1,,11,1\n", ""),
            ("temp",),
            r"covariate 'temp' is missing at sequence 'a', step 1",
        ),
    ],
    ids=["no column", "empty field", "a gap in time"],
)
def test_covariate_problems_name_the_place(tmp_path, text, names, message):
    path = tmp_path / "d.csv"
    path.write_text(text)
    with pytest.raises(CLIError, match=message):
        read_data(path, names)


def test_arrays_without_names_refuse_covariates(tmp_path):
    np.save(tmp_path / "d.npy", np.ones((2, 5)))
    with pytest.raises(CLIError, match="--covariates reads named CSV columns"):
        read_data(tmp_path / "d.npy", ("temp",))


def test_transitions_figure_with_and_without_covariates(rng):
    data = xr.Dataset(
        {
            "emissions": (("sequence", "time"), rng.normal(size=(2, 6))),
            "lengths": ("sequence", np.array([6, 4])),
            "covariates": (("sequence", "time", "covariate"), rng.normal(size=(2, 6, 2))),
        },
        coords={"covariate": ["temp", "dose"]},
    )
    posterior = xr.Dataset(
        {
            "transition_intercept": (("chain", "draw", "i", "j"), rng.normal(size=(2, 5, 3, 3))),
            "transition_coef": (("chain", "draw", "i", "p", "j"), rng.normal(size=(2, 5, 3, 2, 3))),
        }
    )
    figure = transitions_figure(posterior, data)
    assert len(figure.axes) == 3 * 2  # origin states x covariates
    trans = rng.dirichlet(np.ones(3), size=(2, 5, 3))
    plain = xr.Dataset({"p_transition": (("chain", "draw", "i", "j"), trans)})
    assert len(transitions_figure(plain, data).axes) == 2  # heat map and its colour bar


@pytest.mark.slow
def test_fit_with_covariates_reports_their_effects(call, tmp_path, rng):
    n, t = 6, 25
    rows = [
        f"s{i},{step},{rng.normal(3.0 * (step > 12)):.3f},{step / t:.3f}"
        for i in range(n)
        for step in range(t)
    ]
    (tmp_path / "d.csv").write_text("sequence,time,value,phase\n" + "\n".join(rows) + "\n")
    folder = tmp_path / "run"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RuntimeWarning)
        code, _, err = call(
            "fit", tmp_path / "d.csv", "--states", 2, "--covariates", "phase", "--out", folder,
            "--draws", 30, "--tune", 30, "--chains", 1, "--quiet",
        )  # fmt: skip
    assert code == 0, err
    # none from ArviZ about the reference entries' undefined r_hat (a user's terminal shows them)
    assert not [w for w in caught if issubclass(w.category, RuntimeWarning)]
    table = pd.read_csv(folder / "summary.csv", index_col="parameter")
    # the covariate by its column's name; the reference entries (staying) not listed
    coefs = [label for label in table.index if label.startswith("transition_coef[")]
    assert coefs == ["transition_coef[0, phase, 1]", "transition_coef[1, phase, 0]"]
    assert not any(label.startswith("p_transition") for label in table.index)
    assert (folder / "transitions.png").stat().st_size > 0
    info = json.loads((folder / "run.json").read_text())
    assert info["settings"]["covariates"] == ["phase"]
    assert xr.load_dataset(folder / "data.nc")["covariates"].shape == (n, t, 1)
