"""Hidden-state decoding of a fitted :class:`~jaxbridge.MarginalHMM` model.

For every posterior draw ``θ_s`` the emission log-densities ``[..., T, K]`` (of univariate or
multivariate emissions alike) and the HMM parameters are evaluated from the model's own graph; then, with :mod:`jaxbridge.hmm`:

* ``state_probs``: ``p(z_t = k | y) ≈ (1/S) Σ_s p(z_t = k | y, θ_s)``, the smoothed marginals
  of forward–backward (Rabiner 1989) averaged over the posterior draws;
* ``viterbi``: the most probable path ``argmax_z p(z | y, θ)`` (Viterbi 1967) at the posterior
  mean of the free variables, or for every draw;
* ``paths`` (optional): one ``z ~ p(z | y, θ_s)`` per posterior draw by forward filtering,
  backward sampling, i.e. draws from the joint posterior of the hidden path.
"""

from __future__ import annotations

from functools import partial
from typing import Any, Literal

import jax
import numpy as np
import pymc as pm
import xarray as xr

from jaxbridge import _compat, hmm
from jaxbridge.pymc._draws import (
    CHUNK,
    DrawGraph,
    draw_chunks,
    hmm_terms,
    marginal_hmm_variable,
    observed_coords,
    observed_dims,
    posterior_draws,
    stand_in_draws,
    stand_in_point,
    unstack,
)


def decode(
    idata: Any,
    model: pm.Model | None = None,
    var_name: str | None = None,
    *,
    viterbi: Literal["mean", "draws"] = "mean",
    sample_paths: bool = False,
    state_probs_per_draw: bool = False,
    random_seed: int | None = None,
    group: str | None = None,
) -> xr.Dataset:
    """Decode the hidden states of a :class:`~jaxbridge.MarginalHMM` from posterior draws.

    Parameters
    ----------
    idata
        Posterior of ``model``, :class:`arviz.InferenceData` or :class:`xarray.DataTree`
        (its ``posterior`` group must hold every free variable).
    model
        The model; the one of the enclosing ``with`` block when ``None``.
    var_name
        Name of the observed ``MarginalHMM``; needed only when the model has several.
    viterbi
        ``"mean"``: one Viterbi path at the posterior mean of the free variables;
        ``"draws"``: one Viterbi path per posterior draw.
    sample_paths
        Also draw one hidden path per posterior draw (forward filtering, backward sampling).
    state_probs_per_draw
        Also return each draw's smoothed probabilities ``p(z_t = k | y, theta)``, whose
        spread over the draws gives posterior bands of the state probabilities (memory:
        draws x steps x states numbers; thin the posterior first for long data).
    random_seed
        Seed of the path draws.
    group
        When given, the result is also stored in ``idata`` under this group name.

    Returns
    -------
    xarray.Dataset
        ``state_probs (..., step, state)``; ``most_probable_state (..., step)``, the argmax of
        ``state_probs``; ``viterbi (..., step)`` or ``(chain, draw, ..., step)``; with
        ``sample_paths``, ``paths (chain, draw, ..., step)``; with ``state_probs_per_draw``,
        ``state_probs_per_draw (chain, draw, ..., step, state)``, whose mean over the draws is
        ``state_probs``. ``...`` and ``step`` are the observed variable's dimensions (its
        model dims when it has them).
    """
    model = pm.modelcontext(model)
    decoder = Decoder(
        model,
        var_name,
        viterbi=viterbi,
        sample_paths=sample_paths,
        state_probs_per_draw=state_probs_per_draw,
    )
    result = decoder(idata, random_seed=random_seed)
    if group is not None:
        _compat.set_group(idata, group, result)
    return result


class Decoder:
    """:func:`decode` of one model, set up once: the HMM's terms as one JAX function of a
    chunk of draws (:class:`~jaxbridge.pymc._draws.DrawGraph`) and the decoding of a chunk.

    :meth:`compile` compiles both for a posterior of a given size before its draws exist (a
    command line does it while the sampler runs); calling the decoder decodes a posterior, as
    :func:`decode` with the same options.
    """

    def __init__(
        self,
        model: pm.Model,
        var_name: str | None = None,
        *,
        viterbi: Literal["mean", "draws"] = "mean",
        sample_paths: bool = False,
        state_probs_per_draw: bool = False,
    ):
        if viterbi not in ("mean", "draws"):
            raise ValueError(f"viterbi must be 'mean' or 'draws'; got {viterbi!r}")
        self.model = model
        rv = marginal_hmm_variable(model, var_name)
        self._chain = rv.owner.op.chain
        self._obs_dims = observed_dims(model, rv)
        self._viterbi, self._paths, self._per_draw = viterbi, sample_paths, state_probs_per_draw
        self._terms = DrawGraph(model, hmm_terms(model, rv))
        self._decode_chunk = jax.jit(
            jax.vmap(
                partial(
                    _decode_draw,
                    **self._chain,
                    with_path=sample_paths,
                    with_viterbi=viterbi == "draws",
                ),
                in_axes=(0, *self._terms.in_axes),
            )
        )

    def compile(self, num_samples: int, point: list[np.ndarray] | None = None) -> None:
        """Compile what decoding a posterior of ``num_samples`` draws runs, on copies of
        ``point`` (a value of each free variable; :func:`~jaxbridge.pymc._draws.stand_in_point`
        when ``None``)."""
        point = stand_in_point(self.model.free_RVs) if point is None else point
        values = stand_in_draws(point, min(CHUNK, num_samples))
        with _compat.x64():
            self._decode_draws(values, len(values[0]), random_seed=0)

    def __call__(self, idata: Any, *, random_seed: int | None = None) -> xr.Dataset:
        """The decoded hidden states of ``idata``'s posterior (:func:`decode`'s Returns)."""
        posterior, values = posterior_draws(idata, self.model)
        with _compat.x64():  # the model's float64 values stay float64
            found = self._decode_draws(values, len(values[0]), random_seed=random_seed)
        draw_dims = ("chain", "draw", *self._obs_dims)
        state_probs = found["state_probs"]
        data = {
            "state_probs": ((*self._obs_dims, "state"), state_probs),
            "most_probable_state": (self._obs_dims, state_probs.argmax(-1)),
        }
        if self._viterbi == "mean":
            data["viterbi"] = (self._obs_dims, found["viterbi"])
        else:
            data["viterbi"] = (draw_dims, unstack(found["viterbi"], posterior))
        if self._paths:
            data["paths"] = (draw_dims, unstack(found["paths"], posterior))
        if self._per_draw:
            per_draw = unstack(found["per_draw"], posterior)
            data["state_probs_per_draw"] = ((*draw_dims, "state"), per_draw)
        coords = observed_coords(self.model, self._obs_dims)
        coords |= {"chain": posterior["chain"].values, "draw": posterior["draw"].values}
        coords["state"] = np.arange(state_probs.shape[-1])
        return xr.Dataset(data, coords={k: v for k, v in coords.items() if k in _dims_of(data)})

    def _decode_draws(
        self, values: list[np.ndarray], num_samples: int, *, random_seed: int | None
    ) -> dict[str, Any]:
        """Chunk by chunk of the draws ``[S, ...]``: the averaged state probabilities, the
        Viterbi path at the posterior mean or the chunks of the draws' Viterbi paths, and as
        asked the chunks of the paths and of each draw's probabilities."""
        terms = self._terms
        key = jax.random.key(_seed(random_seed))
        prob_sum, draw_probs, paths, viterbi_paths = 0.0, [], [], []
        for i, (rows, chunk) in enumerate(draw_chunks(values, num_samples)):
            # each chunk's keys from its own: arrays of one shape, whatever the draws' number
            keys = jax.random.split(jax.random.fold_in(key, i), len(chunk[0]))
            probs, path, best = (
                None if x is None else np.asarray(x)[:rows]
                for x in self._decode_chunk(keys, *terms(chunk))
            )
            prob_sum = prob_sum + probs.sum(axis=0)
            draw_probs.append(probs if self._per_draw else None)
            paths.append(path)
            viterbi_paths.append(best)
        found = {"state_probs": prob_sum / num_samples}
        if self._viterbi == "mean":
            # the posterior mean as a chunk of its own (the terms' one compiled shape)
            size = min(CHUNK, num_samples)
            point = [np.repeat(np.mean(v, axis=0, keepdims=True), size, axis=0) for v in values]
            args = [
                a if axis is None else a[0]
                for a, axis in zip(terms(point), terms.in_axes, strict=True)
            ]
            found["viterbi"] = np.asarray(hmm.viterbi(*args, **self._chain).path)
        else:
            found["viterbi"] = viterbi_paths
        return found | {"paths": paths, "per_draw": draw_probs}


@partial(jax.jit, static_argnames=("time_varying", "order", "with_path", "with_viterbi"))
def _decode_draw(
    key, log_emission, init, trans, mask, *, time_varying, order, with_path, with_viterbi
):
    """Smoothed marginals, optionally an FFBS path and a Viterbi path, for one draw (of the
    current regime when the states are tuples of lagged regimes)."""
    kwargs = {"time_varying": time_varying, "order": order}
    probs = hmm.smooth(log_emission, init, trans, mask, **kwargs).smoothed_probs
    path = (
        hmm.sample_paths(key, log_emission, init, trans, mask, **kwargs)[0] if with_path else None
    )
    best = hmm.viterbi(log_emission, init, trans, mask, **kwargs).path if with_viterbi else None
    return probs, path, best


def _dims_of(data: dict) -> set[str]:
    return {d for dims, _ in data.values() for d in dims}


def _seed(random_seed: int | None) -> int:
    return int(np.random.default_rng(random_seed).integers(2**31))
