"""One entry point to PyMC's NUTS samplers: PyMC, NumPyro, BlackJAX and nutpie.

:func:`sample` runs the No-U-Turn sampler (Hoffman & Gelman 2014) on any PyMC model, including
models that contain wrapped JAX functions (:func:`jaxbridge.wrap`), and returns
:class:`arviz.InferenceData` with the model's transforms undone.

* ``"pymc"``: :func:`pymc.sample`. Models with JAX ops run on one process by default
  (``cores=1``): forking a process that already runs JAX's thread pool may deadlock. With
  ``cores > 1`` the chains' processes start from a fork server (``mp_ctx="forkserver"``), so
  the model is pickled instead of forked: wrap module-level (importable) JAX functions.
* ``"numpyro"``: :func:`pymc.sample` with ``nuts_sampler="numpyro"``; chains vectorised in
  one XLA program on one device, one chain per device with several
  (:func:`~jaxbridge.pymc._devices.plan_devices`).
* ``"nutpie"``: nutpie with the JAX backend and JAX gradients when the model contains JAX ops
  (its default numba backend would call each JAX op from an object-mode block, see
  :mod:`jaxbridge.wrap._numba`), and its low-rank modified mass matrix (nutpie's
  ``adaptation="low_rank"``, ``low_rank_modified_mass_matrix=True`` before 0.16.11), which
  adapts to the correlations between an HMM's transition probabilities on the unconstrained
  space (more effective draws on the example page's model, ``benchmarks/RESULTS.md``). Give
  ``nuts={"adaptation": "diag"}`` (nutpie < 0.16.11: ``nuts={"low_rank_modified_mass_matrix":
  False}``) for nutpie's diagonal default.
* ``"blackjax"``: :func:`pymc.sample(nuts_sampler="blackjax") <pymc.sample>` fails with
  blackjax 1.7 (it passes a ``progress_bar`` keyword the kernel does not take), so jaxbridge
  drives BlackJAX itself: Stan-style window adaptation (``blackjax.window_adaptation``) and
  NUTS on PyMC's jaxified log-density, chains vectorised with :func:`jax.vmap`.
* Mass matrix of the JAX samplers (``"numpyro"``, ``"blackjax"``): dense when the model has
  at most :data:`DENSE_MASS_MAX_DIM` unconstrained dimensions, diagonal above (or when a
  shape is known only at run time). A dense matrix adapts to correlated parameters, such as
  the transition probabilities of an HMM and its emission parameters, at a cost of
  ``O(dim^2)`` per leapfrog step that small models do not notice; on the example page's
  model it gave NumPyro 1.5-1.7x the minimum effective sample size with fewer leapfrog steps
  (``benchmarks/RESULTS.md``). Override with ``nuts={"dense_mass": False}`` (NumPyro) or
  ``dense_mass=False`` (BlackJAX).
* ``"auto"``: a rule (:func:`auto_candidates`), never a dead end. The candidates are the
  installed samplers that can take the request: a model with discrete free variables only
  ``"pymc"`` (the others need a gradient for every variable); ``devices=`` or
  ``shard="sequences"`` only the samplers that place work on devices (``"numpyro"``,
  ``"blackjax"``); otherwise all, in :data:`AUTO_ORDER` (fastest first in effective samples
  per second, compilation included, on the example page's workload: see
  ``benchmarks/RESULTS.md``). The first is used; when it fails before returning draws, the
  next is tried, with one warning in the log naming the failure.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import time
import warnings
from collections.abc import Callable, Iterator
from typing import Any, Literal
from unittest import mock

import jax
import jax.numpy as jnp
import numpy as np
import pymc as pm
from pymc.backends.arviz import coords_and_dims_for_inferencedata, find_constants, find_observations
from pymc.util import _get_seeds_per_chain, get_default_varnames

from jaxbridge import _compat
from jaxbridge.pymc import _diagnostics
from jaxbridge.pymc._devices import Devices, Shard, plan_devices
from jaxbridge.pymc._init import Initialization, chains_start_at, find_modes
from jaxbridge.pymc._interrupt import (
    catching_interrupts,
    deferring_interrupts,
    in_worker_thread,
    stop_if_abandoned,
    stop_if_interrupted,
)

_log = logging.getLogger("jaxbridge")

Sampler = Literal["auto", "pymc", "numpyro", "blackjax", "nutpie"]

#: Samplers ``sampler="auto"`` tries, fastest first (ESS per second including compilation).
AUTO_ORDER: tuple[str, ...] = ("nutpie", "pymc", "numpyro", "blackjax")  # see module docstring
_DEVICE_SAMPLERS = ("numpyro", "blackjax")

#: The JAX samplers adapt a dense mass matrix up to this many unconstrained dimensions.
DENSE_MASS_MAX_DIM = 50

_MODULE = {"pymc": "pymc", "numpyro": "numpyro", "blackjax": "blackjax", "nutpie": "nutpie"}


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
        Posterior draws kept per chain, tuning (warm-up) steps per chain, number of chains.
    random_seed
        Seed; the same seed gives the same draws for a given sampler.
    progressbar
        Show sampling progress.
    devices, shard
        JAX samplers only: the devices (count or ``jax.Device`` list; default all local ones)
        and what is split across them, ``"chains"`` or the model's HMM ``"sequences"``; see
        :func:`jaxbridge.pymc._devices.plan_devices`.
    init
        ``"modes"`` (default): before sampling, search the posterior for its modes from 20
        prior draws (:func:`jaxbridge.pymc._init.find_modes`) and start every chain from a
        different point in the dominant mode's basin, through each sampler's own mechanism;
        the modes found are recorded in ``posterior.attrs["jaxbridge_modes"]``, and a
        :class:`~jaxbridge.pymc.ConvergenceWarning` says when two modes have comparable
        density. ``None``: the sampler's own initialisation. Ignored when ``initvals`` is given.
    check_convergence
        After sampling, check r_hat, ESS, divergences and agreement between chains; record
        the figures in ``posterior.attrs`` (``jaxbridge_*``) and warn with
        :class:`~jaxbridge.pymc.ConvergenceWarning` when the run is not trustworthy.
        PyMC's own convergence messages are switched off.
    **kwargs
        Passed on to :func:`pymc.sample` (``target_accept``, ``initvals``, ``cores``,
        ``nuts``, ...; options of an external sampler may be given as ``nuts`` or
        ``nuts_sampler_kwargs`` on PyMC 5 and 6 alike). The ``"blackjax"`` sampler takes
        ``target_accept``, ``initvals``, ``var_names``, ``max_num_doublings`` and
        ``dense_mass``.

    Returns
    -------
    arviz.InferenceData or xarray.DataTree
        What PyMC's own ``pm.sample`` returns on the installed generation (InferenceData with
        ArviZ 0.x, DataTree with ArviZ 1.x): ``posterior`` (constrained values),
        ``sample_stats``, ``observed_data`` and ``constant_data``.

    Notes
    -----
    The JAX samplers (``"numpyro"``, ``"blackjax"``, ``"nutpie"`` on a model with JAX ops)
    compile the model with PyTensor's JAX linker, which needs JAX's global float64 mode;
    it is switched on for them (logged once), never on import.

    Ctrl-C raises :class:`KeyboardInterrupt` with every sampler (PyMC and nutpie would
    otherwise return the draws made so far as a finished run; see
    :mod:`jaxbridge.pymc._interrupt`).
    """
    model = pm.modelcontext(model)
    if init not in ("modes", None):
        raise ValueError(f"init must be 'modes' or None; got {init!r}")
    names = (
        auto_candidates(model, devices, shard) if sampler == "auto" else [_resolve_sampler(sampler)]
    )
    with catching_interrupts():
        search = None
        if init == "modes" and kwargs.get("initvals") is None:
            # in a worker thread: its XLA loops do not return to Python for seconds, and the
            # calling thread must stay responsive to Ctrl-C
            _log.info("jaxbridge: searching the posterior for its modes")
            search = in_worker_thread(lambda: _search_modes(model, chains, random_seed))
        stop_if_interrupted()  # one that came during the mode search and was swallowed
        common = dict(draws=draws, tune=tune, chains=chains, random_seed=random_seed)
        for i, name in enumerate(names):
            try:
                idata = _sample_with(
                    name, model, search, devices, shard, progressbar, common, dict(kwargs)
                )
                break
            except Exception as err:
                if i + 1 == len(names):
                    raise
                _log.warning(
                    "jaxbridge: sampler=%r failed (%s: %s); falling back to %r",
                    name,
                    type(err).__name__,
                    str(err).strip().splitlines()[0] if str(err).strip() else "",
                    names[i + 1],
                )
    if search is not None:
        _compat.group_attrs(idata, "posterior")["jaxbridge_modes"] = search.describe()
    if check_convergence:
        _diagnostics.check(idata, [rv.name for rv in model.free_RVs])
    return idata


def auto_candidates(model: pm.Model, devices: Devices = None, shard: Shard = "chains") -> list:
    """The samplers ``sampler="auto"`` tries, in order (see the module docstring).

    Raises
    ------
    ImportError
        When no installed sampler can take the request.
    """
    if any(rv.type.dtype.startswith(("int", "uint", "bool")) for rv in model.free_RVs):
        wanted, why = ("pymc",), "a model with discrete free variables"
    elif devices is not None or shard != "chains":
        wanted, why = _DEVICE_SAMPLERS, "devices= or shard="
    else:
        wanted, why = AUTO_ORDER, "this model"
    available = installed_samplers()
    found = [name for name in wanted if name in available]
    if not found:
        raise ImportError(
            f"sampler='auto': {why} needs one of {', '.join(map(repr, wanted))}, "
            "none of which is installed"
        )
    return found


def _sample_with(name, model, search, devices, shard, progressbar, common, kwargs) -> Any:
    """One sampler's run: its devices, float64 mode, starting points and settings."""
    plan = plan_devices(name, devices, shard, common["chains"])
    has_jax_ops = _has_jax_ops(model)
    if name in _DEVICE_SAMPLERS or (name == "nutpie" and has_jax_ops):
        _compat.enable_global_x64(f"the {name} sampler (the model compiles to JAX in float64)")
    if name in _DEVICE_SAMPLERS:
        _compat.pymc_sampling_jax()  # pm.sample's own import would set XLA_FLAGS
    starting = chains_start_at(name, model, search, kwargs) if search else contextlib.nullcontext()

    def run() -> Any:
        _log.info("jaxbridge: sampling with %s", name)
        with plan.context, starting:
            if name == "blackjax":
                return _sample_blackjax(
                    model, progressbar=progressbar, map_chains=plan.map_chains, **common, **kwargs
                )
            return _pm_sample(model, name, plan, has_jax_ops, progressbar, common, kwargs)

    return in_worker_thread(run) if name in _DEVICE_SAMPLERS else run()


def _search_modes(model: pm.Model, chains: int, random_seed: int | None) -> Initialization:
    """:func:`find_modes`, logged; a warning when two modes have comparable density."""
    search = find_modes(model, chains, random_seed=random_seed)
    _log.info("jaxbridge: modes of the posterior found from 20 starts: %s", search.describe())
    if search.comparable:
        warnings.warn(
            "two modes of the posterior have comparable density "
            f"({search.describe()}); the chains start in the first, but the other may "
            "carry as much mass: compare fits or reconsider the model",
            _diagnostics.ConvergenceWarning,
            stacklevel=3,
        )
    return search


def _pm_sample(model, name, plan, has_jax_ops, progressbar, common, kwargs) -> Any:
    """``pm.sample`` with each sampler's best settings."""
    kwargs.setdefault("compute_convergence_checks", False)  # ours replace PyMC's
    if name == "pymc":
        kwargs["callback"] = _after_each_draw(kwargs.get("callback"))
    if name == "pymc" and has_jax_ops:
        kwargs.setdefault("cores", 1)
        if kwargs["cores"] > 1:  # never fork a process running JAX's thread pool
            kwargs.setdefault("mp_ctx", "forkserver")
    elif name in ("numpyro", "nutpie"):
        nuts_kwargs = {
            **(kwargs.pop("nuts_sampler_kwargs", None) or {}),
            **(kwargs.pop("nuts", None) or {}),
        }
        kwargs[_compat.NUTS_KWARGS] = nuts_kwargs
        if name == "numpyro":
            nuts_kwargs.setdefault("chain_method", plan.chain_method)
            nuts_kwargs.setdefault("dense_mass", dense_mass_default(model))
            _compat.numpyro_options(nuts_kwargs)
            progressbar = progressbar and plan.progressbar
        else:
            _compat.nutpie_low_rank(nuts_kwargs)
            if has_jax_ops:
                _compat.nutpie_jax_backend(kwargs)
    if name != "nutpie":
        return pm.sample(
            model=model, nuts_sampler=name, progressbar=progressbar, **common, **kwargs
        )
    with _stop_after_compiling():
        idata = pm.sample(
            model=model, nuts_sampler=name, progressbar=progressbar, **common, **kwargs
        )
    return _drop_transformed(idata, model)


@contextlib.contextmanager
def _stop_after_compiling() -> Iterator[None]:
    """Ctrl-C during nutpie's compilation is held until the compilation ends, then raised
    before sampling starts: interrupting numba's compilation half-way crashes the interpreter
    later (:func:`~jaxbridge.pymc._interrupt.deferring_interrupts`), and an interrupt swallowed
    there would let nutpie sample to the end."""
    import nutpie

    compile_model = nutpie.compile_pymc_model

    def compile_then_check(*args: Any, **kwargs: Any) -> Any:
        with deferring_interrupts():
            compiled = compile_model(*args, **kwargs)
        stop_if_interrupted()
        return compiled

    with mock.patch.object(nutpie, "compile_pymc_model", compile_then_check):
        yield


def _after_each_draw(callback: Callable | None) -> Callable:
    """PyMC's per-draw ``callback``: stop on Ctrl-C (PyMC would go on with the next chain),
    then the user's own callback, if any."""

    def after_each_draw(**kwargs: Any) -> None:
        stop_if_interrupted()
        if callback is not None:
            callback(**kwargs)

    return after_each_draw


def _drop_transformed(idata: Any, model: pm.Model) -> Any:
    """Remove the unconstrained values (``sigma_log__``) nutpie stores next to the draws."""
    transformed = {
        model.rvs_to_values[rv].name for rv in model.free_RVs if model.rvs_to_transforms.get(rv)
    }
    for group in ("posterior", "warmup_posterior"):
        if group in _compat.group_names(idata):
            dataset = _compat.get_group(idata, group)
            _compat.set_group(idata, group, dataset.drop_vars(transformed & set(dataset.data_vars)))
    return idata


def installed_samplers() -> list[str]:
    """Names of the samplers whose library is importable."""
    return [name for name, module in _MODULE.items() if importlib.util.find_spec(module)]


def _resolve_sampler(sampler: str) -> str:
    if sampler not in _MODULE:
        raise ValueError(
            f"sampler must be one of 'auto', {', '.join(map(repr, _MODULE))}; got {sampler!r}"
        )
    if importlib.util.find_spec(_MODULE[sampler]) is None:
        raise ImportError(
            f"sampler={sampler!r} needs the {_MODULE[sampler]!r} package, which is not installed"
        )
    return sampler


def dense_mass_default(model: pm.Model) -> bool:
    """Whether the JAX samplers adapt a dense mass matrix for ``model`` by default: when its
    unconstrained dimension is statically known and at most :data:`DENSE_MASS_MAX_DIM`."""
    shapes = [v.type.shape for v in model.value_vars]
    if any(size is None for shape in shapes for size in shape):
        return False
    return sum(int(np.prod(shape)) for shape in shapes) <= DENSE_MASS_MAX_DIM


def _has_jax_ops(model: pm.Model) -> bool:
    """Whether the model's log-density graph contains an op that runs JAX code."""
    from pytensor.graph.traversal import ancestors
    from pytensor.link.jax.ops import JAXOp  # jaxbridge's JaxOp is one too

    return any(
        var.owner is not None and isinstance(var.owner.op, JAXOp)
        for var in ancestors([model.logp()])
    )


# --------------------------------------------------------------------------- blackjax


def _sample_blackjax(
    model: pm.Model,
    *,
    draws: int,
    tune: int,
    chains: int,
    random_seed: int | None,
    progressbar: bool,
    target_accept: float = 0.8,
    initvals: Any = None,
    var_names: list[str] | None = None,
    max_num_doublings: int = 10,
    dense_mass: bool | None = None,
    map_chains: Callable[[Callable], Callable] = jax.vmap,
) -> Any:
    """NUTS from BlackJAX on PyMC's jaxified log-density, chains vectorised with ``vmap``.

    Each chain runs its own Stan-style window adaptation (step size by dual averaging, inverse
    mass matrix from windowed (co)variance estimates, dense when ``dense_mass``, by default
    :func:`dense_mass_default`); the draws of all chains then advance together in one
    ``lax.scan`` whose step is ``vmap``-ed over chains.
    """
    import blackjax

    if dense_mass is None:
        dense_mass = dense_mass_default(model)
    pymc_jax = _compat.pymc_sampling_jax()
    logp_fn = pymc_jax.get_jaxified_logp(model, negative_logp=True)  # (sic) returns +log p
    (seed,) = _get_seeds_per_chain(random_seed, 1)
    positions = pymc_jax._get_batched_jittered_initial_points(
        model, chains, initvals, seed, logp_fn=logp_fn
    )
    if chains == 1:
        positions = [np.asarray(p)[None] for p in positions]
    warmup_key, draw_key = jax.random.split(jax.random.key(seed))

    start = time.perf_counter()
    with _Progress(tune, "BlackJAX warm-up", enabled=progressbar, calls_per_step=chains) as bar:
        warmup = blackjax.window_adaptation(
            blackjax.nuts,
            logp_fn,
            is_mass_matrix_diagonal=not dense_mass,
            target_acceptance_rate=target_accept,
            adaptation_info_fn=bar.adaptation_info_fn,
            max_num_doublings=max_num_doublings,
        )
        (states, params), _ = map_chains(lambda key, pos: warmup.run(key, pos, tune))(
            jax.random.split(warmup_key, chains), positions
        )
    with _Progress(draws, "BlackJAX sampling", enabled=progressbar) as bar:
        samples, stats = _nuts_draws(
            draw_key, states, params, logp_fn, draws, bar.callback, max_num_doublings, map_chains
        )
    sampling_time = time.perf_counter() - start

    stats["step_size"] = jnp.broadcast_to(params["step_size"][:, None], stats["lp"].shape)
    return _to_inference_data(
        model, samples, stats, var_names, blackjax, sampling_time=sampling_time, tune=tune
    )


def _nuts_draws(
    key: jax.Array,
    states: Any,
    params: dict[str, jax.Array],
    logp_fn: Callable,
    draws: int,
    tick: Callable | None,
    max_num_doublings: int,
    map_chains: Callable[[Callable], Callable] = jax.vmap,
) -> tuple[list[jax.Array], dict[str, jax.Array]]:
    """``draws`` NUTS steps of all chains: samples ``[chains, draws, ...]`` and sample stats."""
    import blackjax

    kernel = blackjax.nuts.build_kernel()
    chains = params["step_size"].shape[0]

    def chain_step(key, state, step_size, inverse_mass_matrix):
        return kernel(
            key, state, logp_fn, step_size, inverse_mass_matrix, max_num_doublings=max_num_doublings
        )

    @jax.jit
    def run(key, states, step_size, inverse_mass_matrix):
        def _step(states, step_key):
            keys = jax.random.split(step_key, chains)
            states, info = map_chains(chain_step)(keys, states, step_size, inverse_mass_matrix)
            if tick is not None:
                jax.debug.callback(tick, ordered=False)
            stats = {
                "lp": states.logdensity,
                "diverging": info.is_divergent,
                "energy": info.energy,
                "tree_depth": info.num_trajectory_expansions,
                "n_steps": info.num_integration_steps,
                "acceptance_rate": info.acceptance_rate,
            }
            return states, (states.position, stats)

        _, (positions, stats) = jax.lax.scan(_step, states, jax.random.split(key, draws))
        return positions, stats

    positions, stats = run(key, states, params["step_size"], params["inverse_mass_matrix"])
    chain_first = lambda x: jnp.swapaxes(x, 0, 1)  # noqa: E731
    return jax.tree.map(chain_first, positions), jax.tree.map(chain_first, stats)


def _to_inference_data(
    model: pm.Model,
    samples: list[jax.Array],
    stats: dict[str, jax.Array],
    var_names: list[str] | None,
    library: Any,
    **attrs: Any,
) -> Any:
    """InferenceData/DataTree from unconstrained draws ``[chains, draws, ...]`` (one per value var)."""
    value_vars = model.unobserved_value_vars
    if var_names is not None:
        value_vars = [v for v in value_vars if v.name in var_names]
    outputs = list(get_default_varnames(value_vars, include_transformed=False))
    pymc_jax = _compat.pymc_sampling_jax()
    constrain = pymc_jax.get_jaxified_graph(inputs=model.value_vars, outputs=outputs)
    posterior = pymc_jax._postprocess_samples(constrain, samples, postprocessing_vectorize="vmap")
    coords, dims = coords_and_dims_for_inferencedata(model)
    attrs = {
        **attrs,
        "inference_library": library.__name__,
        "inference_library_version": getattr(library, "__version__", "unknown"),
    }
    groups = {
        "posterior": {v.name: np.asarray(x) for v, x in zip(outputs, posterior, strict=True)},
        "sample_stats": {k: np.asarray(v) for k, v in stats.items()},
        "observed_data": find_observations(model),
        "constant_data": find_constants(model),
    }
    return _compat.from_dict(groups, coords=coords, dims=dims, attrs=attrs)


class _Progress:
    """A tqdm bar advanced from inside jitted JAX code through ``jax.debug.callback``.

    Under ``vmap`` a callback runs once per batch element, so a bar fed from a vectorised
    per-chain loop counts ``calls_per_step`` calls as one step.
    """

    def __init__(self, total: int, desc: str, *, enabled: bool, calls_per_step: int = 1):
        self.total, self.desc, self.enabled = total, desc, enabled
        self.calls_per_step = calls_per_step
        self._calls = 0
        self._bar = None

    def __enter__(self) -> _Progress:
        if self.enabled:
            from tqdm.auto import tqdm

            self._bar = tqdm(total=self.total, desc=self.desc, unit="step")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.close()

    def tick(self, *_: object) -> None:
        stop_if_abandoned()  # Ctrl-C: the run is abandoned, stop it here
        self._calls += 1
        if self._bar is not None and self._calls % self.calls_per_step == 0:
            self._bar.update(1)

    @property
    def callback(self) -> Callable | None:
        """:meth:`tick` when the bar is shown, else ``None`` (no host callback in the loop)."""
        return self.tick if self.enabled else None

    def adaptation_info_fn(self, state: Any, info: Any, adaptation_state: Any) -> tuple:
        """BlackJAX ``adaptation_info_fn`` that keeps no info and advances the bar."""
        if self.enabled:
            jax.debug.callback(self.tick, state.logdensity, ordered=False)
        return ()
