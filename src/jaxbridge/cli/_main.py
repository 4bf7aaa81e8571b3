"""The ``jaxbridge`` command line: argument parsing and dispatch.

Parsing imports nothing heavy, so ``jaxbridge --help`` answers at once; each command imports
PyMC, JAX and matplotlib only when it runs.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from jaxbridge import __version__
from jaxbridge.cli._compare import parse_states
from jaxbridge.cli._errors import CLIError
from jaxbridge.cli._model import EMISSIONS
from jaxbridge.datasets import SEED_NOISE, SEED_SIGNAL

#: ``jaxbridge.sample``'s samplers (kept in step with ``jaxbridge.pymc._sample.Sampler`` by a test).
SAMPLERS = ("auto", "pymc", "numpyro", "blackjax", "nutpie")
DEMO_OUT = Path("runs/demo")
DEFAULT_DRAWS, DEFAULT_TUNE, DEFAULT_CHAINS, DEFAULT_SEED = 1000, 1000, 2, 0


#: What the command line sets for its own process (a library sets none of it).
SETTINGS_NOTE = """\
settings of this process: JAX's persistent compilation cache is on, in
$JAXBRIDGE_CACHE_DIR (default ~/.cache/jaxbridge/jax; "off" turns it off), so a
second fit of the same shapes skips compilation; figures are drawn in two worker
processes; PyTensor keeps no stack trace per graph node, and Python's garbage
collector freezes what start-up imported (gc.freeze)."""


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Shows ``(default: ...)`` after every option whose help does not already state it."""

    def _get_help_string(self, action: argparse.Action) -> str:
        help_text = action.help or ""
        if "default:" in help_text or "required" in help_text:
            return help_text
        if action.required:
            return f"{help_text} (required)"
        return super()._get_help_string(action)


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one-line :class:`CLIError` s (exit code 2)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise CLIError(f"{message} (see '{self.prog} --help')")


def _at_least(minimum: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value

    parse.__name__ = f"integer >= {minimum}"
    return parse


def _finite(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def _names(text: str) -> tuple[str, ...]:
    names = tuple(name.strip() for name in text.split(","))
    if not all(names) or len(set(names)) != len(names):
        raise argparse.ArgumentTypeError(f"expected distinct comma-separated names, got {text!r}")
    return names


def _positive(text: str) -> float:
    value = _finite(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text!r}")
    return value


def _add_common(parser: argparse.ArgumentParser, *, force: bool = True) -> None:
    parser.add_argument("--quiet", action="store_true", help="print nothing but errors")
    if force:
        parser.add_argument("--force", action="store_true", help="overwrite existing outputs")


def _probability(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"must lie strictly between 0 and 1, got {value}")
    return value


def _add_sampling(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("sampling")
    group.add_argument(
        "--sampler",
        choices=SAMPLERS,
        default="auto",
        help="NUTS implementation; 'auto' picks the fastest installed one",
    )
    group.add_argument(
        "--draws",
        metavar="N",
        type=_at_least(1),
        default=DEFAULT_DRAWS,
        help="posterior draws per chain",
    )
    group.add_argument(
        "--tune",
        metavar="N",
        type=_at_least(0),
        default=DEFAULT_TUNE,
        help="tuning steps per chain",
    )
    group.add_argument(
        "--chains",
        metavar="N",
        type=_at_least(1),
        default=DEFAULT_CHAINS,
        help=(
            "number of chains; 2, the fewest that can disagree, keep a run quick on a "
            "laptop's cores (jaxbridge.sample runs 4, as pm.sample: use 4 for a stricter "
            "r_hat)"
        ),
    )
    group.add_argument(
        "--target-accept",
        metavar="P",
        type=_probability,
        default=None,
        help="NUTS's target acceptance rate in (0, 1): higher takes smaller steps, for "
        "posteriors with sharp curvature (divergences). Default: the sampler's (0.8), 0.95 "
        "with --ar",
    )
    group.add_argument(
        "--seed",
        metavar="N",
        type=_at_least(0),
        default=DEFAULT_SEED,
        help="random seed of the sampler",
    )


def build_parser() -> argparse.ArgumentParser:
    """The ``jaxbridge`` argument parser with its four commands."""
    parser = _Parser(
        prog="jaxbridge",
        description="Fit marginal hidden Markov models with PyMC and JAX.",
        epilog=SETTINGS_NOTE,
        formatter_class=_HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"jaxbridge {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(name: str, summary: str, description: str) -> argparse.ArgumentParser:
        return commands.add_parser(
            name, help=summary, description=description, formatter_class=_HelpFormatter
        )

    demo = command(
        "demo",
        "simulate the example page's data, fit it, write a run folder",
        "Simulate the example page's data (70 sequences x 1+50 steps, 3 states, signal 1.15,\n"
        "noise 0.15, drawn with the page's seed), fit the page's model, and write a run folder\n"
        "with the data, posterior, summary.csv and figures.",
    )
    demo.add_argument("--out", type=Path, default=DEMO_OUT, metavar="DIR", help="run folder")
    _add_sampling(demo)
    _add_common(demo)

    simulate = command(
        "simulate",
        "simulate Normal-emission HMM data",
        "Simulate sequences of a K-state HMM with Normal emissions,\n"
        "y_t ~ Normal((z_t + 1) * signal, noise) (the example page's generator, generalised).\n"
        "The output format follows the suffix of --out: .nc (NetCDF, with the true states and\n"
        "parameters), .csv (long form sequence,time,value,state), .npz or .npy.",
    )
    simulate.add_argument(
        "--n-series",
        metavar="N",
        type=_at_least(1),
        default=70,
        help="number of sequences",
    )
    simulate.add_argument(
        "--n-steps",
        metavar="T",
        type=_at_least(1),
        default=50,
        help="steps after the initial state",
    )
    simulate.add_argument(
        "--states",
        metavar="K",
        type=_at_least(1),
        default=None,
        help="number of hidden states K (default: the length of --init, else 3)",
    )
    simulate.add_argument(
        "--init",
        metavar="P",
        default=None,
        help="initial probabilities, comma-separated (default: the page's 0.9,0.09,0.01 for "
        "K = 3, uniform otherwise)",
    )
    simulate.add_argument(
        "--trans",
        metavar="P",
        default=None,
        help="transition matrix, rows separated by ';' (default: the page's "
        "'0.9,0.09,0.01;0.1,0.8,0.1;0.2,0.1,0.7' for K = 3, else 0.9 to stay and the rest "
        "spread evenly)",
    )
    simulate.add_argument(
        "--signal", metavar="X", type=_finite, default=SEED_SIGNAL, help="emission signal"
    )
    simulate.add_argument(
        "--noise", metavar="X", type=_positive, default=SEED_NOISE, help="emission noise (sd)"
    )
    simulate.add_argument(
        "--seed", metavar="N", type=_at_least(0), default=DEFAULT_SEED, help="random seed"
    )
    simulate.add_argument(
        "--out", type=Path, default=Path("data.nc"), metavar="FILE", help="output file"
    )
    _add_common(simulate)

    fit = command(
        "fit",
        "fit a marginal HMM to your data",
        "Fit a marginal hidden Markov model to DATA and write a run folder.\n"
        "DATA: CSV in long form (sequence,time,value; ragged sequences allowed; empty or NaN\n"
        "values are missing; time: integer steps, or dates YYYY-MM-DD, YYYY-MM or YYYYQn, a\n"
        "period with no row being a missing step), NetCDF from 'jaxbridge simulate', or\n"
        ".npy/.npz arrays [N, T].\n"
        "Emission models (--emission), state k = 1..K:\n"
        + "".join(f"  {name:<9} {e.maths}\n" for name, e in EMISSIONS.items())
        + "Priors of normal/studentt/poisson are scaled to the data (median and sd); the hidden\n"
        "chain has flat Dirichlet priors (jaxbridge.pymc builders, same models in Python).",
    )
    fit.add_argument("data", type=Path, metavar="DATA", help="data file (.csv, .nc, .npy, .npz)")
    fit.add_argument(
        "--states",
        metavar="K",
        type=parse_states,
        required=True,
        help="number of hidden states K (required); several, e.g. 1,2,3 or 1-4, fit each K into "
        "OUT/K=<k>/ and compare them by PSIS-LOO: OUT/compare.csv, OUT/compare.png and the "
        "K it would pick (K = 1: no switching)",
    )
    fit.add_argument(
        "--emission", choices=list(EMISSIONS), default="normal", help="emission model (see above)"
    )
    fit.add_argument(
        "--shared-noise",
        action="store_true",
        help="normal/studentt: one noise scale for all states instead of one per state",
    )
    fit.add_argument(
        "--covariates",
        metavar="NAMES",
        type=_names,
        default=(),
        help="covariates driving the transitions (multinomial logit; staying in a state is the "
        "reference, its coefficients zero and not reported): "
        "comma-separated CSV columns or NetCDF variables, a number at every step, e.g. temp,dose",
    )
    fit.add_argument(
        "--time",
        metavar="NAME",
        default="time",
        help="the CSV column of steps or dates (default: time)",
    )
    fit.add_argument(
        "--regressors",
        metavar="NAMES",
        type=_names,
        default=(),
        help="Markov-switching regression (statsmodels' MarkovRegression, Bayesian): "
        "y = const_k + x'beta_k + w'gamma + noise_k in state k, with x these CSV columns "
        "(coefficients switching with the state, 'beta'), e.g. lag,ogap; empty where the value "
        "is missing; --emission normal only (--shared-noise: one noise scale)",
    )
    fit.add_argument(
        "--common-regressors",
        metavar="NAMES",
        type=_names,
        default=(),
        help="regressors w of the switching regression whose coefficients ('gamma') are the "
        "same in every state, e.g. inf",
    )
    fit.add_argument(
        "--ar",
        metavar="P",
        type=_at_least(1),
        default=0,
        help="Markov-switching autoregression of order P (Hamilton 1989; statsmodels' "
        "MarkovAutoregression, Bayesian): y_t - m_k = sum_j ar_j (y_{t-j} - m of state "
        "z_{t-j}) + noise_k, conditioned on each series' first P values; --emission normal "
        "only, series without gaps; --regressors enter the state means m",
    )
    fit.add_argument(
        "--switching-ar",
        action="store_true",
        help="with --ar: AR coefficients that switch with the state (default: common to all)",
    )
    fit.add_argument(
        "--init",
        choices=["free", "stationary"],
        default=None,
        help="the hidden chain's start: 'free' (a Dirichlet prior) or 'stationary' (the "
        "stationary distribution of the transitions, statsmodels' default; with --covariates, "
        "of the first step's). Default: stationary with --regressors or --ar, else free",
    )
    fit.add_argument(
        "--forecast",
        metavar="H",
        type=_at_least(0),
        default=0,
        help="also forecast H steps after each sequence's last observation: forecast.csv, "
        "forecast.png (0: no forecast)",
    )
    fit.add_argument(
        "--columns",
        metavar="NAMES",
        type=_names,
        default=(),
        help="CSV value columns of vector observations, instead of 'value', for --emission "
        "mvnormal, e.g. y1,y2; a step with an empty field is missing as a whole",
    )
    fit.add_argument(
        "--out",
        type=Path,
        default=None,
        metavar="DIR",
        help="run folder (default: runs/<DATA's name without suffix>)",
    )
    _add_sampling(fit)
    _add_common(fit)

    report = command(
        "report",
        "redraw the figures and summary of a saved run",
        "Redraw summary.csv and the figures of a run folder written by 'demo' or 'fit' from its\n"
        "saved data and posterior, replacing the old ones, and print the summary.",
    )
    report.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="run folder")
    _add_common(report, force=False)
    return parser


#: Exit code after Ctrl-C, as a shell reports a process ended by SIGINT (128 + 2).
INTERRUPTED = 130


def console() -> int:
    """The ``jaxbridge`` program (console script, ``python -m jaxbridge``): :func:`main` with
    the settings of an application for its process (:mod:`jaxbridge.cli._process`)."""
    from jaxbridge.cli._process import before_exit

    code = main(application=True)
    before_exit()
    return code


def main(argv: Sequence[str] | None = None, *, application: bool = False) -> int:
    """Run the ``jaxbridge`` command line; return the exit code (0 ok, 2 bad input, 130 Ctrl-C).

    ``application``: the process is the command's own (:func:`console`), whose settings it
    may change (:mod:`jaxbridge.cli._process`); in-process callers leave it off.
    """
    started = time.perf_counter()  # the first phase's start (jaxbridge.cli._phases)
    try:
        args = build_parser().parse_args(argv)
        args.started, args.application = started, application
        return _run(args)
    except CLIError as err:
        print(f"jaxbridge: error: {err}", file=sys.stderr)
        return 2
    except SystemExit as exit_:  # --help, --version
        return exit_.code if isinstance(exit_.code, int) else 0
    except KeyboardInterrupt:  # outputs are atomic: whatever was under way left nothing
        print("\njaxbridge: interrupted; nothing written", file=sys.stderr, flush=True)
        if any(t.name.startswith("jaxbridge-") for t in threading.enumerate()):
            # work of ours under way in a thread (an abandoned XLA run of NumPyro or BlackJAX,
            # the compilation ahead of decoding) cannot be stopped, and the interpreter's
            # shutdown would end it inside XLA (an abort): leave without it
            sys.stdout.flush()
            os._exit(INTERRUPTED)
        return INTERRUPTED


def _run(args: argparse.Namespace) -> int:
    from jaxbridge._config import enable_compilation_cache
    from jaxbridge.cli import _commands

    # an application's choice, made here and not on import: JAX's persistent compilation
    # cache (JAXBRIDGE_CACHE_DIR moves it or turns it off)
    enable_compilation_cache()
    return getattr(_commands, args.command)(args)
