"""The run figures: data, trace, posterior and hidden-state probabilities (PNG, Agg backend).

Each function draws one figure and returns it; the caller saves and closes it. Every figure uses
ArviZ's ``arviz-darkgrid`` style, as the example page does.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import arviz as az
import matplotlib
import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from jaxbridge.cli._report import flat_truth

#: Sequences shown in ``data.png`` and ``states.png`` (the page plots four).
N_SHOWN = 4
STYLE = "arviz-darkgrid"
DPI = 100


def save(draw: Callable[..., Figure], path: Path, *args, **kwargs) -> None:
    """Draw a figure with ``draw(*args, **kwargs)`` in the page's style, save it, close it."""
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # the style asks for a semibold font DejaVu lacks; matplotlib logs each substitution
    logging.getLogger("matplotlib.font_manager").setLevel(logging.ERROR)
    with plt.style.context(STYLE), az.rc_context({"plot.max_subplots": None}):
        figure = draw(*args, **kwargs)
        figure.savefig(path, dpi=DPI)
    plt.close(figure)


def data_figure(data: xr.Dataset) -> Figure:
    """The first sequences' hidden states (when known) and emissions, as on the page."""
    import matplotlib.pyplot as plt

    has_states = "states" in data
    figure, axes = plt.subplots(
        1 + has_states, 1, figsize=(8, 6 if has_states else 3.5), sharex=True, squeeze=False
    )
    axes = axes[:, 0]
    shown = min(N_SHOWN, data.sizes["sequence"])
    for i in range(shown):
        style = dict(color=f"C{i}", lw=2, alpha=0.4)
        if has_states:
            axes[0].plot(data["states"].values[i] + i * 0.02, **style)
        axes[-1].plot(data["emissions"].values[i], **style)
    if has_states:
        axes[0].set_yticks(np.arange(int(data["states"].max()) + 1))
        axes[0].set_ylabel("hidden state")
    axes[-1].set_ylabel("observed emission")
    axes[-1].set_xlabel("step")
    figure.suptitle(f"Data: first {shown} of {data.sizes['sequence']} sequences")
    return figure


def trace_figure(idata: az.InferenceData, var_names: list[str]) -> Figure:
    """ArviZ trace plot of the parameters."""
    axes = az.plot_trace(idata, var_names=var_names, compact=True)
    return np.ravel(axes)[0].figure


def posterior_figure(idata: az.InferenceData, var_names: list[str], truth: xr.Dataset) -> Figure:
    """ArviZ posterior densities with 94% HDIs; true values as reference lines when known."""
    ref_val: dict[str, list[dict]] = {}
    for name, sel, _, value in flat_truth(truth):
        ref_val.setdefault(name, []).append({**sel, "ref_val": value})
    n_panels = sum(int(np.prod(idata.posterior[name].shape[2:])) for name in var_names)
    n_cols = min(5, n_panels)
    n_rows = -(-n_panels // n_cols)
    axes = az.plot_posterior(
        idata,
        var_names=var_names,
        ref_val=ref_val or None,
        hdi_prob=0.94,
        grid=(n_rows, n_cols),
        figsize=(3 * n_cols, 2.4 * n_rows),
        textsize=9,
    )
    return np.ravel(axes)[0].figure


def states_figure(decoded: xr.Dataset, states: np.ndarray | None) -> Figure:
    """Posterior state probabilities per step (heat map) for the first sequences.

    Parameters
    ----------
    decoded
        :func:`jaxbridge.decode`'s result: ``state_probs (sequence, time, state)``, the
        posterior ``p(z_t = k | y)``, and ``viterbi (sequence, time)``, the most probable path.
    states : ``[N, T]`` or None
        True hidden states, drawn over the heat map when known.
    """
    import matplotlib.pyplot as plt

    probs = decoded["state_probs"].transpose("sequence", "time", "state")
    shown = min(N_SHOWN, probs.sizes["sequence"])
    n_states = probs.sizes["state"]
    figure, axes = plt.subplots(
        shown, 1, figsize=(8, 1.2 + (0.35 * n_states + 0.4) * shown), sharex=True, squeeze=False
    )
    for i, ax in enumerate(axes[:, 0]):
        image = ax.imshow(
            probs.values[i].T,
            aspect="auto",
            origin="lower",
            vmin=0,
            vmax=1,
            cmap="viridis",
            interpolation="nearest",
        )
        if states is not None:
            ax.plot(states[i], color="C1", lw=3, drawstyle="steps-mid", label="true state")
        ax.plot(
            decoded["viterbi"].values[i],
            "--",
            color="C3",
            lw=1,
            drawstyle="steps-mid",
            label="Viterbi path",
        )
        ax.set_yticks(np.arange(n_states))
        ax.set_ylabel(f"seq {probs['sequence'].values[i]}\nstate")
        ax.grid(False)
    axes[-1, 0].set_xlabel("step")
    figure.colorbar(image, ax=axes[:, 0], label="p(state | data)", shrink=0.9)
    figure.suptitle("Posterior hidden-state probabilities")
    figure.legend(
        *axes[0, 0].get_legend_handles_labels(),
        loc="lower left",
        bbox_to_anchor=(0.0, 0.0),
        ncols=2,
        fontsize=9,
        frameon=False,
    )
    return figure
