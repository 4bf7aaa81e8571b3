"""Which library model ``jaxbridge fit --emission NAME`` builds, and the truth it can check.

The models themselves are public builders of :mod:`jaxbridge.pymc` (see
:mod:`jaxbridge.pymc._models`); this module only maps command-line names onto them and maps a
simulation's parameters (``jaxbridge simulate``: state ``k`` emits
``Normal((k + 1) * signal, noise)``) onto each model's parameters.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import numpy as np

if TYPE_CHECKING:  # imported by the argument parser: keep this module light
    from jaxbridge.cli._params import Truth


class Emission(NamedTuple):
    """A command-line emission model: its builder's name in :mod:`jaxbridge.pymc` and its maths."""

    builder: str
    maths: str


#: ``--emission`` choices, in the order ``--help`` lists them.
EMISSIONS = {
    "normal": Emission("gaussian_hmm", "y|z=k ~ Normal(mu_k, sigma_k), mu_1 < ... < mu_K"),
    "studentt": Emission("studentt_hmm", "y|z=k ~ StudentT(nu, mu_k, sigma_k), mu ordered"),
    "poisson": Emission("poisson_hmm", "y|z=k ~ Poisson(rate_k), rate_1 < ... < rate_K"),
    "page": Emission("page_hmm", "y|z=k ~ Normal((k+1)*signal, noise): the example page's"),
}


def build_model(
    emissions: np.ndarray,
    n_states: int,
    kind: str,
    sequence: np.ndarray | None = None,
    *,
    shared_noise: bool = False,
):
    """The library model for ``--emission kind`` and the names of its reported parameters.

    Raises
    ------
    ValueError
        The builder's own, for data the model cannot produce (negative counts, ...).
    """
    import jaxbridge.pymc as models

    options = {"shared_noise": shared_noise} if kind in ("normal", "studentt") else {}
    builder = getattr(models, EMISSIONS[kind].builder)
    model = builder(emissions, n_states, sequence=sequence, **options)
    return model, models.parameter_names(model)


def parameter_truth(
    truth: Truth | None, n_states: int, kind: str, *, shared_noise: bool = False
) -> dict[str, np.ndarray | float]:
    """True values of the model's parameters, from a simulation's ``truth`` where it applies."""
    if truth is None or kind == "poisson" or len(truth.init) != n_states:
        return {}
    if kind == "page":
        values = {"emission_signal": truth.signal, "emission_noise": truth.noise}
    else:
        values = {
            "emission_mu": (np.arange(n_states) + 1.0) * truth.signal,
            "emission_sigma": np.full(1 if shared_noise else n_states, truth.noise),
        }
    if n_states > 1:
        values |= {"p_initial_state": truth.init, "p_transition": truth.trans}
    return values
