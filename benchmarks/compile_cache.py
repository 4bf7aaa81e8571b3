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

and splits JAX's own compile cost by phase with :mod:`jax.monitoring` events: tracing to a
jaxpr, lowering to StableHLO, XLA backend compilation (the only phase the persistent cache
can skip), plus cache hits/misses and the programs that were compiled.

Usage, from the repository root with the project venv::

    python benchmarks/compile_cache.py                 # jaxbridge model, sampler="auto"
    python benchmarks/compile_cache.py --model page    # the page's Ops (no jaxbridge.sample needed)
    python benchmarks/compile_cache.py --min-compile-secs 0   # cache every program
    python benchmarks/compile_cache.py --cli "demo"    # also time `python -m jaxbridge demo` twice
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _common


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


def run_cli(command: str, cache: str) -> str:
    """``python -m jaxbridge <command>`` with ``JAXBRIDGE_CACHE_DIR=cache``: timings as text.

    Reports the whole process and the CLI's own "sampled ... in X s (compilation included)".
    """
    env = {**os.environ, "JAXBRIDGE_CACHE_DIR": cache}
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "jaxbridge", *shlex.split(command)],
            env=env,
            cwd=tmp,
            capture_output=True,
            text=True,
        )
        process_s = time.perf_counter() - start
    if proc.returncode != 0:
        return f"failed ({proc.stderr.strip().splitlines()[-1:]})"
    found = re.search(r"in ([0-9.]+) s \(compilation included\)", proc.stdout + proc.stderr)
    sampling = f"sampling {found.group(1)} s, " if found else ""
    return f"{sampling}process {process_s:.1f} s"


def _cache_listing(cache_dir: Path) -> list[str]:
    return sorted(p.name for p in cache_dir.iterdir()) if cache_dir.exists() else []


def _row(label: str, r: dict, phase: str) -> list[str]:
    p = r.get(phase)
    if p is None:
        return [label, phase, *["—"] * 8]
    return [
        label,
        phase,
        f"{p['wall_s']:.2f}",
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
    parser.add_argument("--cli", default=None, help="also time `python -m jaxbridge CLI`")
    parser.add_argument("--no-append", action="store_true")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        Path(args.child).write_text(json.dumps(child(args)))
        return

    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as cache_dir:
        for label, cache in [
            ("cache empty", cache_dir),
            ("cache warm", cache_dir),
            ("cache off #1", "off"),
            ("cache off #2", "off"),
        ]:
            print(f"[compile_cache] {label} ...", file=sys.stderr, flush=True)
            results[label] = run_child(args, cache)
        cached = _cache_listing(Path(cache_dir))
        cli = {}
        if args.cli:
            with tempfile.TemporaryDirectory() as cli_cache:
                for label in ("first run, empty cache", "second run, warm cache"):
                    cli[label] = run_cli(args.cli, cli_cache)
            cli["cache off"] = run_cli(args.cli, "off")

    header = ["run", "phase", "wall (s)", "trace", "lower", "XLA compile/load", "hits", "misses"]
    header += ["programs", "process (s)"]
    rows = [
        _row(label, r, phase) for phase in ("logp_grad", "sample") for label, r in results.items()
    ]
    ratios = []
    for phase in ("logp_grad", "sample"):
        if phase in results["cache empty"]:
            first = results["cache empty"][phase]["wall_s"]
            warm = results["cache warm"][phase]["wall_s"]
            ratios.append(f"- {phase}: empty/warm cache = {first / warm:.2f}x")
    first_p, warm_p = results["cache empty"]["process_s"], results["cache warm"]["process_s"]
    ratios.append(f"- whole process: empty/warm cache = {first_p / warm_p:.2f}x")
    programs = "\n".join(
        f"  - {phase}: "
        + ", ".join(f"{n} {s:.2f}s" for n, s in results["cache empty"][phase]["programs"][:8])
        for phase in ("logp_grad", "sample")
        if phase in results["cache empty"]
    )
    section = "\n".join(
        [
            _common.machine_header(f"compile_cache (model={args.model}, sampler={args.sampler})"),
            f"- short run: 2 chains x ({args.draws} tune + {args.draws} draws); "
            f"min compile secs override: {args.min_compile_secs}",
            f"- load average (1/5/15 min): {_common.load_average()}",
            "",
            _common.markdown_table(header, rows),
            "",
            *ratios,
            *(f"- `jaxbridge {args.cli}` {k}: {v}" for k, v in cli.items()),
            f"- files in the cache after the warm run: {len(cached)} "
            f"({', '.join(sorted({c.split('-')[0] for c in cached}))})",
            "- slowest programs compiled with an empty cache (XLA s):",
            programs,
        ]
    )
    print(section)
    if not args.no_append:
        _common.append_results(section)


if __name__ == "__main__":
    main()
