"""The run figures: what each one draws (lines, where they stop, labels, text inside the figure)."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
import xarray as xr

from jaxbridge.cli._data import make_dataset
from jaxbridge.cli._figures import (
    STYLE,
    TRUE_OFFSET,
    VITERBI_OFFSET,
    checks_figure,
    data_figure,
    posterior_figure,
    states_figure,
    trace_figure,
)
from jaxbridge.cli._figures_dynamics import forecast_figure, transitions_figure
from jaxbridge.cli._fit import stop_at_ends
from jaxbridge.cli._report import truth_dataset

LONG_NAME = "patient-0001-visit-2024-03-17-left-ventricle-lead-II"


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _last_finite(line) -> int:
    y = np.asarray(line.get_ydata(), dtype=float)
    return int(np.flatnonzero(np.isfinite(y))[-1])


def _inside_figure(figure, artist) -> bool:
    figure.canvas.draw()
    box = artist.get_window_extent()
    frame = figure.bbox
    return frame.x0 - 1 <= box.x0 and box.x1 <= frame.x1 + 1 and frame.y0 - 1 <= box.y0


def _ragged(rng):
    lengths = np.array([30, 12, 20])
    states = rng.integers(0, 2, size=(3, 30))
    data = make_dataset(
        rng.normal(size=(3, 30)), states, sequence=["a", LONG_NAME, "c"], lengths=lengths
    )
    return data, lengths


def test_data_figure_stops_each_sequence_at_its_end_and_names_it(rng):
    data, lengths = _ragged(rng)
    figure = data_figure(data)
    states_ax, emissions_ax = figure.axes[:2]
    assert [_last_finite(line) for line in emissions_ax.lines] == list(lengths - 1)
    assert [_last_finite(line) for line in states_ax.lines] == list(lengths - 1)
    labels = [text.get_text() for text in emissions_ax.get_legend().get_texts()]
    assert labels[0] == "sequence a" and labels[1].startswith("sequence patient-0001")
    assert len(labels[1]) <= len("sequence ") + 28  # long names are shortened


def test_states_figure_blanks_padding_and_keeps_both_paths_visible(rng):
    data, lengths = _ragged(rng)
    probs = rng.dirichlet(np.ones(2), size=(3, 30))
    viterbi = data["states"].values.copy()  # a perfect decoding: the two paths coincide
    decoded = xr.Dataset(
        {
            "state_probs": (("sequence", "time", "state"), probs),
            "viterbi": (("sequence", "time"), viterbi),
        },
        coords={"sequence": data["sequence"].values},
    )
    decoded = stop_at_ends(decoded, lengths)
    figure = states_figure(decoded, data["states"].values)
    panels = [ax for ax in figure.axes if ax.images]
    assert len(panels) == 3
    for ax, length, states in zip(panels, lengths, data["states"].values, strict=True):
        true_line, viterbi_line = ax.lines
        assert _last_finite(true_line) == _last_finite(viterbi_line) == length - 1
        # where they agree the paths are drawn apart, true above, Viterbi below
        gap = true_line.get_ydata()[:length] - viterbi_line.get_ydata()[:length]
        np.testing.assert_allclose(gap, TRUE_OFFSET - VITERBI_OFFSET)
        np.testing.assert_allclose(viterbi_line.get_ydata()[:length], states[:length] - 0.18)
        image = ax.images[0].get_array()
        assert image.mask[:, length:].all() and not image.mask[:, :length].any()
        assert ax.get_title(loc="left").endswith(f"({length} steps)")
        assert _inside_figure(figure, ax.title) and _inside_figure(figure, ax.yaxis.label)
    assert LONG_NAME[:20] in panels[1].get_title(loc="left")


def _posterior(rng):
    posterior = xr.Dataset(
        {
            "emission_signal": (("chain", "draw"), rng.normal(1.149, 0.001, (2, 300))),
            "p_transition": (
                ("chain", "draw", "row", "col"),
                rng.dirichlet(np.ones(3), size=(2, 300, 3)),
            ),
        }
    )
    truth = {"emission_signal": 1.15, "p_transition": np.full((3, 3), 1 / 3)}
    return posterior, truth_dataset(posterior, truth)


def test_posterior_figure_prints_enough_digits_and_keeps_text_inside(rng):
    posterior, truth = _posterior(rng)
    figure = posterior_figure(posterior, ["emission_signal", "p_transition"], truth)
    signal_ax = figure.axes[0]
    title = signal_ax.get_title()
    # an HDI about 0.004 wide is printed with 3 decimals or more, not "1.1 to 1.2"
    low, high = title.split("HDI ")[1].split(" to ")
    assert len(low.split(".")[1]) >= 3 and float(low) < 1.149 < float(high)
    assert any(line.get_linestyle() == "--" for line in signal_ax.lines)  # the true value
    for ax in figure.axes:
        if ax.get_visible():
            assert _inside_figure(figure, ax.title)
    assert len([ax for ax in figure.axes if ax.get_visible()]) == 1 + 9


def test_trace_figure_labels_every_component_and_marks_the_truth(rng):
    posterior, truth = _posterior(rng)
    figure = trace_figure(posterior, ["emission_signal", "p_transition"], truth)
    trace_ax = figure.axes[3]  # the p_transition row, right column
    labels = [text.get_text() for text in trace_ax.get_legend().get_texts()]
    assert labels == [f"p_transition[{i}, {j}]" for i in range(3) for j in range(3)]
    dotted = [line for line in trace_ax.lines if line.get_linestyle() == ":"]
    assert len(dotted) == 9  # a true-value line per component
    assert len(figure.axes[1].lines) == 2 + 1 + 1  # two chains, the truth, the legend handle


def test_checks_figure_compares_replicates_and_plots_every_residual(rng):
    data, lengths = _ragged(rng)
    data["emissions"][0, 5] = np.nan  # one missing value inside a sequence
    replicated = xr.Dataset(
        {"hmm": (("chain", "draw", "sequence", "time"), rng.normal(size=(1, 100, 3, 30)))}
    )
    residuals = rng.normal(size=(3, 30))
    decoded = xr.Dataset({"pseudo_residual": (("sequence", "time"), residuals)})
    decoded = stop_at_ends(decoded, lengths)
    decoded["pseudo_residual"][0, 5] = np.nan
    figure = checks_figure(data, replicated, decoded)
    dist_ax, acf_ax, qq_ax = figure.axes
    assert len(dist_ax.lines) == 50 + 1  # replicates drawn, and the observed data
    assert len(acf_ax.lines) == 50 + 1
    assert acf_ax.lines[-1].get_xdata().tolist() == list(range(1, 11))
    (points,) = [line for line in qq_ax.lines if line.get_marker() == "."]
    assert len(points.get_ydata()) == lengths.sum() - 1  # padding and missing steps left out
    assert np.all(np.diff(points.get_ydata()) >= 0)
    labels = [text.get_text() for text in dist_ax.get_legend().get_texts()]
    assert labels == ["replicated (50 posterior draws)", "observed"]
    assert checks_figure(data, None, decoded).axes[0].lines  # older runs: no replicates


def _all_text_inside(figure) -> list[str]:
    """The visible texts (titles, labels, legends, annotations; not tick labels, which
    matplotlib keeps for ticks out of view too) that leave the figure, drawn at its written
    size."""
    figure.canvas.draw()
    ticks = {
        id(label)
        for ax in figure.axes
        for label in [*ax.get_xticklabels(which="both"), *ax.get_yticklabels(which="both")]
    }
    frame = figure.bbox
    outside = []
    for text in figure.findobj(matplotlib.text.Text):
        if id(text) in ticks or not (text.get_visible() and text.get_text().strip()):
            continue
        box = text.get_window_extent()
        if (
            box.x0 < frame.x0 - 1
            or box.x1 > frame.x1 + 1
            or box.y0 < frame.y0 - 1
            or box.y1 > frame.y1 + 1
        ):
            outside.append(text.get_text())
    return outside


def _covariate_run(rng):
    data, lengths = _ragged(rng)
    data["covariates"] = (("sequence", "time", "covariate"), rng.normal(size=(3, 30, 1)))
    data = data.assign_coords(covariate=["temperature_celsius"])
    intercept = rng.normal(size=(2, 20, 2, 2)) * (1 - np.eye(2))
    coef = rng.normal(size=(2, 20, 2, 1, 2)) * (1 - np.eye(2))[:, None, :]
    posterior = xr.Dataset(
        {
            "transition_intercept": (("chain", "draw", "from_state", "to_state"), intercept),
            "transition_coef": (
                ("chain", "draw", "from_state", "covariate", "to_state"),
                coef,
            ),
        }
    )
    return data, lengths, posterior


def _figures(rng):
    """Every run figure, drawn from small inputs (the covariate case with one long name)."""
    data, lengths, covariate_posterior = _covariate_run(rng)
    posterior, truth = _posterior(rng)
    probs = rng.dirichlet(np.ones(2), size=(3, 30))
    decoded = xr.Dataset(
        {
            "state_probs": (("sequence", "time", "state"), probs),
            "viterbi": (("sequence", "time"), data["states"].values),
            "pseudo_residual": (("sequence", "time"), rng.normal(size=(3, 30))),
        },
        coords={"sequence": data["sequence"].values},
    )
    decoded = stop_at_ends(decoded, lengths)
    h = 4
    forecast = xr.Dataset(
        {
            "current_state_probs": (("sequence", "state"), probs[:, 0]),
            "state_probs": (("sequence", "horizon", "state"), rng.dirichlet([1, 1], (3, h))),
            "observation_mean": (("sequence", "horizon"), rng.normal(size=(3, h))),
            "observation_low": (("sequence", "horizon"), rng.normal(size=(3, h)) - 2),
            "observation_high": (("sequence", "horizon"), rng.normal(size=(3, h)) + 2),
            "last_step": ("sequence", lengths - 1),
        },
        coords={"sequence": data["sequence"].values, "horizon": np.arange(1, h + 1)},
    )
    plain = xr.Dataset(
        {"p_transition": (("chain", "draw", "i", "j"), rng.dirichlet([1, 1], (2, 20, 2)))}
    )
    names = ["emission_signal", "p_transition"]
    return {
        "data": lambda: data_figure(data),
        "states": lambda: states_figure(decoded, data["states"].values),
        "trace": lambda: trace_figure(posterior, names, truth),
        "posterior": lambda: posterior_figure(posterior, names, truth),
        "checks": lambda: checks_figure(data, None, decoded),
        "transitions": lambda: transitions_figure(plain, data),
        "transitions, covariates": lambda: transitions_figure(covariate_posterior, data),
        "forecast": lambda: forecast_figure(data, forecast, decoded),
    }


@pytest.mark.parametrize("name", list(_figures(np.random.default_rng(0))))
def test_no_text_leaves_the_figure(name, rng):
    """Titles, labels and legends inside every figure, drawn as written (its style and size)."""
    with plt.style.context(STYLE):
        figure = _figures(rng)[name]()
        assert _all_text_inside(figure) == []


def test_forecast_figure_shows_the_smoothed_past_below_the_observations(rng):
    _, lengths, _ = _covariate_run(rng)
    forecast_draw = _figures(rng)["forecast"]()
    states_ax = forecast_draw.axes[1]
    past, ahead = states_ax.collections[2:], states_ax.collections[:2]
    assert len(ahead) == len(past) == 2  # a stacked area per state, before and after now
    now = lengths[0] - 1
    before = np.concatenate([p.get_paths()[0].vertices[:, 0] for p in past])
    assert before.min() < now - 10 and before.max() <= now
