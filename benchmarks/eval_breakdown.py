"""Where one evaluation of the page's model goes: value + gradient, piece by piece.

The JAX samplers (nutpie's JAX backend, NumPyro, BlackJAX) differentiate the whole jaxified
log density of the model with ``jax.value_and_grad``. For the example page's model built with
``jaxbridge.MarginalHMM`` (70 sequences x 51 steps, K = 3) this script times, in one process
and interleaved (each a median of batches, the minimum over ``--rounds`` rounds):

* ``dispatch floor``: a jitted function of the 10 unconstrained parameters that does almost
  nothing (the cost of calling compiled JAX code from Python at all);
* ``HMM kernel``: ``jax.value_and_grad`` of :func:`jaxbridge.hmm.log_likelihood` alone,
  w.r.t. the log-emissions ``[70, 51, 3]``, ``init`` and ``trans``;
* ``model without the HMM term``: the model's log density with the HMM op replaced by a
  linear function of the same inputs, so that the emission log-density ``[70, 51, 3]``, the
  simplex and log transforms, the priors and all their gradients are still computed;
* ``whole model``: the model's log density (Jacobian included), as the samplers see it;
* ``as nutpie calls it``: the same through nutpie's Python wrapper (data passed as
  arguments, the value and gradient converted to a float and a NumPy array);
* ``page's Ops, whole model``: the page's hand-written Ops model, jaxified the same way.

    python benchmarks/eval_breakdown.py [--rounds 3] [--no-append]
"""

from __future__ import annotations

import argparse

import numpy as np

import _common


def _models():
    import seed_workload
    from jaxbridge.datasets import seed_page_data

    data = seed_page_data()
    page = seed_workload.page_model(data.emissions, seed_workload.page_ops()[1])
    return data, seed_workload.jaxbridge_model(data.emissions), page


def _value_and_grad(model, replace_hmm: bool = False):
    """jitted value_and_grad of the model's log density on its flat unconstrained space."""
    import pymc as pm
    import pytensor.tensor as pt
    from pytensor.graph.replace import clone_replace
    from pytensor.graph.traversal import ancestors

    from jaxbridge.pymc._init import _jax_value_and_grad, _Layout
    from jaxbridge.wrap._op import JaxOp

    layout = _Layout(model)
    logp = model.logp(jacobian=True)
    if replace_hmm:
        (node,) = {v.owner for v in ancestors([logp]) if v.owner and isinstance(v.owner.op, JaxOp)}
        stand_in = sum(pt.sum(x) * 1e-3 for x in node.inputs if x.type.dtype.startswith("float"))
        logp = clone_replace(
            logp, {node.outputs[0]: pt.broadcast_to(stand_in, node.outputs[0].shape)}
        )
    [flat], joined = pm.pytensorf.join_nonshared_inputs(layout.point, [logp], layout.value_vars)
    point = layout.ravel(layout.point)
    function = _jax_value_and_grad(joined, flat, point)
    assert function is not None, "the model did not convert to JAX"
    return function, point


def _kernel(data):
    import jax
    import jax.numpy as jnp

    from jaxbridge.hmm import log_likelihood

    rng = np.random.default_rng(0)
    log_emission = jnp.asarray(rng.normal(size=(*data.emissions.shape, 3)))
    init = jnp.full(3, 1 / 3)
    trans = jnp.asarray(rng.dirichlet(np.ones(3), size=3))
    fn = jax.jit(jax.value_and_grad(lambda *a: jnp.sum(log_likelihood(*a)), argnums=(0, 1, 2)))
    return lambda: jax.block_until_ready(fn(log_emission, init, trans))


def _nutpie_logp(model):
    from functools import partial

    import nutpie

    compiled = nutpie.compile_pymc_model(model, backend="jax", gradient_backend="jax")
    logp = partial(compiled._make_logp_func(), **compiled._shared_data)
    x = np.full(compiled.n_dim, 0.1)
    return lambda: logp(x)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--min-time", type=float, default=1.0, help="seconds per timing")
    parser.add_argument("--no-append", action="store_true", help="do not append to RESULTS.md")
    args = parser.parse_args()

    import jax
    import jax.numpy as jnp

    data, model, page = _models()
    whole, point = _value_and_grad(model)
    rest, _ = _value_and_grad(model, replace_hmm=True)
    page_whole, page_point = _value_and_grad(page)
    floor = jax.jit(lambda x: (jnp.sum(x), x))
    calls = {
        "dispatch floor": lambda: jax.block_until_ready(floor(point)),
        "HMM kernel (value + grad)": _kernel(data),
        "model without the HMM term": lambda: jax.block_until_ready(rest(point)),
        "whole model": lambda: jax.block_until_ready(whole(point)),
        "whole model, as nutpie calls it": _nutpie_logp(model),
        "page's Ops, whole model": lambda: jax.block_until_ready(page_whole(page_point)),
    }
    best = dict.fromkeys(calls, np.inf)
    for _ in range(args.rounds):
        for name, call in calls.items():
            best[name] = min(best[name], _common.time_per_call(call, args.min_time))
    rows = [[name, f"{seconds * 1e6:.0f}"] for name, seconds in best.items()]
    whole_us, kernel_us = best["whole model"] * 1e6, best["HMM kernel (value + grad)"] * 1e6
    section = [
        _common.machine_header("eval_breakdown: one value + gradient of the page's model"),
        f"- load average: {_common.load_average()}",
        f"- rounds: {args.rounds}, each the median of batches of ≥ {args.min_time / 5:.1f} s",
        "",
        _common.markdown_table(["what", "µs per call"], rows),
        "",
        f"whole model / HMM kernel alone: {whole_us / kernel_us:.2f}",
    ]
    _common.report(section, append=not args.no_append)


if __name__ == "__main__":
    main()
