"""The figures of the hidden chain's dynamics: transition probabilities (constant, or driven
by covariates) and forecasts (PNG, Agg backend), drawn as :mod:`jaxbridge.cli._figures` draws
the others."""

from __future__ import annotations

import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from jaxbridge.cli._data import lengths_of, padding_mask
from jaxbridge.cli._figures import N_SHOWN, TRUTH_COLOR, _label, date_ticks
from jaxbridge.cli._report import dates_through

#: Posterior draws used for the bands of ``transitions.png`` (evenly spaced).
MAX_DRAWS = 400
#: Points along each covariate's observed range in ``transitions.png``.
GRID = 60


def transitions_figure(posterior: xr.Dataset, data: xr.Dataset) -> Figure:
    """The hidden chain's moves.

    Without covariates, the transition matrix ``p_transition`` (posterior mean, a heat map).
    With covariates (``transition_intercept``, ``transition_coef``), every transition
    probability ``p(z_t = j | z_{t-1} = i)`` against each covariate over its observed range,
    the other covariates at their mean: posterior mean and 94% interval, a panel per origin
    state ``i`` (rows) and covariate (columns).
    """
    import matplotlib.pyplot as plt

    if "transition_coef" in posterior:
        return _covariate_transitions_figure(posterior, data)
    figure, ax = plt.subplots(figsize=(4.6, 3.8), layout="constrained")
    if "p_transition" not in posterior:
        ax.text(0.5, 0.5, "one state: no transitions", ha="center", va="center")
        ax.set_axis_off()
        return figure
    mean = posterior["p_transition"].mean(("chain", "draw")).values
    image = ax.imshow(mean, vmin=0.0, vmax=1.0, cmap="viridis")
    for (i, j), value in np.ndenumerate(mean):
        ax.text(j, i, f"{value:.2f}", ha="center", va="center", color="w" if value < 0.6 else "k")
    ax.set_xlabel("to state")
    ax.set_ylabel("from state")
    ax.set_title("transition probabilities (posterior mean)")
    ax.set_xticks(range(len(mean)))
    ax.set_yticks(range(len(mean)))
    ax.grid(False)
    figure.colorbar(image, ax=ax)
    return figure


def _covariate_transitions_figure(posterior: xr.Dataset, data: xr.Dataset) -> Figure:
    import matplotlib.pyplot as plt

    intercept = posterior["transition_intercept"].values  # [chain, draw, K, K]
    coef = posterior["transition_coef"].values  # [chain, draw, K, P, K]
    k, p = intercept.shape[-1], coef.shape[-2]
    intercept, coef = intercept.reshape(-1, k, k), coef.reshape(-1, k, p, k)
    keep = np.unique(np.linspace(0, len(intercept) - 1, MAX_DRAWS).round().astype(int))
    intercept, coef = intercept[keep], coef[keep]
    steps = ~padding_mask(lengths_of(data), data.sizes["time"])
    x = data["covariates"].values[steps]  # [steps, P], within the sequences
    names = [str(name) for name in data["covariate"].values]
    figure, axes = plt.subplots(
        k, p, figsize=(3.6 * p + 1.2, 2.4 * k + 0.8), squeeze=False, layout="constrained"
    )
    moves = 1.0 - np.eye(k)
    for c in range(p):
        grid = np.tile(x.mean(axis=0), (GRID, 1))
        grid[:, c] = np.linspace(x[:, c].min(), x[:, c].max(), GRID)
        logits = intercept[:, None] + np.einsum("gq,siqj->sgij", grid, coef)
        logits = logits * moves
        probs = np.exp(logits - logits.max(-1, keepdims=True))
        probs /= probs.sum(-1, keepdims=True)  # [draws, grid, K, K]
        low, high = np.quantile(probs, [0.03, 0.97], axis=0)
        for i in range(k):
            ax = axes[i, c]
            for j in range(k):
                line = ax.plot(grid[:, c], probs[:, :, i, j].mean(0), label=f"to {j}")[0]
                ax.fill_between(
                    grid[:, c],
                    low[:, i, j],
                    high[:, i, j],
                    alpha=0.25,
                    color=line.get_color(),
                    linewidth=0,
                )
            ax.set_ylim(0, 1)
            ax.set_title(f"from state {i}", fontsize=9)
            if i == k - 1:
                ax.set_xlabel(names[c])
            if c == 0:
                ax.set_ylabel("p(next state)")
    axes[0, -1].legend(fontsize=8, loc="best")
    figure.suptitle("Transition probabilities against each covariate\n(mean, 94% interval)")
    return figure


#: Steps of observed history shown before the forecast in ``forecast.png`` (at most).
HISTORY = 30


def forecast_figure(
    data: xr.Dataset, forecast: xr.Dataset, decoded: xr.Dataset | None = None
) -> Figure:
    """The first sequences' last observed steps, then their forecast (:func:`jaxbridge.forecast`).

    Per sequence, above: the observations up to its last one (its now), the forecast mean and
    its interval (posterior predictive, parameter uncertainty included); below: the state
    probabilities, stacked: over the past the smoothed ones of ``decoded``
    (:func:`jaxbridge.decode`'s ``state_probs``, paler), at now the filtered ones and after it
    the forecast.
    """
    import matplotlib.pyplot as plt

    shown = min(N_SHOWN, data.sizes["sequence"])
    figure, axes = plt.subplots(
        2 * shown,
        1,
        figsize=(8, 3.3 * shown + 0.6),
        squeeze=False,
        gridspec_kw={"height_ratios": [2, 1] * shown},
        layout="constrained",
    )
    interval = round(100 * float(forecast.attrs.get("interval", 0.94)))
    for i in range(shown):
        values_ax, states_ax = axes[2 * i, 0], axes[2 * i + 1, 0]
        now = int(forecast["last_step"].values[i])
        start = max(0, now + 1 - HISTORY)
        history = np.arange(start, now + 1)
        ahead = now + forecast["horizon"].values
        values_ax.plot(history, data["emissions"].values[i, start : now + 1], ".-", color="C0")
        mean = forecast["observation_mean"].values[i]
        values_ax.plot(ahead, mean, "o-", color="C1", ms=3, label="forecast mean")
        values_ax.fill_between(
            ahead,
            forecast["observation_low"].values[i],
            forecast["observation_high"].values[i],
            color="C1",
            alpha=0.3,
            linewidth=0,
            label=f"{interval}% interval",
        )
        values_ax.axvline(now, color=TRUTH_COLOR, lw=0.8, ls=":")
        values_ax.set_ylabel("emission")
        dates = dates_through(data, i, int(ahead.max()) + 1)
        when = f"step {now}" if dates is None else str(dates[now])
        values_ax.set_title(
            f"sequence {_label(forecast['sequence'].values[i], 60)} (now: {when})",
            loc="left",
            fontsize=9,
        )
        probs = np.concatenate(
            [forecast["current_state_probs"].values[i][None], forecast["state_probs"].values[i]]
        )
        steps = np.concatenate([[now], ahead])
        colors = [f"C{k}" for k in range(probs.shape[1])]
        labels = [f"state {k}" for k in range(probs.shape[1])]
        states_ax.stackplot(steps, probs.T, labels=labels, colors=colors)
        if decoded is not None:
            past = decoded["state_probs"].values[i, start : now + 1]  # [history, K]
            states_ax.stackplot(history, past.T, colors=colors, alpha=0.45)
        states_ax.set_xlim(values_ax.get_xlim())
        states_ax.set_ylim(0, 1)
        states_ax.set_ylabel("p(state)")
        if dates is not None:
            for ax in (values_ax, states_ax):
                date_ticks(ax, dates)
    axes[-1, 0].set_xlabel("step" if "date" not in data else "date")
    handles = [
        *axes[0, 0].get_legend_handles_labels()[0],
        *axes[1, 0].get_legend_handles_labels()[0],
    ]
    labels = [
        *axes[0, 0].get_legend_handles_labels()[1],
        *axes[1, 0].get_legend_handles_labels()[1],
    ]
    if decoded is not None:
        from matplotlib.patches import Patch

        handles.append(Patch(color="0.6", alpha=0.45))
        labels.append("pale: smoothed, before now")
    figure.legend(handles, labels, loc="outside lower left", ncols=5, fontsize=8, frameon=False)
    figure.suptitle(f"Forecast: {forecast.sizes['horizon']} step(s) after each sequence's now")
    return figure
