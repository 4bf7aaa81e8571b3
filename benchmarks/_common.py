"""Helpers shared by the benchmark scripts: timing, the machine/version header, RESULTS.md.

Run the scripts from the repository root with the project venv, e.g.
``python benchmarks/seed_workload.py``; they import this module as ``_common``.
"""

from __future__ import annotations

import datetime as _dt
import importlib.metadata
import os
import platform
import subprocess
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path

import jax

# Benchmarks are applications: they compute in float64 like PyMC (jaxbridge itself sets no flag).
jax.config.update("jax_enable_x64", True)

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
RESULTS_MD = BENCH_DIR / "RESULTS.md"

VERSIONED_PACKAGES = (
    "jaxbridge",
    "jax",
    "jaxlib",
    "pymc",
    "pytensor",
    "numpyro",
    "blackjax",
    "nutpie",
    "arviz",
    "numpy",
)


def time_per_call(fn: Callable[[], object], min_time: float = 1.0, repeats: int = 5) -> float:
    """Median seconds per call of ``fn()`` over ``repeats`` batches of at least ``min_time / repeats`` s.

    ``fn`` must block until its result is ready (call ``jax.block_until_ready`` inside it
    for JAX functions). One untimed warm-up call comes first.
    """
    fn()
    number = 1
    batch_time = min_time / repeats
    while True:  # grow the batch until one batch takes long enough to time reliably
        start = time.perf_counter()
        for _ in range(number):
            fn()
        elapsed = time.perf_counter() - start
        if elapsed >= batch_time:
            break
        number *= 2
    per_call = [elapsed / number]
    for _ in range(repeats - 1):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        per_call.append((time.perf_counter() - start) / number)
    per_call.sort()
    return per_call[len(per_call) // 2]


def sharded_likelihood_rows(
    devices, sizes, min_time: float, timer: Callable = time_per_call
) -> list[dict]:
    """Compile and per-call seconds of ``jax.value_and_grad`` of the summed sequence-sharded
    log-likelihood (``sharded_log_likelihood(..., devices=devices)``) at each ``(N, T, K)``.

    ``timer(fn, min_time=...)`` times one call (multi-process runs pass one that makes every
    process call the same number of times).
    """
    import numpy as np

    from jaxbridge.hmm import sharded_log_likelihood

    def total(log_emission, init, trans):
        return sharded_log_likelihood(log_emission, init, trans, devices=devices).sum()

    value_and_grad = jax.jit(jax.value_and_grad(total, argnums=(0, 1, 2)))
    rows = []
    for n, t, k in sizes:
        rng = np.random.default_rng(0)
        args = (
            rng.normal(size=(n, t, k)),
            rng.dirichlet(np.ones(k)),
            rng.dirichlet(np.ones(k), size=k),
        )
        start = time.perf_counter()
        jax.block_until_ready(value_and_grad(*args))
        compile_s = time.perf_counter() - start
        eval_s = timer(
            lambda args=args: jax.block_until_ready(value_and_grad(*args)), min_time=min_time
        )
        rows.append(dict(size=f"{n}x{t}x{k}", compile=compile_s, eval=eval_s))
    return rows


def speedup_table(rows: list[dict], by: str) -> str:
    """Markdown table of :func:`sharded_likelihood_rows` results over ``by`` (``"devices"`` or
    ``"processes"``), with each size's speed-up over its run on one."""
    base = {r["size"]: r["eval"] for r in rows if r[by] == 1}
    body = [
        (
            r["size"],
            r[by],
            f"{r['eval'] * 1e3:.2f} ms",
            f"{r['compile']:.2f} s",
            f"{base[r['size']] / r['eval']:.2f}x" if r["size"] in base else "n/a",
        )
        for r in sorted(rows, key=lambda r: (r["size"], r[by]))
    ]
    header = ("N x T x K", by, "value+grad eval", "compile + 1st call", "speed-up")
    return markdown_table(header, body)


def cpu_model() -> str:
    """CPU model name from /proc/cpuinfo, falling back to :func:`platform.processor`."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def git_revision() -> str:
    """Short commit hash of the repository, with ``+dirty`` when benchmarks or src have edits."""
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "src", "benchmarks"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return rev + ("+dirty" if dirty else "")


def versions(packages: Sequence[str] = VERSIONED_PACKAGES) -> str:
    """``name version`` pairs of the installed packages, comma separated."""
    parts = [f"python {platform.python_version()}"]
    for name in packages:
        try:
            parts.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            parts.append(f"{name} (not installed)")
    return ", ".join(parts)


def load_average() -> str:
    """1/5/15-minute load averages (other processes on a shared machine make timings noisy)."""
    try:
        return "/".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def machine_header(title: str) -> str:
    """Markdown heading plus date, machine, versions and git revision for a results section."""
    now = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return "\n".join(
        [
            f"## {title} — {now}",
            "",
            f"- machine: {platform.platform()}, {os.cpu_count()} CPUs, {cpu_model()}",
            f"- versions: {versions()}",
            f"- jaxbridge revision: {git_revision()}",
        ]
    )


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A GitHub-flavoured markdown table; cells are converted with ``str``."""
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---" for _ in header) + "|",
    ]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def report(parts: Sequence[str], *, append: bool) -> None:
    """Print a results section made of ``parts`` (lines); append it to RESULTS.md if asked."""
    section = "\n".join(parts)
    print(section)
    if append:
        append_results(section)


def append_results(section: str, path: Path = RESULTS_MD) -> None:
    """Append ``section`` (markdown) to ``benchmarks/RESULTS.md``, creating it if needed."""
    if not path.exists():
        path.write_text("# Benchmark results\n\nAppended by the scripts in `benchmarks/`.\n")
    with path.open("a") as f:
        f.write("\n" + section.rstrip() + "\n")


PHASE_EVENTS = {
    "trace": "/jax/core/compile/jaxpr_trace_duration",
    "lower": "/jax/core/compile/jaxpr_to_mlir_module_duration",
    "backend": "/jax/core/compile/backend_compile_duration",
}


class CompileRecorder:
    """Accumulates JAX's compile events (:mod:`jax.monitoring`) in this process.

    ``seconds`` sums the durations of tracing to a jaxpr (``trace``), lowering to StableHLO
    (``lower``) and XLA compilation or persistent-cache load (``backend``); ``counts`` the
    persistent cache's hits and misses; ``programs`` lists ``(name, backend s)`` per
    compiled program. Call :meth:`reset` at the start of each measured phase.
    """

    def __init__(self) -> None:
        import jax

        self.reset()
        jax.monitoring.register_event_duration_secs_listener(self._on_duration)
        jax.monitoring.register_event_listener(self._on_event)

    def reset(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.counts: dict[str, int] = defaultdict(int)
        self.programs: list[tuple[str, float]] = []  # (name, backend compile or load s)

    def _on_duration(self, event: str, duration: float, **kwargs) -> None:
        for phase, name in PHASE_EVENTS.items():
            if event == name:
                self.seconds[phase] += duration
                if phase == "backend":
                    self.programs.append((str(kwargs.get("fun_name", "?")), duration))
        if event == "/jax/compilation_cache/compile_time_saved_sec":
            self.seconds["saved"] += duration

    def _on_event(self, event: str, **kwargs) -> None:
        if event.startswith("/jax/compilation_cache/cache_"):
            self.counts[event.rsplit("/", 1)[1]] += 1

    def total(self) -> float:
        """Seconds spent tracing, lowering and compiling since the last :meth:`reset`."""
        return sum(self.seconds[phase] for phase in PHASE_EVENTS)

    def snapshot(self, wall_s: float) -> dict:
        return {
            "wall_s": wall_s,
            **{f"{k}_s": v for k, v in self.seconds.items()},
            **self.counts,
            "programs": sorted(self.programs, key=lambda p: -p[1]),
        }
