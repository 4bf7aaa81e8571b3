"""End-to-end wall time of ``jaxbridge fit``, run as a user runs it, phase by phase.

The README's two-state example (``jaxbridge simulate --states 2 --init 0.5,0.5 --trans
"0.95,0.05;0.1,0.9" --out mine.csv``: 70 sequences x 51 steps; then ``jaxbridge fit mine.csv
--states 2``, 2 chains x (1000 tuning + 1000 draws)), each run a fresh ``jaxbridge`` process
in a scratch folder:

* ``cold``: empty compilation caches (JAX's persistent cache through ``JAXBRIDGE_CACHE_DIR``,
  PyTensor's ``compiledir``, numba's cache), as on a fresh machine;
* ``warm``: the same command again with the caches the cold run filled.

For every run the table gives the wall time measured around the process, the phases
``run.json`` records (``"seconds"``), the largest r_hat and the smallest bulk ESS of the
summary; with ``--states-list 1,2,3`` a ``jaxbridge fit --states 1,2,3`` run too (warm), and
its ratio to the single K = 2 fit. Seeds ``--seeds`` (default 0) are the fits' ``--seed``.

Usage, from the repository root with the project venv::

    python benchmarks/fit_wall.py [--seeds 0 1 2 3] [--states-list 1,2,3] [--no-append]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

import _common

PHASES = (
    "startup", "read", "build", "mode_search", "compile", "sampling", "decode", "replicates",
    "writing", "figures",
)  # fmt: skip
SIMULATE = [
    "simulate", "--states", "2", "--init", "0.5,0.5", "--trans", "0.95,0.05;0.1,0.9",
    "--out", "mine.csv",
]  # fmt: skip


def jaxbridge(args: list[str], folder: Path, caches: Path) -> float:
    """Run ``jaxbridge <args>`` in ``folder`` with the caches under ``caches``; wall seconds."""
    env = {
        **os.environ,
        "JAXBRIDGE_CACHE_DIR": str(caches / "jax"),
        "PYTENSOR_FLAGS": f"compiledir={caches / 'pytensor'}",
        "NUMBA_CACHE_DIR": str(caches / "numba"),
    }
    command = [sys.executable, "-m", "jaxbridge", *args, "--quiet"]
    began = time.perf_counter()
    subprocess.run(command, cwd=folder, env=env, check=True)
    return time.perf_counter() - began


def fit_row(label: str, folder: Path, caches: Path, seed: int) -> list[object]:
    wall = jaxbridge(["fit", "mine.csv", "--states", "2", "--seed", str(seed), "--force"],
                     folder, caches)  # fmt: skip
    run = folder / "runs" / "mine"
    seconds = json.loads((run / "run.json").read_text())["seconds"]
    summary = pd.read_csv(run / "summary.csv", index_col="parameter")
    outside = sum(seconds[p] for p in PHASES if p not in ("mode_search", "compile", "sampling"))
    return [
        label, seed, f"{wall:.1f}", *(f"{seconds.get(p, 0):.1f}" for p in PHASES),
        f"{outside:.1f}", f"{summary['r_hat'].max():.3f}", int(summary["ess_bulk"].min()),
    ]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--states-list", default=None, help="also time fit --states LIST (warm)")
    parser.add_argument("--no-append", action="store_true")
    args = parser.parse_args()

    rows, notes = [], []
    scratch = Path(tempfile.mkdtemp(prefix="jaxbridge-fit-wall-"))
    try:
        folder, caches = scratch / "work", scratch / "caches"
        folder.mkdir()
        jaxbridge(SIMULATE, folder, caches)
        for seed in args.seeds:
            shutil.rmtree(caches, ignore_errors=True)
            rows.append(fit_row("cold", folder, caches, seed))
            rows.append(fit_row("warm", folder, caches, seed))
        if args.states_list:
            command = ["fit", "mine.csv", "--states", args.states_list, "--out", "several"]
            wall = jaxbridge([*command, "--seed", str(args.seeds[0]), "--force"], folder, caches)
            single = float(rows[1][2])
            notes.append(
                f"`fit --states {args.states_list}` (warm): {wall:.1f} s wall, "
                f"{wall / single:.2f}x the warm K = 2 fit of seed {args.seeds[0]}"
            )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    header = ["run", "seed", "wall s", *(p.replace("_", " ") for p in PHASES),
              "outside search+compile+sampling", "max r_hat", "min ESS"]  # fmt: skip
    _common.report(
        [
            _common.machine_header("fit_wall: `jaxbridge fit` of the README's example, end to end"),
            f"- load average before: {_common.load_average()}",
            "",
            _common.markdown_table(header, rows),
            "",
            *(f"- {note}" for note in notes),
        ],
        append=not args.no_append,
    )


if __name__ == "__main__":
    main()
