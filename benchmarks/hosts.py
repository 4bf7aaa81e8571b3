"""One data set split over two JAX processes on this machine, against one process (issue 18).

Two local processes of a multi-process JAX run (:func:`jaxbridge.initialize_processes`, one
CPU device each, Gloo collectives) stand in for two hosts. Every configuration runs in fresh
Python processes with the persistent compilation cache off:

* ``1 process``: one process, one device, no distributed runtime;
* ``2 processes``: processes 0 and 1, ``devices=jax.devices()`` (one device on each).

Kernel rows: the jitted ``jax.value_and_grad`` of
``jaxbridge.hmm.sharded_log_likelihood(..., devices=jax.devices()).sum()`` with respect to
``log_emission``, ``init`` and ``trans`` (the computation a sampler performs at every leapfrog
step; every process passes the full arrays), median seconds per call (batches of the same
number of calls on every process) and compilation + first call, timed on process 0.

Sampling rows (``--sampling``): the example page's model (:func:`jaxbridge.pymc.page_hmm`,
70 x 51, K = 3) with ``jaxbridge.sample(sampler="numpyro", chains=4, shard="sequences",
devices=jax.devices())``: wall time of the call (mode search and compilation included) on
process 0, and the posterior mean of ``emission_signal``.

Both processes share this machine's cores; with two cores shared with other jobs this shows
the cost of the cross-process all-reduce, not the speed-up of two real hosts.

Usage, from the repository root::

    python benchmarks/hosts.py                        # kernel rows, appends to RESULTS.md
    python benchmarks/hosts.py --sampling             # plus the sampling rows
    python benchmarks/hosts.py --quick --no-append    # small sizes, smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time

import _common

KERNEL_SIZES = ((70, 51, 3), (1000, 1000, 3), (1000, 1000, 10))
QUICK_SIZES = ((70, 51, 3), (200, 200, 3))
#: Seconds a worker may run before the driver kills both processes.
WORKER_TIMEOUT = 1800


# ------------------------------------------------------------------------------- workers


def kernel_worker(sizes, min_time: float) -> list[dict]:
    """Time value_and_grad of the summed log-likelihood over ``jax.devices()`` at each size."""
    import jax

    return _common.sharded_likelihood_rows(jax.devices(), sizes, min_time, timer=time_per_call)


def time_per_call(fn, min_time: float, repeats: int = 5) -> float:
    """Median seconds per call over ``repeats`` batches, the same number of calls on every
    process (each call is a collective; :func:`_common.time_per_call` sizes its batches from
    local timings, which differ between processes)."""
    import numpy as np
    from jax.experimental import multihost_utils

    fn()
    start = time.perf_counter()
    fn()
    once = time.perf_counter() - start
    number = max(1, int(min_time / repeats / once))
    number = int(multihost_utils.broadcast_one_to_all(np.int32(number)))
    per_call = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        per_call.append((time.perf_counter() - start) / number)
    return float(np.median(per_call))


def sampling_worker(draws: int, tune: int) -> list[dict]:
    """Wall time of a sequence-sharded NumPyro fit of the page's model."""
    import jax

    import jaxbridge
    from jaxbridge.datasets import seed_page_data
    from jaxbridge.pymc import page_hmm

    model = page_hmm(seed_page_data().emissions)
    start = time.perf_counter()
    idata = jaxbridge.sample(
        model,
        sampler="numpyro",
        draws=draws,
        tune=tune,
        chains=4,
        random_seed=1,
        progressbar=False,
        devices=jax.devices(),
        shard="sequences",
    )
    wall = time.perf_counter() - start
    signal = float(idata.posterior["emission_signal"].mean())
    return [dict(wall=wall, signal=signal)]


# ------------------------------------------------------------------------------- driver


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_workers(processes: int, args: argparse.Namespace, task: str) -> list[dict]:
    """Start ``processes`` workers (one run); return process 0's rows; kill all at the end."""
    env = dict(os.environ, JAXBRIDGE_CACHE_DIR="off", JAX_PLATFORMS="cpu")
    env.pop("XLA_FLAGS", None)
    command = [sys.executable, __file__, "--worker", task, "--min-time", str(args.min_time)]
    command += ["--draws", str(args.draws), "--tune", str(args.tune)]
    command += ["--quick"] if args.quick else []
    if processes > 1:
        env.update(JAX_COORDINATOR_ADDRESS=f"127.0.0.1:{free_port()}")
        env.update(JAX_NUM_PROCESSES=str(processes))
    procs = [
        subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**env, "JAX_PROCESS_ID": str(i)} if processes > 1 else env,
        )
        for i in range(processes)
    ]
    try:
        outputs = [proc.communicate(timeout=WORKER_TIMEOUT) for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    for i, (proc, (_, err)) in enumerate(zip(procs, outputs, strict=True)):
        if proc.returncode:
            raise RuntimeError(f"{task} worker, process {i} of {processes} failed:\n{err[-3000:]}")
    return [dict(row, processes=processes) for row in json.loads(outputs[0][0].splitlines()[-1])]


def sampling_table(rows: list[dict], args: argparse.Namespace) -> str:
    body = [(r["processes"], f"{r['wall']:.1f} s", f"{r['signal']:.4f}") for r in rows]
    header = ("processes", f"wall (4 chains x {args.tune}+{args.draws})", "mean signal")
    return _common.markdown_table(header, body)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, short runs")
    parser.add_argument("--sampling", action="store_true", help="also time sampling")
    parser.add_argument("--min-time", type=float, default=2.0, help="seconds timing each eval")
    parser.add_argument("--draws", type=int, default=500)
    parser.add_argument("--tune", type=int, default=500)
    parser.add_argument("--no-append", action="store_true", help="do not write RESULTS.md")
    parser.add_argument("--note", default="", help="free-text caveat recorded with the results")
    parser.add_argument("--worker", choices=("kernel", "sampling"), help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def worker(args: argparse.Namespace) -> None:
    import jaxbridge

    if os.environ.get("JAX_NUM_PROCESSES"):
        jaxbridge.initialize_processes()
    if args.worker == "kernel":
        rows = kernel_worker(QUICK_SIZES if args.quick else KERNEL_SIZES, args.min_time)
    else:
        rows = sampling_worker(args.draws, args.tune)
    print(json.dumps(rows), flush=True)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.worker:
        worker(args)
        return
    if args.quick:
        args.min_time, args.draws, args.tune = 0.5, 100, 100
    load_before = _common.load_average()
    kernel_rows = [r for n in (1, 2) for r in run_workers(n, args, "kernel")]
    parts = [
        _common.machine_header("Several hosts: two local JAX processes (hosts.py)"),
        "- processes: 1 (one device) against 2 (jax.distributed, Gloo, one CPU device each); "
        "both processes share this machine's cores",
        f"- load average before/after: {load_before} / {_common.load_average()}",
        *([f"- note: {args.note}"] if args.note else []),
        "",
        "value_and_grad of the summed log-likelihood, sequences split across the processes:",
        "",
        _common.speedup_table(kernel_rows, "processes"),
    ]
    if args.sampling:
        sampling_rows = [r for n in (1, 2) for r in run_workers(n, args, "sampling")]
        parts += ["", "jaxbridge.sample(sampler='numpyro', shard='sequences'), page model:", ""]
        parts.append(sampling_table(sampling_rows, args))
    _common.report(parts, append=not (args.no_append or args.quick))


if __name__ == "__main__":
    main()
