"""Helpers to run the real command line: in a subprocess, or in-process through ``main``."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from jaxbridge.cli import main


@pytest.fixture(scope="session")
def cli_env(tmp_path_factory) -> dict[str, str]:
    """Environment for subprocesses: a private JAX compilation cache shared by this test run
    (by every pytest-xdist worker: a model one worker's CLI run compiled, the other's reuses)."""
    env = dict(os.environ)
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent  # the run's folder, above the workers' own
    cache = base / "jax-cache"
    cache.mkdir(exist_ok=True)
    env["JAXBRIDGE_CACHE_DIR"] = str(cache)
    env["MPLBACKEND"] = "Agg"
    return env


@pytest.fixture
def run_cli(cli_env, tmp_path):
    """``run_cli(*args, script=False)``: run ``python -m jaxbridge ARGS`` (or the ``jaxbridge``
    console script) in ``tmp_path``; returns the CompletedProcess with text stdout/stderr."""

    def run(*args: str, script: bool = False, timeout: float = 300) -> subprocess.CompletedProcess:
        if script:
            command = [str(Path(sys.executable).with_name("jaxbridge"))]
        else:
            command = [sys.executable, "-m", "jaxbridge"]
        return subprocess.run(
            [*command, *map(str, args)],
            cwd=tmp_path,
            env=cli_env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    return run


@pytest.fixture
def call(capsys):
    """``call(*args)``: run ``jaxbridge.cli.main`` in-process; returns ``(code, stdout, stderr)``."""

    def run(*args: str) -> tuple[int, str, str]:
        code = main([str(a) for a in args])
        out, err = capsys.readouterr()
        return code, out, err

    return run
