"""Convergence checks after sampling, in one voice: a warning users can filter, and attrs.

A run is flagged when any of these hold (Vehtari et al. 2021 for r_hat and ESS):

* rank-normalised split ``r_hat`` above :data:`MAX_R_HAT` for some parameter;
* bulk or tail effective sample size below :data:`MIN_ESS_PER_CHAIN` per chain;
* divergent transitions;
* chains whose mean log density differ by more than :data:`MAX_LOG_DENSITY_GAP` units: chains
  in different modes, which r_hat may miss for a parameter that happens to agree.

:func:`check` records the figures in the posterior group's attributes (``jaxbridge_*``) and
warns with :class:`ConvergenceWarning`.
"""

from __future__ import annotations

import warnings
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from jaxbridge import _compat

MAX_R_HAT = 1.01
MIN_ESS_PER_CHAIN = 100
MAX_LOG_DENSITY_GAP = 5.0


class ConvergenceWarning(UserWarning):
    """The chains did not converge, or disagree (see :mod:`jaxbridge.pymc._diagnostics`)."""


class Diagnostics(NamedTuple):
    """Convergence figures of one run."""

    max_r_hat: float
    min_ess_bulk: float
    min_ess_tail: float
    divergences: int
    #: Mean log density of each chain (empty when the sampler records none).
    chain_log_density: list[float]
    #: One line per problem found; empty when the run looks converged.
    problems: list[str]

    @property
    def converged(self) -> bool:
        return not self.problems

    def message(self) -> str:
        """The multi-line warning text: what is wrong and what to try."""
        return message(self.problems, ADVICE)


#: What to try, in the words of the Python API (the command line names its own options).
ADVICE = (
    "more tuning and draws (tune/draws), a higher target_accept for divergences, more "
    "chains; chains in different modes mean the posterior is multimodal: check the model "
    "(number of states, priors)"
)


def message(problems: list[str], advice: str) -> str:
    """The convergence warning: one line per problem, then what to try."""
    return (
        "the chains did not converge; do not trust these results yet:\n"
        + "".join(f"  - {line}\n" for line in problems)
        + f"  try: {advice}"
    )


def diagnose(idata: Any, var_names: list[str]) -> Diagnostics:
    """Compute the convergence figures of ``idata`` for ``var_names``."""
    posterior = _compat.get_group(idata, "posterior")
    stats = _compat.get_group(idata, "sample_stats")
    chains = posterior.sizes["chain"]
    table = _compat.summary(idata, var_names, 0.94)
    flags = row_flags(table, chains)
    problems = []
    for kind, text, fmt in (
        ("r_hat", f"r_hat > {MAX_R_HAT}", "{:.3f}"),
        ("ess_bulk", f"bulk ESS below {MIN_ESS_PER_CHAIN} per chain", "{:.0f}"),
        ("ess_tail", f"tail ESS below {MIN_ESS_PER_CHAIN} per chain", "{:.0f}"),
    ):
        rows = table.index[flags.str.contains(kind)]
        if len(rows):
            problems.append(f"{text} for {_names(rows, table[kind], fmt)}")
    divergences = int(stats["diverging"].sum()) if "diverging" in stats else 0
    if divergences:
        problems.append(f"{divergences} divergent transition(s)")
    lp_name = next((n for n in ("lp", "logp") if n in stats), None)
    chain_lp = (
        [float(v) for v in stats[lp_name].mean(dim="draw").values] if lp_name is not None else []
    )
    if len(chain_lp) > 1 and max(chain_lp) - min(chain_lp) > MAX_LOG_DENSITY_GAP:
        problems.append(
            "chains disagree: mean log density per chain "
            + ", ".join(f"{v:.1f}" for v in chain_lp)
            + " (different modes?)"
        )
    return Diagnostics(  # pandas skips NaN (r_hat of a single chain) without warning
        float(table["r_hat"].max()),
        float(table["ess_bulk"].min()),
        float(table["ess_tail"].min()),
        divergences,
        chain_lp,
        problems,
    )


def row_flags(table: pd.DataFrame, chains: int) -> pd.Series:
    """Per row of an ``az.summary`` table, the failed checks: ``"r_hat ess_bulk"``, or ``""``."""
    floor = MIN_ESS_PER_CHAIN * chains
    failed = {
        "r_hat": table["r_hat"] > MAX_R_HAT,
        "ess_bulk": table["ess_bulk"] < floor,
        "ess_tail": table["ess_tail"] < floor,
    }
    return pd.Series(
        [" ".join(k for k, bad in failed.items() if bad[row]) for row in table.index],
        index=table.index,
        dtype=object,
    )


def check(idata: Any, var_names: list[str]) -> Diagnostics:
    """:func:`diagnose`, record the figures in ``posterior.attrs``, warn when not converged."""
    result = diagnose(idata, var_names)
    attrs = _compat.group_attrs(idata, "posterior")
    attrs.update(
        jaxbridge_converged=int(result.converged),
        jaxbridge_max_r_hat=result.max_r_hat,
        jaxbridge_min_ess_bulk=result.min_ess_bulk,
        jaxbridge_min_ess_tail=result.min_ess_tail,
        jaxbridge_divergences=result.divergences,
        jaxbridge_problems="\n".join(result.problems),
    )
    if result.chain_log_density:
        attrs["jaxbridge_chain_log_density"] = np.asarray(result.chain_log_density)
    if not result.converged:
        warnings.warn(result.message(), ConvergenceWarning, stacklevel=3)
    return result


def _names(index, values, fmt: str, limit: int = 6) -> str:
    shown = [f"{name} ({fmt.format(values[name])})" for name in index[:limit]]
    more = f" and {len(index) - limit} more" if len(index) > limit else ""
    return ", ".join(shown) + more
