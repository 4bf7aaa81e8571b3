"""BlackJAX's NUTS, driven by jaxbridge on PyMC's jaxified log density.

``pymc.sample(nuts_sampler="blackjax")`` fails with blackjax 1.7 (it passes a
``progress_bar`` keyword the kernel does not take), so jaxbridge drives BlackJAX itself:
Stan-style window adaptation (``blackjax.window_adaptation``) and NUTS, chains vectorised with
:func:`jax.vmap` (or one chain per device, :func:`~jaxbridge.pymc._devices.plan_devices`). The
mass matrix is dense for models of at most
:data:`~jaxbridge.pymc.samplers._base.DENSE_MASS_MAX_DIM` unconstrained dimensions
(``dense_mass=False`` for a diagonal one). Starts: the initial positions handed to the
kernels, the mode search's points or PyMC's jittered initial points. Ctrl-C: the progress
bar's host callback checks the run's cancel token.

Options: ``target_accept``, ``initvals``, ``var_names``, ``max_num_doublings``, ``dense_mass``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pymc as pm
from pymc.backends.arviz import coords_and_dims_for_inferencedata

from jaxbridge import _compat
from jaxbridge.pymc._init import _Layout
from jaxbridge.pymc.samplers._base import (
    Adapter,
    Request,
    Sampled,
    data_groups,
    dense_mass_default,
    initvals_set_aside,
    library_attrs,
    posterior_graph,
)


def run(request: Request) -> Sampled:
    options = dict(request.options)
    options.setdefault("map_chains", request.plan.map_chains)
    _compat.enable_global_x64("the blackjax sampler (the model compiles to JAX in float64)")
    with initvals_set_aside(request.model) as own:
        if own and options.get("initvals") is None:
            options["initvals"] = own
        return _sample_blackjax(
            request.model,
            draws=request.draws,
            tune=request.tune,
            chains=request.chains,
            random_seed=request.random_seed,
            progressbar=request.progressbar,
            starts=None if request.search is None else request.search.points,
            check=request.cancel.check,
            **options,
        )


def _sample_blackjax(
    model: pm.Model,
    *,
    draws: int,
    tune: int,
    chains: int,
    random_seed: int | None,
    progressbar: bool,
    starts: list[np.ndarray] | None,
    check: Callable[..., None],
    target_accept: float = 0.8,
    initvals: Any = None,
    var_names: list[str] | None = None,
    max_num_doublings: int = 10,
    dense_mass: bool | None = None,
    map_chains: Callable[[Callable], Callable] = jax.vmap,
) -> Sampled:
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
    seed, *chain_seeds = np.random.default_rng(random_seed).integers(2**31, size=chains + 1)
    if starts is None:
        starts = _jittered_points(model, initvals, chain_seeds)
    layout = _Layout(model)
    positions = [np.stack(values) for values in zip(*map(layout.unravel, starts), strict=True)]
    warmup_key, draw_key = jax.random.split(jax.random.key(seed))

    start = time.perf_counter()
    bar_options = dict(enabled=progressbar, check=check)
    with _Progress(tune, "BlackJAX warm-up", calls_per_step=chains, **bar_options) as bar:
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
    with _Progress(draws, "BlackJAX sampling", **bar_options) as bar:
        samples, stats = _nuts_draws(
            draw_key, states, params, logp_fn, draws, bar.tick, max_num_doublings, map_chains
        )
    sampling_time = time.perf_counter() - start

    stats["step_size"] = jnp.broadcast_to(params["step_size"][:, None], stats["lp"].shape)
    idata = _to_inference_data(model, samples, stats, var_names, sampling_time, tune)
    return Sampled(idata, starts)


def _nuts_draws(
    key: jax.Array,
    states: Any,
    params: dict[str, jax.Array],
    logp_fn: Callable,
    draws: int,
    tick: Callable[..., None],
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


def _jittered_points(model: pm.Model, initvals: Any, seeds: list[int]) -> list[np.ndarray]:
    """Per chain, PyMC's initial point (``initvals`` over the model's own), jittered as
    ``pm.sample`` jitters it, raveled on the unconstrained space."""
    from pymc.initial_point import make_initial_point_fn

    if initvals is None or isinstance(initvals, dict):
        initvals = [initvals] * len(seeds)
    layout = _Layout(model)
    points = []
    for seed, overrides in zip(seeds, initvals, strict=True):
        fn = make_initial_point_fn(
            model=model,
            overrides=overrides,
            jitter_rvs=set(model.free_RVs),
            return_transformed=True,
        )
        points.append(layout.ravel(fn(int(seed))))
    return points


def _to_inference_data(
    model: pm.Model,
    samples: list[jax.Array],
    stats: dict[str, jax.Array],
    var_names: list[str] | None,
    sampling_time: float,
    tune: int,
) -> Any:
    """InferenceData/DataTree from unconstrained draws ``[chains, draws, ...]`` (one per value var)."""
    names, constrain = posterior_graph(model)
    with _compat.x64():
        values = jax.vmap(jax.vmap(constrain))(*samples)
    posterior = {
        name: np.asarray(x)
        for name, x in zip(names, values, strict=True)
        if var_names is None or name in var_names
    }
    coords, dims = coords_and_dims_for_inferencedata(model)
    groups = {
        "posterior": posterior,
        "sample_stats": {k: np.asarray(v) for k, v in stats.items()},
        **data_groups(model),
    }
    attrs = library_attrs("blackjax", sampling_time=sampling_time, tuning_steps=tune)
    return _compat.from_dict(groups, coords=coords, dims=dims, attrs=attrs)


class _Progress:
    """The host callback of every warm-up and sampling step (``jax.debug.callback``): it
    checks the run's cancel token (an abandoned run stops at its next step) and advances a
    tqdm bar when one is shown.

    Under ``vmap`` a callback runs once per batch element, so a bar fed from a vectorised
    per-chain loop counts ``calls_per_step`` calls as one step.
    """

    def __init__(
        self,
        total: int,
        desc: str,
        *,
        enabled: bool,
        check: Callable[..., None],
        calls_per_step: int = 1,
    ):
        self.total, self.desc, self.enabled, self.check = total, desc, enabled, check
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
        self.check()  # Ctrl-C: the run is abandoned, stop it here
        self._calls += 1
        if self._bar is not None and self._calls % self.calls_per_step == 0:
            self._bar.update(1)

    def adaptation_info_fn(self, state: Any, info: Any, adaptation_state: Any) -> tuple:
        """BlackJAX ``adaptation_info_fn`` that keeps no info and calls :meth:`tick`."""
        jax.debug.callback(self.tick, state.logdensity, ordered=False)
        return ()


ADAPTER = Adapter(
    name="blackjax",
    library="blackjax",
    on_devices=True,
    needs_gradient=True,
    in_worker=True,
    run=run,
)
