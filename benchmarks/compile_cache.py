"""How much JAX's persistent compilation cache saves on the page's workload (issue 6).

Runs the same measurement in fresh Python processes, first with an empty cache directory
(``JAXBRIDGE_CACHE_DIR=<tmp>``), then again with that directory warm, then twice with the
cache off (``JAXBRIDGE_CACHE_DIR=off``). Each process measures

* ``logp+grad``: turning the PyMC model into a JAX function (``get_jaxified_logp``) plus the
  first call of ``jax.jit(jax.value_and_grad(...))`` -- the compile cost of the function
  JAX samplers call;
* ``sample``: a short ``jaxbridge.sample`` run (default 2 chains x (50 tune + 50 draws), so
  that compilation dominates);
* ``process``: the whole process, imports included;
* with ``--cli``: a whole ``jaxbridge <command>`` run (``jaxbridge.cli.main``), in a fresh
  process and an empty folder, with the same cache directories;

and splits JAX's own compile cost by phase with :mod:`jax.monitoring` events: tracing to a
jaxpr, lowering to StableHLO, XLA backend compilation (the only phase the persistent cache
can skip), plus cache hits/misses and the programs that were compiled.

Usage, from the repository root with the project venv::

    python benchmarks/compile_cache.py                 # jaxbridge model, sampler="auto"
    python benchmarks/compile_cache.py --model page    # the page's Ops (no jaxbridge.sample needed)
    python benchmarks/compile_cache.py --min-compile-secs 0   # cache every program
    python benchmarks/compile_cache.py --cli "demo --draws 100 --tune 100"  # also the CLI
    python benchmarks/compile_cache.py --cli-only --cli "demo --draws 100 --tune 100"
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _common

PHASES = ("logp_grad", "sample")


def build_model(kind: str):
    """The page's model: with jaxbridge's ``MarginalHMM`` or with the page's Ops."""
    import seed_workload
    from jaxbridge.datasets import seed_page_data

    data = seed_page_data()
    if kind == "jaxbridge":
        return seed_workload.jaxbridge_model(data.emissions)
    return seed_workload.page_model(data.emissions, seed_workload.page_ops()[1])


def child(args: argparse.Namespace) -> dict:
    """One fresh-process measurement (runs in the subprocess)."""
    import jax
    from pymc.sampling.jax import get_jaxified_logp

    if args.min_compile_secs is not None:
        jax.config.update("jax_persistent_cache_min_compile_time_secs", args.min_compile_secs)
    recorder = _common.CompileRecorder()
    model = build_model(args.model)
    out = {"cache_dir": jax.config.jax_compilation_cache_dir or "off"}

    recorder.reset()
    start = time.perf_counter()
    point = model.initial_point(0)
    value_and_grad = jax.jit(jax.value_and_grad(get_jaxified_logp(model, negative_logp=False)))
    jax.block_until_ready(value_and_grad([point[v.name] for v in model.value_vars]))
    out["logp_grad"] = recorder.snapshot(time.perf_counter() - start)

    if args.draws > 0:
        recorder.reset()
        start = time.perf_counter()
        sample_short(model, args)
        out["sample"] = recorder.snapshot(time.perf_counter() - start)
    return out


def sample_short(model, args: argparse.Namespace):
    """A short run of ``jaxbridge.sample`` (or PyMC's numpyro route for the page's Ops)."""
    kwargs = {"draws": args.draws, "tune": args.draws, "chains": 2, "random_seed": 1}
    if args.model == "page":
        import pymc as pm

        with model:
            return pm.sample(nuts_sampler="numpyro", progressbar=False, **kwargs)
    import jaxbridge

    return jaxbridge.sample(model, sampler=args.sampler, progressbar=False, **kwargs)


def run_child(args: argparse.Namespace, cache: str) -> dict:
    """Run :func:`child` in a fresh interpreter with ``JAXBRIDGE_CACHE_DIR=cache``."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "child.json"
        cmd = [sys.executable, __file__, "--child", str(out), "--model", args.model]
        cmd += ["--sampler", args.sampler, "--draws", str(args.draws)]
        if args.min_compile_secs is not None:
            cmd += ["--min-compile-secs", str(args.min_compile_secs)]
        start = time.perf_counter()
        proc = subprocess.run(
            cmd, env={**os.environ, "JAXBRIDGE_CACHE_DIR": cache}, capture_output=True, text=True
        )
        if proc.returncode != 0:
            raise RuntimeError(f"child failed:\n{proc.stderr[-3000:]}")
        result = json.loads(out.read_text())
        result["process_s"] = time.perf_counter() - start
        return result


def cli_child(args: argparse.Namespace) -> dict:
    """Run ``jaxbridge <args.cli>`` in this process (the subprocess), recording JAX compiles."""
    import jax

    from jaxbridge.cli import main as jaxbridge_main

    if args.min_compile_secs is not None:
        jax.config.update("jax_persistent_cache_min_compile_time_secs", args.min_compile_secs)
    recorder = _common.CompileRecorder()
    start = time.perf_counter()
    code = jaxbridge_main(shlex.split(args.cli))
    if code:
        raise RuntimeError(f"jaxbridge {args.cli} exited with {code}")
    return {"cli": recorder.snapshot(time.perf_counter() - start)}


def run_cli(args: argparse.Namespace, cache: str) -> dict:
    """:func:`cli_child` in a fresh interpreter, in a temporary folder, with ``cache``."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "child.json"
        cmd = [sys.executable, __file__, "--cli-child", str(out), "--cli", args.cli]
        if args.min_compile_secs is not None:
            cmd += ["--min-compile-secs", str(args.min_compile_secs)]
        env = {**os.environ, "JAXBRIDGE_CACHE_DIR": cache, "PYTHONPATH": str(_common.BENCH_DIR)}
        start = time.perf_counter()
        proc = subprocess.run(cmd, env=env, cwd=tmp, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"CLI child failed:\n{proc.stderr[-3000:]}")
        result = json.loads(out.read_text())
        result["process_s"] = time.perf_counter() - start
        return result


def _cached_programs(cache_dir: Path) -> set[str]:
    """Names of the programs in a JAX cache directory (files are ``<name>-<hash>[-atime]``)."""
    return {p.name.split("-", 1)[0] for p in cache_dir.iterdir()} if cache_dir.exists() else set()


def _row(label: str, r: dict, phase: str) -> list[str]:
    p = r[phase]
    return [
        label,
        phase,
        f"{p['wall_s']:.2f}",
        f"{_compile_total(p):.2f}",
        f"{p.get('trace_s', 0):.2f}",
        f"{p.get('lower_s', 0):.2f}",
        f"{p.get('backend_s', 0):.2f}",
        str(p.get("cache_hits", 0)),
        str(p.get("cache_misses", 0)),
        str(len(p["programs"])),
        f"{r['process_s']:.1f}",
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=["jaxbridge", "page"], default="jaxbridge")
    parser.add_argument("--sampler", default="auto", help="jaxbridge.sample sampler")
    parser.add_argument("--draws", type=int, default=50, help="tune = draws; 0 skips sampling")
    parser.add_argument("--min-compile-secs", type=float, default=None)
    parser.add_argument("--cli", default=None, help="also time `jaxbridge CLI` (e.g. 'demo')")
    parser.add_argument("--cli-only", action="store_true", help="only the --cli measurement")
    parser.add_argument("--no-append", action="store_true")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--cli-child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        Path(args.child).write_text(json.dumps(child(args)))
        return

    if args.cli_child:
        Path(args.cli_child).write_text(json.dumps(cli_child(args)))
        return

    scenarios = [("cache empty", True), ("cache warm", True), ("cache off #1", False)]
    scenarios.append(("cache off #2", False))
    results: dict[str, dict] = {}
    cli: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as cache_dir, tempfile.TemporaryDirectory() as cli_dir:
        for label, cached in scenarios:
            if not args.cli_only:
                print(f"[compile_cache] {label} ...", file=sys.stderr, flush=True)
                results[label] = run_child(args, cache_dir if cached else "off")
            if args.cli:
                print(f"[compile_cache] jaxbridge {args.cli}: {label} ...", file=sys.stderr)
                cli[label] = run_cli(args, cli_dir if cached else "off")
        cached_programs = _cached_programs(Path(cache_dir if results else cli_dir))

    runs = [(label, phase, r) for phase in PHASES for label, r in results.items()]
    runs += [(label, "cli", r) for label, r in cli.items()]
    header = ["run", "phase", "wall (s)", "JAX compile (s)", "trace", "lower", "XLA compile/load"]
    header += ["hits", "misses", "programs", "process (s)"]
    rows = [_row(label, r, phase) for label, phase, r in runs if phase in r]
    ratios = []
    for label, phase, r in runs:
        if label == "cache empty" and phase in r:
            warm = (cli if phase == "cli" else results)["cache warm"][phase]
            what = f"`jaxbridge {args.cli}`" if phase == "cli" else phase
            ratios.append(
                f"- {what}: empty/warm cache = {r[phase]['wall_s'] / warm['wall_s']:.2f}x wall, "
                f"{_compile_total(r[phase]) / _compile_total(warm):.2f}x JAX compile"
            )
    first = (results or cli)["cache empty"]
    slowest = "; ".join(
        f"{phase}: " + ", ".join(f"{n} {t:.2f}s" for n, t in first[phase]["programs"][:6])
        for phase in ("cli", *PHASES)
        if phase in first
    )
    title = f"compile_cache (model={args.model}, sampler={args.sampler}"
    title += f", cli={args.cli!r})" if args.cli else ")"
    section = "\n".join(
        [
            _common.machine_header(title),
            *(
                [f"- short run: 2 chains x ({args.draws} tune + {args.draws} draws)"]
                if results
                else []
            ),
            f"- jax_persistent_cache_min_compile_time_secs override: {args.min_compile_secs}",
            f"- load average (1/5/15 min): {_common.load_average()}",
            "",
            _common.markdown_table(header, rows),
            "",
            *ratios,
            f"- programs in the cache after the warm run: {len(cached_programs)} "
            f"({', '.join(sorted(cached_programs))})",
            f"- slowest programs compiled with an empty cache (XLA s): {slowest}",
        ]
    )
    print(section)
    if not args.no_append:
        _common.append_results(section)


def _compile_total(phase: dict) -> float:
    return sum(phase.get(f"{k}_s", 0.0) for k in ("trace", "lower", "backend"))


if __name__ == "__main__":
    main()
