"""``jaxbridge fit --states 1,2,3``: fit each ``K``, then compare them (PSIS-LOO).

The output folder ``OUT`` then holds

===============  ===========================================================================
``K=<k>/``       the run folder of the ``k``-state fit (``jaxbridge report`` redraws it)
``compare.csv``  the ranked comparison (:func:`jaxbridge.compare_states`): ``states``, ``rank``,
                 ``elpd``, ``se``, ``p``, ``elpd_diff``, ``dse``, ``weight``, Pareto ``k``
                 diagnostics, ``unreliable``, ``recommended`` and ``choice`` (why a ``K`` is or
                 is not the pick); the verdict and what was left out in the ``#`` lines above
                 the header
``compare.png``  ELPD ± se per ``K``, the recommended ``K`` highlighted (one rule for the
                 verdict, the table and the figure: :func:`jaxbridge.pymc._compare.recommend`)
===============  ===========================================================================

Nothing is written over an existing file without ``--force`` (checked for every ``K`` before
the first fit). Each ``K``'s folder is written all or nothing when its fit ends, the two
comparison files once all fits have ended: an interrupted run keeps the folders of the fits
that finished, and no comparison.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from jaxbridge.cli._files import atomic_outputs, refuse_overwrite

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

    from jaxbridge.pymc import StateComparison

COMPARE_CSV, COMPARE_PNG = "compare.csv", "compare.png"
COMPARE_FILES = (COMPARE_CSV, COMPARE_PNG)


def run_folder(out: Path, states: int) -> Path:
    """The run folder of the ``states``-state fit inside ``out``."""
    return out / f"K={states}"


def parse_states(text: str) -> tuple[int, ...]:
    """``"2"``, ``"1,2,3"`` or ``"1-4"`` (ranges and lists mix: ``"1,3-5"``) -> sorted distinct
    numbers of states, each at least 1.

    Raises
    ------
    argparse.ArgumentTypeError
        Naming the bad part.
    """
    found: list[int] = []
    for part in text.split(","):
        low, dash, high = part.strip().partition("-")
        try:
            numbers = [int(low)] if not dash else list(range(int(low), int(high) + 1))
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected K, a list K1,K2,... or a range K1-K2 (e.g. 2, 1,2,3 or 1-4); "
                f"got {text!r}"
            ) from None
        if not numbers:
            raise argparse.ArgumentTypeError(f"empty range {part.strip()!r} in {text!r}")
        if min(numbers) < 1:
            raise argparse.ArgumentTypeError(f"must be at least 1, got {text!r}")
        found += numbers
    if len(set(found)) != len(found):
        raise argparse.ArgumentTypeError(f"a K appears twice in {text!r}")
    return tuple(sorted(found))


parse_states.__name__ = "K, K1,K2,... or K1-K2"


def fit_states(
    args: argparse.Namespace,
    fit_one: Callable[[argparse.Namespace, int], int],
    build: Callable[[object, int], object],
    say_to: Callable[[bool], object],
) -> int:
    """Fit every ``K`` of ``args.states`` into its run folder with ``fit_one(args_k, K)``,
    then compare the fits (models rebuilt by ``build(data, K)``) and write the comparison.

    ``say_to(quiet)`` is the command's console context (stage messages to stderr).
    """
    from jaxbridge.cli._run import run_files

    out: Path = args.out
    folders = {k: run_folder(out, k) for k in args.states}
    refuse_overwrite(out, COMPARE_FILES, force=args.force)  # every file, before any work
    for folder in folders.values():
        refuse_overwrite(folder, run_files(forecast=True), force=args.force)
    for i, (k, folder) in enumerate(folders.items()):
        # each run's phases from its own start: the first's from the command's (start-up),
        # whose end also settles the process once (jaxbridge.cli._process.after_startup)
        first = i == 0
        given = {
            "out": folder,
            "started": getattr(args, "started", None) if first else time.perf_counter(),
            "application": getattr(args, "application", False) and first,
        }
        code = fit_one(argparse.Namespace(**{**vars(args), **given}), k)
        if code:
            return code
    with say_to(args.quiet) as say, atomic_outputs(out, COMPARE_FILES, force=True) as temp:
        say(f"comparing K = {', '.join(map(str, args.states))} by PSIS-LOO")
        result = _compare(folders, build)
        write_comparison(result, temp(COMPARE_CSV), temp(COMPARE_PNG))
    if not args.quiet:
        print(f"\n{format_comparison(result)}\n\nwrote {out}/ ({', '.join(COMPARE_FILES)})")
    return 0


def _compare(folders: dict[int, Path], build: Callable[[object, int], object]):
    """Read each run folder back, rebuild its model, compare the fits."""
    from jaxbridge.cli._run import load_run
    from jaxbridge.pymc import compare_states

    runs = {k: load_run(folder) for k, folder in folders.items()}
    models = {k: build(run.data, k) for k, run in runs.items()}
    return compare_states({k: run.idata for k, run in runs.items()}, models)


def write_comparison(result: StateComparison, csv: Path, png: Path) -> None:
    """``compare.csv`` (the verdict in ``#`` lines above the table) and ``compare.png``."""
    from jaxbridge.cli._figures import save

    header = f"# {result.verdict}\n# left out: one {result.by} at a time (PSIS-LOO)\n"
    csv.write_text(header + result.table.to_csv(index_label="states"))
    save(comparison_figure, png, result.table)


def read_comparison(path: Path) -> pd.DataFrame:
    """``compare.csv`` as a table indexed by ``states``."""
    import pandas as pd

    return pd.read_csv(path, comment="#", index_col="states")


def format_comparison(result: StateComparison) -> str:
    """The table and the verdict, for the terminal."""
    shown = result.table.drop(columns=["p", "choice"])  # the verdict says why
    formats = {name: "{:.1f}".format for name in ("elpd", "se", "elpd_diff", "dse")}
    formats |= {"weight": "{:.2f}".format, "pareto_k_max": "{:.2f}".format}
    return f"{shown.to_string(formatters=formats)}\n\n{result.verdict}"


def comparison_figure(table: pd.DataFrame) -> Figure:
    """ELPD ± se per ``K`` (the ``recommended`` one highlighted, as the verdict and
    ``compare.csv`` name it), and the difference to the best ± its standard error."""
    import matplotlib.pyplot as plt

    from jaxbridge.pymc._compare import SMALL_DIFFERENCE

    ordered = table.sort_index()
    states = ordered.index.to_numpy()
    figure, (left, right) = plt.subplots(1, 2, figsize=(8.5, 3.4), layout="constrained")
    recommended = int(ordered.index[ordered["recommended"]][0])
    best = int(table["elpd"].idxmax())
    colors = np.where(states == recommended, "C3", "C0")
    for ax, column, error, title in (
        (left, "elpd", "se", "ELPD (PSIS-LOO) ± se"),
        (right, "elpd_diff", "dse", "ELPD below the best ± se of the difference"),
    ):
        values = ordered[column].to_numpy()
        errors = ordered[error].to_numpy()
        for x, y, e, color in zip(states, values, errors, colors, strict=True):
            ax.errorbar(x, y, yerr=e, fmt="o", color=color, capsize=4)
        ax.set_xticks(states)
        ax.set_xlabel("number of states K")
        ax.set_title(title, fontsize="medium")
    for k in ordered.index[ordered["unreliable"]]:
        point = (k, ordered.loc[k, "elpd"])
        left.annotate("Pareto k!", point, textcoords="offset points", xytext=(6, 6), color="C1")
    left.set_ylabel("higher is better")
    right.set_ylabel("0 is the best K")
    why = (
        "predicts best"
        if recommended == best
        else f"the simplest within {SMALL_DIFFERENCE:g} of the best ELPD (K={best})"
    )
    figure.suptitle(f"choosing the number of states: K={recommended} recommended (red), {why}")
    return figure
