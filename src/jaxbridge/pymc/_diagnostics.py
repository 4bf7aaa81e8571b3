"""Convergence checks after sampling, in one voice: a warning users can filter, and attrs.

A run is flagged when any of these hold (Vehtari et al. 2021 for r_hat and ESS), each a finding
of its own kind, in its own words and with its own advice (:data:`ADVICE`):

* ``r_hat``: rank-normalised split ``r_hat`` above :data:`MAX_R_HAT` for some parameter (the
  chains disagree);
* ``ess``: bulk or tail effective sample size below :data:`MIN_ESS_PER_CHAIN` per chain. ESS
  figures are ArviZ's, totals over all chains, so the threshold quoted beside them is the
  total too: ``100 per chain x 4 chains = 400``;
* ``divergences``: divergent transitions after tuning (the sampler could not follow the
  posterior's curvature somewhere);
* ``modes``: chains whose mean log density differ by more than :data:`MAX_LOG_DENSITY_GAP`
  units: chains in different modes, which r_hat may miss for a parameter that happens to
  agree.

Only ``r_hat`` and ``modes`` mean the chains did not converge. The parameters checked are the
ones a summary reports (:func:`jaxbridge.pymc.parameter_names`: no auxiliary variables), but
the reference entries of covariate-driven transitions, which are constant.

:func:`check` records the figures in the posterior group's attributes (``jaxbridge_*``; each
line of ``jaxbridge_problems`` starts with its kind) and warns with :class:`ConvergenceWarning`.
"""

from __future__ import annotations

import warnings
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from jaxbridge import _compat
from jaxbridge._labels import reported_scalars

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


#: What each kind of finding means and what to try, in the words of the Python API (the
#: command line names its own options).
ADVICE = {
    "r_hat": "the chains have not mixed yet: run longer (tune, draws); if they stay apart, "
    "they sit in different modes",
    "ess": "too few effective draws for stable estimates: run longer (draws) or more chains",
    "divergences": "the sampler could not follow the posterior's curvature somewhere, so the "
    "draws may be biased: raise target_accept (e.g. target_accept=0.95) or reparametrise",
    "modes": "the posterior is multimodal: check the model (number of states, priors) and "
    "compare the modes' fits",
}

#: Findings that mean the chains did not converge (the others ask for care).
_NOT_CONVERGED = ("r_hat", "modes")


def message(problems: list[str], advice: dict[str, str]) -> str:
    """The warning: a heading, then per problem line (``"kind: ..."``) what to try."""
    kinds = [line.split(":", 1)[0] for line in problems]
    heading = (
        "the chains did not converge; do not trust these results yet:"
        if any(kind in _NOT_CONVERGED for kind in kinds)
        else "the run needs a closer look before these results can be trusted:"
    )
    lines = [
        f"  - {line}\n    {advice.get(kind, '')}"
        for kind, line in zip(kinds, problems, strict=True)
    ]
    return heading + "\n" + "\n".join(lines)


def diagnose(idata: Any, var_names: list[str]) -> Diagnostics:
    """Compute the convergence figures of ``idata`` for ``var_names``."""
    posterior = _compat.get_group(idata, "posterior")
    stats = _compat.get_group(idata, "sample_stats")
    chains = posterior.sizes["chain"]
    table = summary(idata, var_names)
    flags = row_flags(table, chains)
    floor = f"{MIN_ESS_PER_CHAIN * chains} ({MIN_ESS_PER_CHAIN} per chain x {chains} chains)"
    floor = floor.replace("x 1 chains", "x 1 chain")
    problems = []
    for kind, column, text, fmt in (
        ("r_hat", "r_hat", f"r_hat above {MAX_R_HAT} (chains disagree)", "{:.3f}"),
        ("ess", "ess_bulk", f"bulk ESS below {floor}", "{:.0f}"),
        ("ess", "ess_tail", f"tail ESS below {floor}", "{:.0f}"),
    ):
        rows = table.index[flags.str.contains(column)]
        if len(rows):
            problems.append(f"{kind}: {text} for {_names(rows, table[column], fmt)}")
    divergences = int(stats["diverging"].sum()) if "diverging" in stats else 0
    if divergences:
        problems.append(f"divergences: {divergences} divergent transition(s) after tuning")
    lp_name = next((n for n in ("lp", "logp") if n in stats), None)
    chain_lp = (
        [float(v) for v in stats[lp_name].mean(dim="draw").values] if lp_name is not None else []
    )
    if len(chain_lp) > 1 and max(chain_lp) - min(chain_lp) > MAX_LOG_DENSITY_GAP:
        problems.append(
            "modes: the chains sit in different modes (mean log density per chain "
            + ", ".join(f"{v:.1f}" for v in chain_lp)
            + ")"
        )
    return Diagnostics(  # pandas skips NaN (r_hat of a single chain) without warning
        float(table["r_hat"].max()),
        float(table["ess_bulk"].min()),
        float(table["ess_tail"].min()),
        divergences,
        chain_lp,
        problems,
    )


def summary(idata: Any, var_names: list[str], hdi_prob: float = 0.94) -> pd.DataFrame:
    """``az.summary`` of the parameters ``var_names`` (one row per scalar, ArviZ's labels),
    without the reference entries of covariate-driven transitions (zero in every draw: not
    parameters; numpy's warning about their undefined r_hat is held back)."""
    posterior = _compat.get_group(idata, "posterior")
    with np.errstate(invalid="ignore", divide="ignore"):
        table = _compat.summary(idata, var_names, hdi_prob)
    return table.loc[[label for _, _, label in reported_scalars(posterior, var_names)]]


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
