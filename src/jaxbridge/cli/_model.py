"""Which library model ``jaxbridge fit --emission NAME`` builds, and the truth it can check.

The models themselves are public builders of :mod:`jaxbridge.pymc` (see
:mod:`jaxbridge.pymc._models`); this module only maps command-line names onto them and maps a
simulation's parameters (``jaxbridge simulate``: state ``k`` emits
``Normal((k + 1) * signal, noise)``) onto each model's parameters.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from jaxbridge.cli._errors import CLIError

if TYPE_CHECKING:  # imported by the argument parser: keep this module light
    import xarray as xr

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
    "mvnormal": Emission(
        "mvnormal_hmm", "y|z=k ~ MvNormal(mu_k, Sigma_k) (--columns), mu_k1 ordered"
    ),
}


class FitModel(NamedTuple):
    """The model ``fit`` samples, the parameters it reports and their true values (if known)."""

    model: Any  # pymc.Model
    var_names: list[str]
    truth: dict[str, np.ndarray | float]


def build_model(
    data: xr.Dataset,
    n_states: int,
    kind: str,
    *,
    shared_noise: bool = False,
    source: str,
    switching: tuple[str, ...] = (),
    init: str | None = None,
    order: int = 0,
    switching_ar: bool = False,
) -> FitModel:
    """The library model for ``--emission kind`` fitted to ``data``, read from ``source``.

    With ``regressors`` in ``data``, the Markov-switching regression
    (:func:`~jaxbridge.pymc.switching_regression`): the regressors named in ``switching`` have
    coefficients that switch with the state, the others common ones. ``init`` is the chain's
    start (``None``: stationary for a regression, as statsmodels, else free).

    Raises
    ------
    CLIError
        For data the model cannot produce (negative counts, a constant regressor, ...),
        naming ``source``.
    """
    import jaxbridge.pymc as models
    from jaxbridge.cli._data import truth_of

    regression = "regressors" in data or order > 0
    flag = "--ar" if order else "--regressors"
    if regression and kind != "normal":
        raise CLIError(f"{flag}: a switching regression has normal noise, not --emission {kind}")
    options: dict[str, Any] = {"init": init or ("stationary" if regression else "free")}
    if regression:
        builder = models.switching_regression
        options["switching_variance"] = not shared_noise
        if "regressors" in data:
            names = [str(name) for name in data["regressor"].values]
            options |= {
                "exog": data["regressors"],  # named: the coords of summary rows
                "switching_exog": [name in switching for name in names],
            }
        if order:
            builder = partial(
                models.switching_autoregression, order=order, switching_ar=switching_ar
            )
        covariates_option = "exog_tvtp"
    else:
        builder = getattr(models, EMISSIONS[kind].builder)
        if kind in ("normal", "studentt"):
            options["shared_noise"] = shared_noise
        covariates_option = "covariates"
    emissions = _emissions_for(data, kind, source)
    try:
        if "covariates" in data:
            options[covariates_option] = data["covariates"]  # named: the coords of summary rows
        model = builder(emissions, n_states, sequence=data["sequence"].values, **options)
    except ValueError as err:  # data the model cannot produce
        what = flag if regression else f"--emission {kind}"
        raise CLIError(f"{source}: {what}: {err}") from None
    truth = (
        {}
        if regression
        else _parameter_truth(truth_of(data), n_states, kind, shared_noise=shared_noise)
    )
    if "covariates" in data:  # the simulated chain had no covariates
        truth.pop("p_transition", None)
    return FitModel(model, models.parameter_names(model), truth)


def _emissions_for(data: xr.Dataset, kind: str, source: str) -> np.ndarray:
    """The observations in the builder's layout: vectors ``[N, T, D]`` for ``mvnormal`` (one
    value column is ``D = 1``), numbers ``[N, T]`` for the others."""
    emissions = data["emissions"].values
    if kind == "mvnormal":
        return emissions if emissions.ndim == 3 else emissions[..., None]
    if emissions.ndim == 3:
        raise CLIError(
            f"{source}: --columns reads vectors of {emissions.shape[2]} components: fit them "
            f"with --emission mvnormal, not {kind}"
        )
    return emissions


def _parameter_truth(
    truth: Truth | None, n_states: int, kind: str, *, shared_noise: bool = False
) -> dict[str, np.ndarray | float]:
    """True values of the model's parameters, from a simulation's ``truth`` where it applies."""
    if truth is None or kind in ("poisson", "mvnormal") or len(truth.init) != n_states:
        return {}
    if kind == "page":
        values = {"emission_signal": truth.signal, "emission_noise": truth.noise}
    else:
        values = {
            "emission_mu": (np.arange(n_states) + 1.0) * truth.signal,
            "emission_sigma": truth.noise if shared_noise else np.full(n_states, truth.noise),
        }
    if n_states > 1:
        values |= {"p_initial_state": truth.init, "p_transition": truth.trans}
    return values
