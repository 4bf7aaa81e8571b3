"""One entry point to PyMC's NUTS samplers: PyMC, NumPyro, BlackJAX and nutpie.

:func:`sample` runs the No-U-Turn sampler (Hoffman & Gelman 2014) on any PyMC model, including
models that contain wrapped JAX functions (:func:`jaxbridge.wrap`): it resolves the sampler,
plans the devices, searches the posterior for its modes, hands the run to the sampler's
adapter (:mod:`jaxbridge.pymc.samplers`, where each library's settings and start mechanism
are documented) and checks convergence. ``sampler="auto"`` is a rule (:func:`auto_candidates`),
never a dead end: the installed samplers that can take the request, fastest first
(:data:`AUTO_ORDER`); when one fails before returning draws, the next is tried, with one
warning in the log naming the failure.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Callable
from typing import Any, Literal

import numpy as np
import pymc as pm

from jaxbridge import _compat
from jaxbridge.pymc import _diagnostics
from jaxbridge.pymc._devices import Devices, Shard, from_context, plan_devices
from jaxbridge.pymc._init import Initialization, find_modes
from jaxbridge.pymc._interrupt import Cancel, catching_interrupts, in_worker_thread
from jaxbridge.pymc._models import parameter_names
from jaxbridge.pymc.samplers import ADAPTERS, Request, Sampled
from jaxbridge.pymc.samplers._base import (
    DENSE_MASS_MAX_DIM,
    dense_mass_default,
    keep_what_pm_sample_keeps,
)

_log = logging.getLogger("jaxbridge")

Sampler = Literal["auto", "pymc", "numpyro", "blackjax", "nutpie"]

#: Samplers ``sampler="auto"`` tries, fastest first (the source: :data:`ADAPTERS`).
AUTO_ORDER: tuple[str, ...] = tuple(ADAPTERS)

__all__ = ["AUTO_ORDER", "DENSE_MASS_MAX_DIM", "auto_candidates", "dense_mass_default", "sample"]


def sample(
    model: pm.Model | None = None,
    *,
    sampler: Sampler = "auto",
    draws: int = 1000,
    tune: int = 1000,
    chains: int = 4,
    random_seed: int | None = None,
    progressbar: bool = True,
    devices: Devices = None,
    shard: Shard = "chains",
    init: Literal["modes"] | None = "modes",
    check_convergence: bool = True,
    on_sampling_start: Callable[[str], None] | None = None,
    **kwargs: Any,
) -> Any:
    """Draw posterior samples of a PyMC model with NUTS from the chosen library.

    Parameters
    ----------
    model
        The model; the one of the enclosing ``with`` block when ``None``.
    sampler
        ``"pymc"``, ``"numpyro"``, ``"blackjax"``, ``"nutpie"``, or ``"auto"`` (the fastest one
        installed that can take the model, falling back to the next when it fails; see
        :func:`auto_candidates`).
    draws, tune, chains
        Posterior draws kept per chain, tuning (warm-up) steps per chain, number of chains
        (4 by default, as ``pm.sample``; the command line's ``jaxbridge fit`` runs 2).
    random_seed
        Seed; the same seed gives the same draws for a given sampler.
    progressbar
        Show sampling progress.
    devices, shard
        JAX samplers only: the devices (count or ``jax.Device`` list; default all local ones)
        and what is split across them, ``"chains"`` or the model's HMM ``"sequences"``; see
        :func:`jaxbridge.pymc._devices.plan_devices`. Inside ``with
        jaxbridge.shard_sequences(...)`` the defaults split the sequences across that block's
        devices.
    init
        ``"modes"`` (default): before sampling, search the posterior for its modes from 20
        prior draws (:func:`jaxbridge.pymc._init.find_modes`) and start every chain from a
        different point in the dominant mode's basin, through each sampler's own public
        mechanism; a :class:`~jaxbridge.pymc.ConvergenceWarning` says when two modes have
        comparable density. ``None``: the sampler's own initialisation. Ignored when
        ``initvals`` is given.
    check_convergence
        After sampling, check r_hat, ESS, divergences and agreement between chains (for the
        parameters :func:`~jaxbridge.pymc.parameter_names` lists, not auxiliaries); record
        the figures in ``posterior.attrs`` (``jaxbridge_*``) and warn with
        :class:`~jaxbridge.pymc.ConvergenceWarning` when the run is not trustworthy.
        PyMC's own convergence messages are switched off.
    on_sampling_start
        Called with the sampler's name once the mode search is over, as the sampler starts
        (its compilation, then the chains), from the thread that runs it; again with the next
        name if ``"auto"`` falls back. For work that can run alongside the chains (a message,
        compiling what will use the draws).
    **kwargs
        The sampler's options: ``target_accept``, ``initvals`` and the library's own, given
        as ``nuts={...}`` (or ``nuts_sampler_kwargs``) on PyMC 5 and 6 alike; for ``"pymc"``
        anything :func:`pymc.sample` takes (``cores``, ``callback``, ...). Each adapter of
        :mod:`jaxbridge.pymc.samplers` lists what it takes.

    Returns
    -------
    arviz.InferenceData or xarray.DataTree
        What PyMC's own ``pm.sample`` returns on the installed generation (InferenceData with
        ArviZ 0.x, DataTree with ArviZ 1.x): ``posterior`` (constrained values and
        deterministics with the model's dims and coords; no transformed values such as
        ``*_log__``), ``sample_stats``, ``observed_data`` and, when the model has data,
        ``constant_data``: the same groups, variables, dims and coords from every sampler. No
        sampler keeps its warm-up draws (``pm.sample``'s default; a sampler's own option, such
        as ``discard_tuned_samples=False`` for ``"pymc"``, keeps them where it has one). ``posterior.attrs`` records what happened:
        ``jaxbridge_sampler``, ``jaxbridge_devices`` and ``jaxbridge_split`` (how the work was
        spread), ``jaxbridge_skipped`` (samplers that failed before it, under ``"auto"``),
        ``jaxbridge_modes`` (and their ``jaxbridge_mode_log_density``) and, per chain,
        ``jaxbridge_start_log_density`` and ``jaxbridge_starts`` (the unconstrained starts,
        concatenated chain after chain) when the chains started from the search; the wall
        seconds of the mode search (``jaxbridge_search_seconds``, of which
        ``jaxbridge_search_compile_seconds`` compiling its log density) and of the sampler's
        run (``jaxbridge_sampler_seconds``: its compilation and sampling; the library's own
        ``sampling_time`` is the sampling alone).

    Notes
    -----
    The JAX samplers (``"numpyro"``, ``"blackjax"``) compile the model with PyTensor's JAX
    linker, which needs JAX's global float64 mode; it is switched on for them (logged once),
    never on import. They run in a worker thread that re-enters the caller's JAX context
    (mesh, default device, float64 scope).

    Ctrl-C raises :class:`KeyboardInterrupt` with every sampler, during the mode search too
    (PyMC and nutpie would otherwise return the draws made so far as a finished run; see
    :mod:`jaxbridge.pymc._interrupt`).
    """
    model = pm.modelcontext(model)
    if init not in ("modes", None):
        raise ValueError(f"init must be 'modes' or None; got {init!r}")
    devices, shard = from_context(devices, shard)
    names = (
        auto_candidates(model, devices, shard) if sampler == "auto" else [_resolve_sampler(sampler)]
    )
    cancel = Cancel()
    with catching_interrupts(cancel):
        search, began = None, time.perf_counter()
        if init == "modes" and kwargs.get("initvals") is None:
            search = _search_modes(model, chains, random_seed, cancel)
            if search.comparable:
                warnings.warn(_comparable_modes(search), _diagnostics.ConvergenceWarning, 2)
        search_seconds, began = time.perf_counter() - began, time.perf_counter()
        cancel.check()  # one that came during the mode search and was swallowed
        options = dict(
            model=model, draws=draws, tune=tune, chains=chains, random_seed=random_seed,
            progressbar=progressbar, search=search, cancel=cancel, options=kwargs,
        )  # fmt: skip
        name, plan, sampled, skipped = _first_that_runs(
            names, devices, shard, options, on_sampling_start
        )
    seconds = {"search": search_seconds, "sampler": time.perf_counter() - began}
    idata = sampled.idata
    keep_what_pm_sample_keeps(idata, model)
    _record(idata, name, plan, skipped, search, sampled, seconds)
    if check_convergence:
        _diagnostics.check(idata, parameter_names(model))
    return idata


def _search_modes(model: pm.Model, chains: int, seed: int | None, cancel: Cancel) -> Initialization:
    """:func:`find_modes` in a worker thread (its XLA loops do not return to Python for
    seconds, and the calling thread must stay responsive to Ctrl-C), logged."""
    _log.info("jaxbridge: searching the posterior for its modes")
    search = in_worker_thread(
        lambda: find_modes(model, chains, random_seed=seed, cancel=cancel.check), cancel
    )
    _log.info("jaxbridge: modes of the posterior found from 20 starts: %s", search.describe())
    return search


def _comparable_modes(search: Initialization) -> str:
    return (
        f"two modes of the posterior have comparable density ({search.describe()}); the "
        "chains start in the first, but the other may carry as much mass: compare fits or "
        "reconsider the model"
    )


def _first_that_runs(
    names: list[str],
    devices: Devices,
    shard: Shard,
    options: dict,
    on_start: Callable[[str], None] | None,
) -> tuple[str, Any, Sampled, list[str]]:
    """The first of ``names`` whose adapter returns draws: its name, device plan, result, and
    one line per sampler that failed before it (each also logged as a warning); ``on_start``
    is called with each sampler's name as it starts."""
    skipped: list[str] = []
    for i, name in enumerate(names):
        adapter = ADAPTERS[name]
        plan = plan_devices(name, devices, shard, options["chains"])
        request = Request(plan=plan, **options)

        def run(adapter=adapter, request=request) -> Sampled:
            _log.info("jaxbridge: sampling with %s", adapter.name)
            if on_start is not None:
                on_start(adapter.name)
            with request.plan.context:
                return adapter.run(request)

        try:
            sampled = in_worker_thread(run, options["cancel"]) if adapter.in_worker else run()
        except Exception as err:
            if i + 1 == len(names) or options["cancel"].interrupted:
                raise  # after Ctrl-C: no fallback, catching_interrupts raises KeyboardInterrupt
            first_line = (str(err).strip().splitlines() or [""])[0]
            skipped.append(f"{name}: {type(err).__name__}: {first_line}")
            _log.warning(
                "jaxbridge: sampler=%r failed (%s: %s); falling back to %r",
                name, type(err).__name__, first_line, names[i + 1],
            )  # fmt: skip
            continue
        return name, plan, sampled, skipped
    raise AssertionError("unreachable: the last candidate raises")


def _record(
    idata: Any,
    name: str,
    plan: Any,
    skipped: list[str],
    search: Initialization | None,
    sampled: Sampled,
    seconds: dict[str, float],
) -> None:
    """The evidence of the run in ``posterior.attrs`` (see :func:`sample`'s Returns)."""
    attrs = _compat.group_attrs(idata, "posterior")
    attrs.update(
        jaxbridge_sampler=name,
        jaxbridge_devices=plan.devices,
        jaxbridge_split=plan.split,
        jaxbridge_skipped="\n".join(skipped),
        jaxbridge_search_seconds=seconds["search"],
        jaxbridge_sampler_seconds=seconds["sampler"],
    )
    if search is not None:
        attrs["jaxbridge_search_compile_seconds"] = search.compile_seconds
        attrs["jaxbridge_modes"] = search.describe()
        attrs["jaxbridge_mode_log_density"] = np.array([m.log_density for m in search.modes])
    if search is not None and sampled.starts is not None:
        densities = [search.evaluate(point)[0] for point in sampled.starts]
        attrs["jaxbridge_start_log_density"] = np.asarray(densities, dtype=float)
        attrs["jaxbridge_starts"] = np.concatenate([np.ravel(p) for p in sampled.starts])


def auto_candidates(model: pm.Model, devices: Devices = None, shard: Shard = "chains") -> list:
    """The samplers ``sampler="auto"`` tries, in order: the installed ones that can take the
    request (a model with discrete free variables only ``"pymc"``, whose NUTS is compound
    with other steps; ``devices=``/``shard=`` only the samplers that place work on devices),
    in :data:`AUTO_ORDER`.

    Raises
    ------
    ImportError
        When no installed sampler can take the request.
    """
    refusals = {name: a.refuses(model, devices, shard) for name, a in ADAPTERS.items()}
    wanted = [name for name in AUTO_ORDER if refusals[name] is None]
    available = installed_samplers()
    found = [name for name in wanted if name in available]
    if not found:
        why = "; ".join(sorted({r for r in refusals.values() if r}))
        raise ImportError(
            f"sampler='auto': {why or 'this model'}: the request needs one of "
            f"{', '.join(map(repr, wanted))}, none of which is installed"
        )
    return found


def installed_samplers() -> list[str]:
    """Names of the samplers whose library is importable."""
    return [name for name, adapter in ADAPTERS.items() if adapter.installed()]


def _resolve_sampler(sampler: str) -> str:
    if sampler not in ADAPTERS:
        raise ValueError(
            f"sampler must be one of 'auto', {', '.join(map(repr, ADAPTERS))}; got {sampler!r}"
        )
    if not ADAPTERS[sampler].installed():
        raise ImportError(
            f"sampler={sampler!r} needs the {ADAPTERS[sampler].library!r} package, "
            "which is not installed"
        )
    return sampler
