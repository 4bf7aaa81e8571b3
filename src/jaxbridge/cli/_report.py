"""The tables of a run: ArviZ's posterior summary plus the true values when known, the
forecast, and the states' episodes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from jaxbridge import _compat
from jaxbridge._labels import reported_scalars, scalar_entries

#: Probability mass of the highest-density interval reported (ArviZ 0.x's default, the page's).
HDI_PROB = 0.94
LOWER, UPPER = _compat.HDI_COLUMNS
COLUMNS = ["mean", "sd", LOWER, UPPER, "r_hat", "ess_bulk", "ess_tail", "true", "in_hdi", "flag"]


def truth_dataset(posterior: xr.Dataset, truth: Mapping[str, np.ndarray | float]) -> xr.Dataset:
    """True values as a data set with the dims and coords of the posterior's variables.

    ``truth`` maps variable names to values shaped like one draw; names the posterior does not
    hold, or values of another shape, are left out.
    """
    variables = {}
    for name, value in truth.items():
        if name not in posterior:
            continue
        template = posterior[name].isel(chain=0, draw=0, drop=True)
        value = np.asarray(value, dtype=float)
        if value.shape == template.shape:
            variables[name] = template.copy(data=value)
    return xr.Dataset(variables)


def flat_truth(truth: xr.Dataset) -> list[tuple[str, dict, str, float]]:
    """``(var_name, selection, label, value)`` for every scalar of ``truth``.

    Labels are ArviZ's summary row names: ``"noise"``, ``"p_transition[0, 1]"`` (coordinate
    values, joined by ``", "``).
    """
    return [
        (name, sel, label, float(values.sel(sel)))
        for name, values in truth.data_vars.items()
        for sel, label in scalar_entries(values, name)
    ]


def truth_by_label(truth: xr.Dataset) -> dict[str, float]:
    """``{summary row label: true value}`` for every scalar of ``truth``."""
    return {label: value for _, _, label, value in flat_truth(truth)}


def summary_table(
    idata: Any, var_names: list[str], truth: Mapping[str, np.ndarray | float]
) -> pd.DataFrame:
    """One row per scalar parameter: mean, sd, 94% HDI, r_hat, bulk/tail ESS, true value, in HDI,
    and ``flag``: the convergence checks the parameter fails (``r_hat``, ``ess_bulk``,
    ``ess_tail``; see :mod:`jaxbridge.pymc._diagnostics`), empty when it passes.

    ``true`` is NaN and ``in_hdi`` empty (``pd.NA``) where the true value is unknown; both
    columns are left out when no true value is known (a user's data).
    """
    from jaxbridge.pymc._diagnostics import row_flags

    posterior = _compat.get_group(idata, "posterior")
    scalars = xr.Dataset(
        {
            label: posterior[name].sel(sel, drop=True)
            for name, sel, label in reported_scalars(posterior, var_names)
        }
    )
    table = _compat.summary(scalars, list(scalars.data_vars), HDI_PROB)
    known = truth_by_label(truth_dataset(posterior, truth))
    table["true"] = pd.Series(known, dtype=float).reindex(table.index)
    inside = (table[LOWER] <= table["true"]) & (table["true"] <= table[UPPER])
    table["in_hdi"] = inside.astype("boolean").mask(table["true"].isna())
    table["flag"] = row_flags(table, posterior.sizes["chain"])
    return table[[c for c in COLUMNS if known or c not in ("true", "in_hdi")]]


def format_table(table: pd.DataFrame) -> str:
    """The summary table as fixed-width text for the terminal."""
    shown = table.copy()
    if "in_hdi" in shown:
        shown["in_hdi"] = shown["in_hdi"].map({True: "yes", False: "NO"}).fillna("")
    formats = {name: "{:.3f}".format for name in ["mean", "sd", LOWER, UPPER, "r_hat", "true"]}
    formats |= {"ess_bulk": "{:.0f}".format, "ess_tail": "{:.0f}".format}
    return shown.to_string(formatters=formats, na_rep="")


def forecast_table(forecast: xr.Dataset, data: xr.Dataset | None = None) -> pd.DataFrame:
    """One row per sequence and horizon step of :func:`jaxbridge.forecast`'s result.

    Columns ``sequence, horizon, time`` (the step: the sequence's now plus ``horizon``), with
    ``date`` after it when ``data`` has dates, ``p_state_k`` for each state,
    ``observation_mean``, ``observation_low`` and ``observation_high`` (the interval). Horizon
    0 is now: the filtered state probabilities, no observation forecast.
    """
    num_states = forecast.sizes["state"]
    now = forecast["current_state_probs"].expand_dims(horizon=[0])
    probs = xr.concat([now, forecast["state_probs"]], dim="horizon")
    probs = probs.transpose("sequence", "horizon", "state")
    rows = []
    horizons = probs["horizon"].values
    for i, label in enumerate(forecast["sequence"].values):
        last = int(forecast["last_step"].values[i])
        dates = dates_through(data, i, last + int(horizons.max()) + 1)
        for j, horizon in enumerate(horizons):
            row = {"sequence": label, "horizon": int(horizon), "time": last + int(horizon)}
            if dates is not None:
                row["date"] = str(dates[last + int(horizon)])
            row |= {f"p_state_{k}": float(probs.values[i, j, k]) for k in range(num_states)}
            for name in ("observation_mean", "observation_low", "observation_high"):
                row[name] = float(forecast[name].values[i, j - 1]) if horizon else np.nan
            rows.append(row)
    return pd.DataFrame(rows)


def dates_through(data: xr.Dataset | None, sequence: int, total: int) -> np.ndarray | None:
    """Sequence ``sequence``'s dates for steps ``0 .. total - 1``, or None without dates."""
    if data is None or "date" not in data:
        return None
    from jaxbridge.cli._dates import step_labels

    row = data["date"].transpose("sequence", "time").values[sequence]
    return step_labels(row, data.attrs["frequency"], total)


#: An episode of a state: a stretch of steps where its posterior probability exceeds this.
EPISODE_THRESHOLD = 0.5
EPISODE_COLUMNS = ["sequence", "state", "first", "last", "steps", "mean_probability"]


def episodes_table(decoded: xr.Dataset) -> pd.DataFrame:
    """Every episode of every state: a maximal stretch of steps where ``p(z_t = k | y)``
    (``state_probs``) exceeds :data:`EPISODE_THRESHOLD`, with its first and last step (their
    dates when ``decoded`` has a ``date`` coordinate), length and mean probability."""
    probs = decoded["state_probs"].transpose("sequence", "time", "state")
    dates = decoded.coords.get("date")
    rows = []
    for i, label in enumerate(probs["sequence"].values):
        names = (
            dates.transpose("sequence", "time").values[i]
            if dates is not None
            else np.arange(probs.sizes["time"])
        )
        for k in range(probs.sizes["state"]):
            p = probs.values[i, :, k]
            above = np.concatenate([[False], np.nan_to_num(p) > EPISODE_THRESHOLD, [False]])
            starts = np.flatnonzero(~above[:-1] & above[1:])
            ends = np.flatnonzero(above[:-1] & ~above[1:])  # one past the last step
            for start, end in zip(starts, ends, strict=True):
                rows.append(
                    (label, k, names[start], names[end - 1], end - start, p[start:end].mean())
                )
    table = pd.DataFrame(rows, columns=EPISODE_COLUMNS)
    table["mean_probability"] = table["mean_probability"].round(3)
    return table


def format_episodes(table: pd.DataFrame, shown: int = 12) -> str:
    """The episodes as printed after a run on dated data: one line each, the longest first
    when there are more than ``shown``."""
    longest = table.sort_values("steps", ascending=False).head(shown).sort_index()
    lines = [
        f"  sequence {row.sequence}, state {row.state}: {row.first} to {row.last} "
        f"({row.steps} steps, mean p {row.mean_probability:.2f})"
        for row in longest.itertuples()
    ]
    more = len(table) - len(longest)
    tail = [f"  ... {more} shorter ones in episodes.csv"] if more > 0 else []
    return "\n".join([f"episodes (state probability > {EPISODE_THRESHOLD}):", *lines, *tail])
