"""Sharding HMM sequences and MCMC chains across JAX devices (:mod:`jaxbridge.hmm._sharding`, :mod:`jaxbridge.pymc._devices`).

The multi-device checks need four devices, which JAX only creates at start-up: they run once,
together, in a subprocess with ``XLA_FLAGS=--xla_force_host_platform_device_count=4`` (see
``_sharding_checks.py``); each check is reported as its own test here.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest

from jaxbridge import hmm
from jaxbridge.hmm._sharding import resolve_devices, sequence_mesh, sharded_log_likelihood
from jaxbridge.pymc._devices import chain_map, plan_devices

CHECKS_SCRIPT = Path(__file__).with_name("_sharding_checks.py")
CHECKS = [
    "check_device_count",
    "check_likelihood_matches_unsharded",
    "check_gradients_match_unsharded",
    "check_work_is_split_across_devices",
    "check_mesh_context_shards_vmapped_value_and_grad",
    "check_chain_map_matches_vmap_and_spreads_chains",
    "check_sample_blackjax_chains_on_devices",
    "check_sample_numpyro_shards_sequences",
    "check_sample_inside_shard_sequences_block_shards",
]
SLOW_CHECKS = [
    "check_same_draws_numpyro_chains",
    "check_same_draws_blackjax_chains",
    "check_same_draws_numpyro_sequences",
]


def _run_on_four_devices(checks: list[str]) -> dict[str, str]:
    env = dict(
        os.environ,
        XLA_FLAGS="--xla_force_host_platform_device_count=4",
        JAX_PLATFORMS="cpu",
        JAXBRIDGE_CACHE_DIR="off",
    )
    proc = subprocess.run(
        [sys.executable, str(CHECKS_SCRIPT), *checks],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def four_device_results() -> dict[str, str]:
    return _run_on_four_devices(CHECKS)


@pytest.fixture(scope="module")
def four_device_slow_results() -> dict[str, str]:
    return _run_on_four_devices(SLOW_CHECKS)


@pytest.mark.parametrize("check", CHECKS)
def test_on_four_devices(four_device_results, check):
    result = four_device_results[check]
    assert result == "ok", result


@pytest.mark.slow
@pytest.mark.parametrize("check", SLOW_CHECKS)
def test_same_draws_on_four_devices(four_device_slow_results, check):
    """Same seed, same draws with 1 and 4 devices (to rounding), for each sampler and shard."""
    result = four_device_slow_results[check]
    assert result == "ok", result


# ----------------------------------------------------------------- in-process, one device


def test_single_device_is_the_plain_call(rng):
    le = rng.normal(size=(5, 8, 3))
    init = rng.dirichlet(np.ones(3))
    trans = rng.dirichlet(np.ones(3), size=3)
    expected = hmm.log_likelihood(le, init, trans)
    np.testing.assert_array_equal(sharded_log_likelihood(le, init, trans), expected)
    np.testing.assert_array_equal(sharded_log_likelihood(le, init, trans, devices=1), expected)
    grad = jax.grad(lambda x: sharded_log_likelihood(x, init, trans, devices=1).sum())(le)
    expected_grad = jax.grad(lambda x: hmm.log_likelihood(x, init, trans).sum())(le)
    np.testing.assert_array_equal(grad, expected_grad)


def test_resolve_devices():
    default = resolve_devices()
    assert default == (
        jax.local_devices()[:1] if jax.default_backend() == "cpu" else jax.local_devices()
    )
    assert resolve_devices(1) == jax.local_devices()[:1]
    assert resolve_devices(jax.local_devices()) == jax.local_devices()
    with pytest.raises(ValueError, match="xla_force_host_platform_device_count"):
        resolve_devices(len(jax.local_devices()) + 1)
    with pytest.raises(ValueError, match="devices=0"):
        resolve_devices(0)
    with pytest.raises(ValueError, match="distinct"):
        resolve_devices(jax.local_devices() * 2)
    with pytest.raises(TypeError, match=r"jax\.Device"):
        resolve_devices(["cpu"])
    with pytest.raises(TypeError, match="devices must be"):
        resolve_devices(True)


def test_bad_inputs_are_reported_before_sharding(rng):
    le = rng.normal(size=(4, 6, 3))
    init, trans = np.full(3, 1 / 3), np.full((3, 3), 1 / 3)
    with pytest.raises(ValueError, match="init must have shape"):
        sharded_log_likelihood(le, init[:2], trans, devices=1)
    with pytest.raises(ValueError, match="method"):
        sharded_log_likelihood(le, init, trans, method="fast")
    mesh = jax.sharding.Mesh(np.asarray(jax.local_devices()), ("other",))
    with pytest.raises(ValueError, match="'seq'"):
        sharded_log_likelihood(le, init, trans, devices=mesh)
    assert sequence_mesh(1).axis_names == ("seq",)


def test_plan_devices_options():
    with pytest.raises(ValueError, match="shard must be"):
        plan_devices("numpyro", None, "data", 4)
    with pytest.raises(ValueError, match="places work on JAX devices"):
        plan_devices("nutpie", 1, "chains", 4)
    with pytest.raises(ValueError, match="places work on JAX devices"):
        plan_devices("pymc", None, "sequences", 4)
    plan = plan_devices("pymc", None, "chains", 4)  # defaults: nothing changes
    assert plan.chain_method == "vectorized" and plan.map_chains is jax.vmap
    plan = plan_devices("blackjax", None, "chains", 4)
    assert plan.map_chains is jax.vmap  # one device here
    assert chain_map(1)(lambda x: 2 * x)(np.arange(3.0)).tolist() == [0.0, 2.0, 4.0]
