"""Multi-device checks of :mod:`jaxbridge.hmm._sharding` and :mod:`jaxbridge.pymc._devices`, run in a subprocess by ``test_sharding.py``.

JAX fixes its device count at start-up, so these checks run in a fresh interpreter started with
``XLA_FLAGS=--xla_force_host_platform_device_count=4``. ``python tests/_sharding_checks.py
NAME...`` runs the named ``check_*`` functions and prints one JSON object mapping each name to
``"ok"`` or the traceback of its failure.
"""

from __future__ import annotations

import json
import sys
import traceback

import jax
import jax.numpy as jnp
import numpy as np

jax.config.update("jax_enable_x64", True)  # float64 references, as in conftest.py
from jaxbridge import hmm  # noqa: E402
from jaxbridge.hmm._sharding import SEQ_AXIS, shard_sequences, sharded_log_likelihood  # noqa: E402
from jaxbridge.pymc._devices import _even_split, chain_devices, chain_map, plan_devices  # noqa: E402

NUM_DEVICES = 4
K = 3


def _hmm_args(batch: tuple[int, ...], steps: int, seed: int = 0, *, missing: float = 0.2):
    rng = np.random.default_rng(seed)
    log_emission = rng.normal(size=(*batch, steps, K))
    init = rng.dirichlet(np.ones(K))
    trans = rng.dirichlet(np.ones(K) * 2, size=K)
    mask = rng.random((*batch, steps)) > missing
    return log_emission, init, trans, mask


def _assert_close(actual, desired, what: str) -> None:
    np.testing.assert_allclose(
        np.asarray(actual), np.asarray(desired), rtol=1e-11, atol=1e-11, err_msg=what
    )


def _devices_holding(x: jax.Array) -> int:
    return len({shard.device for shard in x.addressable_shards})


def check_device_count() -> None:
    assert jax.local_device_count() == NUM_DEVICES, jax.devices()


def check_likelihood_matches_unsharded() -> None:
    """Padding (7 and 10 sequences on 2, 3, 4 devices), 2 batch dims, per-sequence params."""
    le, init, trans, mask = _hmm_args((7,), 12)
    expected = hmm.log_likelihood(le, init, trans, mask)
    for devices in (2, 3, 4, jax.devices()[1:3]):
        got = sharded_log_likelihood(le, init, trans, mask, devices=devices)
        assert got.shape == (7,)
        _assert_close(got, expected, f"devices={devices}")

    le2, _, _, mask2 = _hmm_args((2, 5), 9, seed=1)
    rng = np.random.default_rng(2)
    init2 = rng.dirichlet(np.ones(K), size=(2, 1))  # varies over the first batch dim only
    trans_tv = rng.dirichlet(np.ones(K), size=(5, 8, K))  # per sequence of the 2nd dim, per step
    expected = hmm.log_likelihood(le2, init2, trans_tv, mask2, time_varying=True)
    got = sharded_log_likelihood(le2, init2, trans_tv, mask2, devices=4, time_varying=True)
    assert got.shape == (2, 5)
    _assert_close(got, expected, "time-varying, per-sequence init")

    logs = dict(log_probs=True, method="parallel")
    expected = hmm.log_likelihood(le, np.log(init), np.log(trans), **logs)
    got = sharded_log_likelihood(le, np.log(init), np.log(trans), devices=3, **logs)
    _assert_close(got, expected, "log_probs, parallel, no mask")


def check_gradients_match_unsharded() -> None:
    le, init, trans, mask = _hmm_args((7,), 12)
    init_seq = np.random.default_rng(3).dirichlet(np.ones(K), size=7)
    weights = jnp.linspace(0.5, 2.0, 7)  # a cotangent that differs per sequence

    def loss(fn, **kw):
        return lambda le, i, t, i_seq: weights @ (fn(le, i, t, mask, **kw) + fn(le, i_seq, t, **kw))

    args = (le, init, trans, init_seq)
    expected = jax.grad(loss(hmm.log_likelihood), argnums=(0, 1, 2, 3))(*args)
    got = jax.grad(loss(sharded_log_likelihood, devices=4), argnums=(0, 1, 2, 3))(*args)
    for name, g, e in zip(
        ("log_emission", "init", "trans", "init_seq"), got, expected, strict=True
    ):
        assert np.all(np.isfinite(g)), name
        _assert_close(g, e, f"gradient w.r.t. {name}")


def check_work_is_split_across_devices() -> None:
    le, init, trans, mask = _hmm_args((8,), 10)
    out = sharded_log_likelihood(le, init, trans, mask, devices=NUM_DEVICES)
    assert _devices_holding(out) == NUM_DEVICES
    assert all(s.data.shape == (2,) for s in out.addressable_shards)

    def total(le, devices):
        return sharded_log_likelihood(le, init, trans, mask, devices=devices).sum()

    hlo = jax.jit(total, static_argnums=1).lower(le, 4).compile().as_text()
    assert "all-reduce" in hlo  # per-device partial sums combined by XLA
    single = jax.jit(total, static_argnums=1).lower(le, 1).compile().as_text()
    assert "all-reduce" not in single


def check_mesh_context_shards_vmapped_value_and_grad() -> None:
    """As in a sampler: chains vmapped over value_and_grad, the mesh set around tracing."""
    le, init, trans, mask = _hmm_args((6,), 10)
    scales = jnp.linspace(0.5, 1.5, 5)  # 5 "chains"

    def logp(scale):
        return sharded_log_likelihood(le * scale, init, trans, mask).sum()

    batched = jax.jit(jax.vmap(jax.value_and_grad(logp)))
    plain = batched(scales)
    with shard_sequences(NUM_DEVICES) as mesh:
        assert dict(mesh.shape) == {SEQ_AXIS: NUM_DEVICES}
        assert "all-reduce" in batched.lower(scales).compile().as_text()
        sharded = batched(scales)
    assert "all-reduce" not in batched.lower(scales).compile().as_text()  # context left
    for p, s in zip(plain, sharded, strict=True):
        _assert_close(s, p, "vmapped value_and_grad under shard_sequences")


def _chain_fn(key, target):
    """A while loop whose trip count differs per chain (like a NUTS tree)."""

    def body(carry):
        total, steps = carry
        return total + jax.random.uniform(jax.random.fold_in(key, steps)), steps + 1

    return jax.lax.while_loop(lambda c: c[0] < target, body, (0.0, 0))


def check_chain_map_matches_vmap_and_spreads_chains() -> None:
    keys = jax.random.split(jax.random.key(0), 8)
    targets = jnp.arange(8.0)
    expected = jax.vmap(_chain_fn)(keys, targets)
    got = chain_map(NUM_DEVICES, 8)(_chain_fn)(keys, targets)
    np.testing.assert_array_equal(got[1], expected[1])
    _assert_close(got[0], expected[0], "chain_map totals")
    assert _devices_holding(got[0]) == NUM_DEVICES
    assert [len(_even_split(jax.devices(), n)) for n in (1, 2, 3, 4, 6, 8)] == [1, 2, 3, 4, 3, 4]
    assert len(chain_devices(None, 4)) == 1  # forced host devices are used only when asked
    try:
        chain_devices(4, 6)
    except ValueError as err:
        assert "chains=6" in str(err)
    else:
        raise AssertionError("chain_devices(4, 6) did not raise")
    plan = plan_devices("numpyro", 4, "chains", 4)
    assert plan.chain_method is plan.map_chains and not plan.progressbar
    spread = plan.chain_method(_chain_fn)(jax.random.split(jax.random.key(1), 4), targets[:4])
    assert _devices_holding(spread[0]) == NUM_DEVICES


def _hmm_model(loglik):
    import pymc as pm

    from jaxbridge import wrap

    le_data, init, trans, _ = _hmm_args((8,), 15, seed=5)
    y = le_data[..., 0]
    with pm.Model() as model:
        mu = pm.Normal("mu", [-1.0, 0.0, 1.0], 1.0)
        log_emission = pm.logp(pm.Normal.dist(mu, 1.0), y[..., None])
        pm.Potential("hmm", wrap(loglik)(log_emission, init, trans).sum())
    return model


SAMPLE_KWARGS = dict(draws=10, tune=10, chains=4, random_seed=3, progressbar=False)


def _recording_loglik(traced_with: list):
    """A sequence-sharded HMM likelihood that records the mesh it is traced under."""

    def loglik(log_emission, init, trans):
        traced_with.append(dict(jax.sharding.get_abstract_mesh().shape))
        return sharded_log_likelihood(log_emission, init, trans)

    return loglik


def check_sample_blackjax_chains_on_devices() -> None:
    from jaxbridge.pymc import sample

    idata = sample(_hmm_model(hmm.log_likelihood), sampler="blackjax", devices=4, **SAMPLE_KWARGS)
    mu = idata.posterior["mu"].values
    assert mu.shape == (4, 10, 3) and np.all(np.isfinite(mu))
    assert len({tuple(chain[-1]) for chain in mu}) == 4  # four distinct chains


def check_sample_numpyro_shards_sequences() -> None:
    from jaxbridge.pymc import sample

    traced_with = []
    model = _hmm_model(_recording_loglik(traced_with))
    idata = sample(model, sampler="numpyro", devices=4, shard="sequences", **SAMPLE_KWARGS)
    assert {SEQ_AXIS: NUM_DEVICES} in traced_with, traced_with
    mu = idata.posterior["mu"].values
    assert mu.shape == (4, 10, 3) and np.all(np.isfinite(mu))


def check_sample_inside_shard_sequences_block_shards() -> None:
    """The caller's mesh context reaches the sampler's worker thread: inside
    ``shard_sequences(4)`` the defaults split the sequences across the block's devices, as
    ``shard="sequences"`` does, and the result says so."""
    from jaxbridge.pymc import sample

    traced_with = []
    model = _hmm_model(_recording_loglik(traced_with))
    with shard_sequences(NUM_DEVICES):
        idata = sample(model, sampler="numpyro", **SAMPLE_KWARGS)
    assert {SEQ_AXIS: NUM_DEVICES} in traced_with, traced_with
    attrs = idata.posterior.attrs
    assert (attrs["jaxbridge_devices"], attrs["jaxbridge_split"]) == (NUM_DEVICES, "sequences")
    assert np.all(np.isfinite(idata.posterior["mu"].values))


def _same_draws(sampler: str, shard: str, loglik=hmm.log_likelihood) -> None:
    from jaxbridge.pymc import sample

    model = _hmm_model(loglik)
    kwargs = dict(SAMPLE_KWARGS, draws=40, tune=40, sampler=sampler, shard=shard)
    one = sample(model, devices=1, **kwargs).posterior["mu"].values
    four = sample(model, devices=4, **kwargs).posterior["mu"].values
    # chains: identical programs per chain; sequences: the likelihood differs by summation
    # order only, which short chains do not amplify beyond this
    np.testing.assert_allclose(four, one, rtol=1e-6, atol=1e-8, err_msg=f"{sampler}, {shard}")


def check_same_draws_numpyro_chains() -> None:
    _same_draws("numpyro", "chains")


def check_same_draws_blackjax_chains() -> None:
    _same_draws("blackjax", "chains")


def check_same_draws_numpyro_sequences() -> None:
    _same_draws("numpyro", "sequences", _recording_loglik([]))


def main(names: list[str]) -> None:
    results = {}
    for name in names:
        try:
            globals()[name]()
            results[name] = "ok"
        except Exception:  # report every failure with its traceback
            results[name] = traceback.format_exc()
    print(json.dumps(results))


if __name__ == "__main__":
    main(sys.argv[1:])
