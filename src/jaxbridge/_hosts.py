"""Several processes (hosts): joining a multi-process JAX run, and merging per-process chains.

JAX's multi-controller runtime (:mod:`jax.distributed`) runs the same program on every
process; :func:`jax.devices` then lists the devices of all processes. jaxbridge uses it in two
ways (README, "Several hosts"):

* **one data set split over processes**: every process runs the same script with the *full*
  data and calls ``jaxbridge.sample(model, devices=jax.devices(), shard="sequences")`` with a
  JAX sampler; each device computes the likelihood of its share of the sequences, gradients
  are all-reduced, and every process ends with the same draws;
* **independent chains per process**: every process samples on its own devices with a seed
  derived from :func:`jax.process_index`, and :func:`gather_chains` merges the chains.

:func:`initialize_processes` is the one call that changes global state (JAX's distributed
runtime and its CPU collectives); nothing here runs on import.
"""

from __future__ import annotations

import hashlib
import os
import socket
import time
from typing import Any

import numpy as np

from jaxbridge import _compat

__all__ = ["gather_chains", "initialize_processes"]

#: Environment variables :func:`initialize_processes` reads when its arguments are ``None``
#: (``JAX_COORDINATOR_ADDRESS`` is JAX's own; the other two are jaxbridge's).
ENV_NUM_PROCESSES = "JAX_NUM_PROCESSES"
ENV_PROCESS_ID = "JAX_PROCESS_ID"
ENV_COORDINATOR = "JAX_COORDINATOR_ADDRESS"


def initialize_processes(
    coordinator_address: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
    *,
    initialization_timeout: int = 120,
    heartbeat_timeout: int = 30,
    shutdown_timeout: int = 300,
) -> None:
    """Join this process to a multi-process JAX run, with bounded failure detection.

    Call it once, first thing in the script every process runs, before any JAX computation.
    It selects the Gloo cross-process collectives for CPU devices
    (``jax_cpu_collectives_implementation``; JAX's default, set explicitly) and calls
    :func:`jax.distributed.initialize`.

    Parameters
    ----------
    coordinator_address
        ``host:port`` of process 0, which runs the coordination service. ``None``: the
        ``JAX_COORDINATOR_ADDRESS`` environment variable, else JAX's cluster detection
        (SLURM, Open MPI, Kubernetes, Cloud TPU).
    num_processes, process_id
        Number of processes and this one's index in ``0 .. num_processes - 1``. ``None``: the
        ``JAX_NUM_PROCESSES`` / ``JAX_PROCESS_ID`` environment variables, else JAX's cluster
        detection (on SLURM: ``SLURM_NTASKS`` / ``SLURM_PROCID``).
    initialization_timeout
        Seconds to wait for every process to join (and, for processes other than 0, for the
        coordinator to accept connections); then the process ends with an error.
    heartbeat_timeout
        Seconds after which a process that stopped sending heartbeats (it died) is declared
        dead; JAX then ends every other process with an error ("another task died") instead
        of letting it wait in a collective forever.
    shutdown_timeout
        Seconds a process that finished waits at exit for the others to finish too.

    Raises
    ------
    TimeoutError
        When process ``process_id > 0`` cannot reach the coordinator within
        ``initialization_timeout`` seconds (it was never started, or the address is wrong).

    Notes
    -----
    Failures are bounded in time, not caught: when a process dies, JAX's coordination service
    terminates the others (``SIGABRT``, exit status 134 from a shell) within about
    ``heartbeat_timeout`` seconds; a process that ends normally while another still computes
    makes the other fail at the latest after ``shutdown_timeout`` seconds.
    """
    import jax

    coordinator_address = coordinator_address or os.environ.get(ENV_COORDINATOR)
    num_processes = _from_env(num_processes, ENV_NUM_PROCESSES)
    process_id = _from_env(process_id, ENV_PROCESS_ID)
    if coordinator_address and process_id:
        _wait_for_coordinator(coordinator_address, initialization_timeout)
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(
        coordinator_address=coordinator_address,
        num_processes=num_processes,
        process_id=process_id,
        initialization_timeout=initialization_timeout,
        heartbeat_timeout_seconds=heartbeat_timeout,
        shutdown_timeout_seconds=shutdown_timeout,
    )


def _from_env(value: int | None, name: str) -> int | None:
    if value is not None or not os.environ.get(name):
        return value
    return int(os.environ[name])


def _wait_for_coordinator(address: str, timeout: float) -> None:
    """Return once ``host:port`` accepts TCP connections; ``TimeoutError`` after ``timeout`` s.

    JAX's own failure here is a process abort that blames "another task"; this says what
    is wrong.
    """
    host, _, port = address.rpartition(":")
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host.strip("[]"), int(port)), timeout=1.0):
                return
        except OSError as err:
            if time.monotonic() >= deadline:
                raise TimeoutError(
                    f"jaxbridge: the coordinator {address} (process 0) did not accept "
                    f"connections within {timeout:g} s ({err}); start process 0 with the same "
                    "address, or check the address and the firewall"
                ) from err
            time.sleep(0.2)


# ------------------------------------------------------------------------- gather_chains


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
        from jaxbridge.pymc import _diagnostics

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
