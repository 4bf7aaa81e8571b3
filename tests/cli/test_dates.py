"""Dates in the ``time`` column: frequencies, gaps as missing steps, labels, episodes."""

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
import xarray as xr

from jaxbridge.cli._data import describe
from jaxbridge.cli._dates import to_steps
from jaxbridge.cli._errors import CLIError
from jaxbridge.cli._figures import states_figure
from jaxbridge.cli._io import read_data
from jaxbridge.cli._report import episodes_table


@pytest.mark.parametrize(
    ("dates", "name", "labels"),
    [
        (["2001Q4", "2002q1", "2002Q3"], "quarterly", ["2001Q4", "2002Q1", "2002Q2", "2002Q3"]),
        (["2001-11", "2002-01"], "monthly", ["2001-11", "2001-12", "2002-01"]),
        (["2001-01-31", "2001-02-28", "2001-04-30"], "monthly", ["2001-01", "2001-02", "2001-03", "2001-04"]),
        (["2001-03-05", "2001-03-12", "2001-03-26"], "weekly", ["2001-03-05", "2001-03-12", "2001-03-19", "2001-03-26"]),
        (["2001-03-30", "2001-03-31", "2001-04-02"], "daily", ["2001-03-30", "2001-03-31", "2001-04-01", "2001-04-02"]),
        (["2001-01-01", "2002-01-01", "2004-01-01"], "yearly", ["2001", "2002", "2003", "2004"]),
    ],
)  # fmt: skip
def test_dates_become_consecutive_steps_of_their_frequency(dates, name, labels):
    steps, calendar = to_steps(dates, "d.csv")
    assert calendar.name == name
    first, last = min(steps.values()), max(steps.values())
    assert list(calendar.labels(np.arange(first, last + 1))) == labels


@pytest.mark.parametrize(
    ("dates", "message"),
    [
        (["2001Q1", "2001-04"], "mixes date forms"),
        (["2001-01-01", "2001-01-04"], "smallest gap is 3 days"),
        (["2001-02-30", "2001-03-30"], "not valid"),
    ],
)
def test_irregular_or_invalid_dates_are_refused(dates, message):
    with pytest.raises(CLIError, match=message):
        to_steps(dates, "d.csv")


CSV = (
    "sequence,time,value\n"
    "a,1990Q1,1.0\n"
    "a,1990Q2,2.0\n"
    "a,1990Q4,3.0\n"  # 1990Q3 has no row: a missing step, not a shift
    "b,1991Q1,4.0\n"
    "b,1991Q2,5.0\n"
)


def test_a_gap_in_the_dates_is_a_missing_step(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text(CSV)
    data = read_data(path)
    np.testing.assert_array_equal(data["emissions"].values[0], [1.0, 2.0, np.nan, 3.0])
    assert list(data["date"].values[0]) == ["1990Q1", "1990Q2", "1990Q3", "1990Q4"]
    assert list(data["date"].values[1]) == ["1991Q1", "1991Q2", "", ""]
    text = describe(data)
    assert "quarterly dates 1990Q1 to 1991Q2 (1 date(s) with no row: missing steps)" in text


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (("a,1990Q2,", "a,2,"), "mixes integer steps and dates"),
        (("a,1990Q2,", "a,1990q1,"), "dates 1990Q1 and 1990q1 in one quarterly period"),
        (("a,1990Q2,", "a,1990/2,"), r"time '1990/2' is neither an integer step nor a date"),
    ],
)
def test_bad_time_columns_are_one_line_errors(tmp_path, edit, message):
    path = tmp_path / "d.csv"
    path.write_text(CSV.replace(*edit))
    with pytest.raises(CLIError, match=message):
        read_data(path)


def _decoded(probs: np.ndarray, dates: np.ndarray | None) -> xr.Dataset:
    decoded = xr.Dataset(
        {
            "state_probs": (("sequence", "time", "state"), probs),
            "viterbi": (("sequence", "time"), probs.argmax(-1)),
            "lengths": ("sequence", np.full(len(probs), probs.shape[1])),
        },
        coords={"sequence": ["us"] * len(probs)},
    )
    return decoded if dates is None else decoded.assign_coords(date=(("sequence", "time"), dates))


def test_episodes_are_the_stretches_above_one_half_named_by_dates():
    p1 = np.array([0.1, 0.7, 0.9, 0.4, 0.6, 0.2])
    probs = np.stack([1 - p1, p1], axis=-1)[None]
    dates = np.array([["2000Q1", "2000Q2", "2000Q3", "2000Q4", "2001Q1", "2001Q2"]])
    table = episodes_table(_decoded(probs, dates))
    ones = table[table["state"] == 1]
    assert ones[["first", "last", "steps"]].values.tolist() == [
        ["2000Q2", "2000Q3", 2],
        ["2001Q1", "2001Q1", 1],
    ]
    np.testing.assert_allclose(ones["mean_probability"], [0.8, 0.6])
    zeros = episodes_table(_decoded(probs, None))
    assert zeros[zeros["state"] == 0][["first", "last"]].values.tolist() == [[0, 0], [3, 3], [5, 5]]


def test_the_states_figure_labels_its_axis_with_the_dates():
    probs = np.full((1, 8, 2), 0.5)
    dates = np.array([[f"{2000 + i // 4}Q{i % 4 + 1}" for i in range(8)]])
    figure = states_figure(_decoded(probs, dates), None)
    axis = figure.axes[0].xaxis
    figure.canvas.draw()
    assert axis.get_label().get_text() == "date"
    shown = {tick.get_text() for tick in axis.get_ticklabels()} - {""}
    assert shown and shown <= set(dates[0])


def test_the_time_column_can_have_another_name(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text(CSV.replace("sequence,time,value", "sequence,Quarter,value"))
    assert read_data(path, time="quarter")["date"].values[0, 0] == "1990Q1"
    with pytest.raises(CLIError, match=r"missing column\(s\) time; expected long form"):
        read_data(path)
    np.save(tmp_path / "d.npy", np.ones((2, 4)))
    with pytest.raises(CLIError, match="--time names CSV columns"):
        read_data(tmp_path / "d.npy", time="quarter")


def test_the_forecast_continues_the_calendar(tmp_path):
    """forecast.csv dates its rows past the data, and forecast.png says when now is."""
    from jaxbridge.cli._figures_dynamics import forecast_figure
    from jaxbridge.cli._report import forecast_table

    path = tmp_path / "d.csv"
    path.write_text(CSV)
    data = read_data(path)
    horizon = np.arange(1, 3)
    forecast = xr.Dataset(
        {
            "current_state_probs": (("sequence", "state"), np.full((2, 2), 0.5)),
            "state_probs": (("sequence", "horizon", "state"), np.full((2, 2, 2), 0.5)),
            "observation_mean": (("sequence", "horizon"), np.zeros((2, 2))),
            "observation_low": (("sequence", "horizon"), -np.ones((2, 2))),
            "observation_high": (("sequence", "horizon"), np.ones((2, 2))),
            "last_step": ("sequence", [3, 1]),
        },
        coords={"sequence": ["a", "b"], "horizon": horizon, "state": [0, 1]},
    )
    table = forecast_table(forecast, data)
    assert table["date"].tolist() == ["1990Q4", "1991Q1", "1991Q2", "1991Q2", "1991Q3", "1991Q4"]
    figure = forecast_figure(data, forecast, None)
    assert "(now: 1990Q4)" in figure.axes[0].get_title(loc="left")
