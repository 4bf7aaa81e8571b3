"""The four commands: ``demo``, ``simulate``, ``fit`` and ``report``.

Each takes the parsed arguments and returns the exit code. ``fit`` (and ``demo``) run one pass:
claim the output folder (:mod:`._files`: refuse to overwrite before any work), read the data
(:mod:`._io`), build the library model (:mod:`._model`), sample and decode (:mod:`._fit`),
write the run folder (:mod:`._run`, which draws with :mod:`._report` and :mod:`._figures`); the
data set's layout (:mod:`._data`), the true parameters (:mod:`._params`) and the error type
(:mod:`._errors`) are the vocabulary they share. Stage messages go to stderr, results
(the summary table, where the files are) to stdout; ``--quiet`` silences both, and warnings.
"""

from __future__ import annotations

import argparse
import logging
import sys
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import xarray as xr

from jaxbridge.cli._data import describe, make_dataset
from jaxbridge.cli._errors import CLIError
from jaxbridge.cli._files import atomic_outputs
from jaxbridge.cli._io import SUFFIXES, read_data, write_data
from jaxbridge.cli._params import (
    Truth,
    check_truth,
    default_init,
    default_trans,
    parse_matrix,
    parse_vector,
)
from jaxbridge.cli._phases import Phases


def demo(args: argparse.Namespace) -> int:
    """Simulate the example page's data, fit the page's model, write the run folder."""
    from jaxbridge.datasets import SEED_PAGE_RANDOM_SEED, seed_page_data

    def simulated() -> tuple[xr.Dataset, str]:
        page = seed_page_data()
        data = make_dataset(
            page.emissions, page.states, Truth(page.init, page.trans, page.signal, page.noise)
        )
        data.attrs["title"] = "the example page's simulated data"
        data.attrs["seed"] = SEED_PAGE_RANDOM_SEED
        return data, _describe(
            data, f"simulated the example page's data (seed {SEED_PAGE_RANDOM_SEED})"
        )

    return _fit(simulated, args, states=3, emission="page", source="demo")


def simulate(args: argparse.Namespace) -> int:
    """Simulate Normal-emission HMM data and write it to ``--out``."""
    from jaxbridge.datasets import simulate_normal_hmm

    out: Path = args.out
    if out.suffix.lower() not in SUFFIXES:
        raise CLIError(f"--out {out}: unsupported file type; expected one of {', '.join(SUFFIXES)}")
    truth = _simulation_truth(args)
    with (
        _console(args.quiet) as say,
        atomic_outputs(out.parent, [out.name], force=args.force) as temp,
    ):
        rng = np.random.default_rng(args.seed)
        states, emissions = simulate_normal_hmm(
            rng, *truth, n_series=args.n_series, n_steps=args.n_steps
        )
        data = make_dataset(emissions, states, truth)
        data.attrs["title"] = "simulated by jaxbridge simulate"
        data.attrs["seed"] = args.seed
        say(_describe(data, f"simulated (seed {args.seed})"))
        write_data(data, temp(out.name))
    _echo(args.quiet, f"wrote {out}")
    return 0


def fit(args: argparse.Namespace) -> int:
    """Fit a marginal HMM to the user's data file and write the run folder; with several
    ``--states``, one run folder per ``K`` and their comparison (:mod:`._compare`)."""
    if args.out is None:
        args.out = Path("runs") / args.data.stem

    def read() -> tuple[xr.Dataset, str]:
        regressors = (*args.regressors, *args.common_regressors)
        data = read_data(args.data, args.covariates, args.columns, regressors, args.time)
        return data, _describe(data, f"read {args.data}")

    def fit_one(args_k: argparse.Namespace, states: int) -> int:
        return _fit(read, args_k, states=states, emission=args.emission, source=str(args.data))

    if len(args.states) == 1:
        return fit_one(args, args.states[0])
    from jaxbridge.cli._compare import fit_states
    from jaxbridge.cli._model import build_model

    def build(data: xr.Dataset, states: int):
        return build_model(data, states, args.emission, source="", **_model_options(args)).model

    return fit_states(args, fit_one, build, _console)


def report(args: argparse.Namespace) -> int:
    """Redraw ``summary.csv`` and the figures of a saved run; print the summary."""
    from jaxbridge.cli._run import load_run, report_files, write_report

    with _console(args.quiet) as say:
        run = load_run(args.run_dir)
        say(f"redrawing the summary and figures of {args.run_dir}/")
        with atomic_outputs(args.run_dir, report_files(run), force=True) as temp:
            result = write_report(run, temp, args.run_dir)
    _echo(args.quiet, result)
    return 0


# --------------------------------------------------------------------------- helpers


def _fit(
    get_data: Callable[[], tuple[xr.Dataset, str]],
    args: argparse.Namespace,
    *,
    states: int,
    emission: str,
    source: str,
) -> int:
    """The one pass of ``fit`` and ``demo``: claim ``args.out``, get the data and its
    description, build the model, sample, write the run folder; print the summary.

    A problem with the data, including one only the model sees (negative counts for a Poisson
    HMM), is a one-line error before any message: the model is built before the first.
    """
    from jaxbridge.cli._fit import Settings, fit
    from jaxbridge.cli._model import build_model
    from jaxbridge.cli._painter import Painter
    from jaxbridge.cli._process import after_startup
    from jaxbridge.cli._run import data_figure_of, figures_without_replicates, run_files, write_run

    options = _model_options(args)
    covariates = getattr(args, "covariates", ())
    steps_ahead = getattr(args, "forecast", 0)
    if steps_ahead and covariates:
        raise CLIError(
            "--forecast with --covariates: the transitions into future steps follow the "
            "covariates' future values, which the data does not hold; forecast in Python with "
            "jaxbridge.forecast(idata, model, steps, covariates=...)"
        )
    regressors = (*options["switching"], *getattr(args, "common_regressors", ()))
    both = sorted(set(options["switching"]) & set(getattr(args, "common_regressors", ())))
    if both:
        raise CLIError(
            f"--regressors and --common-regressors both name {', '.join(both)}: its coefficient "
            "either switches with the state or is common"
        )
    if steps_ahead and regressors:
        raise CLIError(
            "--forecast with --regressors: future observations follow the regressors' future "
            "values, which the data does not hold"
        )
    order = options["order"]
    if order and covariates:
        raise CLIError(
            "--ar with --covariates: time-varying transitions are not supported for a "
            "switching autoregression yet"
        )
    if steps_ahead and emission == "mvnormal":
        raise CLIError(
            "--forecast with --emission mvnormal: forecasts of vector observations are not "
            "supported yet (univariate emissions only)"
        )
    settings = Settings(
        states,
        emission,
        options["shared_noise"],
        args.sampler,
        args.draws,
        args.tune,
        args.chains,
        args.seed,
        covariates,
        steps_ahead,
        regressors=options["switching"],
        common_regressors=getattr(args, "common_regressors", ()),
        init=options["init"],
        ar=order,
        switching_ar=options["switching_ar"],
        # a switching autoregression's posterior needs small steps in its tail (the library's
        # slow fits of Hamilton's model: no divergence at 0.95)
        target_accept=getattr(args, "target_accept", None) or (AR_TARGET_ACCEPT if order else None),
    )
    phases = Phases(getattr(args, "started", None))
    with (
        _console(args.quiet) as say,
        # refuses before any work; with --force, an earlier run's forecast files go too
        atomic_outputs(args.out, run_files(forecast=True), force=args.force) as temp,
        # its process imports matplotlib while this one imports PyMC
        Painter(parallel=True) as painter,
    ):
        import jaxbridge.pymc  # noqa: F401  (PyMC, PyTensor, JAX: most of the start-up)

        if getattr(args, "application", False):
            after_startup()
        phases.mark("startup")
        data, description = get_data()
        data_figure_of(data, temp, painter)
        phases.mark("read")
        fit_model = build_model(data, states, emission, source=source, **options)
        phases.mark("build")
        say(description)
        say(f"built the {states}-state {_model_name(emission, regressors, order)}")
        run = fit(
            data, fit_model, settings, source=source, say=say, progressbar=not args.quiet,
            phases=phases,
            figures=lambda idata, decoded: figures_without_replicates(
                data, idata, decoded, fit_model.var_names, fit_model.truth, temp, painter
            ),
        )  # fmt: skip
        say(f"writing {args.out}/")
        result = write_run(run, temp, args.out, phases, painter)
    _echo(args.quiet, result)
    if not args.quiet:
        print(f"jaxbridge: {phases.line()}", file=sys.stderr, flush=True)
    return 0


def _model_options(args: argparse.Namespace) -> dict:
    """``build_model``'s options from ``fit``'s flags (``demo`` has none of them)."""
    switching = getattr(args, "regressors", ())
    order = getattr(args, "ar", 0)
    regression = bool(switching or getattr(args, "common_regressors", ()) or order)
    if getattr(args, "switching_ar", False) and not order:
        raise CLIError("--switching-ar needs --ar P (the autoregression's order)")
    return {
        "shared_noise": getattr(args, "shared_noise", False),
        "switching": switching,
        # the default of --help: stationary for a regression (as statsmodels), else free
        "init": getattr(args, "init", None) or ("stationary" if regression else "free"),
        "order": order,
        "switching_ar": getattr(args, "switching_ar", False),
    }


#: NUTS's target acceptance rate for a switching autoregression unless --target-accept says.
AR_TARGET_ACCEPT = 0.95


def _model_name(emission: str, regressors: tuple[str, ...], order: int) -> str:
    if order:
        return f"Markov-switching AR({order})"
    return "Markov-switching regression" if regressors else f"{emission} marginal HMM"


def _simulation_truth(args: argparse.Namespace) -> Truth:
    """The generating parameters from ``--states/--init/--trans/--signal/--noise``."""
    init = None if args.init is None else parse_vector(args.init, "--init")
    trans = None if args.trans is None else parse_matrix(args.trans, "--trans")
    given = init if init is not None else trans
    n_states = args.states or (len(given) if given is not None else 3)
    if init is not None and len(init) != n_states:
        raise CLIError(f"--init: has {len(init)} probabilities but --states is {n_states}")
    init = default_init(n_states) if init is None else init
    trans = default_trans(n_states) if trans is None else trans
    return check_truth(Truth(init, trans, args.signal, args.noise), "--")


def _describe(data, what: str) -> str:
    return f"{what}: {describe(data)}"


@contextmanager
def _console(quiet: bool) -> Iterator[Callable[[str], None]]:
    """Yield ``say(message)`` for stage messages; with ``quiet``, silence logging and warnings."""
    with warnings.catch_warnings():
        # the models run their likelihood in JAX, so PyTensor's advice to link a C BLAS is noise
        warnings.filterwarnings("ignore", message="PyTensor could not link to a BLAS")
        if not quiet:
            yield lambda message: print(f"jaxbridge: {message}", file=sys.stderr, flush=True)
            return
        warnings.simplefilter("ignore")
        logging.disable(logging.WARNING)
        try:
            yield lambda message: None
        finally:
            logging.disable(logging.NOTSET)


def _echo(quiet: bool, text: str) -> None:
    if not quiet:
        print(text, flush=True)
