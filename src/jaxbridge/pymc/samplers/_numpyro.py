"""NumPyro's NUTS through PyMC's public JAX driver (:func:`pymc.sampling.jax.sample_jax_nuts`).

Chains are vectorised in one XLA program on one device, or one chain per device with several
(:func:`~jaxbridge.pymc._devices.plan_devices`). The mass matrix is dense for models of at
most :data:`~jaxbridge.pymc.samplers._base.DENSE_MASS_MAX_DIM` unconstrained dimensions
(``nuts={"dense_mass": False}`` for a diagonal one). Starts: ``initvals``, one dict per chain,
with ``jitter=False``. NumPyro's compiled loop has no host callback: an interrupted run is
abandoned and finishes in the background, its result discarded.
"""

from __future__ import annotations

import inspect
import warnings

from jaxbridge import _compat
from jaxbridge.pymc._init import constrained_points
from jaxbridge.pymc.samplers._base import (
    Adapter,
    Request,
    Sampled,
    dense_mass_default,
    initvals_set_aside,
    nuts_options,
)

#: JAX's note when a jitted function cannot reuse a donated input buffer.
DONATED_BUFFERS = "Some donated buffers were not usable"


def run(request: Request) -> Sampled:
    model, options = request.model, dict(request.options)
    _compat.enable_global_x64("the numpyro sampler (the model compiles to JAX in float64)")
    pymc_jax = _compat.pymc_sampling_jax()
    nuts = nuts_options(options)
    nuts.setdefault("chain_method", request.plan.chain_method)
    nuts.setdefault("dense_mass", dense_mass_default(model))
    # the driver's own arguments flat, the NUTS kernel's nested in nuts_kwargs (explicit
    # ones there win)
    driver = inspect.signature(pymc_jax.sample_jax_nuts).parameters
    kernel = {key: nuts.pop(key) for key in list(nuts) if key not in driver}
    nuts["nuts_kwargs"] = {**kernel, **(nuts.get("nuts_kwargs") or {})}
    if request.search is not None:
        options["initvals"] = constrained_points(model, request.search.points)
        options["jitter"] = False
    options.setdefault("compute_convergence_checks", False)  # jaxbridge's replace PyMC's
    with initvals_set_aside(model) as own, warnings.catch_warnings():
        # PyMC's driver donates the draws' buffers to its post-processing, whose outputs
        # differ in shape, so JAX cannot reuse them and says so: nothing a user can act on
        warnings.filterwarnings("ignore", message=DONATED_BUFFERS, category=UserWarning)
        if own and "initvals" not in options:
            options["initvals"] = own  # jittered by PyMC's driver
        idata = pymc_jax.sample_jax_nuts(
            model=model,
            draws=request.draws,
            tune=request.tune,
            chains=request.chains,
            random_seed=request.random_seed,
            progressbar=request.progressbar and request.plan.progressbar,
            nuts_sampler="numpyro",
            **nuts,
            **options,
        )
    return Sampled(idata, None if request.search is None else request.search.points)


ADAPTER = Adapter(
    name="numpyro", library="numpyro", on_devices=True, needs_gradient=True, in_worker=True, run=run
)
