"""Scaling of the HMM log-likelihood kernel: jitted value + gradient.

Compares, for ``N`` sequences of length ``T`` with ``K`` states (gradient with respect to
``log_emission [N, T, K]``, ``init [K]`` and ``trans [K, K]`` of the summed log-likelihood):

* ``jb-seq-vjp``      jaxbridge sequential scan, forward–backward custom VJP
* ``jb-seq-autodiff`` jaxbridge sequential scan, JAX autodiff of the scan
* ``jb-parallel``     jaxbridge ``method="parallel"`` (associative scan, custom VJP)
* ``seed-logsumexp``  the seed page's log-space ``logsumexp`` scan, ``vmap`` over sequences
* ``numba-fb``        scalar-loop numba forward–backward with the analytic gradient
  (single-threaded compiled-code reference)

Reported per case: compile time of the first call, median and minimum wall time of
repeated calls, working memory (JAX: XLA's buffer assignment, arguments + outputs +
temporaries; numba: the same three counted from the arrays it allocates) and the
largest gradient difference from ``jb-seq-vjp`` (every implementation is checked).

``--vjp-vs-autodiff`` instead times only ``jb-seq-vjp`` against ``jb-seq-autodiff``, called in
turn in rounds within one process (the minimum over rounds of each round's mean), over
``VJP_GRID``: the measurement behind the library using the custom VJP at every size.

Usage::

    python benchmarks/kernel_scaling.py            # full grid (minutes)
    python benchmarks/kernel_scaling.py --quick    # two small sizes
    python benchmarks/kernel_scaling.py --vjp-vs-autodiff
    python benchmarks/kernel_scaling.py --no-append

The table is printed and appended to ``benchmarks/RESULTS.md`` (append only).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path

import jax
import jax.numpy as jnp
import numba
import numpy as np
from jax.scipy.special import logsumexp

import jaxbridge
from jaxbridge import hmm

jax.config.update("jax_enable_x64", True)  # an application: float64, as PyMC computes

RESULTS = Path(__file__).with_name("RESULTS.md")
FULL_GRID = [(n, t, k) for n in (70, 1000) for t in (51, 1000, 10_000) for k in (3, 10)]
QUICK_GRID = [(70, 51, 3), (70, 1000, 10)]
MAX_ELEMENTS = 2e7  # N*T*K above this is skipped (memory of the stored forward pass)
MAX_PARALLEL_ELEMENTS = 1e7  # N*T*K*K above this is skipped for the associative scan
MAX_SEED_ELEMENTS = 2e6  # the log-space scan is the slow baseline; keep it to moderate sizes
VJP_GRID = [
    *((n, t, k) for n, t, k in FULL_GRID if n * t * k <= MAX_ELEMENTS),
    (1, 1000, 3),
    (1, 10_000, 3),
    (10, 1000, 3),
    (200, 200, 5),
]

Impl = Callable[[np.ndarray, np.ndarray, np.ndarray], tuple]


def _jaxbridge(method: str, gradient: str) -> Callable:
    """``hmm.log_likelihood`` (forward–backward gradient rule), or with ``gradient="autodiff"``
    the same forward scan differentiated by JAX (``hmm.filter``'s log-likelihood)."""

    def loss(le, init, trans):
        if gradient == "autodiff":
            return jnp.sum(hmm.filter(le, init, trans, method=method).log_likelihood)
        return jnp.sum(hmm.log_likelihood(le, init, trans, method=method))

    return jax.jit(jax.value_and_grad(loss, argnums=(0, 1, 2)))


def _seed_logp(log_emission, log_init, log_trans):
    """The seed page's kernel: log-space forward recursion for one sequence."""

    def _step(log_alpha, log_emission_t):
        return logsumexp(log_alpha + log_trans.T, axis=-1) + log_emission_t, None

    log_alpha, _ = jax.lax.scan(_step, log_init + log_emission[0], log_emission[1:])
    return logsumexp(log_alpha)


def _seed() -> Callable:
    def loss(le, init, trans):
        per_sequence = jax.vmap(_seed_logp, in_axes=(0, None, None))
        return jnp.sum(per_sequence(le, jnp.log(init), jnp.log(trans)))

    return jax.jit(jax.value_and_grad(loss, argnums=(0, 1, 2)))


@numba.njit(cache=False, fastmath=False)
def _numba_value_and_grad(log_emission, init, trans):  # pragma: no cover - compiled
    num_seq, num_steps, num_states = log_emission.shape
    d_log_emission = np.empty_like(log_emission)
    d_init = np.zeros(num_states)
    d_trans = np.zeros((num_states, num_states))
    alpha = np.empty((num_steps, num_states))
    emission = np.empty((num_steps, num_states))
    norm = np.empty(num_steps)
    beta = np.empty(num_states)
    beta_prev = np.empty(num_states)
    weight = np.empty(num_states)
    total = 0.0
    for n in range(num_seq):
        for t in range(num_steps):
            shift = log_emission[n, t, 0]
            for k in range(1, num_states):
                shift = max(shift, log_emission[n, t, k])
            for k in range(num_states):
                emission[t, k] = np.exp(log_emission[n, t, k] - shift)
            total += shift
        for t in range(num_steps):
            s = 0.0
            for j in range(num_states):
                if t == 0:
                    acc = init[j]
                else:
                    acc = 0.0
                    for i in range(num_states):
                        acc += alpha[t - 1, i] * trans[i, j]
                acc *= emission[t, j]
                alpha[t, j] = acc
                s += acc
            norm[t] = s
            for j in range(num_states):
                alpha[t, j] /= s
            total += np.log(s)
        for k in range(num_states):
            beta[k] = 1.0
        for t in range(num_steps - 1, -1, -1):
            for k in range(num_states):
                d_log_emission[n, t, k] = alpha[t, k] * beta[k]
                weight[k] = emission[t, k] * beta[k] / norm[t]
            if t == 0:
                for k in range(num_states):
                    d_init[k] += weight[k]
                break
            for i in range(num_states):
                acc = 0.0
                for j in range(num_states):
                    d_trans[i, j] += alpha[t - 1, i] * weight[j]
                    acc += trans[i, j] * weight[j]
                beta_prev[i] = acc
            for k in range(num_states):
                beta[k] = beta_prev[k]
    return total, (d_log_emission, d_init, d_trans)


def _numba_memory(n: int, t: int, k: int) -> int:
    inputs = n * t * k + k + k * k
    workspace = 2 * t * k + t + 3 * k
    return 8 * (2 * inputs + workspace)  # gradients have the inputs' sizes


def _xla_memory(fn, args) -> int | None:
    try:
        stats = fn.lower(*args).compile().memory_analysis()
    except Exception:  # memory analysis is backend dependent
        return None
    if stats is None:
        return None
    return (
        stats.argument_size_in_bytes
        + stats.output_size_in_bytes
        + stats.temp_size_in_bytes
        - stats.alias_size_in_bytes
    )


def _block(out):
    return jax.block_until_ready(out) if not isinstance(out[0], float) else out


def _time(fn, args, repeats: int, budget_s: float) -> tuple[float, float, float, tuple]:
    start = time.perf_counter()
    out = _block(fn(*args))
    compile_s = time.perf_counter() - start
    times = []
    while len(times) < repeats and (len(times) < 3 or sum(times) < budget_s):
        start = time.perf_counter()
        _block(fn(*args))
        times.append(time.perf_counter() - start)
    return compile_s, float(np.median(times)), float(np.min(times)), out


def _max_grad_diff(out, ref) -> float:
    return max(
        float(np.max(np.abs(np.asarray(a) - np.asarray(b))))
        for a, b in zip(out[1], ref[1], strict=True)
    )


def run_case(n: int, t: int, k: int, repeats: int, budget_s: float) -> list[dict]:
    args = _case_args(n, t, k)
    jax_args = tuple(jnp.asarray(a) for a in args)

    impls: dict[str, tuple[Callable, bool]] = {
        "jb-seq-vjp": (_jaxbridge("sequential", "vjp"), True),
        "jb-seq-autodiff": (_jaxbridge("sequential", "autodiff"), True),
    }
    if n * t * k * k <= MAX_PARALLEL_ELEMENTS:
        impls["jb-parallel"] = (_jaxbridge("parallel", "vjp"), True)
    if n * t * k <= MAX_SEED_ELEMENTS:
        impls["seed-logsumexp"] = (_seed(), True)
    impls["numba-fb"] = (_numba_value_and_grad, False)

    rows, reference = [], None
    for name, (fn, is_jax) in impls.items():
        call_args = jax_args if is_jax else args
        compile_s, median_s, min_s, out = _time(fn, call_args, repeats, budget_s)
        memory = _xla_memory(fn, jax_args) if is_jax else _numba_memory(n, t, k)
        if reference is None:
            reference = out
        rows.append(
            dict(
                N=n,
                T=t,
                K=k,
                impl=name,
                compile_s=compile_s,
                median_ms=1e3 * median_s,
                min_ms=1e3 * min_s,
                memory_mb=None if memory is None else memory / 2**20,
                value_diff=abs(float(out[0]) - float(reference[0])),
                grad_diff=_max_grad_diff(out, reference),
            )
        )
        print(_format_row(rows[-1]), flush=True)
    return rows


def _case_args(n: int, t: int, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    log_emission = rng.normal(scale=2.0, size=(n, t, k))
    init = rng.dirichlet(np.ones(k))
    trans = 0.5 * np.eye(k) + 0.5 * rng.dirichlet(np.ones(k), size=k)
    return log_emission, init, trans


def vjp_vs_autodiff(n: int, t: int, k: int, rounds: int = 7, round_s: float = 0.3) -> dict:
    """Minimum over ``rounds`` of the mean call time (ms), the two gradients called in turn."""
    args = tuple(jnp.asarray(a) for a in _case_args(n, t, k))
    fns = {"vjp": _jaxbridge("sequential", "vjp"), "autodiff": _jaxbridge("sequential", "autodiff")}
    for fn in fns.values():
        jax.block_until_ready(fn(*args))
    best = dict.fromkeys(fns, np.inf)
    for _ in range(rounds):
        for name, fn in fns.items():
            calls, start = 0, time.perf_counter()
            while (elapsed := time.perf_counter() - start) < round_s or calls == 0:
                jax.block_until_ready(fn(*args))
                calls += 1
            best[name] = min(best[name], 1e3 * elapsed / calls)
    return dict(N=n, T=t, K=k, **best)


VJP_HEADER = (
    "| N | T | K | custom VJP ms | autodiff ms | autodiff / VJP |\n|---:|---:|---:|---:|---:|---:|"
)


def _format_vjp_row(r: dict) -> str:
    return (
        f"| {r['N']} | {r['T']} | {r['K']} | {r['vjp']:.3f} | {r['autodiff']:.3f} | "
        f"{r['autodiff'] / r['vjp']:.2f} |"
    )


HEADER = (
    "| N | T | K | implementation | compile s | median ms | min ms | memory MB | max abs Δ grad |\n"
    "|---:|---:|---:|---|---:|---:|---:|---:|---:|"
)


def _format_row(r: dict) -> str:
    memory = "—" if r["memory_mb"] is None else f"{r['memory_mb']:.1f}"
    return (
        f"| {r['N']} | {r['T']} | {r['K']} | {r['impl']} | {r['compile_s']:.2f} | "
        f"{r['median_ms']:.3f} | {r['min_ms']:.3f} | {memory} | {r['grad_diff']:.1e} |"
    )


def _environment(load: tuple[float, float, float], note: str) -> str:
    return (
        f"{dt.datetime.now(dt.UTC).strftime('%Y-%m-%d %H:%M UTC')}; "
        f"{platform.platform()}, {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPUs; load average at start {load[0]:.1f}; "
        f"Python {platform.python_version()}, jax {jax.__version__}, numba {numba.__version__}, "
        f"jaxbridge {jaxbridge.__version__}, x64 {jax.config.jax_enable_x64}, "
        f"device {jax.devices()[0].platform}" + (f". {note}" if note else "")
    )


def append_results(table: str, environment: str, title: str) -> None:
    if not RESULTS.exists():
        RESULTS.write_text(
            "# Benchmark results\n\nAppend-only log of benchmark runs (newest last). "
            "Timings from a shared machine are noisy: compare rows of one run only.\n"
        )
    with RESULTS.open("a") as fh:
        fh.write(
            f"\n## kernel_scaling{title}: HMM value + gradient (float64)\n\n"
            f"{environment}\n\n{table}\n"
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="two small sizes only")
    parser.add_argument(
        "--vjp-vs-autodiff", action="store_true", help="custom VJP vs autodiff, interleaved"
    )
    parser.add_argument("--repeats", type=int, default=20, help="maximum timed calls per case")
    parser.add_argument("--budget", type=float, default=3.0, help="seconds of timed calls per case")
    parser.add_argument("--no-append", action="store_true", help="do not write RESULTS.md")
    parser.add_argument("--note", default="", help="free text added to the RESULTS.md entry")
    args = parser.parse_args(argv)

    environment = _environment(os.getloadavg(), args.note)
    if args.vjp_vs_autodiff:
        print(VJP_HEADER, flush=True)
        lines = []
        for case in VJP_GRID:
            lines.append(_format_vjp_row(vjp_vs_autodiff(*case)))
            print(lines[-1], flush=True)
        if not args.no_append:
            table = "\n".join([VJP_HEADER, *lines])
            append_results(table, environment, " --vjp-vs-autodiff")
        return
    grid = QUICK_GRID if args.quick else FULL_GRID
    print(HEADER, flush=True)
    rows = []
    for n, t, k in grid:
        if n * t * k > MAX_ELEMENTS:
            print(f"| {n} | {t} | {k} | skipped (N*T*K > {MAX_ELEMENTS:.0e}) | | | | | |")
            continue
        rows += run_case(n, t, k, args.repeats, args.budget)
    table = "\n".join([HEADER, *(_format_row(r) for r in rows)])
    if not args.no_append:
        append_results(table, environment, " --quick" if args.quick else "")


if __name__ == "__main__":
    main()
