"""The in-memory data set every command reads, fits, plots and writes.

In memory, and in every NetCDF data file jaxbridge writes, a data set is an
:class:`xarray.Dataset` with

* ``emissions (sequence, time)`` float64: the observations; NaN marks a missing one; with
  several value columns (``jaxbridge fit --columns y1,y2``, ``--emission mvnormal``)
  ``emissions (sequence, time, component)``, a step with a NaN component being missing;
* ``lengths (sequence)`` int64: each sequence's number of steps. Ragged sequences are padded
  at the end with NaN past their length, which leaves an HMM's likelihood unchanged (a
  missing step contributes a factor ``sum_j trans[i, j] = 1``); padding is not missing data:
  decoded states and figures stop at each sequence's end;
* ``states (sequence, time)`` int64, optional: the true hidden states (simulated data);
* ``covariates (sequence, time, covariate)`` float64, optional: covariates driving the
  transitions (``jaxbridge fit --covariates``), zero past each sequence's end;
* ``regressors (sequence, time, regressor)`` float64, optional: the regressors of a
  switching regression (``jaxbridge fit --regressors``), NaN where missing;
* ``date (sequence, time)`` str, optional: each step's date when the CSV's ``time`` holds dates
  (:mod:`jaxbridge.cli._dates`; empty past a sequence's end), with ``attrs["frequency"]`` and
  ``attrs["gap_steps"]``;
* ``init (state)``, ``trans (state, next_state)``, ``signal``, ``noise``, optional: the true
  parameters of a Normal-emission HMM (see :mod:`jaxbridge.cli._params`).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import xarray as xr

from jaxbridge.cli._params import Truth

TRUTH_VARS = Truth._fields


def make_dataset(
    emissions: np.ndarray,
    states: np.ndarray | None = None,
    truth: Truth | None = None,
    sequence: Iterable | None = None,
    lengths: np.ndarray | None = None,
    components: Iterable | None = None,
) -> xr.Dataset:
    """The in-memory data set (module docstring) from ``emissions [N, T]`` (or vectors
    ``[N, T, D]``, named by ``components``) and optional extras.

    ``lengths [N]`` defaults to ``T`` for every sequence; values past a length become NaN.
    """
    emissions = np.array(emissions, dtype=np.float64)
    n, t = emissions.shape[:2]
    lengths = np.full(n, t, dtype=np.int64) if lengths is None else np.asarray(lengths, np.int64)
    emissions[padding_mask(lengths, t)] = np.nan
    coords = {
        "sequence": np.asarray(list(sequence) if sequence is not None else np.arange(n)),
        "time": np.arange(t),
    }
    if emissions.ndim == 3:
        names = components if components is not None else range(emissions.shape[2])
        coords["component"] = np.asarray(list(names))
    data = {
        "emissions": (("sequence", "time", "component")[: emissions.ndim], emissions),
        "lengths": ("sequence", lengths),
    }
    if states is not None:
        data["states"] = (("sequence", "time"), np.asarray(states, dtype=np.int64))
    if truth is not None:
        data |= {
            "init": ("state", truth.init),
            "trans": (("state", "next_state"), truth.trans),
            "signal": ((), truth.signal),
            "noise": ((), truth.noise),
        }
    return xr.Dataset(data, coords=coords)


def padding_mask(lengths: np.ndarray, n_steps: int) -> np.ndarray:
    """``[N, T]`` bool: True at the steps past each sequence's length (padding, not data)."""
    return np.arange(n_steps) >= np.asarray(lengths)[:, None]


def lengths_of(data: xr.Dataset) -> np.ndarray:
    """Each sequence's length (``T`` for all when ``data`` carries none: older files)."""
    if "lengths" in data:
        return data["lengths"].values
    return np.full(data.sizes["sequence"], data.sizes["time"], dtype=np.int64)


def describe(data: xr.Dataset) -> str:
    """``"5 sequences of 20 to 60 steps (median 40), 6 missing values"``: padding not counted."""
    lengths = lengths_of(data)
    n = len(lengths)
    observed = ~padding_mask(lengths, data.sizes["time"])
    missing = int((missing_steps(data) & observed).sum())
    low, high = int(lengths.min()), int(lengths.max())
    steps = (
        f"{high} steps"
        if low == high
        else f"{low} to {high} steps (median {float(np.median(lengths)):g})"
    )
    plural = "" if n == 1 else "s"
    text = f"{n} sequence{plural} of {steps}, {missing} missing value{'' if missing == 1 else 's'}"
    if "component" in data.dims:
        text += f" (steps), components {', '.join(map(str, data['component'].values))}"
    if "covariates" in data:
        text += f", covariates {', '.join(map(str, data['covariate'].values))}"
    if "regressors" in data:
        text += f", regressors {', '.join(map(str, data['regressor'].values))}"
    if "date" in data:
        dates = data["date"].values
        present = dates[dates != ""]
        text += f", {data.attrs['frequency']} dates {min(present)} to {max(present)}"
        gaps = int(data.attrs.get("gap_steps", 0))
        if gaps:
            text += f" ({gaps} date(s) with no row: missing steps)"
    return text


def missing_steps(data: xr.Dataset) -> np.ndarray:
    """``[N, T]`` bool: the steps with a missing observation (any NaN component)."""
    nan = np.isnan(data["emissions"].values)
    return nan.any(axis=-1) if nan.ndim == 3 else nan


def truth_of(data: xr.Dataset) -> Truth | None:
    """The true parameters stored in ``data``, or ``None``."""
    if not all(name in data for name in TRUTH_VARS):
        return None
    return Truth(
        *(data[name].values if data[name].ndim else data[name].item() for name in TRUTH_VARS)
    )
