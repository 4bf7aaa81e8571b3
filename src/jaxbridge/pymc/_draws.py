"""The posterior-draw engine of decoding, forecasting, model comparison and residuals.

It finds the model's observed :class:`~jaxbridge.MarginalHMM`, stacks the posterior draws of
the free variables, and evaluates graphs of them (the HMM's emission log-densities
``[..., T, K]``, initial and transition probabilities) for a batch of draws at once
(:class:`DrawGraph`); results come back chain-major and are unstacked to
``[chain, draw, ...]``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import jax
import numpy as np
import pymc as pm
import pytensor
import pytensor.tensor as pt
import xarray as xr
from pytensor.graph.replace import clone_replace, vectorize_graph
from pytensor.tensor.variable import TensorVariable

from jaxbridge import _compat
from jaxbridge.pymc._distribution import MarginalHMMRV, emission_log_density
from jaxbridge.pymc._jaxify import NOT_JAX, generator_states, jax_graph, jax_random_graph

CHUNK = 128  # posterior draws decoded per vectorised call

#: The mode of jaxbridge's one-off evaluations of small graphs (residuals at the posterior
#: mean, forecasts' shapes and emission draws, replicated data): PyTensor's Python VM on NumPy,
#: with no C or numba compilation, which on a fresh machine (empty compile caches) costs
#: seconds per graph, far more than evaluating them. Graphs of many draws go through
#: :class:`DrawGraph` (JAX) instead.
EVAL_MODE = "FAST_COMPILE"


def evaluator(inputs: list, outputs: Any, **kwargs: Any) -> Any:
    """``pytensor.function(inputs, outputs, **kwargs)`` in :data:`EVAL_MODE`."""
    return pytensor.function(inputs, outputs, mode=EVAL_MODE, **kwargs)


def marginal_hmm_variable(model: pm.Model, var_name: str | None) -> TensorVariable:
    candidates = [rv for rv in model.observed_RVs if isinstance(rv.owner.op, MarginalHMMRV)]
    if var_name is not None:
        matching = [rv for rv in candidates if rv.name == var_name]
        if not matching:
            found = [rv.name for rv in candidates]
            raise ValueError(
                f"no observed MarginalHMM named {var_name!r} in the model; found {found}"
            )
        return matching[0]
    if len(candidates) != 1:
        found = [rv.name for rv in candidates]
        raise ValueError(
            f"need exactly one observed MarginalHMM or var_name; the model has {found}"
        )
    return candidates[0]


def posterior_draws(idata: Any, model: pm.Model) -> tuple[xr.Dataset, list[np.ndarray]]:
    """The ``posterior`` group and every free variable's draws ``[S, ...]`` (chain-major).

    Raises
    ------
    ValueError
        When the posterior lacks one of the model's free variables.
    """
    names = [v.name for v in model.free_RVs]
    posterior = _compat.get_group(idata, "posterior")
    absent = [n for n in names if n not in posterior]
    if absent:
        raise ValueError(f"idata.posterior lacks the model's free variables {absent}")
    draws = posterior[names].stack(sample=("chain", "draw"))
    return posterior, [draws[n].transpose("sample", ...).values for n in names]


def hmm_terms(model: pm.Model, rv: TensorVariable) -> list[TensorVariable | None]:
    """``[log_emission [..., T, K], init, trans, present [..., T] or None]`` of the observed
    ``MarginalHMM`` ``rv``, as graphs of the model's free variables."""
    _rng, init, trans, emission, mask = rv.owner.inputs
    log_emission, present = emission_log_density(model.rvs_to_values[rv], emission, mask)
    return [log_emission, init, trans, present]


class DrawGraph:
    """Graphs of the model's free variables, evaluated for a batch of posterior draws.

    The graphs are vectorised over a leading sample axis (``vectorize_graph``); outputs
    that do not depend on the draws stay unbatched (:attr:`in_axes` ``None``), and ``None``
    entries of ``outputs`` stay ``None``. They run as one jitted JAX function in float64
    (:func:`~jaxbridge.pymc._jaxify.jax_graph`; XLA's compilation, which JAX's persistent
    cache keeps); a graph JAX cannot take (an op without a JAX implementation) runs in
    PyTensor's default mode instead.
    """

    def __init__(self, model: pm.Model, outputs: list[TensorVariable | None]):
        given = [o for o in outputs if o is not None]
        batched = [pt.tensor(dtype=v.dtype, shape=(None, *v.type.shape)) for v in model.free_RVs]
        batched_outputs = vectorize_graph(
            given, replace=dict(zip(model.free_RVs, batched, strict=True))
        )
        converted = jax_graph(batched, batched_outputs)
        self._jax = converted is not None
        self._fn = jax.jit(converted) if self._jax else None
        self._compile = lambda: pytensor.function(
            batched, batched_outputs, on_unused_input="ignore"
        )
        self._given = [o is not None for o in outputs]
        axes = iter(
            0 if b.ndim > o.ndim else None for b, o in zip(batched_outputs, given, strict=True)
        )
        self.in_axes = tuple(next(axes) if g else None for g in self._given)

    def __call__(self, values: list[np.ndarray]) -> list:
        try:
            out = iter(self._evaluate(values))
        except NOT_JAX:  # JAX traces on the first call: an op it has no implementation of
            if not self._jax:
                raise
            self._jax, self._fn = False, None
            out = iter(self._evaluate(values))
        return [next(out) if g else None for g in self._given]

    def _evaluate(self, values: list[np.ndarray]) -> list[np.ndarray]:
        if self._fn is None:
            self._fn = self._compile()
        with _compat.x64():
            return [np.asarray(x) for x in self._fn(*values)]


def observed_dims(model: pm.Model, rv: TensorVariable) -> tuple[str, ...]:
    """Dims ``(..., time)`` of the observed variable's steps: its support dims (a multivariate
    emission's ``D``) left out.

    The variable's own dims when the model names them all; otherwise the builders' names:
    ``("sequence", "time")``, ``("sequence_0", "sequence_1", "time")`` for several batch
    axes, ``("time",)`` for one sequence, each prefixed by the variable's name
    (``"y_time"``) where the model has a coordinate of that name already.
    """
    ndim = rv.type.ndim - rv.owner.op.event_ndim  # [..., T]
    dims = model.named_vars_to_dims.get(rv.name)
    if dims is not None and all(d is not None for d in dims):
        return tuple(dims)[:ndim]
    batch = ndim - 1
    names = ["sequence"] if batch == 1 else [f"sequence_{i}" for i in range(batch)]
    return tuple(f"{rv.name}_{name}" if name in model.coords else name for name in (*names, "time"))


def observed_coords(model: pm.Model, dims: tuple[str, ...]) -> dict[str, list]:
    """The model's coordinate values of those ``dims`` that have them."""
    return {d: list(model.coords[d]) for d in dims if model.coords.get(d) is not None}


def draw_chunks(arrays: list, num_samples: int) -> Iterator[tuple[int, list]]:
    """The rows of ``arrays`` (``[S, ...]`` each, NumPy or JAX) in chunks of
    ``min(CHUNK, S)`` rows: ``(rows, [chunk of each array])``. The last chunk is padded to the
    same size by repeating the last draw, so that a function vectorised over a chunk compiles
    for one shape only; results of its first ``rows`` rows are the draws'."""
    size = min(CHUNK, num_samples)
    for start in range(0, num_samples, size):
        index = np.minimum(np.arange(start, start + size), num_samples - 1)
        yield min(size, num_samples - start), [a[index] for a in arrays]


def unstack(chunks: list, posterior: xr.Dataset) -> np.ndarray:
    """Chunks of chain-major ``[S, ...]`` sample arrays back to ``[chain, draw, ...]``."""
    stacked = np.concatenate([np.asarray(x) for x in chunks])
    chains, num_draws = posterior.sizes["chain"], posterior.sizes["draw"]
    return stacked.reshape(chains, num_draws, *stacked.shape[1:])


def stand_in_point(free_rvs: list[TensorVariable]) -> list[np.ndarray]:
    """One prior draw of each free variable: valid values of the shapes and dtypes of real
    draws, to compile a function of the draws for before they exist."""
    return [np.asarray(v) for v in pm.draw(free_rvs, draws=1, random_seed=0, mode=EVAL_MODE)]


def stand_in_draws(point: list[np.ndarray], size: int) -> list[np.ndarray]:
    """``point`` (:func:`stand_in_point`) repeated as ``size`` draws ``[size, ...]``."""
    return [np.repeat(value[None], size, axis=0) for value in point]


class ForwardDraws:
    """Draws of the model's variables ``names`` at posterior draws, as
    :func:`pymc.sample_posterior_predictive` draws them (every variable that is not a free
    variable drawn anew), in one jitted JAX function of the free variables vectorised over the
    draws (:func:`~jaxbridge.pymc._jaxify.jax_random_graph`), each draw with its own
    generators. Set up once; :meth:`compile` compiles it for a number of draws before they
    exist."""

    def __init__(self, model: pm.Model, names: list[str]):
        self._free, self.names = model.free_RVs, names
        values = [pt.tensor(dtype=v.dtype, shape=v.type.shape, name=v.name) for v in self._free]
        outputs = clone_replace(
            [model[n] for n in names], dict(zip(self._free, values, strict=True))
        )
        converted = jax_random_graph(values, outputs)
        fn, self._generators = converted or (None, 0)
        self._jitted = None if fn is None else jax.jit(jax.vmap(fn))

    def compile(self, num_draws: int, point: list[np.ndarray] | None = None) -> None:
        """Compile for ``num_draws`` draws, on copies of ``point`` (a value of each free
        variable; :func:`stand_in_point` when ``None``)."""
        point = stand_in_point(self._free) if point is None else point
        self._draw(stand_in_draws(point, num_draws), 0)

    def __call__(self, posterior: xr.Dataset, seed: int | None) -> dict[str, np.ndarray] | None:
        """Draws ``[chain, draw, ...]`` of each of :attr:`names` at the draws of ``posterior``,
        from ``seed``; ``None`` when JAX cannot take the model's random graph."""
        stacked = posterior.stack(sample=("chain", "draw"))
        out = self._draw(
            [stacked[v.name].transpose("sample", ...).values for v in self._free], seed
        )
        if out is None:
            return None
        return {name: unstack([x], posterior) for name, x in zip(self.names, out, strict=True)}

    def _draw(self, draws: list[np.ndarray], seed: int | None) -> list | None:
        if self._jitted is None:
            return None
        seeds = np.random.SeedSequence(seed).spawn(len(draws[0]))
        per_draw = [generator_states(child, self._generators) for child in seeds]
        states = jax.tree.map(lambda *leaves: np.stack(leaves), *per_draw)
        try:
            with _compat.x64():
                return self._jitted(*draws, *states)
        except NOT_JAX:  # JAX traces on the first call: an op it has no implementation of
            self._jitted = None
            return None
