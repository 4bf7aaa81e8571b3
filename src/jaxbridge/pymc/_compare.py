r"""Choosing the number of hidden states ``K`` by approximate leave-one-out cross-validation.

Each candidate ``K`` is fitted separately; :func:`compare_states` scores every fit by its
expected log pointwise predictive density (ELPD), estimated by Pareto-smoothed importance
sampling leave-one-out cross-validation (PSIS-LOO; Vehtari, Gelman & Gabry 2017), and ranks
them with ArviZ's ``compare`` (stacking weights; Yao et al. 2018). What "one" is depends on
the data:

* **per sequence** (many sequences): the pointwise term of sequence ``n`` is its marginal
  log-likelihood :math:`\log p(y_n \mid \theta_s)` for every posterior draw ``s``: leave one
  *sequence* out, the natural unit when sequences are exchangeable;
* **per step** (few sequences, or one long series): the pointwise term of step ``t`` is the
  one-step-ahead log predictive density

  .. math::

      \log p(y_t \mid y_{1:t-1}, \theta_s) = \log \sum_k p(z_t = k \mid y_{1:t-1}, \theta_s)\,
          p(y_t \mid z_t = k, \theta_s),

  the log normaliser of the forward filter (:attr:`jaxbridge.hmm.FilterResult.step_log_likelihood`);
  the terms of a sequence sum to its log-likelihood. Missing (masked, padded) steps have no
  term.

PSIS-LOO over the one-step-ahead terms is an *approximation* of leave-future-out
cross-validation (LFO-CV; Bürkner, Gabry & Vehtari 2020): each term is a genuine prediction
of ``y_t`` from its past, but the posterior it is weighted from was fitted to all steps,
including those after ``t``; importance sampling only removes ``y_t`` itself. Exact LFO-CV
would refit the model on ``y_{1:t-1}`` for each ``t`` (or use PSIS with refits when the
Pareto ``k`` grows), which is out of reach for a quick comparison. Fitting all of one long
series at once, the approximation is usually close for ranking models, but it is not exact.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any, Literal, NamedTuple

import jax
import numpy as np
import pandas as pd
import pymc as pm
import xarray as xr

from jaxbridge import _compat, hmm
from jaxbridge.pymc._draws import (
    DrawGraph,
    draw_chunks,
    hmm_terms,
    marginal_hmm_variable,
    observed_coords,
    observed_dims,
    posterior_draws,
    unstack,
)

#: With at least this many (non-empty) sequences ``by="auto"`` leaves out one sequence at a
#: time, with fewer one step at a time. The standard errors of ELPD differences rest on a
#: normal approximation over the pointwise terms, poorly calibrated with a handful of them
#: (Sivula, Magnusson, Matamoros & Vehtari 2022), and leaving out one of a few sequences moves
#: the posterior so much that PSIS's importance weights fail (high Pareto ``k``).
MIN_SEQUENCES = 10

By = Literal["auto", "sequence", "step"]
_BY = ("auto", "sequence", "step")

#: An ELPD difference below this is small whatever its standard error (Sivula et al. 2022).
SMALL_DIFFERENCE = 4.0


class StateComparison(NamedTuple):
    """Result of :func:`compare_states`.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per ``K`` (index ``states``), best first: ``rank`` (0 = best), ``elpd`` and
        its ``se``, ``p`` (effective number of parameters), ``elpd_diff`` (the best ELPD minus
        this one, ``>= 0``) and its standard error ``dse``, the stacking ``weight``,
        ``pareto_k_max``, ``pareto_k_bad`` (how many pointwise terms have a Pareto ``k`` above
        the threshold ``good_k``) and ``unreliable`` (``pareto_k_bad > 0``: that ELPD
        estimate cannot be trusted), then ``recommended`` (``True`` on one row) and
        ``choice``: why a row is or is not the one to pick (:func:`recommend`).
    best : int
        The ``K`` ranked first (highest ELPD).
    recommended : int
        The ``K`` to pick (:func:`recommend`): the simplest one whose ELPD is within
        :data:`SMALL_DIFFERENCE` of the best. The verdict, ``compare.csv`` and
        ``compare.png`` all name this one.
    by : {"sequence", "step"}
        What was left out: one sequence, or one step (one-step-ahead terms) at a time.
    verdict : str
        Which ``K`` to pick and how sure the comparison is, in plain words.
    log_likelihood : dict of int to xarray.DataArray
        The pointwise log-likelihood of each fit that was compared, ``(chain, draw,
        observation)``, one observation per sequence or per present step.
    """

    table: pd.DataFrame
    best: int
    recommended: int
    by: str
    verdict: str
    log_likelihood: dict[int, xr.DataArray]


def compare_states(
    fits: Mapping[int, Any],
    models: Mapping[int, pm.Model],
    *,
    by: By = "auto",
    var_name: str | None = None,
) -> StateComparison:
    r"""Compare fits of the same data with different numbers of hidden states ``K``.

    Parameters
    ----------
    fits : dict of int to InferenceData or DataTree
        ``{K: posterior}``, e.g. from :func:`jaxbridge.sample`; at least two. Only the
        ``posterior`` group is used: the pointwise log-likelihood is computed here.
    models : dict of int to pymc.Model
        ``{K: model}`` with the same keys, each the model its fit was sampled from (e.g.
        :func:`~jaxbridge.pymc.gaussian_hmm` with ``states=K``; ``K = 1`` is the model
        without switching). All must observe the same data.
    by : {"auto", "sequence", "step"}
        Leave out one sequence (its log-likelihood as the pointwise term) or one step (its
        one-step-ahead log predictive density :math:`\log p(y_t \mid y_{1:t-1}, \theta)`)
        at a time. ``"auto"``: per sequence with at least :data:`MIN_SEQUENCES` (10)
        sequences, otherwise per step.
    var_name : str, optional
        Name of the observed :class:`~jaxbridge.MarginalHMM`; needed only when a model has
        several.

    Returns
    -------
    StateComparison
        The ranked ``table`` (see :class:`StateComparison`), the ``best`` and the
        ``recommended`` ``K``, ``by`` and a plain-language ``verdict``.

    Notes
    -----
    ELPD by PSIS-LOO (Vehtari, Gelman & Gabry 2017) and stacking weights (Yao et al. 2018)
    come from ArviZ (``loo``, ``compare``). A difference is called clear when it is at least
    4 and at least twice its standard error (Sivula et al. 2022). Per step, PSIS-LOO over
    one-step-ahead terms approximates leave-future-out cross-validation (Bürkner, Gabry &
    Vehtari 2020) without refitting; exact LFO-CV would refit the model for each held-out
    step (see the module :mod:`jaxbridge.pymc._compare`).
    """
    keys = _check_fits(fits, models)
    if by not in _BY:
        raise ValueError(f"by must be one of {_BY}; got {by!r}")
    steps = {k: step_log_likelihood(fits[k], models[k], var_name) for k in keys}
    _check_same_data(steps)
    if by == "auto":
        by = "sequence" if _num_sequences(steps[keys[0]]) >= MIN_SEQUENCES else "step"
    pointwise = {k: _pointwise(steps[k], by) for k in keys}
    loos = {k: _compat.loo(_loo_data(fits[k], pointwise[k]), var_name=_POINTWISE) for k in keys}
    table = _table(loos)
    best, recommended = int(table.index[0]), recommend(table)
    table["recommended"] = table.index == recommended
    table["choice"] = [_choice(table, k, recommended) for k in table.index]
    verdict = _verdict(table, by, recommended)
    return StateComparison(table, best, recommended, by, verdict, pointwise)


def recommend(table: pd.DataFrame) -> int:
    """The ``K`` to pick from a comparison table (ranked, ``elpd_diff`` below the best): the
    simplest whose ELPD is within :data:`SMALL_DIFFERENCE` of the best's, since a smaller
    difference means about equally good predictions (Sivula et al. 2022); the best
    otherwise."""
    close = table.index[table["elpd_diff"] < SMALL_DIFFERENCE]
    return int(min(close))


def _choice(table: pd.DataFrame, k: int, recommended: int) -> str:
    """Why row ``k`` is, or is not, the one to pick (the ``choice`` column)."""
    best = table.index[0]
    near = table.loc[k, "elpd_diff"] < SMALL_DIFFERENCE
    if k == recommended:
        return (
            "recommended: highest ELPD"
            if k == best
            else (f"recommended: the simplest within {SMALL_DIFFERENCE:g} of the best ELPD")
        )
    if near:
        return f"within {SMALL_DIFFERENCE:g} of the best ELPD, not the simplest"
    return "predicts worse"


def step_log_likelihood(idata: Any, model: pm.Model, var_name: str | None = None) -> xr.DataArray:
    r"""One-step-ahead log predictive densities of the observed HMM for every posterior draw.

    ``log p(y_t | y_{1:t-1}, θ_s)`` (the forward filter's log normalisers), computed from the
    model's own graph for each draw ``θ_s`` of ``idata.posterior``.

    Returns
    -------
    xarray.DataArray
        ``(chain, draw, ..., step)``, the observed variable's dims; NaN at missing steps.
        Summed over ``step`` (NaN skipped), the sequences' log-likelihoods.
    """
    rv = marginal_hmm_variable(model, var_name)
    posterior, values = posterior_draws(idata, model)
    terms = DrawGraph(model, hmm_terms(model, rv))
    run = jax.jit(jax.vmap(partial(_step_terms, **rv.owner.op.chain), terms.in_axes))
    chunks, present = [], None
    with _compat.x64():  # the model's float64 values stay float64
        for rows, chunk in draw_chunks(values, len(values[0])):
            args = terms(chunk)
            chunks.append(np.asarray(run(*args))[:rows])
            present = _present(args[3], terms.in_axes[3]) if present is None else present
    steps = unstack(chunks, posterior)
    if present is not None:
        steps = np.where(present, steps, np.nan)
    dims = ("chain", "draw", *observed_dims(model, rv))
    coords = observed_coords(model, dims[2:])
    coords |= {"chain": posterior["chain"].values, "draw": posterior["draw"].values}
    return xr.DataArray(steps, dims=dims, coords=coords, name="step_log_likelihood")


# --------------------------------------------------------------------------- helpers

#: Name of the pointwise log-likelihood handed to ArviZ.
_POINTWISE = "hmm"


def _check_fits(fits: Mapping[int, Any], models: Mapping[int, pm.Model]) -> list[int]:
    if set(fits) != set(models):
        raise ValueError(
            f"fits and models must have the same keys (the K of each fit); got "
            f"{sorted(fits)} and {sorted(models)}"
        )
    bad = [k for k in fits if not (isinstance(k, int | np.integer) and k >= 1)]
    if bad:
        raise ValueError(f"fits: keys must be the numbers of states K >= 1; got {bad}")
    if len(fits) < 2:
        raise ValueError(f"fits: compare_states needs at least two fits; got {len(fits)}")
    return sorted(int(k) for k in fits)


def _check_same_data(steps: dict[int, xr.DataArray]) -> None:
    """The fits must observe the same steps: ELPDs of different data do not compare."""
    layouts = {k: s.isel(chain=0, draw=0).notnull().values for k, s in steps.items()}
    first, *rest = layouts
    for k in rest:
        if layouts[k].shape != layouts[first].shape or not np.array_equal(
            layouts[k], layouts[first]
        ):
            raise ValueError(
                f"models: K={first} and K={k} do not observe the same data (observed shapes "
                f"{layouts[first].shape} and {layouts[k].shape}, or different missing steps)"
            )


def _step_terms(log_emission, init, trans, mask, **chain) -> jax.Array:
    """``log p(y_t | y_{1:t-1})`` ``[..., T]`` of one draw."""
    return hmm.filter(log_emission, init, trans, mask, **chain).step_log_likelihood


def _present(mask: Any, axis: int | None) -> np.ndarray | None:
    """The present-steps mask ``[..., T]`` of the data (the same for every draw)."""
    if mask is None:
        return None
    mask = np.asarray(mask)
    return mask[0] if axis == 0 else mask


def _num_sequences(steps: xr.DataArray) -> int:
    """Sequences with at least one present step."""
    present = steps.isel(chain=0, draw=0).notnull().any(steps.dims[-1])
    return int(present.sum())


def _pointwise(steps: xr.DataArray, by: str) -> xr.DataArray:
    """``(chain, draw, observation)``: per sequence the sum over steps, per step the present
    steps of all sequences (sequence-major)."""
    if by == "sequence":
        steps = steps.sum(steps.dims[-1], skipna=True)
    keep = steps.isel(chain=0, draw=0).notnull().values.ravel()
    flat = steps.values.reshape(*steps.shape[:2], -1)[..., keep]
    return xr.DataArray(
        flat,
        dims=("chain", "draw", "observation"),
        coords={"chain": steps["chain"].values, "draw": steps["draw"].values},
        name=_POINTWISE,
    )


def _loo_data(idata: Any, pointwise: xr.DataArray):
    """The fit's posterior and the pointwise log-likelihood, as ArviZ's ``loo`` takes them."""
    posterior = _compat.get_group(idata, "posterior")
    return _compat.inference_data(
        {"posterior": posterior, "log_likelihood": pointwise.to_dataset()}
    )


def _table(loos: dict[int, _compat.LooResult]) -> pd.DataFrame:
    """ArviZ's comparison table with the Pareto ``k`` diagnostics, indexed by ``states``."""
    table = _compat.compare({str(k): result for k, result in loos.items()})
    table.index = pd.Index([int(k) for k in table.index], name="states")
    ordered = [loos[k] for k in table.index]
    table["pareto_k_max"] = [float(np.max(r.pareto_k)) for r in ordered]
    table["pareto_k_bad"] = [int(np.sum(r.pareto_k > r.good_k)) for r in ordered]
    table["unreliable"] = table["pareto_k_bad"] > 0
    return table


def _verdict(table: pd.DataFrame, by: str, recommended: int) -> str:
    """Which ``K`` to pick and how sure: the best against the runner-up, then the pick."""
    best, runner_up = table.index[0], table.index[1]
    diff, dse = table.loc[runner_up, "elpd_diff"], table.loc[runner_up, "dse"]
    unit = "sequence" if by == "sequence" else "step (one-step-ahead)"
    head = (
        f"would pick K={recommended}: K={best} predicts best, elpd {diff:.1f} ± {dse:.1f} "
        f"better than K={runner_up} (PSIS-LOO per {unit})"
    )
    if diff < SMALL_DIFFERENCE:
        sure = (
            f"not sure: a difference below {SMALL_DIFFERENCE:g} is small, so K={recommended}, "
            f"the simplest within {SMALL_DIFFERENCE:g} of the best, is the pick"
        )
    else:
        z = diff / dse if dse > 0 else np.inf
        word = "not sure" if z < 2 else "fairly sure" if z < 4 else "sure"
        sure = f"{word}: the difference is {z:.1f} standard errors"
    unreliable = [str(k) for k in table.index[table["unreliable"]]]
    caveat = (
        f"; unreliable by Pareto k: K={', K='.join(unreliable)} (some terms have k > "
        "threshold: those ELPD estimates may be off)"
        if unreliable
        else ""
    )
    return f"{head}; {sure}{caveat}"
