"""Markov-switching regression: one log-likelihood evaluation, jaxbridge vs statsmodels.

The federal funds example of Stata's ``mswitch`` manual (statsmodels' ``TestFedFundsConstL1Exog``:
2 regimes, switching intercept, lagged rate, output gap and inflation as switching regressors,
222 quarters), at the published MLE. Rows, each the median seconds per call:

* ``statsmodels loglike``     ``MarkovRegression.loglike(params)`` (value only; its Hamilton
  filter is Cython)
* ``jaxbridge logp``          the model's log-likelihood, PyTensor's default linker (the
  likelihood itself one JAX call)
* ``jaxbridge logp+grad``     value and gradient with respect to every free variable, the same
  linker (what PyMC's NUTS evaluates per leapfrog step)
* ``jaxbridge logp+grad JAX`` value and gradient compiled whole to JAX (what nutpie's JAX backend,
  NumPyro and BlackJAX evaluate)

Both log-likelihoods are checked equal before timing. Usage (from the repository root)::

    python benchmarks/switching_loglike.py [--no-append]
"""

from __future__ import annotations

import argparse

import _common
import numpy as np
import pandas as pd
import pymc as pm
import pytensor
from pymc.model.transform.optimization import freeze_dims_and_data
from statsmodels.tsa.regime_switching.markov_regression import MarkovRegression

from jaxbridge.datasets import fedfunds
from jaxbridge.pymc import switching_regression

#: statsmodels' parameters at Stata's published MLE (TestFedFundsConstL1Exog).
PARAMS = np.array(
    [0.7279288, 0.2114578, 0.6554954, -0.0944924, 0.8314458, 0.9292574, 0.1355425,
     0.0343072, -0.0273928, 0.2125275, 0.5764495**2]
)  # fmt: skip


def _data() -> tuple[np.ndarray, pd.DataFrame]:
    table = fedfunds()
    exog = pd.DataFrame(
        {"lag": table["fedfunds"].shift(1), "ogap": table["ogap"], "inf": table["inf"]}
    ).iloc[4:]
    return table["fedfunds"].to_numpy()[4:], exog


def _point(model: pm.Model) -> dict[str, np.ndarray]:
    """The MLE as a point of the model's value variables (transformed space)."""
    p = PARAMS
    values = {
        "p_transition": np.array([[p[0], 1 - p[0]], [p[1], 1 - p[1]]]),
        "const": np.sort(p[2:4]),  # ordered: regime 0 is statsmodels' regime 1
        "beta": np.array([p[5:10:2], p[4:10:2]]),
        "sigma": np.array(np.sqrt(p[10])),
    }
    values["p_transition"] = values["p_transition"][::-1, ::-1]  # the same relabelling
    point = {}
    for rv in model.free_RVs:
        value_var = model.rvs_to_values[rv]
        transform = model.rvs_to_transforms.get(rv)
        raw = values[rv.name]
        point[value_var.name] = (
            raw if transform is None else transform.forward(pytensor.shared(raw), *rv.owner.inputs).eval()
        )
    return point


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-append", action="store_true", help="do not write RESULTS.md")
    parser.add_argument("--min-time", type=float, default=2.0, help="seconds per row (default 2)")
    args = parser.parse_args(argv)

    y, exog = _data()
    sm_model = MarkovRegression(y, k_regimes=2, exog=exog.to_numpy())
    # static shapes, as every JAX sampler compiles the model
    model = freeze_dims_and_data(switching_regression(y, 2, exog=exog))
    point = _point(model)
    inputs = model.value_vars
    loglike = model.logp(vars=model.observed_RVs)
    grad = pm.gradient(model.logp(), inputs)  # what NUTS differentiates: the whole density
    args_in = [point[v.name] for v in inputs]
    default_logp = pytensor.function(inputs, loglike)
    default_both = pytensor.function(inputs, [model.logp(), grad])
    jax_both = pytensor.function(inputs, [model.logp(), grad], mode="JAX")
    ours, theirs = float(default_logp(*args_in)), float(sm_model.loglike(PARAMS))
    assert abs(ours - theirs) < 1e-8, (ours, theirs)

    rows = [
        ("statsmodels loglike", lambda: sm_model.loglike(PARAMS)),
        ("jaxbridge logp", lambda: default_logp(*args_in)),
        ("jaxbridge logp+grad", lambda: default_both(*args_in)),
        ("jaxbridge logp+grad JAX", lambda: jax_both(*args_in)),
    ]
    times = {name: _common.time_per_call(fn, min_time=args.min_time) for name, fn in rows}
    base = times["statsmodels loglike"]
    table = _common.markdown_table(
        ["evaluation", "µs per call", "÷ statsmodels loglike"],
        [(name, f"{t * 1e6:,.0f}", f"{t / base:.2f}") for name, t in times.items()],
    )
    _common.report(
        [
            _common.machine_header(
                "switching_loglike: Markov-switching regression (fedfunds, K=2, 3 regressors, "
                "T=222), one evaluation"
            ),
            f"- log-likelihood at the published MLE: jaxbridge {ours:.8f}, statsmodels {theirs:.8f}",
            "",
            table,
        ],
        append=not args.no_append,
    )


if __name__ == "__main__":
    main()
