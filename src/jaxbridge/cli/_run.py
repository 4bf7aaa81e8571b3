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
                    versions, data shape, timing, modes found and convergence figures
``summary.csv``     mean, sd, 94% HDI, r_hat, bulk/tail ESS, true value, in HDI, flag
``data.png``        the first sequences' hidden states and emissions
``trace.png``       trace plot
``posterior.png``   posterior densities, true values as reference lines
``states.png``      posterior state probabilities per step, true states overlaid
``checks.png``      model checks: observed vs replicated data (distribution, autocorrelation)
                    and a normal QQ plot of the pseudo-residuals
==================  ==========================================================================

Everything is written to temporary names and renamed into place at the end, so a failed or
interrupted run leaves nothing behind (:func:`jaxbridge.cli._io.atomic_outputs`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import xarray as xr

from jaxbridge import __version__, _compat
from jaxbridge.cli._errors import CLIError
from jaxbridge.cli._figures import (
    checks_figure,
    data_figure,
    posterior_figure,
    save,
    states_figure,
    trace_figure,
)
from jaxbridge.cli._io import atomic_outputs, lengths_of, padding_mask, truth_of
from jaxbridge.cli._report import summary_table, truth_dataset

DATA, POSTERIOR, STATES, SETTINGS, SUMMARY = (
    "data.nc",
    "posterior.nc",
    "states.nc",
    "run.json",
    "summary.csv",
)
FIGURES = ("data.png", "trace.png", "posterior.png", "states.png", "checks.png")
#: Posterior draws that get a replicated data set (the posterior predictive check).
N_REPLICATES = 100
REPORT_FILES = (SUMMARY, *FIGURES)
RUN_FILES = (DATA, POSTERIOR, STATES, SETTINGS, *REPORT_FILES)
#: What each file of a run folder holds (printed after a run).
CONTENTS = {
    DATA: "the data (true states and parameters when simulated)",
    POSTERIOR: "posterior draws, ArviZ InferenceData",
    STATES: "decoded hidden states: state probabilities, Viterbi path",
    SETTINGS: "settings, true values, versions, modes and convergence figures",
    SUMMARY: "mean, sd, 94% HDI, r_hat, ESS, true value, in HDI, flag",
    "data.png": "first sequences: hidden states and emissions",
    "trace.png": "trace plot",
    "posterior.png": "posterior densities (true values marked)",
    "states.png": "posterior state probabilities per step",
    "checks.png": "model checks: replicated data, pseudo-residual QQ plot",
}


class Settings(NamedTuple):
    """What ``fit`` and ``demo`` were asked to do."""

    states: int
    emission: str
    shared_noise: bool
    sampler: str
    draws: int
    tune: int
    chains: int
    seed: int


class Run(NamedTuple):
    """A fitted run: its data, posterior, decoded states and ``run.json`` contents."""

    data: xr.Dataset
    idata: Any  # arviz.InferenceData (ArviZ 0.x) or xarray.DataTree (1.x)
    decoded: xr.Dataset
    info: dict[str, Any]


def fit_to_folder(
    data: xr.Dataset,
    settings: Settings,
    out_dir: Path,
    *,
    source: str,
    force: bool,
    say: Callable[[str], None],
    progressbar: bool,
) -> pd.DataFrame:
    """Fit the model to ``data``, write the run folder ``out_dir``; return the summary table."""
    with atomic_outputs(out_dir, RUN_FILES, force=force) as temp:
        run = fit(data, settings, source=source, say=say, progressbar=progressbar)
        say(f"writing {out_dir}/")
        run.data.to_netcdf(temp(DATA), engine="h5netcdf")
        run.idata.to_netcdf(str(temp(POSTERIOR)), engine="h5netcdf")
        run.decoded.to_netcdf(temp(STATES), engine="h5netcdf")
        temp(SETTINGS).write_text(json.dumps(run.info, indent=2) + "\n")
        return write_report(run, temp)


def fit(
    data: xr.Dataset,
    settings: Settings,
    *,
    source: str,
    say: Callable[[str], None],
    progressbar: bool,
) -> Run:
    """Build the model, sample its posterior and decode the hidden states."""
    from jaxbridge.cli._model import build_model, parameter_truth
    from jaxbridge.pymc import ConvergenceWarning, decode, pseudo_residuals, sample
    from jaxbridge.pymc._diagnostics import message

    say(f"building the {settings.states}-state {settings.emission} marginal HMM")
    try:
        model, var_names = build_model(
            data["emissions"].values,
            settings.states,
            settings.emission,
            data["sequence"].values,
            shared_noise=settings.shared_noise,
        )
    except ValueError as err:  # data the model cannot produce
        raise CLIError(f"{source}: --emission {settings.emission}: {err}") from None
    say(
        f"sampling with NUTS ({settings.sampler}): {settings.chains} chain(s) x "
        f"({settings.tune} tuning + {settings.draws} draws)"
    )
    say("searching the posterior for its modes (20 starts), then starting the chains in the best")
    start = time.perf_counter()
    try:
        # stdout is for results: progress bars (nutpie's writes to stdout on PyMC 6) to stderr;
        # the convergence verdict is printed below, once, even with --quiet
        with contextlib.redirect_stdout(sys.stderr), warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            idata = sample(
                model,
                sampler=settings.sampler,
                draws=settings.draws,
                tune=settings.tune,
                chains=settings.chains,
                random_seed=settings.seed,
                progressbar=progressbar,
            )
    except ImportError as err:  # the chosen sampler's library is not installed
        raise CLIError(f"--sampler {settings.sampler}: {err}") from None
    seconds = time.perf_counter() - start
    attrs = _compat.group_attrs(idata, "posterior")
    end_progress_line(attrs.get("inference_library"), progressbar, sys.stderr)
    say(_sampling_summary(idata, seconds))
    say(f"modes found: {attrs.get('jaxbridge_modes', 'not searched')}")
    converged = bool(attrs.get("jaxbridge_converged", 1))
    if not converged:  # never silenced
        advice = (
            "more --tune and --draws, more --chains; chains in different modes mean the "
            "posterior is multimodal: check --states and --emission"
        )
        problems = attrs["jaxbridge_problems"].splitlines()
        print(f"jaxbridge: WARNING: {message(problems, advice)}", file=sys.stderr, flush=True)
    say("decoding the hidden states")
    decoded = decode(idata, model)
    decoded["pseudo_residual"] = pseudo_residuals(idata, model)
    decoded = stop_at_ends(decoded, lengths_of(data))
    say(f"simulating replicated data from {N_REPLICATES} posterior draws")
    _compat.set_group(idata, "posterior_predictive", _replicates(idata, model, settings.seed))
    truth = parameter_truth(
        truth_of(data), settings.states, settings.emission, shared_noise=settings.shared_noise
    )
    info = {
        "jaxbridge_version": __version__,
        "versions": _versions(),
        "source": source,
        "settings": settings._asdict(),
        "sampler_used": attrs.get("inference_library", settings.sampler),
        "data_shape": {name: int(size) for name, size in data["emissions"].sizes.items()},
        "sampling_seconds": round(seconds, 2),
        "converged": converged,
        "diagnostics": {
            key.removeprefix("jaxbridge_"): np.asarray(value).tolist()
            for key, value in attrs.items()
            if key.startswith("jaxbridge_")
        },
        "var_names": var_names,
        "truth": {name: np.asarray(value).tolist() for name, value in truth.items()},
    }
    return Run(data, idata, decoded, info)


def _replicates(idata: Any, model: Any, seed: int) -> xr.Dataset:
    """Data sets drawn from the model at :data:`N_REPLICATES` evenly spaced posterior draws."""
    import pymc as pm

    posterior = _compat.get_group(idata, "posterior")
    stacked = posterior.stack(sample=("chain", "draw"))
    chosen = np.linspace(0, stacked.sizes["sample"] - 1, N_REPLICATES).round().astype(int)
    thinned = stacked.isel(sample=np.unique(chosen))
    thinned = thinned.drop_vars(["sample", "chain", "draw"]).rename(sample="draw")
    thinned = thinned.expand_dims("chain").assign_coords(chain=[0])
    thinned = thinned.assign_coords(draw=np.arange(thinned.sizes["draw"]))
    names = [rv.name for rv in model.observed_RVs]
    pymc_log = logging.getLogger("pymc")
    level = pymc_log.level
    pymc_log.setLevel(logging.WARNING)  # not "Sampling: [hmm]": the CLI said what it does
    try:
        predictive = pm.sample_posterior_predictive(
            thinned, model=model, var_names=names, random_seed=seed, progressbar=False
        )
    finally:
        pymc_log.setLevel(level)
    return _compat.get_group(predictive, "posterior_predictive")


def stop_at_ends(decoded: xr.Dataset, lengths: np.ndarray) -> xr.Dataset:
    """``decoded`` with the steps past each sequence's end blanked: NaN probabilities, -1 paths.

    The model sees padding as missing observations, so without this a short sequence's decoded
    states would run on to the longest one's end, fading to the stationary distribution.
    """
    padding = xr.DataArray(padding_mask(lengths, decoded.sizes["time"]), dims=("sequence", "time"))
    blanked = decoded.copy()
    for name, variable in decoded.data_vars.items():
        fill = np.nan if np.issubdtype(variable.dtype, np.floating) else -1
        blanked[name] = variable.where(~padding, fill).astype(variable.dtype)
    blanked["lengths"] = ("sequence", np.asarray(lengths, dtype=np.int64))
    blanked.attrs["padding"] = "past each sequence's length: probabilities NaN, paths -1"
    return blanked


def end_progress_line(library: str | None, progressbar: bool, stream: Any) -> None:
    """End the line nutpie's terminal progress table leaves open, so that the next message
    starts on its own line (other samplers' bars end theirs; files and pipes get no table)."""
    if library == "nutpie" and progressbar and stream.isatty():
        print(file=stream, flush=True)


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for package in ("pymc", "pytensor", "jax", "jaxlib", "arviz", "nutpie", "numpyro", "blackjax"):
        with contextlib.suppress(PackageNotFoundError):
            found[package] = version(package)
    return found


def _sampling_summary(idata: Any, seconds: float) -> str:
    library = _compat.group_attrs(idata, "posterior").get("inference_library", "the sampler")
    stats = _compat.get_group(idata, "sample_stats")
    divergent = int(stats["diverging"].sum()) if "diverging" in stats else 0
    return (
        f"sampled with {library} in {seconds:.1f} s (compilation included), "
        f"{divergent} divergent transition(s)"
    )


def write_report(run: Run, temp: Callable[[str], Path]) -> pd.DataFrame:
    """Write ``summary.csv`` and the figures of ``run``; return the summary table."""
    var_names, truth = run.info["var_names"], run.info["truth"]
    table = summary_table(run.idata, var_names, truth)
    table.to_csv(temp(SUMMARY), index_label="parameter")
    save(data_figure, temp("data.png"), run.data)
    posterior = _compat.get_group(run.idata, "posterior")
    truth_ds = truth_dataset(posterior, truth)
    save(trace_figure, temp("trace.png"), posterior, var_names, truth_ds)
    save(posterior_figure, temp("posterior.png"), posterior, var_names, truth_ds)
    states = run.data["states"].values if "states" in run.data else None
    save(states_figure, temp("states.png"), run.decoded, states)
    has_replicates = "posterior_predictive" in _compat.group_names(run.idata)
    replicated = _compat.get_group(run.idata, "posterior_predictive") if has_replicates else None
    save(checks_figure, temp("checks.png"), run.data, replicated, run.decoded)
    return table


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
        return Run(
            xr.load_dataset(run_dir / DATA),
            _compat.from_netcdf(run_dir / POSTERIOR),
            xr.load_dataset(run_dir / STATES),
            info,
        )
    except (OSError, ValueError) as err:
        first_line = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise CLIError(f"{run_dir}: cannot read the run: {first_line}") from None
