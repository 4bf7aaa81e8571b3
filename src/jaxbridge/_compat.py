"""Differences between the two supported stack generations, in one place.

==============  ================================  ===================================
                Python 3.11                       Python 3.12+
==============  ================================  ===================================
PyMC            5.28                              6.x
PyTensor        2.38 (``Op.L_op``)                3.x (``Op.pullback``; numba linker)
JAX             0.10                              0.12
ArviZ           0.23 (``InferenceData``)          1.x (``xarray.DataTree``)
==============  ================================  ===================================

Everything here is cheap to import: versions are read from package metadata, and the
libraries themselves are imported inside the functions that need them.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from importlib.metadata import version
from typing import Any, NamedTuple


def _major(package: str) -> int:
    return int(version(package).split(".")[0])


#: ArviZ 1.x: results are ``xarray.DataTree``; summaries take ``ci_prob``/``ci_kind``.
ARVIZ_1 = _major("arviz") >= 1
#: PyTensor 3.x: gradients are built through ``Op.pullback``; ``infer_shape`` takes no fgraph.
PYTENSOR_3 = _major("pytensor") >= 3
#: PyMC 6 (the newer stack generation).
PYMC_6 = _major("pymc") >= 6


# ----------------------------------------------------------------------------- JAX

# Several processes (jaxbridge._hosts) need nothing here: jax.distributed.initialize (with
# initialization_timeout, heartbeat_timeout_seconds, shutdown_timeout_seconds), the
# jax_cpu_collectives_implementation="gloo" option (the default on both), jax.shard_map,
# jax.make_array_from_process_local_data and jax.experimental.multihost_utils have the same
# names and behaviour in JAX 0.10 and 0.12 (checked with the two-process tests on both).


def x64() -> contextlib.AbstractContextManager:
    """A context in which JAX keeps float64, without touching the global ``jax_enable_x64``.

    Thread-local and part of JAX's jit cache key, so each call site that needs float64
    enters it itself (nutpie, for one, calls compiled code from its own threads).
    """
    import jax

    return jax.enable_x64(True)


@contextlib.contextmanager
def global_x64_kept() -> Iterator[None]:
    """Put JAX's global x64 flag back as it was on leaving the block.

    Importing ``pytensor.link.jax.dispatch`` (which compiling a PyTensor function with
    ``mode="JAX"`` does) sets the global flag to ``floatX == "float64"``. Enter this before
    :func:`x64`, so that it reads the global value, not the scoped one.
    """
    import jax

    before = bool(jax.config.jax_enable_x64)
    try:
        yield
    finally:
        if bool(jax.config.jax_enable_x64) != before:
            jax.config.update("jax_enable_x64", before)


def enable_global_x64(reason: str) -> None:
    """Turn on JAX's global x64 flag for a code path that cannot scope it; log it once."""
    import jax

    if jax.config.jax_enable_x64:
        return
    import logging

    logging.getLogger("jaxbridge").info(
        "jaxbridge: enabling JAX's global float64 mode (jax_enable_x64) for %s", reason
    )
    jax.config.update("jax_enable_x64", True)


#: nutpie's options that choose its mass-matrix adaptation: ``adaptation=`` since 0.16.11
#: (``"diag"``, ``"low_rank"``, ...), a boolean ``low_rank_modified_mass_matrix`` before.
_NUTPIE_ADAPTATION_OPTIONS = ("adaptation", "low_rank_modified_mass_matrix", "transform_adapt")


def nutpie_low_rank(nuts: dict) -> None:
    """Ask nutpie for its low-rank modified mass matrix (in place), unless ``nuts`` (nutpie's
    sampling options) already choose an adaptation."""
    import importlib
    import inspect

    if any(name in nuts for name in _NUTPIE_ADAPTATION_OPTIONS):
        return
    # the function as nutpie's module defines it (not whatever ``nutpie.sample`` is now)
    sample = importlib.import_module("nutpie.sample").sample
    if "adaptation" in inspect.signature(sample).parameters:
        nuts["adaptation"] = "low_rank"
    else:
        nuts["low_rank_modified_mass_matrix"] = True


def pymc_sampling_jax():
    """:mod:`pymc.sampling.jax`, imported without the ``XLA_FLAGS`` it sets as a side effect.

    Importing it rewrites ``XLA_FLAGS`` to force 100 host devices; the user's value (or its
    absence) is put back.
    """
    before = os.environ.get("XLA_FLAGS")
    try:
        import pymc.sampling.jax as module
    finally:
        if before is None:
            os.environ.pop("XLA_FLAGS", None)
        else:
            os.environ["XLA_FLAGS"] = before
    return module


# ----------------------------------------------------------------------------- ArviZ

#: Columns of the highest-density interval in :func:`summary`, the same on both generations.
HDI_COLUMNS = ("hdi_3%", "hdi_97%")


def from_dict(
    groups: Mapping[str, Mapping[str, Any]],
    *,
    coords: Mapping | None = None,
    dims: Mapping | None = None,
    attrs: Mapping[str, Any] | None = None,
):
    """InferenceData (ArviZ 0.x) or DataTree (1.x) from ``{group: {name: array}}``.

    ``attrs`` go to the ``posterior`` group (and the root on ArviZ 0.x).
    """
    import arviz as az

    groups = {name: dict(values) for name, values in groups.items() if values}
    if ARVIZ_1:
        return az.from_dict(
            groups,
            coords=coords,
            dims=dims,
            attrs={"posterior": dict(attrs or {})} if attrs else None,
        )
    return az.from_dict(**groups, coords=coords, dims=dims, attrs=attrs, posterior_attrs=attrs)


def group_names(idata) -> list[str]:
    """Names of the groups of an InferenceData or DataTree (``posterior``, ...)."""
    if ARVIZ_1:
        return list(idata.children)
    return list(idata.groups())


def get_group(idata, name: str):
    """One group as an :class:`xarray.Dataset`."""
    group = idata[name] if ARVIZ_1 else getattr(idata, name)
    return group.to_dataset() if hasattr(group, "to_dataset") else group


def group_attrs(idata, name: str) -> dict:
    """The attributes of one group, editable in place (no copy of the group's data)."""
    return (idata[name] if ARVIZ_1 else getattr(idata, name)).attrs


def set_group(idata, name: str, dataset) -> None:
    """Add or replace one group, given as an :class:`xarray.Dataset` (in place)."""
    if ARVIZ_1:
        idata[name] = dataset
    elif name in idata.groups():
        setattr(idata, name, dataset)
    else:
        idata.add_groups({name: dataset})


def drop_group(idata, name: str) -> None:
    """Remove one group (in place)."""
    if ARVIZ_1:
        del idata[name]
    else:
        delattr(idata, name)


def from_netcdf(path: os.PathLike | str):
    """Read a NetCDF file written by ``to_netcdf`` of either generation, fully loaded."""
    import arviz as az

    return az.from_netcdf(str(path)).load()


def summary(idata, var_names: list[str], hdi_prob: float):
    """``az.summary`` with a highest-density interval of ``hdi_prob``, unrounded.

    Columns ``mean, sd, hdi_3%, hdi_97%`` (named for 94%, whatever ``hdi_prob``),
    ``ess_bulk, ess_tail, r_hat`` and the MCSEs, on both generations.
    """
    import arviz as az

    interval = {"ci_prob": hdi_prob, "ci_kind": "hdi"} if ARVIZ_1 else {"hdi_prob": hdi_prob}
    table = az.summary(idata, var_names=var_names, round_to="none", **interval)
    return table.rename(columns=dict(zip(table.columns[2:4], HDI_COLUMNS, strict=True)))


def inference_data(groups: Mapping[str, Any]):
    """InferenceData (ArviZ 0.x) or DataTree (1.x) from ``{group: xarray.Dataset}``."""
    if ARVIZ_1:
        import xarray as xr

        return xr.DataTree.from_dict(dict(groups))
    import arviz as az

    return az.InferenceData(**groups)


class LooResult(NamedTuple):
    """PSIS-LOO of one model, the same fields on both generations.

    ``elpd``, ``se`` and ``p`` (effective number of parameters) are floats, ``pareto_k`` the
    Pareto shape per observation (a NumPy array) and ``good_k`` the threshold above which a
    ``pareto_k`` marks an unreliable estimate (``min(1 - 1/log10(S), 0.7)`` for ``S`` draws).
    ``elpd_data`` is ArviZ's own object, what :func:`compare` takes.
    """

    elpd: float
    se: float
    p: float
    pareto_k: Any
    good_k: float
    elpd_data: Any


def loo(idata, var_name: str) -> LooResult:
    """``az.loo(idata, pointwise=True, var_name=var_name)``, its warnings silenced (the
    Pareto shapes are in the result)."""
    import warnings

    import arviz as az
    import numpy as np

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", module=r"arviz.*")
        warnings.filterwarnings("ignore", message=r".*[Pp]areto.*")
        result = az.loo(idata, pointwise=True, var_name=var_name)
    if ARVIZ_1:
        values = (result.elpd, result.se, result.p)
    else:
        values = (result["elpd_loo"], result["se"], result["p_loo"])
    pareto_k = np.asarray(result.pareto_k).ravel()
    good_k = float(getattr(result, "good_k", None) or 0.7)
    return LooResult(*map(float, values), pareto_k, good_k, result)


#: Columns of :func:`compare`'s table.
COMPARE_COLUMNS = ("rank", "elpd", "se", "p", "elpd_diff", "dse", "weight")


def compare(loos: Mapping[str, LooResult]):
    """``az.compare`` of precomputed PSIS-LOO results (stacking weights), unrounded.

    Returns a :class:`pandas.DataFrame` indexed by the names of ``loos``, best first, with
    :data:`COMPARE_COLUMNS`; ``elpd_diff`` is the best model's ELPD minus this one's (``>= 0``)
    and ``dse`` the standard error of that difference, on both generations.
    """
    import warnings

    import arviz as az

    elpd_data = {name: result.elpd_data for name, result in loos.items()}
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", module=r"arviz.*")
        table = az.compare(elpd_data, round_to="none") if ARVIZ_1 else az.compare(elpd_data)
    if not ARVIZ_1:
        table = table.rename(columns={"elpd_loo": "elpd", "p_loo": "p"})
    table = table.astype({"rank": int})
    table["elpd_diff"] = table["elpd"].max() - table["elpd"]
    return table[list(COMPARE_COLUMNS)]
