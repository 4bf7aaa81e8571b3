"""The run figures: data, trace, posterior, hidden-state probabilities and model checks (PNG,
Agg backend); the hidden chain's dynamics (transitions, forecasts) are in
:mod:`jaxbridge.cli._figures_dynamics`.

Each function draws one figure with plain matplotlib (the same code on ArviZ 0.x and 1.x) and
returns it; :func:`save` saves and closes it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import matplotlib
import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from jaxbridge._labels import reported_scalars
from jaxbridge.cli._data import lengths_of, padding_mask
from jaxbridge.cli._report import HDI_PROB, truth_by_label

#: Sequences shown in ``data.png`` and ``states.png`` (the page plots four).
N_SHOWN = 4
STYLE = "seaborn-v0_8-darkgrid"
DPI = 100
TRUTH_COLOR = "black"


def save(draw: Callable[..., Figure], path: Path, *args, **kwargs) -> None:
    """Draw a figure with ``draw(*args, **kwargs)``, save it, close it."""
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # the style may ask for fonts DejaVu lacks; matplotlib logs each substitution
    logging.getLogger("matplotlib.font_manager").setLevel(logging.ERROR)
    with plt.style.context(STYLE):
        figure = draw(*args, **kwargs)
        figure.savefig(path, dpi=DPI)
    plt.close(figure)


def hdi(draws: np.ndarray, prob: float = HDI_PROB) -> tuple[float, float]:
    """Narrowest interval holding ``prob`` of the draws (the highest-density interval)."""
    ordered = np.sort(np.ravel(draws))
    n_in = int(np.floor(prob * len(ordered)))
    widths = ordered[n_in:] - ordered[: len(ordered) - n_in]
    low = int(np.argmin(widths))
    return float(ordered[low]), float(ordered[low + n_in])


def _scalars(posterior: xr.Dataset, var_names: list[str]):
    """``(label, draws [chain, draw])`` for every scalar component of ``var_names``."""
    for name, sel, label in reported_scalars(posterior, var_names):
        yield label, posterior[name].sel(sel).transpose("chain", "draw").values


def _kde(draws: np.ndarray, grid: np.ndarray) -> np.ndarray:
    from scipy.stats import gaussian_kde

    draws = np.ravel(draws)
    if np.ptp(draws) == 0:
        return np.zeros_like(grid)
    return gaussian_kde(draws)(grid)


def _grid_layout(
    figure: Figure,
    rows: int,
    cols: int,
    *,
    left: float,
    right: float,
    top: float,
    bottom: float,
    row_gap: float,
    col_gap: float,
) -> None:
    """Place a ``rows x cols`` grid of axes with margins and gaps in inches (what
    ``tight_layout`` would measure, set once: measuring every label costs a third of a
    figure's drawing)."""
    width, height = figure.get_size_inches()
    axes_width = (width - left - right - (cols - 1) * col_gap) / cols
    axes_height = (height - top - bottom - (rows - 1) * row_gap) / rows
    figure.subplots_adjust(
        left=left / width,
        right=1 - right / width,
        top=1 - top / height,
        bottom=bottom / height,
        wspace=col_gap / axes_width,
        hspace=row_gap / axes_height,
    )


def _fmt(value: float, scale: float) -> str:
    """``value`` with enough digits to tell apart numbers that differ by ``scale``."""
    digits = max(0, 2 - int(np.floor(np.log10(scale)))) if scale > 0 else 3
    return f"{value:.{min(digits, 8)}f}"


def _label(name: object, width: int = 28) -> str:
    """A sequence's name for a legend or title, shortened to ``width`` characters."""
    text = str(name)
    return text if len(text) <= width else text[: width - 1] + "…"


def _until(values: np.ndarray, length: int) -> np.ndarray:
    """``values [T]`` as floats, NaN from ``length`` on (lines stop at the sequence's end)."""
    values = np.asarray(values, dtype=float).copy()
    values[length:] = np.nan
    return values


def _path_until(path: np.ndarray, length: int) -> np.ndarray:
    """A state path ``[T]`` as :func:`_until`, NaN where it is missing too (-1: the steps a
    switching autoregression conditions on)."""
    values = _until(path, length)
    values[values < 0] = np.nan
    return values


def _first_component(values: xr.DataArray) -> xr.DataArray:
    """Vector observations ``(..., component)`` shown by their first component."""
    return values.isel(component=0) if "component" in values.dims else values


def _emission_label(data: xr.Dataset) -> str:
    if "component" not in data.dims:
        return "observed emission"
    components = data["component"].values
    return f"component {_label(components[0], 12)} (1 of {len(components)})"


def label_steps(ax, dates: xr.DataArray | None, shown: int) -> None:
    """Label an axis of steps: with the dates (``date (sequence, time)``) when the ``shown``
    first sequences have the same date at every step they share, else ``step``."""
    if dates is not None:
        values = dates.transpose("sequence", "time").values[:shown]
        common = values[0]
        same = all(
            np.array_equal(row[row != ""], common[: (row != "").sum()]) for row in values[1:]
        )
        if same:
            date_ticks(ax, common[common != ""])
            ax.set_xlabel("date")
            return
    ax.set_xlabel("step")


def date_ticks(ax, labels: np.ndarray) -> None:
    """Tick an axis of steps ``0, 1, ...`` with ``labels[step]`` (at most six, on whole steps)."""
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    def date_at(x: float, _position: object) -> str:
        step = round(x)
        return str(labels[step]) if abs(x - step) < 1e-9 and 0 <= step < len(labels) else ""

    ax.xaxis.set_major_locator(MaxNLocator(nbins=6, integer=True))
    ax.xaxis.set_major_formatter(FuncFormatter(date_at))


def data_figure(data: xr.Dataset) -> Figure:
    """The first sequences' hidden states (when known) and emissions, as on the page.

    Each sequence ends at its own length and is named in the legend. Vector observations
    are shown by their first component.
    """
    import matplotlib.pyplot as plt

    has_states = "states" in data
    figure, axes = plt.subplots(
        1 + has_states, 1, figsize=(8, 6 if has_states else 3.8), sharex=True, squeeze=False
    )
    axes = axes[:, 0]
    shown = min(N_SHOWN, data.sizes["sequence"])
    lengths = lengths_of(data)
    emissions = _first_component(data["emissions"]).values
    for i in range(shown):
        style = dict(color=f"C{i}", lw=2, alpha=0.5)
        if has_states:
            axes[0].plot(_until(data["states"].values[i], lengths[i]) + i * 0.02, **style)
        label = f"sequence {_label(data['sequence'].values[i])}"
        axes[-1].plot(_until(emissions[i], lengths[i]), label=label, **style)
    if has_states:
        axes[0].set_yticks(np.arange(int(data["states"].max()) + 1))
        axes[0].set_ylabel("hidden state")
    axes[-1].set_ylabel(_emission_label(data))
    label_steps(axes[-1], data.get("date"), shown)
    axes[-1].legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    figure.suptitle(f"Data: first {shown} of {data.sizes['sequence']} sequences")
    figure.tight_layout()
    return figure


def trace_figure(posterior: xr.Dataset, var_names: list[str], truth: xr.Dataset) -> Figure:
    """Per variable: chain densities (left) and traces (right), true values as dotted lines.

    Components of a vector or matrix variable share a panel, one colour each, named in the
    legend (``p_transition[0, 1]``); chains are told apart by line style.
    """
    import matplotlib.pyplot as plt

    known = truth_by_label(truth)
    styles = ["-", "--", ":", "-."]
    figure, axes = plt.subplots(
        len(var_names), 2, figsize=(10, 2.2 * len(var_names) + 0.6), squeeze=False
    )
    for row, name in enumerate(var_names):
        density_ax, trace_ax = axes[row]
        components = list(_scalars(posterior, [name]))
        for k, (label, draws) in enumerate(components):
            color = f"C{k % 10}"
            grid = np.linspace(draws.min(), draws.max(), 200)
            for c, chain in enumerate(draws):
                style = dict(color=color, ls=styles[c % len(styles)], lw=1)
                density_ax.plot(grid, _kde(chain, grid), **style)
                trace_ax.plot(chain, alpha=0.6, **{**style, "lw": 0.6})
            if label in known:
                density_ax.axvline(known[label], color=color, ls=":", lw=1.5)
                trace_ax.axhline(known[label], color=color, ls=":", lw=1.5)
            trace_ax.plot([], [], color=color, label=label)
        density_ax.set_ylabel(name)
        density_ax.set_yticks([])
        if len(components) > 1:
            trace_ax.legend(
                loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8, frameon=False
            )
    axes[-1, 0].set_xlabel("value")
    axes[-1, 1].set_xlabel("draw")
    axes[0, 0].set_title("posterior density per chain")
    axes[0, 1].set_title("trace per chain")
    if known:
        figure.text(0.01, 0.005, "dotted: true value", fontsize=8)
    figure.tight_layout()
    return figure


def posterior_figure(posterior: xr.Dataset, var_names: list[str], truth: xr.Dataset) -> Figure:
    """One panel per scalar: density, 94% HDI shaded, mean and HDI in the title, truth line.

    Numbers carry as many digits as the HDI's width needs to be read.
    """
    import matplotlib.pyplot as plt

    known = truth_by_label(truth)
    components = list(_scalars(posterior, var_names))
    n_cols = min(4, len(components))
    n_rows = -(-len(components) // n_cols)
    figure, axes = plt.subplots(
        n_rows, n_cols, figsize=(3.2 * n_cols, 2.5 * n_rows + 0.5), squeeze=False
    )
    for ax, (label, draws) in zip(axes.flat, components, strict=False):
        low, high = hdi(draws)
        mean = float(np.mean(draws))
        lo_plot, hi_plot = np.quantile(draws, [0.001, 0.999])
        if label in known:
            lo_plot, hi_plot = min(lo_plot, known[label]), max(hi_plot, known[label])
        pad = 0.05 * (hi_plot - lo_plot or 1.0)
        grid = np.linspace(lo_plot - pad, hi_plot + pad, 300)
        density = _kde(draws, grid)
        ax.plot(grid, density, color="C0")
        inside = (grid >= low) & (grid <= high)
        ax.fill_between(grid[inside], density[inside], color="C0", alpha=0.3, label="94% HDI")
        ax.axvline(mean, color="C0", lw=1)
        if label in known:
            ax.axvline(known[label], color=TRUTH_COLOR, ls="--", lw=1.2, label="true value")
        scale = high - low
        ax.set_title(
            f"{label}\nmean {_fmt(mean, scale)}, HDI {_fmt(low, scale)} to {_fmt(high, scale)}",
            fontsize=9,
        )
        ax.set_yticks([])
        ax.tick_params(axis="x", labelsize=8)
        ax.locator_params(axis="x", nbins=5)  # long tick labels (-0.025) must not run together
    for ax in axes.flat[len(components) :]:
        ax.set_visible(False)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="lower center", ncols=2, fontsize=9, frameon=False)
    _grid_layout(
        figure, n_rows, n_cols, left=0.2, right=0.2, top=0.45, bottom=0.6, row_gap=0.7,
        col_gap=0.3,
    )  # fmt: skip
    return figure


#: Vertical offsets of the true and the Viterbi path within a state's row of ``states.png``,
#: so the two stay apart where they agree.
TRUE_OFFSET, VITERBI_OFFSET = 0.18, -0.18


def states_figure(decoded: xr.Dataset, states: np.ndarray | None) -> Figure:
    """Posterior state probabilities per step (heat map) for the first sequences.

    Parameters
    ----------
    decoded
        :func:`jaxbridge.decode`'s result: ``state_probs (sequence, time, state)``, the
        posterior ``p(z_t = k | y)``, ``viterbi (sequence, time)``, the most probable path, and
        optionally ``lengths (sequence)``: each panel stops at its sequence's end.
    states : ``[N, T]`` or None
        True hidden states, drawn over the heat map when known (just above each state's
        centre; the Viterbi path just below).
    """
    import matplotlib.pyplot as plt

    probs = decoded["state_probs"].transpose("sequence", "time", "state")
    n_seq, n_steps, n_states = probs.shape
    lengths = decoded["lengths"].values if "lengths" in decoded else np.full(n_seq, n_steps)
    shown = min(N_SHOWN, n_seq)
    cmap = matplotlib.colormaps["viridis"].with_extremes(bad="white")
    figure, axes = plt.subplots(
        shown,
        1,
        figsize=(8, 1.4 + (0.35 * n_states + 0.7) * shown),
        sharex=True,
        squeeze=False,
        layout="constrained",
    )
    for i, ax in enumerate(axes[:, 0]):
        image = ax.imshow(
            np.ma.masked_invalid(probs.values[i].T),
            aspect="auto",
            origin="lower",
            vmin=0,
            vmax=1,
            cmap=cmap,
            interpolation="nearest",
        )
        steps = dict(drawstyle="steps-mid")
        if states is not None:
            true_path = _until(states[i], lengths[i]) + TRUE_OFFSET
            ax.plot(true_path, color="C1", lw=2.5, label="true state", **steps)
        viterbi = _path_until(decoded["viterbi"].values[i], lengths[i]) + VITERBI_OFFSET
        ax.plot(viterbi, "--", color="C3", lw=1.2, label="Viterbi path", **steps)
        ax.set_yticks(np.arange(n_states))
        ax.set_ylabel("state")
        ax.set_title(
            f"sequence {_label(probs['sequence'].values[i], 60)} ({lengths[i]} steps)",
            loc="left",
            fontsize=9,
        )
        ax.grid(False)
    label_steps(axes[-1, 0], decoded.coords.get("date"), shown)
    figure.colorbar(image, ax=axes[:, 0], label="p(state | data)", shrink=0.9)
    figure.suptitle("Posterior hidden-state probabilities")
    figure.legend(
        *axes[0, 0].get_legend_handles_labels(),
        loc="outside lower left",
        ncols=2,
        fontsize=9,
        frameon=False,
    )
    return figure


#: Replicated data sets drawn in ``checks.png`` and the autocorrelation lags it compares.
N_DRAWN, MAX_LAG = 50, 10


def _span(values: np.ndarray) -> tuple[float, float]:
    low, high = np.quantile(values, [0.001, 0.999])
    pad = 0.1 * (high - low or 1.0)
    return low - pad, high + pad


def _autocorrelation(y: np.ndarray, max_lag: int) -> np.ndarray:
    """Pooled lag-``1..max_lag`` autocorrelation of ``y [N, T]`` over the pairs both observed."""
    centred = y - np.nanmean(y)
    scale = np.nanmean(centred**2)
    return np.array(
        [np.nanmean(centred[:, lag:] * centred[:, :-lag]) / scale for lag in range(1, max_lag + 1)]
    )


def checks_figure(data: xr.Dataset, replicated: xr.Dataset | None, decoded: xr.Dataset) -> Figure:
    """Model checks: does the fitted model reproduce the data?

    Left, the distribution of the observations against that of data sets replicated from
    posterior draws (``posterior_predictive``); middle, their autocorrelation (an HMM's
    persistence shows there; a switching autoregression's replicates are drawn one step ahead,
    each given the observed values before it); right, a normal QQ plot of the pseudo-residuals
    (:func:`jaxbridge.pymc.pseudo_residuals`), on the line when the model is right. Vector
    observations are checked on their first component, and have no pseudo-residuals.
    """
    import matplotlib.pyplot as plt
    from scipy.stats import norm

    observed = _first_component(data["emissions"]).values
    kept = ~padding_mask(lengths_of(data), observed.shape[1]) & ~np.isnan(observed)
    figure, (dist_ax, acf_ax, qq_ax) = plt.subplots(1, 3, figsize=(12, 3.8), layout="constrained")
    lags = np.arange(1, min(MAX_LAG, observed.shape[1] - 1) + 1)
    values = observed[kept]
    draws = np.empty((0, *observed.shape))
    replicated_label = "replicated"
    if replicated is not None:
        if replicated.attrs.get("one_step_ahead"):  # a switching autoregression's replicates
            replicated_label = "replicated one step ahead"
        (name,) = replicated.data_vars
        draws = _first_component(replicated[name]).stack(sample=("chain", "draw"))
        draws = draws.transpose("sample", ...).values
        draws = draws[:: max(1, len(draws) // N_DRAWN)]
    grid = np.linspace(*_span(np.concatenate([values, draws[:, kept].ravel()])), 200)
    for i, draw in enumerate(draws):
        label = f"{replicated_label} ({len(draws)} posterior draws)" if i == 0 else None
        dist_ax.plot(grid, _kde(draw[kept], grid), color="C0", alpha=0.15, lw=1, label=label)
        acf = _autocorrelation(np.where(kept, draw, np.nan), lags[-1])
        acf_ax.plot(lags, acf, color="C0", alpha=0.15, lw=1)
    dist_ax.plot(grid, _kde(values, grid), color=TRUTH_COLOR, lw=2, label="observed")
    dist_ax.set(xlabel=_emission_label(data), title="distribution", yticks=[])
    dist_ax.set_ylim(0, 1.3 * dist_ax.get_ylim()[1])  # room for the legend above the curves
    dist_ax.legend(loc="upper right", fontsize=8, frameon=False)
    acf_ax.plot(
        lags,
        _autocorrelation(np.where(kept, observed, np.nan), lags[-1]),
        "o-",
        color=TRUTH_COLOR,
        lw=2,
    )
    acf_ax.set(xlabel="lag", ylabel="autocorrelation", title="autocorrelation")
    if "pseudo_residual" in decoded:  # run folders of older versions lack them
        found = decoded["pseudo_residual"].values
        residuals = np.sort(found[np.isfinite(found)])
        expected = norm.ppf((np.arange(len(residuals)) + 0.5) / len(residuals))
        qq_ax.plot(expected, residuals, ".", color="C0", ms=3)
    qq_ax.axline((0, 0), slope=1, color=TRUTH_COLOR, lw=1, ls="--")
    qq_ax.set(
        xlabel="standard normal quantile",
        ylabel="pseudo-residual",
        title="pseudo-residuals (on the line if the model fits)",
    )
    qq_ax.title.set_fontsize(10)
    figure.suptitle("Model checks")
    return figure
