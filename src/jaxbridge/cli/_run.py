"""The fit pipeline and the run folder it writes.

A run folder holds

==================  ==========================================================================
``data.nc``         the data (``emissions``; true ``states`` and parameters when simulated)
``posterior.nc``    the posterior draws, :class:`arviz.InferenceData` (``az.from_netcdf``), and
                    ``posterior_predictive``: replicated data from 100 of the draws
``states.nc``       decoded hidden states (:func:`jaxbridge.decode`) and ``lengths``; past a
                    sequence's end probabilities are NaN and paths are -1; the pseudo-residuals
                    (:func:`jaxbridge.pymc.pseudo_residuals`)
``run.json``        settings, parameter names, true values (what ``report`` needs), sampler used,
                    versions, data shape, the wall seconds of each phase (``seconds``), modes
                    found and convergence figures
``summary.csv``     mean, sd, 94% HDI, r_hat, bulk/tail ESS, true value, in HDI, flag
``episodes.csv``    every stretch of steps where a state's posterior probability exceeds 0.5:
                    first and last step (dates when the data have them), length, mean
                    probability
``data.png``        the first sequences' hidden states and emissions
``trace.png``       trace plot
``posterior.png``   posterior densities, true values as reference lines
``states.png``      posterior state probabilities per step, true states overlaid
``checks.png``      model checks: observed vs replicated data (distribution, autocorrelation)
                    and a normal QQ plot of the pseudo-residuals
``transitions.png`` the transition matrix, or with ``--covariates`` each transition
                    probability against each covariate
==================  ==========================================================================

and with ``--forecast H`` (:func:`jaxbridge.forecast`)

==================  ==========================================================================
``forecast.nc``     the forecast: filtered current state probabilities, state probabilities
                    ``H`` steps ahead, forecast paths and observation draws, their summaries
``forecast.csv``    per sequence and step ahead (0 = now): each state's probability, the
                    observation forecast's mean and 94% interval
``forecast.png``    the first sequences' last steps, then the forecast fan and state probabilities
==================  ==========================================================================

Everything is written to temporary names and renamed into place at the end, so a failed or
interrupted run leaves nothing behind (:func:`jaxbridge.cli._files.atomic_outputs`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

import xarray as xr

from jaxbridge import _compat
from jaxbridge.cli._errors import CLIError
from jaxbridge.cli._figures import (
    checks_figure,
    data_figure,
    posterior_figure,
    states_figure,
    trace_figure,
)
from jaxbridge.cli._figures_dynamics import forecast_figure, transitions_figure
from jaxbridge.cli._painter import Painter
from jaxbridge.cli._phases import Phases
from jaxbridge.cli._report import (
    episodes_table,
    forecast_table,
    format_episodes,
    format_table,
    summary_table,
    truth_dataset,
)

DATA, POSTERIOR, STATES, SETTINGS, SUMMARY = (
    "data.nc",
    "posterior.nc",
    "states.nc",
    "run.json",
    "summary.csv",
)
FIGURES = ("data.png", "trace.png", "posterior.png", "states.png", "checks.png", "transitions.png")
EPISODES = "episodes.csv"
REPORT_FILES = (SUMMARY, EPISODES, *FIGURES)
RUN_FILES = (DATA, POSTERIOR, STATES, SETTINGS, *REPORT_FILES)
FORECAST = "forecast.nc"
FORECAST_REPORT = ("forecast.csv", "forecast.png")
#: What each file of a run folder holds (printed after a run).
CONTENTS = {
    DATA: "the data (true states and parameters when simulated)",
    POSTERIOR: "posterior draws, ArviZ InferenceData",
    STATES: "decoded hidden states: state probabilities, Viterbi path",
    SETTINGS: "settings, true values, versions, modes and convergence figures",
    SUMMARY: "mean, sd, 94% HDI, r_hat, ESS, true value, in HDI, flag",
    EPISODES: "stretches where a state's probability exceeds 0.5 (dates if any)",
    "data.png": "first sequences: hidden states and emissions",
    "trace.png": "trace plot",
    "posterior.png": "posterior densities (true values marked)",
    "states.png": "posterior state probabilities per step",
    "checks.png": "model checks: replicated data, pseudo-residual QQ plot",
    "transitions.png": "transition probabilities (against each covariate, if any)",
    FORECAST: "forecast: state probabilities ahead, observation draws",
    "forecast.csv": "forecast per sequence and step ahead: state probabilities, mean, interval",
    "forecast.png": "last steps of the first sequences, then their forecast",
}


class Run(NamedTuple):
    """A fitted run: its data, posterior, decoded states and ``run.json`` contents."""

    data: xr.Dataset
    idata: Any  # arviz.InferenceData (ArviZ 0.x) or xarray.DataTree (1.x)
    decoded: xr.Dataset
    info: dict[str, Any]
    forecast: xr.Dataset | None = None  # jaxbridge.forecast's result, with --forecast


def run_files(forecast: bool) -> tuple[str, ...]:
    """The files of a run folder, with or without a forecast."""
    return (*RUN_FILES, FORECAST, *FORECAST_REPORT) if forecast else RUN_FILES


def report_files(run: Run) -> tuple[str, ...]:
    """The files :func:`write_report` writes for ``run``."""
    return (*REPORT_FILES, *FORECAST_REPORT) if run.forecast is not None else REPORT_FILES


def write_run(
    run: Run, temp: Callable[[str], Path], out_dir: Path, phases: Phases, painter: Painter
) -> str:
    """Write the run folder's files (through ``temp``, see :mod:`jaxbridge.cli._files`), the
    figures through ``painter``; return what to print: the summary table and the list of files.
    ``phases`` gets the end of the writing and of the figures; ``run.json``, written last,
    holds every phase's seconds."""
    run.data.to_netcdf(temp(DATA), engine="h5netcdf")
    run.idata.to_netcdf(str(temp(POSTERIOR)), engine="h5netcdf")
    run.decoded.to_netcdf(temp(STATES), engine="h5netcdf")
    if run.forecast is not None:
        run.forecast.to_netcdf(temp(FORECAST), engine="h5netcdf")
    phases.mark("writing")
    result = write_report(run, temp, out_dir, run_files(run.forecast is not None), painter)
    phases.mark("figures")
    info = {**run.info, "seconds": phases.rounded()}
    temp(SETTINGS).write_text(json.dumps(info, indent=2) + "\n")
    return result


def write_report(
    run: Run,
    temp: Callable[[str], Path],
    out_dir: Path,
    files: tuple[str, ...] | None = None,
    painter: Painter | None = None,
) -> str:
    """Write ``summary.csv`` and the figures of ``run`` (and its forecast's table and figure),
    the figures through ``painter`` (in this process when ``None``); return what to print: the
    summary table and the list of ``files`` written to ``out_dir`` (:func:`report_files` when
    ``None``)."""
    files = report_files(run) if files is None else files
    painter = Painter(parallel=False) if painter is None else painter
    var_names, truth = run.info["var_names"], run.info["truth"]
    figures_without_replicates(run.data, run.idata, run.decoded, var_names, truth, temp, painter)
    table = summary_table(run.idata, var_names, truth)
    table.to_csv(temp(SUMMARY), index_label="parameter")
    episodes = episodes_table(run.decoded)
    episodes.to_csv(temp(EPISODES), index=False)
    has_replicates = "posterior_predictive" in _compat.group_names(run.idata)
    replicated = _compat.get_group(run.idata, "posterior_predictive") if has_replicates else None
    painter.save(temp("checks.png"), checks_figure, run.data, replicated, run.decoded)
    if run.forecast is not None:
        forecast_table(run.forecast, run.data).to_csv(temp("forecast.csv"), index=False)
        painter.save(temp("forecast.png"), forecast_figure, run.data, run.forecast, run.decoded)
    painter.wait()
    listing = "\n".join(f"  {name:<15} {CONTENTS[name]}" for name in files)
    dated = f"\n\n{format_episodes(episodes)}" if "date" in run.decoded.coords else ""
    return f"{format_table(table)}{dated}\n\nwrote {out_dir}/\n{listing}"


def figures_without_replicates(
    data: xr.Dataset,
    idata: Any,
    decoded: xr.Dataset | None,
    var_names: list[str],
    truth: Mapping[str, Any],
    temp: Callable[[str], Path],
    painter: Painter,
) -> None:
    """The figures that need neither the replicated data nor the forecast: the data's, the
    posterior's (``trace.png``, ``posterior.png``, ``transitions.png``) and, once ``decoded``
    is there, ``states.png``. ``fit`` has them drawn (in the painter's worker) as soon as their
    inputs exist, while it goes on decoding and replicating."""
    posterior = _compat.get_group(idata, "posterior")
    truth_ds = truth_dataset(posterior, truth)
    painter.save(temp("trace.png"), trace_figure, posterior, var_names, truth_ds)
    painter.save(temp("posterior.png"), posterior_figure, posterior, var_names, truth_ds)
    painter.save(temp("transitions.png"), transitions_figure, posterior, data)
    data_figure_of(data, temp, painter)
    if decoded is not None:
        states = data["states"].values if "states" in data else None
        painter.save(temp("states.png"), states_figure, decoded, states)


def data_figure_of(data: xr.Dataset, temp: Callable[[str], Path], painter: Painter) -> None:
    """``data.png``, which needs the data alone: ``fit`` has it drawn while the chains run."""
    painter.save(temp("data.png"), data_figure, data)


def load_run(run_dir: Path) -> Run:
    """Read a run folder written by ``fit``/``demo``."""
    if not run_dir.is_dir():
        raise CLIError(f"{run_dir}: no such run folder")
    missing = [
        name for name in (DATA, POSTERIOR, STATES, SETTINGS) if not (run_dir / name).is_file()
    ]
    if missing:
        raise CLIError(f"{run_dir}: not a jaxbridge run folder (missing {', '.join(missing)})")
    try:
        info = json.loads((run_dir / SETTINGS).read_text())
        forecast = run_dir / FORECAST
        return Run(
            xr.load_dataset(run_dir / DATA),
            _compat.from_netcdf(run_dir / POSTERIOR),
            xr.load_dataset(run_dir / STATES),
            info,
            xr.load_dataset(forecast) if forecast.is_file() else None,
        )
    except (OSError, ValueError) as err:
        first_line = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise CLIError(f"{run_dir}: cannot read the run: {first_line}") from None
