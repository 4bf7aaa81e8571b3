"""log_likelihood / filter / smooth against brute-force enumeration and each other."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxbridge import hmm

from . import _reference as ref

CASES = [  # (K, T, masked, time_varying, method)
    (2, 1, False, False, "sequential"),
    (2, 6, True, False, "sequential"),
    (3, 5, False, True, "sequential"),
    (3, 5, True, True, "sequential"),
    (4, 4, True, False, "sequential"),
    (5, 3, False, False, "sequential"),
    (2, 1, False, False, "parallel"),
    (3, 5, True, True, "parallel"),
    (4, 4, True, False, "parallel"),
]
METHODS = ["sequential", "parallel"]


def _mask(rng, batch, num_steps, masked):
    if not masked:
        return None
    mask = rng.random((*batch, num_steps)) < 0.7
    mask[..., 0] = False  # a missing first observation is the harder case
    return mask


@pytest.mark.parametrize(("num_states", "num_steps", "masked", "time_varying", "method"), CASES)
def test_matches_enumeration(rng, method, num_states, num_steps, masked, time_varying):
    batch = (3,)
    log_emission, init, trans = ref.random_hmm(
        rng, batch, num_steps, num_states, time_varying=time_varying
    )
    mask = _mask(rng, batch, num_steps, masked)
    kwargs = dict(time_varying=time_varying, method=method)
    ll = hmm.log_likelihood(log_emission, init, trans, mask, **kwargs)
    filt = hmm.filter(log_emission, init, trans, mask, **kwargs)
    sm = hmm.smooth(log_emission, init, trans, mask, **kwargs)
    assert ll.shape == batch
    for n in range(batch[0]):
        mask_n = None if mask is None else mask[n]
        args = (log_emission[n], init, trans, mask_n)
        expected = ref.log_likelihood(*args, time_varying=time_varying)
        np.testing.assert_allclose(ll[n], expected, rtol=1e-10, atol=1e-13)
        np.testing.assert_allclose(filt.log_likelihood[n], expected, rtol=1e-10, atol=1e-13)
        np.testing.assert_allclose(sm.log_likelihood[n], expected, rtol=1e-10, atol=1e-13)
        np.testing.assert_allclose(
            sm.smoothed_probs[n], ref.smoothed(*args, time_varying=time_varying), atol=1e-10
        )
        # filtered p(z_t | y_1:t) is the smoothed marginal of the truncated sequence
        t = num_steps - 1
        truncated = (log_emission[n, : t + 1], init, trans[:t] if time_varying else trans)
        mask_t = None if mask_n is None else mask_n[: t + 1]
        np.testing.assert_allclose(
            filt.filtered_probs[n, t],
            ref.smoothed(*truncated, mask_t, time_varying=time_varying)[t],
            atol=1e-10,
        )


def test_filter_each_step_matches_enumeration(rng):
    log_emission, init, trans = ref.random_hmm(rng, (), 5, 3)
    filtered = hmm.filter(log_emission, init, trans).filtered_probs
    for t in range(5):
        expected = ref.smoothed(log_emission[: t + 1], init, trans)[t]
        np.testing.assert_allclose(filtered[t], expected, atol=1e-12)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("time_varying", [False, True])
def test_step_log_likelihood_is_the_one_step_ahead_density(rng, method, time_varying):
    """``log p(y_t | y_1:t-1) = log p(y_1:t) - log p(y_1:t-1)``, each by enumeration; zero (up
    to round-off) at masked steps; the terms sum to the log-likelihood."""
    num_steps = 5
    log_emission, init, trans = ref.random_hmm(rng, (2,), num_steps, 3, time_varying=time_varying)
    mask = _mask(rng, (2,), num_steps, True)
    filt = hmm.filter(log_emission, init, trans, mask, time_varying=time_varying, method=method)
    assert filt.step_log_likelihood.shape == (2, num_steps)
    for n in range(2):
        prefix = [0.0]
        for t in range(num_steps):
            trans_t = trans[:t] if time_varying else trans
            args = (log_emission[n, : t + 1], init, trans_t, mask[n, : t + 1])
            prefix.append(ref.log_likelihood(*args, time_varying=time_varying))
        np.testing.assert_allclose(filt.step_log_likelihood[n], np.diff(prefix), atol=1e-12)
        np.testing.assert_allclose(filt.step_log_likelihood[n][~mask[n]], 0.0, atol=1e-14)
    np.testing.assert_allclose(filt.step_log_likelihood.sum(-1), filt.log_likelihood, rtol=1e-12)


def test_parallel_equals_sequential_long(rng):
    log_emission, init, trans = ref.random_hmm(rng, (2,), 200, 4, time_varying=True)
    mask = rng.random((2, 200)) < 0.8
    kw = dict(time_varying=True)
    seq = hmm.smooth(log_emission, init, trans, mask, **kw)
    par = hmm.smooth(log_emission, init, trans, mask, method="parallel", **kw)
    np.testing.assert_allclose(par.log_likelihood, seq.log_likelihood, rtol=1e-12)
    np.testing.assert_allclose(par.smoothed_probs, seq.smoothed_probs, atol=1e-10)
    fs = hmm.filter(log_emission, init, trans, mask, **kw).filtered_probs
    fp = hmm.filter(log_emission, init, trans, mask, method="parallel", **kw).filtered_probs
    np.testing.assert_allclose(fp, fs, atol=1e-10)


def test_batch_broadcasting_matches_loop(rng):
    """Batch dims of every argument broadcast: per-sequence init/trans, shared emissions."""
    num_states, num_steps = 3, 7
    log_emission = rng.normal(size=(num_steps, num_states))  # no batch dim
    init = rng.dirichlet(np.ones(num_states), size=(2, 1))  # [2, 1, K]
    trans = rng.dirichlet(np.ones(num_states), size=(4, num_states))  # [4, K, K]
    mask = rng.random((2, 4, num_steps)) < 0.8
    for method in METHODS:
        ll = hmm.log_likelihood(log_emission, init, trans, mask, method=method)
        assert ll.shape == (2, 4)
        for i in range(2):
            for j in range(4):
                expected = ref.log_likelihood(log_emission, init[i, 0], trans[j], mask[i, j])
                np.testing.assert_allclose(ll[i, j], expected, rtol=1e-10)


def test_jit_and_vmap_agree_with_eager(rng):
    log_emission, init, trans = ref.random_hmm(rng, (5,), 8, 3)
    eager = hmm.log_likelihood(log_emission, init, trans)
    jitted = jax.jit(hmm.log_likelihood)(log_emission, init, trans)
    mapped = jax.vmap(hmm.log_likelihood, in_axes=(0, None, None))(log_emission, init, trans)
    np.testing.assert_allclose(jitted, eager, rtol=1e-13)
    np.testing.assert_allclose(mapped, eager, rtol=1e-13)


def test_log_probs_input(rng):
    log_emission, init, trans = ref.random_hmm(rng, (2,), 6, 3, time_varying=True)
    expected = hmm.log_likelihood(log_emission, init, trans, time_varying=True)
    got = hmm.log_likelihood(
        log_emission, np.log(init), np.log(trans), time_varying=True, log_probs=True
    )
    np.testing.assert_allclose(got, expected, rtol=1e-13)


@pytest.mark.parametrize("method", METHODS)
def test_float32_stays_float32(rng, method):
    log_emission, init, trans = ref.random_hmm(rng, (3,), 20, 3)
    args32 = [np.asarray(a, np.float32) for a in (log_emission, init, trans)]
    ll, grads = jax.value_and_grad(
        lambda *a: hmm.log_likelihood(*a, method=method).sum(), argnums=(0, 1, 2)
    )(*args32)
    assert ll.dtype == jnp.float32
    assert all(g.dtype == jnp.float32 for g in grads)
    np.testing.assert_allclose(ll, hmm.log_likelihood(log_emission, init, trans).sum(), rtol=1e-5)
    filt = hmm.filter(*args32, method=method)
    assert filt.filtered_probs.dtype == jnp.float32


def test_masked_padding_equals_shorter_sequence(rng):
    """Right-padding with masked steps leaves the likelihood unchanged."""
    log_emission, init, trans = ref.random_hmm(rng, (), 9, 3)
    mask = np.arange(9) < 6
    padded = log_emission.copy()
    padded[6:] = np.nan
    got = hmm.log_likelihood(padded, init, trans, mask)
    np.testing.assert_allclose(got, ref.log_likelihood(log_emission[:6], init, trans), rtol=1e-13)


def test_all_masked_is_zero(rng):
    log_emission, init, trans = ref.random_hmm(rng, (2,), 5, 3)
    mask = np.zeros((2, 5), bool)
    np.testing.assert_allclose(hmm.log_likelihood(log_emission, init, trans, mask), 0.0, atol=1e-14)
    np.testing.assert_allclose(
        hmm.smooth(log_emission, init, trans, mask).smoothed_probs[0, 0], init, atol=1e-14
    )


def test_smooth_differentiable(rng):
    """smooth has no custom rule: autodiff through it matches autodiff of enumeration."""
    log_emission, init, trans = ref.random_hmm(rng, (), 5, 3)

    def f(le):
        return jnp.sum(hmm.smooth(le, init, trans).smoothed_probs[:, 0] ** 2)

    def reference(le):
        return jnp.sum(jnp.asarray(_smoothed_jax(le, init, trans))[:, 0] ** 2)

    np.testing.assert_allclose(
        jax.grad(f)(log_emission), jax.jit(jax.grad(reference))(log_emission), atol=1e-12
    )


def _smoothed_jax(log_emission, init, trans):
    num_steps, num_states = log_emission.shape
    joint = ref.log_joint(log_emission, init, trans)
    post = jnp.exp(joint - jax.scipy.special.logsumexp(joint))
    onehot = jax.nn.one_hot(ref.all_paths(num_states, num_steps), num_states)  # [P, T, K]
    return jnp.einsum("p,ptk->tk", post, onehot)
