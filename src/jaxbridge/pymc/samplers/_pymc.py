"""PyMC's own NUTS (:func:`pymc.sample`).

Models with JAX ops run on one process by default (``cores=1``): forking a process that
already runs JAX's thread pool may deadlock. With ``cores > 1`` the chains' processes start
from a fork server (``mp_ctx="forkserver"``), so the model is pickled instead of forked: wrap
module-level (importable) JAX functions. Starts: ``initvals``, one dict per chain, without
PyMC's jitter on top (``init="adapt_diag"``). Ctrl-C: PyMC's per-draw ``callback`` checks the
run's cancel token (PyMC's sequential sampler would go on with the next chain).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pymc as pm

from jaxbridge.pymc._init import constrained_points
from jaxbridge.pymc._interrupt import Cancel
from jaxbridge.pymc.samplers._base import Adapter, Request, Sampled, has_jax_ops


def run(request: Request) -> Sampled:
    options = dict(request.options)
    options.setdefault("compute_convergence_checks", False)  # jaxbridge's replace PyMC's
    options["callback"] = _after_each_draw(options.get("callback"), request.cancel)
    if request.search is not None:
        options["initvals"] = constrained_points(request.model, request.search.points)
        options.setdefault("init", "adapt_diag")  # no jitter on top of the chosen starts
    if has_jax_ops(request.model):
        options.setdefault("cores", 1)
        if options["cores"] > 1:  # never fork a process running JAX's thread pool
            options.setdefault("mp_ctx", "forkserver")
    idata = pm.sample(
        model=request.model,
        draws=request.draws,
        tune=request.tune,
        chains=request.chains,
        random_seed=request.random_seed,
        progressbar=request.progressbar,
        nuts_sampler="pymc",
        **options,
    )
    return Sampled(idata, None if request.search is None else request.search.points)


def _after_each_draw(callback: Callable | None, cancel: Cancel) -> Callable:
    """PyMC's per-draw ``callback``: stop on Ctrl-C, then the user's own callback, if any."""

    def after_each_draw(**kwargs: Any) -> None:
        cancel.check()
        if callback is not None:
            callback(**kwargs)

    return after_each_draw


ADAPTER = Adapter(
    name="pymc", library="pymc", on_devices=False, needs_gradient=False, in_worker=False, run=run
)
