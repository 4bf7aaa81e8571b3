"""HMM likelihood and sampling split across 1, 2 and 4 JAX devices (issue 7).

JAX fixes its device count at start-up, so every device count runs in its own Python process
started with ``XLA_FLAGS=--xla_force_host_platform_device_count=N`` (on a CPU; on a machine
with N accelerators pass ``--real-devices`` to use them instead) and the persistent
compilation cache off.

Kernel rows (always): the jitted ``jax.value_and_grad`` of
``jaxbridge.hmm.sharded_log_likelihood(...).sum()`` with respect to ``log_emission``,
``init`` and ``trans`` -- the computation a sampler performs at every leapfrog step -- at the
sizes of ``kernel_scaling.py``'s grid (``N`` sequences x ``T`` steps x ``K`` states), sequences
split across the devices:

* ``eval``: median seconds per call (:func:`_common.time_per_call`);
* ``compile``: lowering, compilation and the first call;
* ``speed-up``: the 1-device ``eval`` divided by this row's.

Sampling rows (``--sampling``): the example page's workload (70 x 51, K = 3) as a PyMC model
whose HMM term is the sequence-sharded likelihood, sampled by
``jaxbridge.sample(sampler="numpyro", chains=4, devices=N, shard=...)`` with
``shard="chains"`` (one chain per device share) and ``shard="sequences"``; wall time of the
whole sampling call, compilation included.

Forced host devices are not extra hardware: they share the machine's cores. A speed-up here
shows what the split buys on this CPU (at most its core count); on GPUs each device brings its
own compute.

Usage, from the repository root with the project venv::

    python benchmarks/sharding.py                      # kernel rows, appends to RESULTS.md
    python benchmarks/sharding.py --sampling           # plus the sampling rows
    python benchmarks/sharding.py --quick --no-append  # small sizes, smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import _common

#: (N sequences, T steps, K states) from the grid of ``kernel_scaling.py``.
KERNEL_SIZES = ((70, 51, 3), (70, 1000, 10), (1000, 1000, 3), (1000, 1000, 10))
QUICK_SIZES = ((70, 51, 3), (200, 200, 3))
DEVICE_COUNTS = (1, 2, 4)
SHARDS = ("chains", "sequences")


# ------------------------------------------------------------------------------- workers


def kernel_worker(sizes, devices: int, min_time: float) -> list[dict]:
    """Time value_and_grad of the summed sharded log-likelihood at each size."""
    rows = _common.sharded_likelihood_rows(devices, sizes, min_time)
    return [dict(row, devices=devices) for row in rows]


def sampling_worker(devices: int, draws: int, tune: int) -> list[dict]:
    """Wall time of jaxbridge.sample on the page's workload, per shard option."""
    import pymc as pm
    import pytensor.tensor as pt

    import jaxbridge
    from jaxbridge.datasets import seed_page_data
    from jaxbridge.hmm import sharded_log_likelihood
    from jaxbridge.pymc import sample

    y = seed_page_data().emissions  # [70, 51]
    wrapped = jaxbridge.wrap(sharded_log_likelihood, name="sharded_hmm")
    rows = []
    for shard in SHARDS:
        with pm.Model() as model:
            signal = pm.Normal("emission_signal", 0.0, 1.0)
            noise = pm.HalfNormal("emission_noise", 1.0)
            init = pm.Dirichlet("init", pt.ones(3))
            trans = pm.Dirichlet("trans", pt.ones((3, 3)))
            emission = pm.Normal.dist((pt.arange(3) + 1) * signal, noise)
            log_emission = pm.logp(emission, pt.as_tensor(y)[..., None])
            pm.Potential("hmm", wrapped(log_emission, init, trans).sum())
        start = time.perf_counter()
        idata = sample(
            model,
            sampler="numpyro",
            draws=draws,
            tune=tune,
            chains=4,
            random_seed=1,
            progressbar=False,
            devices=devices,
            shard=shard,
        )
        wall = time.perf_counter() - start
        signal_mean = float(idata.posterior["emission_signal"].mean())
        rows.append(dict(shard=shard, devices=devices, wall=wall, signal=signal_mean))
    return rows


# ------------------------------------------------------------------------------- driver


def run_worker(devices: int, args: argparse.Namespace, task: str) -> list[dict]:
    env = dict(os.environ, JAXBRIDGE_CACHE_DIR="off")
    if not args.real_devices:
        env["XLA_FLAGS"] = (
            f"{env.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count={devices}"
        ).strip()
        env["JAX_PLATFORMS"] = "cpu"
    command = [sys.executable, __file__, "--worker", task, "--devices", str(devices)]
    command += ["--min-time", str(args.min_time), "--draws", str(args.draws)]
    command += ["--tune", str(args.tune)] + (["--quick"] if args.quick else [])
    proc = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if proc.returncode:
        raise RuntimeError(f"{task} worker with {devices} devices failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def sampling_table(rows: list[dict], args: argparse.Namespace) -> str:
    body = [
        (r["shard"], r["devices"], f"{r['wall']:.1f} s", f"{r['signal']:.4f}")
        for r in sorted(rows, key=lambda r: (r["shard"], r["devices"]))
    ]
    header = ("shard", "devices", f"wall (4 chains x {args.tune}+{args.draws})", "mean signal")
    return _common.markdown_table(header, body)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, short runs")
    parser.add_argument("--sampling", action="store_true", help="also time sampling")
    parser.add_argument("--devices", type=int, nargs="+", default=list(DEVICE_COUNTS))
    parser.add_argument("--real-devices", action="store_true", help="do not force host devices")
    parser.add_argument("--min-time", type=float, default=2.0, help="seconds timing each eval")
    parser.add_argument("--draws", type=int, default=500)
    parser.add_argument("--tune", type=int, default=500)
    parser.add_argument("--no-append", action="store_true", help="do not write RESULTS.md")
    parser.add_argument("--note", default="", help="free-text caveat recorded with the results")
    parser.add_argument("--worker", choices=("kernel", "sampling"), help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.worker:
        (devices,) = args.devices
        if args.worker == "kernel":
            sizes = QUICK_SIZES if args.quick else KERNEL_SIZES
            rows = kernel_worker(sizes, devices, args.min_time)
        else:
            rows = sampling_worker(devices, args.draws, args.tune)
        print(json.dumps(rows))
        return
    if args.quick:
        args.min_time, args.draws, args.tune = 0.5, 100, 100

    load_before = _common.load_average()
    kernel_rows = [r for n in args.devices for r in run_worker(n, args, "kernel")]
    parts = [
        _common.machine_header("Sharding: sequences and chains across devices (sharding.py)"),
        f"- devices: {'real' if args.real_devices else 'forced host devices (XLA_FLAGS)'}; "
        f"load average before/after: {load_before} / {_common.load_average()}",
        *([f"- note: {args.note}"] if args.note else []),
        "",
        "value_and_grad of the summed log-likelihood, sequences split across devices:",
        "",
        _common.speedup_table(kernel_rows, "devices"),
    ]
    if args.sampling:
        sampling_rows = [r for n in args.devices for r in run_worker(n, args, "sampling")]
        parts += ["", "jaxbridge.sample(sampler='numpyro'), page workload:", ""]
        parts.append(sampling_table(sampling_rows, args))
    _common.report(parts, append=not (args.no_append or args.quick))


if __name__ == "__main__":
    main()
