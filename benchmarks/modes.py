"""Wrapped JAX ops under each PyTensor linker, and the sampler a PyMC user types first.

One evaluation of ``model.logp_dlogp_function()`` (what PyMC NUTS and nutpie's numba backend
call) for the example page's model built by jaxbridge (``jaxbridge.pymc.page_hmm``, the
likelihood one ``MarginalHMM`` op), compiled with each linker:

* ``c`` — PyTensor's C linker (the default on PyTensor 2.38);
* ``numba`` — PyTensor's numba linker (the default on PyTensor 3) with jaxbridge's own numba
  implementation of the JAX op (one object-mode call of its jitted function);
* ``numba fallback`` — the same graph with PyTensor's generic fallback for the op (object
  mode around ``perform``), what a JAX op gets without jaxbridge's dispatch;
* ``jax`` — PyTensor's JAX linker (the whole graph one XLA program).

With ``--sample``, also the whole sampling call (2 chains x (1000 + 1000), compilation
included, min bulk ESS over all free parameters): a plain ``pm.sample()`` (on PyMC 6 nutpie
with its default numba backend) against ``jaxbridge.sample()``.

    python benchmarks/modes.py [--sample] [--no-append]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import _common


def _model():
    from jaxbridge.datasets import seed_page_data
    from jaxbridge.pymc import page_hmm

    return page_hmm(seed_page_data().emissions)


def _use_fallback(fallback: bool) -> None:
    """Give ``JaxOp`` PyTensor's generic object-mode fallback, or jaxbridge's numba dispatch."""
    from pytensor.link.numba.dispatch.basic import (
        generate_fallback_impl,
        register_funcify_and_cache_key,
    )

    from jaxbridge.wrap import JaxOp, _numba

    _numba.register_numba_dispatch()  # marks it registered, so compiling does not undo this
    if fallback:

        def generic(op, node=None, **kwargs):
            return generate_fallback_impl(op, node), None

        register_funcify_and_cache_key(JaxOp)(generic)
    else:
        register_funcify_and_cache_key(JaxOp)(_numba._numba_funcify_jax_op)


def eval_row(model, mode, min_time: float) -> tuple[float, float]:
    """(compile s, eval µs) of ``model.logp_dlogp_function(mode=mode)`` at the initial point."""
    import warnings

    from pymc.blocking import DictToArrayBijection

    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the fallback row's object-mode warning
        func = model.logp_dlogp_function(ravel_inputs=True, mode=mode)
        point = model.initial_point(0)
        x = DictToArrayBijection.map({v.name: point[v.name] for v in model.value_vars}).data
        compiled = func._pytensor_function
        compiled(x)
    compile_s = time.perf_counter() - start
    return compile_s, 1e6 * _common.time_per_call(lambda: compiled(x), min_time)


def sample_row(model, how: str, seed: int) -> dict:
    """Wall and CPU seconds and min bulk ESS over all free parameters of one sampling call."""
    import pymc as pm

    import jaxbridge
    from jaxbridge import _compat

    wall, cpu = time.perf_counter(), time.process_time()
    with model:
        if how == "pm.sample()":
            idata = pm.sample(chains=2, random_seed=seed, progressbar=False)
        else:
            idata = jaxbridge.sample(model, chains=2, random_seed=seed, progressbar=False)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    names = [v.name for v in model.free_RVs]
    ess = float(_compat.summary(idata, names, 0.94)["ess_bulk"].min())
    library = _compat.group_attrs(idata, "posterior").get("inference_library", "?")
    return {"wall": wall, "cpu": cpu, "ess": ess, "library": library}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sample", action="store_true", help="also time the sampling calls")
    parser.add_argument("--min-time", type=float, default=2.0, help="seconds per eval timing")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-append", action="store_true", help="do not append to RESULTS.md")
    args = parser.parse_args()

    from pytensor.compile.mode import Mode

    model = _model()
    rows = []
    modes = [
        ("c", Mode(linker="cvm", optimizer="fast_run"), None),
        ("numba", "NUMBA", False),
        ("numba fallback", "NUMBA", True),
        ("jax", "JAX", None),
    ]
    for name, mode, fallback in modes:
        if fallback is not None:
            _use_fallback(fallback)
        compile_s, eval_us = eval_row(model, mode, args.min_time)
        rows.append([name, f"{eval_us:.0f}", f"{compile_s:.1f}"])
        print(f"{name}: {eval_us:.0f} µs per logp+grad, compiled in {compile_s:.1f} s", flush=True)
    _use_fallback(False)
    section = [
        _common.machine_header("modes: logp_dlogp_function of the page's model per linker"),
        f"- load average: {_common.load_average()}",
        "",
        _common.markdown_table(["linker", "logp+grad eval µs", "compile s"], rows),
    ]
    if args.sample:
        sample_rows = []
        for how in ("pm.sample()", "jaxbridge.sample()"):
            r = sample_row(_model(), how, args.seed)
            sample_rows.append(
                [
                    how,
                    r["library"],
                    f"{r['wall']:.1f}",
                    f"{r['cpu']:.1f}",
                    f"{r['ess']:.0f}",
                    f"{r['ess'] / r['wall']:.0f}",
                    f"{r['ess'] / r['cpu']:.0f}",
                ]
            )
            print(sample_rows[-1], flush=True)
        header = ["call", "sampler", "wall s", "CPU s", "min bulk ESS", "ESS/s", "ESS/CPU-s"]
        section += ["", "2 chains x (1000 + 1000), compilation included:", ""]
        section.append(_common.markdown_table(header, sample_rows))
    text = "\n".join(section)
    print("\n" + text)
    if not args.no_append:
        _common.append_results(text)


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
