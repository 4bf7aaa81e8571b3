r"""Where to start the chains: a multi-start search for the posterior's modes.

Hidden Markov models and mixtures are multimodal: a chain started at an arbitrary point can
settle in a local mode whose log density is thousands of units below the dominant one, and
two chains in the same wrong mode agree perfectly (``r_hat = 1``). Before sampling,
:func:`find_modes` therefore

1. draws ``starts`` points from the prior (PyMC's ``"prior"`` initial-point strategy) on the
   unconstrained space (a draw without finite density, e.g. unsorted values under an
   ``ordered`` transform, is replaced by the model's jittered initial point);
2. climbs from each with L-BFGS on the unconstrained log density *including* the Jacobian of
   the transforms (a MAP search on the space NUTS samples, where per-state scales cannot
   collapse onto single points as they can for the likelihood alone);
3. groups the end points by log density: points within :data:`SAME_MODE` units are one mode,
   which also merges modes that differ only by a relabelling of the states (they have equal
   density under exchangeable priors);
4. starts each chain from a *different* point in the dominant mode's basin: the first iterate
   of a climb that reached it whose log density is within ``d`` units of the mode (``d`` the
   number of unconstrained dimensions, about where a posterior's typical set lies), then the
   climbs' end points, and beyond those points drawn around them
   (:meth:`Initialization.point`). No two chains share a start, so ``r_hat`` can still see
   trouble.

When the best two modes' log densities differ by less than :data:`COMPARABLE` units, both may
carry posterior mass; :attr:`Initialization.comparable` says so.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
import pymc as pm
import pytensor
from threadpoolctl import threadpool_limits

from jaxbridge import _compat
from jaxbridge.pymc._jaxify import NOT_JAX, jax_graph

#: End points whose log densities differ by less than this are the same mode.
SAME_MODE = 1.0
#: Modes closer than this in log density may both carry posterior mass.
COMPARABLE = 5.0
#: L-BFGS-B stops when an iteration improves the log density by less than this fraction of
#: it: 0.1 units at a log density of 1e5, well inside :data:`SAME_MODE`, and a third fewer
#: evaluations than SciPy's default (2.2e-9) on the example page's model.
_FTOL = 1e-6


class Mode(NamedTuple):
    """One mode found by :func:`find_modes`."""

    #: Unconstrained log density at the mode (Jacobian included).
    log_density: float
    #: How many starts climbed to it.
    starts: int


class Initialization(NamedTuple):
    """Result of :func:`find_modes`."""

    #: Distinct modes, highest log density first.
    modes: list[Mode]
    #: Per chain, a different unconstrained start ``[dim]`` in the dominant basin: the value
    #: variables of ``model.free_RVs`` in order, raveled (:class:`_Layout`).
    points: list[np.ndarray]
    #: Whether the second mode is within :data:`COMPARABLE` units of the first.
    comparable: bool
    #: The log density and gradient the climbs used, ``flat [dim] -> (float, [dim])``.
    evaluate: Callable[[np.ndarray], tuple[float, np.ndarray]]
    #: The same, when JAX compiled it (``None`` otherwise): a sampler that takes a log density
    #: function (nutpie) samples with it instead of compiling the same graph a second time.
    density: Callable[[np.ndarray], tuple[float, np.ndarray]] | None
    #: The points of the dominant basin the starts are drawn from ``[dim]`` each, and the
    #: per-dimension scale of the jitter that keeps starts drawn from the same one apart.
    candidates: list[np.ndarray]
    spread: np.ndarray
    #: Wall seconds spent building (compiling) :attr:`evaluate`, part of the search's time.
    compile_seconds: float = 0.0

    def point(self, seed: int) -> np.ndarray:
        """A start drawn from the dominant basin by ``seed``: a candidate chosen by the seed,
        moved by a normal jitter of scale :attr:`spread` (distinct seeds, distinct starts)."""
        rng = np.random.default_rng(seed)
        base = self.candidates[int(rng.integers(len(self.candidates)))]
        return base + self.spread * rng.normal(size=base.shape)

    def describe(self) -> str:
        """One line per mode: log density and number of starts."""
        return "; ".join(
            f"log density {m.log_density:.1f} ({m.starts} start(s))" for m in self.modes
        )


class _Layout:
    """The raveled unconstrained space: value variables of ``model.free_RVs``, in order."""

    def __init__(self, model: pm.Model):
        self.value_vars = [model.rvs_to_values[rv] for rv in model.free_RVs]
        self.point = model.initial_point()
        self.shapes = [np.shape(self.point[v.name]) for v in self.value_vars]

    def ravel(self, point: dict[str, np.ndarray]) -> np.ndarray:
        return np.concatenate([np.ravel(point[v.name]) for v in self.value_vars]).astype(float)

    def unravel(self, flat: np.ndarray) -> list[np.ndarray]:
        """The value variables' arrays, in order, from the flat point ``flat`` ``[dim]``."""
        bounds = itertools.pairwise(np.cumsum([0, *(int(np.prod(s)) for s in self.shapes)]))
        return [flat[a:b].reshape(s) for (a, b), s in zip(bounds, self.shapes, strict=True)]


class _Density:
    """Log density and gradient of a model on its raveled unconstrained space (one call).

    Where the graph allows, the log density is converted to JAX (PyTensor's JAX rewrites, then
    ``jax_funcify``) and differentiated by JAX: one jitted ``value_and_grad``, run in float64
    under a scoped ``jax.enable_x64``. PyTensor's own gradient graph is never built there,
    which keeps the set-up to about the cost of one XLA compilation. Otherwise (an op without
    a JAX implementation) the log density and PyTensor's gradient are compiled in the default
    mode. In both, failed parameter checks give ``-inf`` (PyMC's rewrite).
    """

    def __init__(self, model: pm.Model, layout: _Layout):
        logp = model.logp(jacobian=True)
        point = layout.ravel(layout.point)
        [logp_flat], joined = pm.pytensorf.join_nonshared_inputs(
            layout.point, [logp], layout.value_vars
        )
        self.jax = _jax_value_and_grad(joined, logp_flat, point)
        if self.jax is not None:
            self._fn = self.jax
            return
        outputs, joined = pm.pytensorf.join_nonshared_inputs(
            layout.point, [logp, model.dlogp(jacobian=True)], layout.value_vars
        )
        self._fn = pm.pytensorf.compile([joined], outputs)

    def __call__(self, flat: np.ndarray) -> tuple[float, np.ndarray]:
        with _compat.x64():
            logp, grad = self._fn(flat)
        return float(logp), np.asarray(grad, dtype=float)


def _jax_value_and_grad(inputs: Any, output: Any, point: np.ndarray) -> Any:
    """``jax.jit(jax.value_and_grad(f))`` of ``output`` as a function of the flat ``inputs``
    (:func:`~jaxbridge.pymc._jaxify.jax_graph`), called once at ``point`` (JAX traces and
    compiles then); ``None`` when JAX cannot take the graph."""
    import jax

    log_density = jax_graph([inputs], [output])
    if log_density is None:
        return None
    value_and_grad = jax.jit(jax.value_and_grad(lambda x: log_density(x)[0]))
    try:
        with _compat.x64():
            jax.block_until_ready(value_and_grad(point))
    except NOT_JAX:
        return None
    return value_and_grad


class _Climb(NamedTuple):
    log_density: float
    path: list[tuple[float, np.ndarray]]  # (log density, point) of every iterate


def _climb(
    density: _Density, start: np.ndarray, max_iter: int, cancel: Callable[[], None] | None
) -> _Climb:
    from scipy.optimize import minimize

    path: list[tuple[float, np.ndarray]] = []

    def objective(x):
        if cancel is not None:
            cancel()
        logp, grad = density(x)
        if not np.isfinite(logp) or not np.all(np.isfinite(grad)):
            return 1e300, np.zeros_like(x)
        path.append((logp, x.copy()))
        return -logp, -grad

    options = {"maxiter": max_iter, "ftol": _FTOL}
    result = minimize(objective, start, jac=True, method="L-BFGS-B", options=options)
    logp, _ = density(result.x)
    path.append((logp, result.x.copy()))
    return _Climb(logp if np.isfinite(logp) else -np.inf, path)


def find_modes(
    model: pm.Model,
    chains: int,
    *,
    starts: int = 20,
    random_seed: int | None = None,
    max_iter: int = 500,
    cancel: Callable[[], None] | None = None,
) -> Initialization:
    """Search the posterior of ``model`` for its modes; pick each chain's start.

    Parameters
    ----------
    model
        The PyMC model.
    chains
        Number of start points to return.
    starts
        Number of prior draws to climb from.
    random_seed
        Seed of the prior draws.
    max_iter
        L-BFGS iterations per climb.
    cancel
        Called before every evaluation of the log density; raises to stop the search (a run's
        :meth:`~jaxbridge.pymc._interrupt.Cancel.check`).

    Returns
    -------
    Initialization
        The modes (best first), one unconstrained start per chain, and whether the best two
        modes are comparable.
    """
    from pymc.initial_point import make_initial_point_fn

    layout = _Layout(model)
    began = time.perf_counter()
    density = _Density(model, layout)
    compile_seconds = time.perf_counter() - began
    prior = make_initial_point_fn(model=model, default_strategy="prior", return_transformed=True)
    # where a prior draw has no finite density (an ``ordered`` transform of unsorted draws, ...):
    # the model's initial point (its ``initval``s), jittered as PyMC does
    jittered = make_initial_point_fn(
        model=model, jitter_rvs=set(model.free_RVs), return_transformed=True
    )

    def start(seed: int) -> np.ndarray:
        flat = layout.ravel(prior(seed))
        return flat if np.isfinite(density(flat)[0]) else layout.ravel(jittered(seed))

    seeds = np.random.default_rng(random_seed).integers(2**31, size=starts)
    # SciPy's L-BFGS-B calls BLAS on vectors of the model's size: a multi-threaded BLAS
    # spends far longer synchronising its threads than computing (100x on a busy 2-core CPU)
    with threadpool_limits(1, user_api="blas"):
        climbs = [_climb(density, start(int(seed)), max_iter, cancel) for seed in seeds]
    climbs = [c for c in climbs if np.isfinite(c.log_density)]
    if not climbs:
        raise RuntimeError("find_modes: every climb from the prior failed (non-finite log density)")
    climbs.sort(key=lambda c: -c.log_density)
    modes: list[Mode] = []
    for climb in climbs:
        if modes and modes[-1].log_density - climb.log_density < SAME_MODE:
            modes[-1] = modes[-1]._replace(starts=modes[-1].starts + 1)
        else:
            modes.append(Mode(climb.log_density, 1))
    best = [c for c in climbs if climbs[0].log_density - c.log_density < SAME_MODE]
    comparable = len(modes) > 1 and modes[0].log_density - modes[1].log_density < COMPARABLE
    candidates = _basin_points(best)
    spread = np.maximum(0.1 * np.std(candidates, axis=0), _MIN_SPREAD)
    search = Initialization(
        modes,
        [],
        comparable,
        density,
        density if density.jax is not None else None,
        candidates,
        spread,
        compile_seconds,
    )
    # each chain its own point: the candidates first, then points drawn around them
    extra = np.random.default_rng([seeds[0], chains]).integers(2**31, size=chains)
    points = candidates[:chains] + [search.point(int(s)) for s in extra[len(candidates) :]]
    return search._replace(points=points)


#: The smallest jitter of a start drawn from the basin (unconstrained units).
_MIN_SPREAD = 1e-4


def _basin_points(best: list[_Climb]) -> list[np.ndarray]:
    """Distinct points in the dominant basin: each climb's first iterate within ``d`` units of
    the mode (``d`` the number of unconstrained dimensions), then the climbs' end points."""
    top = best[0].log_density
    dim = len(best[0].path[-1][1])
    entry = [next(x for lp, x in c.path if lp >= top - max(dim, 1)) for c in best]
    return entry + [c.path[-1][1] for c in best]


def constrained_points(
    model: pm.Model, points: list[np.ndarray], layout: _Layout | None = None
) -> list[dict[str, np.ndarray]]:
    """Unconstrained starts (:attr:`Initialization.points`) as ``{rv name: value}`` dicts."""
    layout = layout or _Layout(model)
    fn = pytensor.function(layout.value_vars, model.replace_rvs_by_values(model.free_RVs))
    names = [rv.name for rv in model.free_RVs]
    return [dict(zip(names, fn(*layout.unravel(flat)), strict=True)) for flat in points]
