"""Hamilton's (1989) switching autoregression: the structured lagged-state likelihood against
statsmodels and against the same chain written as a dense 32-state HMM, and the whole fit.

Real GNP growth 1951Q2–1984Q4, 2 regimes, AR(4) with a switching mean (statsmodels'
``TestHamiltonAR4``), at the published MLE. Rows of the first table, each the median seconds
per call:

* ``statsmodels loglike``          ``MarkovAutoregression.loglike(params)`` (value only; Cython
  Hamilton filter over the 32 tuples)
* ``jaxbridge logp+grad JAX``      the model's log density and its gradient with respect to every
  free variable, compiled whole to JAX (what nutpie's JAX backend, NumPyro and BlackJAX evaluate)
* ``kernel structured value+grad`` :func:`jaxbridge.hmm.log_likelihood` with ``order=4`` on the
  model's ``[1, 131, 32]`` emission log-densities: value and gradient, jitted
* ``kernel dense value+grad``      the same likelihood as an ordinary 32-state HMM (its full
  ``32 x 32`` transition matrix) through the same kernel

The second table (``--fit``) is :func:`jaxbridge.sample` of the model (nutpie, 4 chains
x 1000 + 1000, target_accept 0.95 as the README advises) in this process: wall seconds, minimum bulk ESS over the reported parameters and
ESS per second. Usage (from the repository root)::

    python benchmarks/switching_autoregression.py [--fit] [--no-append]
"""

from __future__ import annotations

import argparse
import time

import _common
import jax
import numpy as np
import pymc as pm
import pytensor
from pymc.model.transform.optimization import freeze_dims_and_data
from statsmodels.tsa.regime_switching.markov_autoregression import MarkovAutoregression

import jaxbridge
from jaxbridge import hmm
from jaxbridge._compat import group_attrs, x64
from jaxbridge.datasets import hamilton_gnp
from jaxbridge.hmm._lagged import dense_chain
from jaxbridge.pymc import switching_autoregression

#: statsmodels' parameters at the published MLE (TestHamiltonAR4): p[0->0], p[1->0], const,
#: sigma2, ar.L1..L4.
PARAMS = np.r_[0.754673, 0.095915, -0.358811, 1.163516, np.exp(-0.262658) ** 2,
               0.013486, -0.057521, -0.246983, -0.212923]  # fmt: skip


def _pacf(ar: np.ndarray) -> np.ndarray:
    """Partial autocorrelations of AR coefficients (inverse Durbin–Levinson)."""
    ar, pacf = np.array(ar, dtype=float), np.zeros(len(ar))
    for k in range(len(ar), 0, -1):
        r = pacf[k - 1] = ar[k - 1]
        previous = ar[: k - 1]
        ar = (previous + r * previous[::-1]) / (1 - r**2)
    return pacf


def _point(model: pm.Model) -> dict[str, np.ndarray]:
    """The MLE as a point of the model's value variables (transformed space)."""
    p = PARAMS
    values = {
        "p_transition": np.array([[p[0], 1 - p[0]], [p[1], 1 - p[1]]]),
        "const": p[2:4],
        "sigma": np.array(np.sqrt(p[4])),
        "pacf": _pacf(p[5:]),
    }
    point = {}
    for rv in model.free_RVs:
        transform = model.rvs_to_transforms.get(rv)
        raw = pytensor.shared(values[rv.name])
        point[model.rvs_to_values[rv].name] = (
            raw.get_value() if transform is None else transform.forward(raw, *rv.owner.inputs).eval()
        )
    return point


def _kernel_rows(model: pm.Model, point: dict) -> tuple[list, float]:
    """Value-and-gradient functions of the structured and the dense kernel at the MLE."""
    rv = model["hmm"]
    _rng, init, trans, emission, _mask = rv.owner.inputs
    log_emission = pm.logp(emission, model.rvs_to_values[rv][..., None])
    outputs = model.replace_rvs_by_values([log_emission, init, trans])
    fn = pytensor.function(model.value_vars, outputs, on_unused_input="ignore")
    le, p0, a = fn(*[point[v.name] for v in model.value_vars])

    def structured(le, p0, a):
        return hmm.log_likelihood(le, p0, a, order=4).sum()

    def dense(le, p0, a):
        first, full = dense_chain(p0, a, time_varying=False, log_probs=False, order=4)
        return hmm.log_likelihood(le, first, full).sum()

    with x64():
        fns = {
            "kernel structured value+grad": jax.jit(jax.value_and_grad(structured, (0, 1, 2))),
            "kernel dense value+grad": jax.jit(jax.value_and_grad(dense, (0, 1, 2))),
        }
        args = [jax.numpy.asarray(v) for v in (le, p0, a)]
        values = {name: float(f(*args)[0]) for name, f in fns.items()}
    assert abs(values["kernel structured value+grad"] - values["kernel dense value+grad"]) < 1e-9, values
    rows = [(name, lambda f=f: jax.block_until_ready(f(*args))) for name, f in fns.items()]
    return rows, values["kernel structured value+grad"]


def _fit_table(y: np.ndarray) -> str:
    model = switching_autoregression(y, 2, order=4, sequence=["gnp"])
    start = time.perf_counter()
    idata = jaxbridge.sample(model=model, random_seed=0, progressbar=False, target_accept=0.95)
    wall = time.perf_counter() - start
    # the library's own convergence figures (over parameter_names), on either ArviZ generation
    attrs = group_attrs(idata, "posterior")
    ess = float(attrs["jaxbridge_min_ess_bulk"])
    rhat = float(attrs["jaxbridge_max_r_hat"])
    divergent = int(attrs["jaxbridge_divergences"])
    return _common.markdown_table(
        ["fit", "wall s", "min bulk ESS", "ESS / s", "max r_hat", "divergences"],
        [
            (
                "jaxbridge.sample (nutpie, 4 x 1000 + 1000, target_accept 0.95)",
                f"{wall:.1f}",
                f"{ess:.0f}",
                f"{ess / wall:.1f}",
                f"{rhat:.3f}",
                divergent,
            )
        ],
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-append", action="store_true", help="do not write RESULTS.md")
    parser.add_argument("--fit", action="store_true", help="also time a default fit")
    parser.add_argument("--min-time", type=float, default=2.0, help="seconds per row (default 2)")
    args = parser.parse_args(argv)

    y = hamilton_gnp()["rgnp"].to_numpy()
    sm_model = MarkovAutoregression(y, k_regimes=2, order=4, switching_ar=False)
    model = freeze_dims_and_data(switching_autoregression(y, 2, order=4))
    point = _point(model)
    inputs = model.value_vars
    args_in = [point[v.name] for v in inputs]
    loglike = pytensor.function(inputs, model.logp(vars=model.observed_RVs))
    grad = pm.gradient(model.logp(), inputs)
    jax_both = pytensor.function(inputs, [model.logp(), grad], mode="JAX")
    ours, theirs = float(loglike(*args_in)), float(sm_model.loglike(PARAMS))
    assert abs(ours - theirs) < 1e-8, (ours, theirs)
    kernel_rows, kernel_value = _kernel_rows(model, point)
    assert abs(kernel_value - theirs) < 1e-8, (kernel_value, theirs)

    rows = [
        ("statsmodels loglike", lambda: sm_model.loglike(PARAMS)),
        ("jaxbridge logp+grad JAX", lambda: jax_both(*args_in)),
        *kernel_rows,
    ]
    times = {name: _common.time_per_call(fn, min_time=args.min_time) for name, fn in rows}
    base = times["statsmodels loglike"]
    parts = [
        _common.machine_header(
            "switching_autoregression: Hamilton's GNP model (K=2, AR(4), 32 tuples, T=131)"
        ),
        f"- log-likelihood at the published MLE: jaxbridge {ours:.8f}, statsmodels {theirs:.8f}",
        "",
        _common.markdown_table(
            ["evaluation", "µs per call", "÷ statsmodels loglike"],
            [(name, f"{t * 1e6:,.0f}", f"{t / base:.2f}") for name, t in times.items()],
        ),
        "",
        f"- dense ÷ structured kernel: "
        f"{times['kernel dense value+grad'] / times['kernel structured value+grad']:.2f}",
    ]
    if args.fit:
        parts += ["", _fit_table(y)]
    _common.report(parts, append=not args.no_append)


if __name__ == "__main__":
    main()
