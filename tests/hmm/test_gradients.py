"""Gradients of log_likelihood: custom VJP vs exact autodiff, finite differences, masks."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from jaxbridge import hmm

from . import _reference as ref

ARGNUMS = (0, 1, 2)


def _with_zeros(init, trans):
    """Impossible transitions and a zero initial probability (renormalised)."""
    init = init.copy()
    init[0] = 0.0
    trans = trans.copy()
    trans[..., 0, 1] = 0.0
    trans[..., 2, 0] = 0.0
    return init / init.sum(), trans / trans.sum(-1, keepdims=True)


@pytest.mark.parametrize("method", ["sequential", "parallel"])
@pytest.mark.parametrize("time_varying", [False, True])
def test_grad_matches_enumeration_autodiff(rng, method, time_varying):
    """The forward–backward VJP equals jax.grad of the brute-force likelihood, zeros included."""
    num_steps = 5
    log_emission, init, trans = ref.random_hmm(rng, (2,), num_steps, 3, time_varying=time_varying)
    init, trans = _with_zeros(init, trans)
    mask = np.array([[True, False, True, True, False], [False, True, True, True, True]])

    def ours(le, p0, a):
        ll = hmm.log_likelihood(le, p0, a, mask, time_varying=time_varying, method=method)
        return jnp.sum(ll * jnp.array([1.0, -2.0]))  # non-trivial cotangent per sequence

    def reference(le, p0, a):
        lls = [
            ref.log_likelihood(le[n], p0, a, mask[n], time_varying=time_varying) for n in range(2)
        ]
        return lls[0] - 2.0 * lls[1]

    value, got = jax.value_and_grad(ours, ARGNUMS)(log_emission, init, trans)
    expected_value, expected = jax.jit(jax.value_and_grad(reference, ARGNUMS))(
        log_emission, init, trans
    )
    np.testing.assert_allclose(value, expected_value, rtol=1e-12)
    for g, e in zip(got, expected, strict=True):
        assert np.all(np.isfinite(g))
        np.testing.assert_allclose(g, e, rtol=1e-9, atol=1e-12)
    assert np.all(got[0][~mask] == 0.0)


def test_grad_matches_finite_differences(rng):
    """check_grads: reverse mode vs central differences, through unconstrained parameters."""
    log_emission, init, trans = ref.random_hmm(rng, (3,), 12, 3)
    mask = rng.random((3, 12)) < 0.8

    @jax.jit
    def f(le, init_logits, trans_logits):
        return jnp.sum(
            hmm.log_likelihood(
                le,
                jax.nn.log_softmax(init_logits),
                jax.nn.log_softmax(trans_logits),
                mask,
                log_probs=True,
            )
        )

    check_grads(f, (log_emission, np.log(init), np.log(trans)), order=1, modes=["rev"])


def test_grad_matches_seed_logsumexp_autodiff(rng):
    """Equal to plain autodiff of the seed page's log-space recursion (moderate T)."""
    log_emission, init, trans = ref.random_hmm(rng, (), 40, 3)
    got = jax.grad(hmm.log_likelihood, ARGNUMS)(log_emission, init, trans)
    expected = jax.jit(
        jax.grad(lambda le, p0, a: ref.logsumexp_forward(le, jnp.log(p0), jnp.log(a)), ARGNUMS)
    )(log_emission, init, trans)
    for g, e in zip(got, expected, strict=True):
        np.testing.assert_allclose(g, e, rtol=1e-9, atol=1e-12)


def test_emission_gradient_is_smoothed_marginals(rng):
    log_emission, init, trans = ref.random_hmm(rng, (2,), 7, 4)
    grad = jax.grad(lambda le: hmm.log_likelihood(le, init, trans).sum())(log_emission)
    np.testing.assert_allclose(
        grad, hmm.smooth(log_emission, init, trans).smoothed_probs, atol=1e-13
    )


@pytest.mark.parametrize("method", ["sequential", "parallel"])
def test_masked_nan_and_inf_do_not_leak(rng, method):
    """NaN/inf padding at masked steps: finite value, finite gradient, zero gradient there."""
    log_emission, init, trans = ref.random_hmm(rng, (2,), 8, 3)
    mask = np.ones((2, 8), bool)
    mask[0, 5:] = False
    mask[1, 2] = False
    clean = hmm.log_likelihood(log_emission, init, trans, mask, method=method)
    dirty = log_emission.copy()
    dirty[0, 5:] = np.nan
    dirty[1, 2] = [np.inf, -np.inf, np.nan]

    def f(le, p0, a):
        return hmm.log_likelihood(le, p0, a, mask, method=method).sum()

    value, grads = jax.value_and_grad(f, ARGNUMS)(dirty, init, trans)
    np.testing.assert_allclose(value, clean.sum(), rtol=1e-13)
    for g in grads:
        assert np.all(np.isfinite(g))
    assert np.all(grads[0][~mask] == 0.0)
    clean_grads = jax.grad(f, ARGNUMS)(log_emission, init, trans)
    for g, e in zip(grads, clean_grads, strict=True):
        np.testing.assert_allclose(g, e, atol=1e-13)


def test_second_derivatives_by_differentiating_the_vjp(rng):
    """Not required, but the backward pass is differentiable: Hessian matches enumeration."""
    log_emission, init, trans = ref.random_hmm(rng, (), 4, 3)
    got = jax.hessian(lambda a: hmm.log_likelihood(log_emission, init, a))(trans)
    expected = jax.jit(jax.hessian(lambda a: ref.log_likelihood(log_emission, init, a)))(trans)
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("time_varying", [False, True])
def test_grad_with_broadcast_batch_dims(rng, time_varying):
    """Cotangents of broadcast init/trans are summed over exactly the broadcast dims."""
    num_states, num_steps = 3, 4
    log_emission = rng.normal(size=(2, 3, num_steps, num_states))
    init = rng.dirichlet(np.ones(num_states), size=(2, 1))  # [2, 1, K]
    shape = (3, num_steps - 1, num_states) if time_varying else (3, num_states)
    trans = rng.dirichlet(np.ones(num_states), size=shape)  # [3, (T-1,) K, K]
    weights = rng.normal(size=(2, 3))

    def ours(le, p0, a):
        return jnp.sum(weights * hmm.log_likelihood(le, p0, a, time_varying=time_varying))

    def reference(le, p0, a):
        return sum(
            weights[i, j] * ref.log_likelihood(le[i, j], p0[i, 0], a[j], time_varying=time_varying)
            for i in range(2)
            for j in range(3)
        )

    got = jax.grad(ours, ARGNUMS)(log_emission, init, trans)
    expected = jax.jit(jax.grad(reference, ARGNUMS))(log_emission, init, trans)
    for g, e in zip(got, expected, strict=True):
        assert g.shape == e.shape
        np.testing.assert_allclose(g, e, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize(
    ("num_states", "time_varying", "method"),
    [(5, False, "sequential"), (5, True, "parallel"), (6, True, "sequential")],
)
def test_many_states_with_per_sequence_transitions(rng, method, time_varying, num_states):
    """K > 4 takes the array-contraction branches; per-sequence (and time-varying) transition
    matrices take the unshared one: value, gradients and smoothing against enumeration."""
    num_seq, num_steps = 2, 3
    log_emission = rng.normal(scale=2.0, size=(num_seq, num_steps, num_states))
    init = rng.dirichlet(np.ones(num_states))
    per_seq = (num_seq, num_steps - 1, num_states) if time_varying else (num_seq, num_states)
    trans = rng.dirichlet(np.ones(num_states), size=per_seq)
    mask = np.array([[True, False, True], [True, True, False]])
    options = dict(time_varying=time_varying, method=method)

    def ours(le, p0, a):
        ll = hmm.log_likelihood(le, p0, a, mask, **options)
        return jnp.sum(ll * jnp.array([1.0, -2.0]))

    def reference(le, p0, a):
        lls = [
            ref.log_likelihood(le[n], p0, a[n], mask[n], time_varying=time_varying)
            for n in range(num_seq)
        ]
        return lls[0] - 2.0 * lls[1]

    value, got = jax.value_and_grad(ours, ARGNUMS)(log_emission, init, trans)
    want_value, want = jax.jit(jax.value_and_grad(reference, ARGNUMS))(log_emission, init, trans)
    np.testing.assert_allclose(value, want_value, rtol=1e-12)
    for g, e in zip(got, want, strict=True):
        np.testing.assert_allclose(g, e, rtol=1e-9, atol=1e-12)
    smoothed = hmm.smooth(log_emission, init, trans, mask, **options).smoothed_probs
    for n in range(num_seq):
        want_n = ref.smoothed(log_emission[n], init, trans[n], mask[n], time_varying=time_varying)
        np.testing.assert_allclose(smoothed[n], want_n, atol=1e-10)
