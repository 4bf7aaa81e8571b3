"""nutpie, through its public interfaces.

After a mode search whose log density JAX compiled (the usual case), jaxbridge builds nutpie's
function-based model itself (:func:`nutpie.compiled_pyfunc.from_pyfunc`, what nutpie's own JAX
backend builds): the search's compiled log density and gradient, the model's constrained
variables and deterministics as a jitted JAX function of the unconstrained point, and each
chain's start drawn from the dominant basin by the seed nutpie gives it
(:meth:`~jaxbridge.pymc._init.Initialization.point`; distinct seeds, distinct starts). Nothing
is compiled twice.

Otherwise (``init=None``, a graph JAX cannot take, or a ``backend``/``gradient_backend`` the
caller chose) :func:`nutpie.compile_pymc_model` compiles the model: with the JAX backend and
JAX gradients when the model contains JAX ops (its default numba backend would call each JAX
op from an object-mode block, see :mod:`jaxbridge.wrap._numba`), starting from the best mode
(``initial_points``) with nutpie's jitter when a search ran, from ``initvals`` when given,
from the model's own initial values (jittered) otherwise.
Ctrl-C during that compilation is held until it has finished, then raised before sampling
(:func:`~jaxbridge.pymc._interrupt.deferring_interrupts`).

nutpie adapts its low-rank modified mass matrix (``adaptation="low_rank"``,
``low_rank_modified_mass_matrix=True`` before 0.16.11): it adapts to the correlations between
an HMM's transition probabilities on the unconstrained space (``benchmarks/RESULTS.md``).
``nuts={"adaptation": "diag"}`` (older: ``{"low_rank_modified_mass_matrix": False}``) chooses
nutpie's diagonal default.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import jax
import numpy as np
import pandas as pd
import pymc as pm
from pymc.backends.arviz import coords_and_dims_for_inferencedata

from jaxbridge import _compat
from jaxbridge.pymc._init import Initialization, _Layout, constrained_points
from jaxbridge.pymc._interrupt import Cancel, deferring_interrupts, warnings_unless_interrupted
from jaxbridge.pymc.samplers._base import (
    Adapter,
    Request,
    Sampled,
    data_groups,
    has_jax_ops,
    initvals_set_aside,
    library_attrs,
    nuts_options,
    posterior_graph,
)

#: Options of :func:`nutpie.compile_pymc_model` a caller may give in ``nuts``.
_COMPILE_OPTIONS = ("backend", "gradient_backend")


def run(request: Request) -> Sampled:
    import nutpie

    model, options = request.model, dict(request.options)
    nuts = nuts_options(options)
    compile_options = {key: nuts.pop(key) for key in _COMPILE_OPTIONS if key in nuts}
    _compat.nutpie_low_rank(nuts)
    initvals = options.pop("initvals", None)
    options.pop("compute_convergence_checks", None)  # jaxbridge checks convergence itself
    options.setdefault("save_warmup", False)  # as pm.sample: no warm-up draws kept
    search, starts = request.search, _Starts()
    if search is not None and search.density is not None and not compile_options:
        with initvals_set_aside(model):
            compiled = _function_model(model, search, starts)
    else:
        compiled = _compiled_pymc_model(model, search, initvals, compile_options, request.cancel)
    seed = int(np.random.default_rng(request.random_seed).integers(2**31))
    begin = time.perf_counter()
    with warnings_unless_interrupted(request.cancel):
        idata = nutpie.sample(
            compiled,
            draws=request.draws,
            tune=request.tune,
            chains=request.chains,
            seed=seed,
            progress_bar=request.progressbar,
            **options,
            **nuts,
        )
    attrs = library_attrs("nutpie", sampling_time=time.perf_counter() - begin)
    attrs["tuning_steps"] = request.tune
    _compat.group_attrs(idata, "posterior").update(attrs)
    coords, dims = coords_and_dims_for_inferencedata(model)
    extra = _compat.from_dict(data_groups(model), coords=coords, dims=dims)
    for name in _compat.group_names(extra):
        _compat.set_group(idata, name, _compat.get_group(extra, name))
    return Sampled(idata, starts.points if starts.points else None)


class _Starts:
    """The starts handed to nutpie's chains, in the order they asked (from their threads)."""

    def __init__(self) -> None:
        self.points: list[np.ndarray] = []
        self._lock = threading.Lock()

    def drawn_by(self, search: Initialization) -> Callable[[int], np.ndarray]:
        def initial_point(seed: int) -> np.ndarray:
            point = search.point(int(seed))
            with self._lock:
                self.points.append(point)
            return point.copy()

        return initial_point


def _function_model(model: pm.Model, search: Initialization, starts: _Starts) -> Any:
    """nutpie's function-based model on the search's compiled log density."""
    from nutpie.compiled_pyfunc import from_pyfunc

    names, shapes, make_logp_fn, make_expand_fn = _functions(model, search)
    coords, dims = _coords_and_dims(model, names)
    return from_pyfunc(
        ndim=len(search.points[0]),
        make_logp_fn=make_logp_fn,
        make_expand_fn=make_expand_fn,
        expanded_dtypes=[np.dtype("float64")] * len(names),  # as nutpie's own JAX backend
        expanded_shapes=shapes,
        expanded_names=names,
        coords=coords,
        dims=dims,
        make_initial_point_fn=starts.drawn_by(search),
    )


def _functions(model: pm.Model, search: Initialization) -> tuple[list, list, Callable, Callable]:
    """The posterior's names and shapes, and nutpie's ``make_logp_fn`` (the search's density)
    and ``make_expand_fn`` (the posterior's values at an unconstrained point, jitted)."""
    layout = _Layout(model)
    names, constrain = posterior_graph(model)

    @jax.jit
    def expand_point(flat: jax.Array) -> list[jax.Array]:
        return constrain(*layout.unravel(flat))

    with _compat.x64():
        shapes = [np.shape(x) for x in expand_point(search.points[0])]

    def make_expand_fn(*_seeds_and_chain: Any) -> Callable:
        def expand(flat: np.ndarray, **_shared: Any) -> dict[str, np.ndarray]:
            with _compat.x64():
                values = expand_point(flat)
            return {n: np.asarray(v, dtype=np.float64) for n, v in zip(names, values, strict=True)}

        return expand

    def make_logp_fn() -> Callable:
        return lambda flat, **_shared: search.density(flat)

    return names, shapes, make_logp_fn, make_expand_fn


def _coords_and_dims(model: pm.Model, names: list[str]) -> tuple[dict, dict]:
    """The model's coordinates (a range where a dim has none) and the dims of ``names``."""
    dims = {
        name: model.named_vars_to_dims[name] for name in names if name in model.named_vars_to_dims
    }
    used = {dim for named in dims.values() for dim in named}
    coords = {}
    for dim in used:
        values = model.coords.get(dim)
        if values is None:
            values = range(int(model.dim_lengths[dim].eval()))
        coords[dim] = pd.Index(values)
    return coords, dims


def _compiled_pymc_model(
    model: pm.Model,
    search: Initialization | None,
    initvals: dict | None,
    options: dict[str, Any],
    cancel: Cancel,
) -> Any:
    """:func:`nutpie.compile_pymc_model`, public options only (see the module docstring)."""
    import nutpie

    if has_jax_ops(model):
        options = {"backend": "jax", "gradient_backend": "jax", **options}
    if options.get("backend") == "jax":
        _compat.enable_global_x64("nutpie's JAX backend (the model compiles to JAX in float64)")
    if search is not None:
        (best,) = constrained_points(model, search.candidates[-1:])
        options.update(initial_points=best, jitter_rvs=set(model.free_RVs))
    elif initvals is not None:
        options.update(initial_points=initvals, jitter_rvs=set())
    with initvals_set_aside(model) as own, deferring_interrupts(cancel):
        options.setdefault("initial_points", own)  # jittered by nutpie
        compiled = nutpie.compile_pymc_model(model, **options)
    cancel.check()
    return compiled


ADAPTER = Adapter(
    name="nutpie", library="nutpie", on_devices=False, needs_gradient=True, in_worker=False, run=run
)
