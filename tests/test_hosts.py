"""Several processes (:mod:`jaxbridge._hosts`): two local JAX processes stand in for two hosts.

Each test launches ``_hosts_checks.py`` twice, as process 0 (the coordinator, on a free port)
and process 1 of a multi-process JAX run, one CPU device each, with hard timeouts; both
processes are killed whatever happens. The checks run in the children; the results of both
processes are compared here.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import NamedTuple
from unittest import mock

import jax
import pytest

from jaxbridge import gather_chains, initialize_processes

CHECKS_SCRIPT = Path(__file__).with_name("_hosts_checks.py")
CHECKS = [
    "check_global_devices",
    "check_likelihood_full_arrays",
    "check_gather_chains_merges",
    "check_gather_chains_rejects_different_layouts",
]
SLOW_CHECKS = [
    "check_likelihood_local_shares",
    "check_mesh_context_across_processes",
    "check_sample_numpyro_sequences",
    "check_sample_blackjax_sequences",
    "check_chains_per_process",
]
#: Slow checks that return the draws, which must be the same on both processes.
SAME_ON_BOTH = [
    "check_sample_numpyro_sequences",
    "check_sample_blackjax_sequences",
    "check_chains_per_process",
]
#: What a process that outlives its peer prints when JAX ends it.
PEER_DIED = "another task died"


class Finished(NamedTuple):
    returncode: int | None  # None: killed at the deadline
    stdout: str
    stderr: str
    seconds: float


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def launch(
    checks: list[str],
    *,
    timeout: float,
    heartbeat: int = 10,
    init_timeout: int = 30,
    process_ids: tuple[int, ...] = (0, 1),
) -> list[Finished]:
    """Run processes ``process_ids`` of a two-process run; kill any still running at the end."""
    port = free_port()
    env = dict(os.environ, JAX_PLATFORMS="cpu", JAXBRIDGE_CACHE_DIR="off", PYTHONUNBUFFERED="1")
    env.pop("XLA_FLAGS", None)  # one CPU device per process
    start = time.monotonic()
    options = [str(port), str(heartbeat), str(init_timeout)]
    procs = [
        subprocess.Popen(
            [sys.executable, str(CHECKS_SCRIPT), str(i), "2", *options, *checks],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for i in process_ids
    ]
    finished = []
    try:
        for proc in procs:
            left = max(timeout - (time.monotonic() - start), 1.0)
            try:
                out, err = proc.communicate(timeout=left)
                code = proc.returncode
            except subprocess.TimeoutExpired:
                proc.kill()
                out, err = proc.communicate()
                code = None
            finished.append(Finished(code, out, err, time.monotonic() - start))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return finished


def results_of(finished: list[Finished]) -> list[dict]:
    """Each process's JSON results; fails with its output when a process did not finish."""
    results = []
    for i, run in enumerate(finished):
        assert run.returncode == 0, (
            f"process {i} ended with {run.returncode}:\n{run.stderr[-4000:]}"
        )
        results.append(json.loads(run.stdout.strip().splitlines()[-1]))
    return results


@pytest.fixture(scope="module")
def two_processes() -> list[dict]:
    return results_of(launch(CHECKS, timeout=240))


@pytest.fixture(scope="module")
def two_processes_slow() -> list[dict]:
    return results_of(launch(SLOW_CHECKS, timeout=540))


def _assert_ok_on_both(results: list[dict], check: str) -> None:
    for i, result in enumerate(results):
        assert isinstance(result[check], dict) or result[check] == "ok", (
            f"process {i}: {result[check]}"
        )


@pytest.mark.parametrize("check", CHECKS)
def test_on_two_processes(two_processes, check):
    """Likelihood and gradients to 1e-10 of one process's, the data entering as full arrays
    on both processes; gather_chains merging and layout checks."""
    _assert_ok_on_both(two_processes, check)


def test_gathered_chains_are_the_same_on_both_processes(two_processes):
    first, second = (r["check_gather_chains_merges"] for r in two_processes)
    assert first == second


@pytest.mark.slow
@pytest.mark.parametrize("check", SLOW_CHECKS)
def test_slow_on_two_processes(two_processes_slow, check):
    """Local shares and the mesh context to 1e-10; sequence-sharded NumPyro and BlackJAX:
    identical draws on both processes, equal (to rounding) to the one-device run; chains per
    process merged to 4 chains, the same on both."""
    _assert_ok_on_both(two_processes_slow, check)
    if check in SAME_ON_BOTH:
        first, second = (r[check] for r in two_processes_slow)
        assert first == second, "the processes ended with different draws"


# ------------------------------------------------------------------------------ failures


def test_peer_that_exits_early_ends_the_other_within_the_heartbeat_timeout():
    heartbeat = 5
    survivor, dead = launch(["check_peer_exits_early"], timeout=90, heartbeat=heartbeat)
    assert dead.returncode == 3
    assert survivor.returncode not in (0, None), "process 0 went on without its peer"
    assert PEER_DIED in survivor.stderr, survivor.stderr[-3000:]
    assert survivor.seconds < 60  # start-up + heartbeat timeout + polling, on a busy machine


def test_unreachable_coordinator_is_a_clear_error():
    (client,) = launch(["check_global_devices"], timeout=60, init_timeout=3, process_ids=(1,))
    assert client.returncode == 1, client.stderr[-3000:]
    assert "did not accept connections within 3 s" in client.stderr, client.stderr[-3000:]
    assert client.seconds < 30


# ---------------------------------------------------------------------- in-process, one process


def test_single_process_needs_no_initialization():
    """Without a multi-process run gather_chains is the identity."""
    assert jax.process_count() == 1
    marker = object()
    assert gather_chains(marker) is marker


def test_chains_are_not_split_across_processes():
    """Devices of another process (here: every device, seen from a pretended process 1)."""
    from jaxbridge.pymc._devices import plan_devices

    with mock.patch.object(jax, "process_index", return_value=1):
        plan_devices("numpyro", jax.devices(), "sequences", 2)
        with pytest.raises(ValueError, match="gather_chains"):
            plan_devices("numpyro", jax.devices(), "chains", 2)


def test_initialize_processes_reads_the_environment(monkeypatch):
    calls = {}
    monkeypatch.setattr(jax.distributed, "initialize", lambda **kw: calls.update(kw))
    monkeypatch.setattr(jax.config, "update", lambda *args: calls.setdefault("config", args))
    monkeypatch.setenv("JAX_COORDINATOR_ADDRESS", "127.0.0.1:1")
    monkeypatch.setenv("JAX_NUM_PROCESSES", "2")
    monkeypatch.setenv("JAX_PROCESS_ID", "0")  # process 0 waits for nobody
    initialize_processes(heartbeat_timeout=7)
    assert calls["config"] == ("jax_cpu_collectives_implementation", "gloo")
    assert calls["num_processes"] == 2 and calls["process_id"] == 0
    assert calls["coordinator_address"] == "127.0.0.1:1"
    assert calls["heartbeat_timeout_seconds"] == 7


def test_client_gives_up_on_a_missing_coordinator(monkeypatch):
    called = []
    monkeypatch.setattr(jax.distributed, "initialize", lambda **kw: called.append(kw))
    with pytest.raises(TimeoutError, match=rf"127\.0\.0\.1:{(port := free_port())}"):
        initialize_processes(f"127.0.0.1:{port}", 2, 1, initialization_timeout=1)
    assert not called
