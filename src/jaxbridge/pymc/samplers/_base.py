"""The protocol every sampler adapter follows, and what the adapters share.

An adapter is a :class:`Adapter`: a name (``sampler=``), the library it needs, what it can take
(models with discrete free variables? work placed on devices?) and a ``run(request)`` that
returns what ``pm.sample`` returns. :func:`jaxbridge.sample` resolves the name, plans the
devices, finds the modes and hands the adapter a :class:`Request`; everything specific to a
library lives in its adapter's module.
"""

from __future__ import annotations

import contextlib
import importlib.util
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import numpy as np
import pymc as pm

from jaxbridge import _compat
from jaxbridge.pymc._devices import DevicePlan
from jaxbridge.pymc._init import Initialization
from jaxbridge.pymc._interrupt import Cancel

#: The JAX samplers adapt a dense mass matrix up to this many unconstrained dimensions.
DENSE_MASS_MAX_DIM = 50


class Request(NamedTuple):
    """One run, as :func:`jaxbridge.sample` hands it to an adapter."""

    model: pm.Model
    draws: int
    tune: int
    chains: int
    random_seed: int | None
    progressbar: bool
    #: how the run is spread across devices (:func:`~jaxbridge.pymc._devices.plan_devices`)
    plan: DevicePlan
    #: the mode search's result, whose ``points`` are the chains' starts; ``None``: the
    #: sampler's own initialisation
    search: Initialization | None
    #: this run's cancel token: checked at every point where the sampler returns to Python
    cancel: Cancel
    #: the remaining keyword arguments of :func:`jaxbridge.sample` (the sampler's options)
    options: dict[str, Any]


class Sampled(NamedTuple):
    """What an adapter returns."""

    #: what ``pm.sample`` returns (InferenceData on ArviZ 0.x, DataTree on 1.x): the
    #: posterior's constrained variables and deterministics, ``sample_stats``,
    #: ``observed_data`` and ``constant_data``, no warm-up draws
    idata: Any
    #: each chain's unconstrained start as the sampler got it (``[dim]``, the layout of
    #: :class:`~jaxbridge.pymc._init._Layout`), ``None`` for the sampler's own initialisation
    starts: list[np.ndarray] | None


class Adapter(NamedTuple):
    """One sampler library behind :func:`jaxbridge.sample`."""

    #: the ``sampler=`` name
    name: str
    #: the module that must be importable
    library: str
    #: whether it places work on JAX devices (``devices=``, ``shard=``)
    on_devices: bool
    #: whether it needs a gradient for every free variable (no discrete ones)
    needs_gradient: bool
    #: whether it runs in a worker thread (compiled loops that never return to Python)
    in_worker: bool
    #: ``run(request) -> Sampled``
    run: Callable[[Request], Sampled]

    def __repr__(self) -> str:
        return f"<jaxbridge sampler adapter {self.name!r}>"

    def installed(self) -> bool:
        return importlib.util.find_spec(self.library) is not None

    def refuses(self, model: pm.Model, devices: Any, shard: str) -> str | None:
        """Why this sampler cannot take the request (``None`` when it can)."""
        if self.needs_gradient and has_discrete_free_variables(model):
            return "the model has discrete free variables (NUTS needs a gradient for each)"
        if not self.on_devices and (devices is not None or shard != "chains"):
            return "devices= and shard= need a sampler that places work on JAX devices"
        return None


def has_discrete_free_variables(model: pm.Model) -> bool:
    return any(rv.type.dtype.startswith(("int", "uint", "bool")) for rv in model.free_RVs)


def has_jax_ops(model: pm.Model) -> bool:
    """Whether the model's log-density graph contains an op that runs JAX code."""
    from pytensor.graph.traversal import ancestors
    from pytensor.link.jax.ops import JAXOp  # jaxbridge's JaxOp is one too

    return any(
        var.owner is not None and isinstance(var.owner.op, JAXOp)
        for var in ancestors([model.logp()])
    )


def dense_mass_default(model: pm.Model) -> bool:
    """Whether the JAX samplers adapt a dense mass matrix for ``model`` by default: when its
    unconstrained dimension is statically known and at most :data:`DENSE_MASS_MAX_DIM`."""
    shapes = [v.type.shape for v in model.value_vars]
    if any(size is None for shape in shapes for size in shape):
        return False
    return sum(int(np.prod(shape)) for shape in shapes) <= DENSE_MASS_MAX_DIM


def nuts_options(options: dict[str, Any]) -> dict[str, Any]:
    """The sampler's own options, given as ``nuts={...}`` or ``nuts_sampler_kwargs={...}``
    (PyMC 6 and 5 spell them so), taken out of ``options`` (in place); ``nuts`` wins."""
    return {
        **(options.pop("nuts_sampler_kwargs", None) or {}),
        **(options.pop("nuts", None) or {}),
    }


@contextlib.contextmanager
def initvals_set_aside(model: pm.Model) -> Iterator[dict[str, Any]]:
    """The model's own ``initval``s cleared within the block: PyMC's conversion of a model to
    a JAX graph (and nutpie's) rejects models that have them. Yields them by variable name,
    to hand to the sampler as its ``initvals`` when nothing else starts the chains (the
    builders' ordered means need them: their prior's centre puts every state at one point)."""
    saved = dict(model.rvs_to_initial_values)
    model.rvs_to_initial_values.update(dict.fromkeys(saved))
    try:
        yield {rv.name: value for rv, value in saved.items() if value is not None}
    finally:
        model.rvs_to_initial_values.update(saved)


def posterior_names(model: pm.Model) -> list[str]:
    """The posterior's variables, as ``pm.sample`` stores them: the constrained free variables
    and the deterministics (no transformed values such as ``p_transition_simplex__``)."""
    return [v.name for v in _posterior_outputs(model)]


def keep_what_pm_sample_keeps(idata: Any, model: pm.Model) -> None:
    """Drop (in place) what :func:`pm.sample` does not store: the transformed values some
    samplers keep in the posterior (nutpie's ``*_log__``, ``*_simplex__``) and their dims,
    and empty groups (PyMC 6's JAX samplers' ``constant_data`` of a model without data), so
    every sampler's result has the same groups, variables, dims and coords."""
    posterior = _compat.get_group(idata, "posterior")
    names = [name for name in posterior_names(model) if name in posterior.data_vars]
    if set(posterior.data_vars) != set(names):
        _compat.set_group(idata, "posterior", posterior[names])
    for group in _compat.group_names(idata):
        if not _compat.get_group(idata, group).data_vars:
            _compat.drop_group(idata, group)


def _posterior_outputs(model: pm.Model) -> list:
    from pymc.util import get_default_varnames

    return list(get_default_varnames(model.unobserved_value_vars, include_transformed=False))


def posterior_graph(model: pm.Model) -> tuple[list[str], Callable]:
    """The posterior's variables (constrained free variables and deterministics, as
    ``pm.sample`` stores them) as a JAX function of the value variables.

    Returns ``(names, fn)`` with ``fn(*values) -> list of arrays`` (PyMC's
    :func:`~pymc.sampling.jax.get_jaxified_graph`); call it under float64.
    """
    outputs = _posterior_outputs(model)
    pymc_jax = _compat.pymc_sampling_jax()
    return [v.name for v in outputs], pymc_jax.get_jaxified_graph(model.value_vars, outputs)


def data_groups(model: pm.Model) -> dict[str, dict[str, np.ndarray]]:
    """The ``observed_data`` and ``constant_data`` groups of the model."""
    from pymc.backends.arviz import find_constants, find_observations

    return {"observed_data": find_observations(model), "constant_data": find_constants(model)}


def library_attrs(library: str, **attrs: Any) -> dict[str, Any]:
    """``inference_library`` and its version, as PyMC's converters record them."""
    from importlib.metadata import version

    return {**attrs, "inference_library": library, "inference_library_version": version(library)}
