"""Checks run by every process of a two-process JAX run on this machine (``test_hosts.py``).

``python tests/_hosts_checks.py ID PROCESSES PORT HEARTBEAT INIT NAME...`` joins a
multi-process run whose coordinator (process 0) listens on ``127.0.0.1:PORT``
(:func:`jaxbridge.initialize_processes` with heartbeat and initialization timeouts of
``HEARTBEAT`` and ``INIT`` seconds), runs the named ``check_*`` functions, and prints
one JSON object mapping each name to ``"ok"``, the traceback of its failure, or the values it
returns (for comparison across processes by the test). Each process has one CPU device, so
``jax.devices()`` lists two devices, one per process.
"""

from __future__ import annotations

import json
import os
import sys
import traceback

import jax
import jax.numpy as jnp
import numpy as np

from jaxbridge import initialize_processes

K = 3
SAMPLE_KWARGS = dict(draws=20, tune=20, chains=2, progressbar=False, init=None)


def _hmm_args(batch: int, steps: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    log_emission = rng.normal(size=(batch, steps, K))
    init = rng.dirichlet(np.ones(K))
    trans = rng.dirichlet(np.ones(K) * 2, size=K)
    mask = rng.random((batch, steps)) > 0.2
    return log_emission, init, trans, mask


def _assert_close(actual, desired, what: str) -> None:
    np.testing.assert_allclose(
        np.asarray(actual), np.asarray(desired), rtol=1e-10, atol=1e-10, err_msg=what
    )


def _gathered(x) -> np.ndarray:
    """A global array's values, on every process."""
    from jax.experimental import multihost_utils

    if x.is_fully_replicated:  # every process holds all of it
        return np.asarray(x)
    return np.asarray(multihost_utils.process_allgather(x, tiled=True))


def check_global_devices() -> None:
    assert jax.process_count() == 2 and len(jax.devices()) == 2, jax.devices()
    assert len(jax.local_devices()) == 1


def check_likelihood_full_arrays() -> None:
    """Every process passes the full arrays: value and gradients as in one process."""
    from jaxbridge import hmm
    from jaxbridge.hmm._sharding import sharded_log_likelihood

    le, init, trans, mask = _hmm_args(7, 12)  # 7 sequences: padded to 8
    weights = jnp.linspace(0.5, 2.0, 7)

    def loss(fn, **kw):
        return lambda le, init, trans: weights @ fn(le, init, trans, mask, **kw)

    expected = hmm.log_likelihood(le, init, trans, mask)
    got = sharded_log_likelihood(le, init, trans, mask, devices=jax.devices())
    assert not got.is_fully_addressable  # computed on both processes' devices
    _assert_close(_gathered(got), expected, "per-sequence log-likelihood")

    sharded = loss(sharded_log_likelihood, devices=jax.devices())
    value, grads = jax.jit(jax.value_and_grad(sharded, argnums=(0, 1, 2)))(le, init, trans)
    ref_value, ref_grads = jax.value_and_grad(loss(hmm.log_likelihood), argnums=(0, 1, 2))(
        le, init, trans
    )
    _assert_close(float(value), float(ref_value), "weighted sum")
    for name, g, e in zip(("log_emission", "init", "trans"), grads, ref_grads, strict=True):
        _assert_close(_gathered(g), e, f"gradient w.r.t. {name}")


def check_likelihood_local_shares() -> None:
    """Global arrays built from each process's local share of the sequences."""
    from jax.sharding import NamedSharding, PartitionSpec

    from jaxbridge import hmm
    from jaxbridge.hmm._sharding import sharded_log_likelihood

    le, init, trans, mask = _hmm_args(8, 12, seed=1)
    mesh = jax.make_mesh((jax.device_count(),), ("seq",))  # as in the README
    sharding = NamedSharding(mesh, PartitionSpec("seq"))
    mine = slice(4 * jax.process_index(), 4 * jax.process_index() + 4)
    le_global = jax.make_array_from_process_local_data(sharding, le[mine])
    mask_global = jax.make_array_from_process_local_data(sharding, mask[mine])
    assert le_global.shape == le.shape

    def total(le, init, trans, mask):
        return sharded_log_likelihood(le, init, trans, mask, devices=mesh).sum()

    value, grads = jax.jit(jax.value_and_grad(total, argnums=(0, 1, 2)))(
        le_global, init, trans, mask_global
    )
    ref = lambda le, init, trans: hmm.log_likelihood(le, init, trans, mask).sum()  # noqa: E731
    ref_value, ref_grads = jax.value_and_grad(ref, argnums=(0, 1, 2))(le, init, trans)
    _assert_close(float(value), float(ref_value), "sum from local shares")
    for name, g, e in zip(("log_emission", "init", "trans"), grads, ref_grads, strict=True):
        _assert_close(_gathered(g), e, f"gradient w.r.t. {name} from local shares")


def check_mesh_context_across_processes() -> None:
    """As in a sampler: vmapped value_and_grad traced inside ``shard_sequences(jax.devices())``."""
    from jaxbridge.hmm._sharding import shard_sequences, sharded_log_likelihood

    le, init, trans, mask = _hmm_args(6, 10, seed=2)
    scales = jnp.linspace(0.5, 1.5, 3)

    def logp(scale):
        return sharded_log_likelihood(le * scale, init, trans, mask).sum()

    batched = jax.jit(jax.vmap(jax.value_and_grad(logp)))
    plain = batched(scales)
    with shard_sequences(jax.devices()):
        assert "all-reduce" in batched.lower(scales).compile().as_text()
        sharded = batched(scales)
    for p, s in zip(plain, sharded, strict=True):
        _assert_close(np.asarray(s), p, "vmapped value_and_grad across processes")


def _fake_result(chains: int, draws: int = 5):
    """A sample()-like result whose values say which process and chain made them."""
    from jaxbridge import _compat

    base = 10 * jax.process_index() + np.arange(chains)[:, None, None]
    mu = base + np.zeros((chains, draws, K))
    return _compat.from_dict(
        {
            "posterior": {"mu": mu, "count": np.full((chains, draws), 7 + jax.process_index())},
            "sample_stats": {"diverging": mu[..., 0] > 10},
            "observed_data": {"y": np.arange(4.0)},
        },
        attrs={"sampler": f"process {jax.process_index()}"},
    )


def check_gather_chains_merges() -> dict:
    from jaxbridge import _compat, gather_chains

    merged = gather_chains(_fake_result(chains=2), check_convergence=False)
    posterior = _compat.get_group(merged, "posterior")
    assert posterior.sizes["chain"] == 4 and posterior["chain"].values.tolist() == [0, 1, 2, 3]
    np.testing.assert_array_equal(posterior["mu"].values[:, 0, 0], [0, 1, 10, 11])
    assert posterior["mu"].dtype == np.float64 and posterior["count"].dtype == np.int64
    assert posterior["count"].values[:, 0].tolist() == [7, 7, 8, 8]
    stats = _compat.get_group(merged, "sample_stats")
    assert stats["diverging"].dtype == bool and stats["diverging"].values[:, 0].tolist() == [
        False,
        False,
        False,
        True,
    ]
    assert _compat.group_attrs(merged, "posterior")["jaxbridge_processes"] == 2
    return {"mu": posterior["mu"].values.tolist()}


def check_gather_chains_rejects_different_layouts() -> None:
    from jaxbridge import gather_chains

    try:
        gather_chains(_fake_result(chains=2 + jax.process_index()), check_convergence=False)
    except ValueError as err:
        assert "differ" in str(err), err
    else:
        raise AssertionError("different layouts were merged")


def _hmm_model():
    import pymc as pm

    from jaxbridge import wrap
    from jaxbridge.hmm._sharding import sharded_log_likelihood

    rng = np.random.default_rng(5)
    y = rng.normal(size=(8, 15))
    init = rng.dirichlet(np.ones(K))
    trans = rng.dirichlet(np.ones(K) * 2, size=K)
    with pm.Model() as model:
        mu = pm.Normal("mu", [-1.0, 0.0, 1.0], 1.0)
        log_emission = pm.logp(pm.Normal.dist(mu, 1.0), y[..., None])
        pm.Potential("hmm", wrap(sharded_log_likelihood)(log_emission, init, trans).sum())
    return model


def _sequences_split(sampler: str) -> dict:
    """The sequences split over both processes: as on one device, to rounding."""
    from jaxbridge import sample

    model = _hmm_model()
    kwargs = dict(SAMPLE_KWARGS, sampler=sampler, random_seed=3, shard="sequences")
    split = sample(model, devices=jax.devices(), **kwargs).posterior["mu"].values
    alone = sample(model, devices=1, **kwargs).posterior["mu"].values
    np.testing.assert_allclose(split, alone, rtol=1e-6, atol=1e-8)
    return {"mu": split.tolist()}


def check_sample_numpyro_sequences() -> dict:
    return _sequences_split("numpyro")


def check_sample_blackjax_sequences() -> dict:
    return _sequences_split("blackjax")


def check_chains_per_process() -> dict:
    """Independent chains per process, seeds from the process index, merged."""
    from jaxbridge import _compat, gather_chains, sample

    mine = sample(
        _hmm_model(),
        sampler="numpyro",
        random_seed=3 + jax.process_index(),
        check_convergence=False,
        **SAMPLE_KWARGS,
    )
    merged = gather_chains(mine)
    mu = _compat.get_group(merged, "posterior")["mu"].values
    assert mu.shape == (4, 20, K), mu.shape
    own = slice(2 * jax.process_index(), 2 * jax.process_index() + 2)
    np.testing.assert_array_equal(mu[own], mine.posterior["mu"].values)
    assert not np.allclose(mu[:2], mu[2:]), "both processes drew the same chains"
    assert "jaxbridge_max_r_hat" in _compat.group_attrs(merged, "posterior")
    return {"mu": mu.tolist()}


def check_peer_exits_early() -> None:
    """Process 1 dies without a word; process 0 waits for it in a collective."""
    if jax.process_index() == 1:
        os._exit(3)
    check_likelihood_full_arrays()


def main(process_id: int, processes: int, port: str, heartbeat: int, init: int, names):
    jax.config.update("jax_enable_x64", True)  # float64 references, as in conftest.py
    initialize_processes(
        f"127.0.0.1:{port}",
        processes,
        process_id,
        initialization_timeout=init,
        heartbeat_timeout=heartbeat,
        shutdown_timeout=30,
    )
    results = {}
    for name in names:
        try:
            results[name] = globals()[name]() or "ok"
        except Exception:  # report every failure with its traceback
            results[name] = traceback.format_exc()
    print(json.dumps(results), flush=True)


if __name__ == "__main__":
    main(*map(int, sys.argv[1:3]), sys.argv[3], *map(int, sys.argv[4:6]), sys.argv[6:])
