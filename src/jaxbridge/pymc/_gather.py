"""Merging the chains that every process of a multi-process run sampled (see
:mod:`jaxbridge._hosts` for joining such a run)."""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

from jaxbridge import _compat
from jaxbridge.pymc import _diagnostics

__all__ = ["gather_chains"]


def gather_chains(
    idata: Any, *, check_convergence: bool = True, var_names: list[str] | None = None
) -> Any:
    """Merge the chains that every process sampled into one result with all the chains.

    A collective: every process of a multi-process run must call it, with results of the same
    layout (same variables, shapes and chain counts). Process ``p``'s chains become chains
    ``p * C .. p * C + C - 1`` of the merged result (``C`` chains per process), which every
    process receives; save it from one (``if jax.process_index() == 0``). With one process it
    returns ``idata`` unchanged.

    Parameters
    ----------
    idata
        This process's result of :func:`jaxbridge.sample` (InferenceData on ArviZ 0.x,
        DataTree on 1.x). Groups with a ``chain`` dimension (``posterior``,
        ``sample_stats``, ...) are merged; the others (``observed_data``, ...) and the
        attributes stay this process's own (the same on every process for the same model,
        except timings and the modes each process's search found).
    check_convergence
        Check r_hat, ESS, divergences and agreement between chains on the merged chains and
        record the figures in ``posterior.attrs``, as :func:`jaxbridge.sample` does (run it
        with ``check_convergence=False`` to avoid per-process warnings).
    var_names
        Variables the convergence check looks at; default all of ``posterior``.

    Returns
    -------
    arviz.InferenceData or xarray.DataTree
        A new object with ``jax.process_count() * C`` chains; ``posterior.attrs`` records
        ``jaxbridge_processes``.

    Raises
    ------
    ValueError
        On every process, when the processes' results differ in layout.
    """
    import jax

    if jax.process_count() == 1:
        return idata
    from jax.experimental import multihost_utils

    groups = {
        name: _compat.get_group(idata, name)
        for name in _compat.group_names(idata)
        if "chain" in _compat.get_group(idata, name).dims
    }
    _check_same_layout(groups)
    with _compat.x64():  # keep float64 and int64 draws as they are
        gathered = multihost_utils.process_allgather(
            {
                name: {var: _chain_first(ds[var]).values for var in _chained(ds)}
                for name, ds in groups.items()
            }
        )
    merged = idata.copy()
    for name, ds in groups.items():
        _compat.set_group(merged, name, _stack_chains(ds, gathered[name]))
    attrs = _compat.group_attrs(merged, "posterior")
    attrs["jaxbridge_processes"] = jax.process_count()
    if check_convergence:
        names = var_names or list(_compat.get_group(merged, "posterior").data_vars)
        _diagnostics.check(merged, names)
    return merged


def _check_same_layout(groups: dict[str, Any]) -> None:
    """Raise ``ValueError`` on every process unless all processes' groups have one layout."""
    from jax.experimental import multihost_utils

    layout = repr(
        [
            (name, var, ds[var].dims, ds[var].shape, ds[var].dtype.str)
            for name, ds in groups.items()
            for var in _chained(ds)
        ]
    )
    digest = np.frombuffer(hashlib.sha256(layout.encode()).digest(), dtype=np.uint8)
    digests = np.asarray(multihost_utils.process_allgather(digest))
    if not (digests == digests[0]).all():
        raise ValueError(
            "gather_chains: the processes' results differ in variables, shapes or chain "
            "counts; every process must run the same model with the same draws and chains. "
            f"This process's layout: {layout}"
        )


def _chained(ds: Any) -> list[str]:
    """Names of the variables of ``ds`` that have a ``chain`` dimension."""
    return [var for var in ds.data_vars if "chain" in ds[var].dims]


def _chain_first(array: Any) -> Any:
    return array.transpose("chain", ...)


def _stack_chains(ds: Any, arrays: dict[str, np.ndarray]) -> Any:
    """``ds`` with the chains of all processes: ``arrays[var]`` is ``[processes, chain, ...]``."""
    processes, chains = len(next(iter(arrays.values()))), ds.sizes["chain"]
    merged = ds.isel(chain=np.tile(np.arange(chains), processes))
    merged = merged.assign_coords(chain=np.arange(processes * chains))
    merged.attrs = dict(ds.attrs)
    for var, values in arrays.items():
        values = np.asarray(values)
        stacked = values.reshape(processes * chains, *values.shape[2:])
        merged[var] = (_chain_first(ds[var]).dims, stacked.astype(ds[var].dtype, copy=False))
    return merged
