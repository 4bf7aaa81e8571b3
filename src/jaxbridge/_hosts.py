"""Several processes (hosts): joining a multi-process JAX run.

JAX's multi-controller runtime (:mod:`jax.distributed`) runs the same program on every
process; :func:`jax.devices` then lists the devices of all processes. jaxbridge uses it in two
ways (README, "Several hosts"):

* **one data set split over processes**: every process runs the same script with the *full*
  data and calls ``jaxbridge.sample(model, devices=jax.devices(), shard="sequences")`` with a
  JAX sampler; each device computes the likelihood of its share of the sequences, gradients
  are all-reduced, and every process ends with the same draws;
* **independent chains per process**: every process samples on its own devices with a seed
  derived from :func:`jax.process_index`, and :func:`jaxbridge.gather_chains` (in
  :mod:`jaxbridge.pymc`, as it is about sampling results) merges the chains.

:func:`initialize_processes` is the one call that changes global state (JAX's distributed
runtime and its CPU collectives); nothing here runs on import.
"""

from __future__ import annotations

import os
import socket
import time

__all__ = ["initialize_processes"]

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
