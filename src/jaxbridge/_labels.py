"""Parameter labels as ArviZ's summary rows (``"p_transition[0, 1]"``), for the summary
table, the convergence checks and the figures alike; nothing here needs PyMC, so a process
that only draws figures does not import it."""

from __future__ import annotations

from typing import Any

import numpy as np

#: The deterministics of covariate-driven transitions (:mod:`jaxbridge.pymc._covariates`),
#: ``[from_state, to_state]`` and ``[from_state, covariate, to_state]``; their reference
#: entries (``from_state == to_state``) are zero in every draw.
COVARIATE_PARAMETERS = ("transition_intercept", "transition_coef")


def reported_scalars(posterior: Any, var_names: list[str]) -> list[tuple[str, dict, str]]:
    """``(var_name, selection, label)`` for every scalar parameter of ``var_names`` in ArviZ's
    order and labels (``"p_transition[0, 1]"``: coordinate values joined by ``", "``): all
    entries but the reference entries of covariate-driven transitions (``from_state ==
    to_state``, zero in every draw, see :mod:`jaxbridge.pymc._covariates`)."""
    return [
        (name, sel, label)
        for name in var_names
        for sel, label in scalar_entries(posterior[name], name, ("chain", "draw"))
        if not _is_reference(name, sel)
    ]


def scalar_entries(values: Any, name: str, skip: tuple[str, ...] = ()) -> list[tuple[dict, str]]:
    """``(selection, label)`` of every scalar of the DataArray ``values`` named ``name``, its
    ``skip`` dims left out, in C order; labels as ArviZ's summary rows."""
    dims = [dim for dim in values.dims if dim not in skip]
    shape = [values.sizes[dim] for dim in dims]
    entries = []
    for index in np.ndindex(*shape):
        sel = {dim: values[dim].values[i] for dim, i in zip(dims, index, strict=True)}
        entries.append((sel, f"{name}[{', '.join(str(v) for v in sel.values())}]" if sel else name))
    return entries


def _is_reference(name: str, sel: dict) -> bool:
    """Whether entry ``sel`` of ``name`` is a reference entry of covariate-driven transitions
    (its first and last positions, the origin and destination states, are equal)."""
    positions = list(sel.values())
    return name in COVARIATE_PARAMETERS and positions[0] == positions[-1]
