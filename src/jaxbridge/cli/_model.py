"""The models ``jaxbridge fit`` builds: the example page's marginal HMM and two variants.

Every model has ``K`` hidden states with

* ``p_initial_state ~ Dirichlet(ones(K))`` and ``p_transition ~ Dirichlet(ones(K))`` per row
  (fixed to one when ``K = 1``);
* state ``k`` emitting around ``(k + 1) * emission_signal`` (the page's ordered
  parametrisation, which keeps states from swapping labels when ``emission_signal > 0``):

  - ``normal``: ``Normal((k + 1) * emission_signal, emission_noise)`` with
    ``emission_signal ~ Normal(0, 1)``, ``emission_noise ~ HalfNormal(1)`` (the page's model;
    these priors suit data on roughly unit scale);
  - ``studentt``: the same with ``StudentT(nu, ...)`` emissions and ``nu ~ Gamma(2, 0.1)``
    (Juárez & Steel 2010);
  - ``poisson``: ``Poisson(emission_rate[k])`` with increasing rates, the cumulative sum of
    positive increments ``emission_rate_step ~ HalfNormal(10)`` (the ordering plays the role
    of the page's ``(k + 1) * signal``).

The hidden states are marginalized by :class:`jaxbridge.MarginalHMM`, which also masks missing
observations (NaN) out of the likelihood.
"""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from jaxbridge.cli._errors import CLIError
from jaxbridge.cli._params import Truth

HMM_NAME = "hmm"


def _emission(kind: str, n_states: int) -> tuple[pm.Distribution, list[str]]:
    """The emission distribution of each state ``[K]`` and its parameter names (inside a model)."""
    order = np.arange(n_states) + 1.0
    if kind == "poisson":
        steps = pm.HalfNormal("emission_rate_step", 10.0, shape=n_states)
        rate = pm.Deterministic("emission_rate", pt.cumsum(steps))
        return pm.Poisson.dist(rate), ["emission_rate"]
    signal = pm.Normal("emission_signal", 0.0, 1.0)
    noise = pm.HalfNormal("emission_noise", 1.0)
    if kind == "normal":
        return pm.Normal.dist(order * signal, noise), ["emission_signal", "emission_noise"]
    nu = pm.Gamma("emission_nu", alpha=2.0, beta=0.1)
    return pm.StudentT.dist(nu=nu, mu=order * signal, sigma=noise), [
        "emission_signal",
        "emission_noise",
        "emission_nu",
    ]


def _markov_chain(n_states: int) -> tuple[pt.TensorLike, pt.TensorLike, list[str]]:
    """Initial and transition probabilities with flat Dirichlet priors (constants when K = 1)."""
    if n_states == 1:
        return np.ones(1), np.ones((1, 1)), []
    init = pm.Dirichlet("p_initial_state", np.ones(n_states))
    trans = pm.Dirichlet("p_transition", np.ones(n_states), shape=(n_states, n_states))
    return init, trans, ["p_initial_state", "p_transition"]


def check_observations(emissions: np.ndarray, kind: str, where: str) -> None:
    """Reject data the emission distribution cannot produce (counts for ``poisson``)."""
    if kind != "poisson":
        return
    observed = emissions[~np.isnan(emissions)]
    bad = observed[(observed < 0) | (observed != np.round(observed))]
    if bad.size:
        raise CLIError(
            f"{where}: --emission poisson needs non-negative integer counts, found {float(bad[0]):g}"
        )


def build_model(
    emissions: np.ndarray, n_states: int, kind: str, sequence: np.ndarray | None = None
) -> tuple[pm.Model, list[str]]:
    """The marginal HMM of ``emissions [N, T]`` (NaN = missing) and its parameter names.

    The observations get the dims ``(sequence, time)``, with ``sequence`` labels when given.
    """
    from jaxbridge.pymc import MarginalHMM

    n_series, n_steps = emissions.shape
    labels = np.arange(n_series) if sequence is None else sequence
    with pm.Model(coords={"sequence": labels, "time": np.arange(n_steps)}) as model:
        init, trans, chain_names = _markov_chain(n_states)
        emission, emission_names = _emission(kind, n_states)
        MarginalHMM(
            HMM_NAME,
            init=init,
            trans=trans,
            emission=emission,
            observed=emissions,
            dims=("sequence", "time"),
        )
    return model, emission_names + chain_names


def parameter_truth(truth: Truth | None, n_states: int, kind: str) -> dict[str, np.ndarray | float]:
    """True values of the model's parameters, from a simulation's ``truth`` where it applies."""
    if truth is None or kind == "poisson" or len(truth.init) != n_states:
        return {}
    values = {"emission_signal": truth.signal, "emission_noise": truth.noise}
    if n_states > 1:
        values |= {"p_initial_state": truth.init, "p_transition": truth.trans}
    return values
