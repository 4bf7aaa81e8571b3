"""Chains of lagged states (``order > 0``) against enumeration of all regime paths and against
the same chain written as an ordinary HMM over ``K^(p+1)`` tuples."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.scipy.special import logsumexp

from jaxbridge import hmm
from jaxbridge.hmm import _lagged

from . import _reference as ref


def _tuple_columns(paths: np.ndarray, num_states: int, order: int) -> np.ndarray:
    """Column of ``log_emission`` of every step of every regime path ``[P, T + p]``: the tuple
    ``(z_t, ..., z_{t-p})`` in C order, ``[P, T]``."""
    num_steps = paths.shape[1] - order
    columns = np.zeros((len(paths), num_steps), dtype=int)
    for lag in range(order + 1):  # lag 0 is the leading digit
        columns += paths[:, order - lag : order - lag + num_steps] * num_states ** (order - lag)
    return columns


def _enumerated(log_emission, init, trans, order, mask=None, *, time_varying=False):
    """``log p(z, y)`` of every regime path ``z_{1-p}, ..., z_T`` (literal products)."""
    num_steps = log_emission.shape[0]
    num_states = init.shape[-1]
    paths = ref.all_paths(num_states, num_steps + order)
    columns = _tuple_columns(paths, num_states, order)
    terms = log_emission[np.arange(num_steps), columns]  # [P, T]
    if mask is not None:
        terms = jnp.where(jnp.asarray(mask), terms, 0.0)
    prob = init[paths[:, 0]]
    for s in range(1, num_steps + order):
        # the move into step t = s - order + 1; the p moves before step 1 use the first matrix
        trans_s = trans[max(s - order - 1, 0)] if time_varying else trans
        prob = prob * trans_s[paths[:, s - 1], paths[:, s]]
    return paths, jnp.log(prob) + jnp.sum(terms, axis=1)


def _random(rng, num_states, order, num_steps, batch=(), time_varying=False):
    size = num_states ** (order + 1)
    log_emission = rng.normal(size=(*batch, num_steps, size))
    init = rng.dirichlet(np.ones(num_states))
    shape = (num_steps - 1, num_states) if time_varying else (num_states,)
    trans = rng.dirichlet(np.ones(num_states), size=(*batch, *shape))
    return log_emission, init, trans


CASES = [(2, 1, 5, False), (2, 2, 5, True), (3, 1, 4, False), (2, 3, 4, False)]


@pytest.mark.parametrize(("num_states", "order", "num_steps", "time_varying"), CASES)
def test_likelihood_and_marginals_match_enumeration(
    rng, num_states, order, num_steps, time_varying
):
    log_emission, init, trans = _random(rng, num_states, order, num_steps, (2,), time_varying)
    mask = np.ones((2, num_steps), bool)
    mask[1, 2] = False
    options = dict(time_varying=time_varying, order=order)
    value = hmm.log_likelihood(log_emission, init, trans, mask, **options)
    filtered = hmm.filter(log_emission, init, trans, mask, **options)
    smoothed = hmm.smooth(log_emission, init, trans, mask, **options)
    best = hmm.viterbi(log_emission, init, trans, mask, **options)
    for n in range(2):
        paths, joint = _enumerated(
            log_emission[n], init, trans[n], order, mask[n], time_varying=time_varying
        )
        total = logsumexp(joint)
        np.testing.assert_allclose(value[n], total, rtol=1e-12)
        np.testing.assert_allclose(filtered.log_likelihood[n], total, rtol=1e-12)
        posterior = np.exp(joint - total)
        current = paths[:, order:]  # [P, T]
        marginals = np.stack(
            [(posterior[:, None] * (current == k)).sum(0) for k in range(num_states)], -1
        )
        np.testing.assert_allclose(smoothed.smoothed_probs[n], marginals, atol=1e-12)
        np.testing.assert_array_equal(best.path[n], current[np.argmax(joint)])
        np.testing.assert_allclose(best.log_prob[n], np.max(joint), rtol=1e-12)
        # filtered: the enumeration over the first t steps only
        for t in (1, num_steps - 1):
            _, head = _enumerated(
                log_emission[n, : t + 1],
                init,
                trans[n, :t] if time_varying else trans[n],
                order,
                mask[n, : t + 1],
                time_varying=time_varying,
            )
            head_paths = ref.all_paths(num_states, t + 1 + order)[:, -1]
            weights = np.exp(head - logsumexp(head))
            expected = [(weights * (head_paths == k)).sum() for k in range(num_states)]
            np.testing.assert_allclose(filtered.filtered_probs[n, t], expected, atol=1e-12)


@pytest.mark.parametrize(("num_states", "order", "num_steps", "time_varying"), CASES)
def test_gradient_matches_enumeration(rng, num_states, order, num_steps, time_varying):
    """The structured forward–backward VJP against JAX differentiating the literal sum."""
    log_emission, init, trans = _random(rng, num_states, order, num_steps, (), time_varying)
    options = dict(time_varying=time_varying, order=order)
    grads = jax.grad(lambda *a: hmm.log_likelihood(*a, **options), argnums=(0, 1, 2))(
        log_emission, init, trans
    )
    expected = jax.grad(
        lambda *a: logsumexp(_enumerated(*a, order, time_varying=time_varying)[1]),
        argnums=(0, 1, 2),
    )(log_emission, init, trans)
    for got, want in zip(grads, expected, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


def test_structured_chain_equals_the_dense_tuple_chain(rng):
    """Written as an ordinary HMM over the K^(p+1) tuples, the chain gives the same likelihood,
    gradient and (summed over the lags) smoothed probabilities: structure changes only the cost."""
    num_states, order = 2, 4
    log_emission, init, trans = _random(rng, num_states, order, 40, (3,))
    first, dense = _lagged.dense_chain(
        init, trans, time_varying=False, log_probs=False, order=order
    )
    assert dense.shape == (3, 32, 32)
    np.testing.assert_allclose(dense.sum(-1), 1.0, rtol=1e-12)
    assert int((dense > 0).sum(-1).max()) == num_states  # each tuple has K successors

    def structured(le, p0, a):
        return hmm.log_likelihood(le, p0, a, order=order).sum()

    def tuple_chain(le, p0, a):
        p0_tuple, a_tuple = _lagged.dense_chain(
            p0, a, time_varying=False, log_probs=False, order=order
        )
        return hmm.log_likelihood(le, p0_tuple, a_tuple).sum()

    np.testing.assert_allclose(
        structured(log_emission, init, trans), tuple_chain(log_emission, init, trans), rtol=1e-12
    )
    for got, want in zip(
        jax.grad(structured, argnums=(0, 1, 2))(log_emission, init, trans),
        jax.grad(tuple_chain, argnums=(0, 1, 2))(log_emission, init, trans),
        strict=True,
    ):
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)
    smoothed = hmm.smooth(log_emission, init, trans, order=order).smoothed_probs
    tuples = hmm.smooth(log_emission, first, dense).smoothed_probs
    np.testing.assert_allclose(smoothed, _lagged.regime_marginals(tuples, num_states), atol=1e-12)


def test_log_probs_and_float32(rng):
    log_emission, init, trans = _random(rng, 2, 2, 6, (2,))
    value = hmm.log_likelihood(log_emission, init, trans, order=2)
    logged = hmm.log_likelihood(log_emission, np.log(init), np.log(trans), log_probs=True, order=2)
    np.testing.assert_allclose(logged, value, rtol=1e-12)
    single = hmm.log_likelihood(
        *(np.asarray(a, np.float32) for a in (log_emission, init, trans)), order=2
    )
    assert single.dtype == np.float32
    np.testing.assert_allclose(single, value, rtol=1e-5)


def test_sampled_paths_follow_the_smoothed_marginals(rng, key):
    log_emission, init, trans = _random(rng, 2, 2, 8)
    paths = hmm.sample_paths(key, log_emission, init, trans, num_samples=4000, order=2)
    assert paths.shape == (4000, 8)
    smoothed = hmm.smooth(log_emission, init, trans, order=2).smoothed_probs
    np.testing.assert_allclose(np.mean(paths == 1, axis=0), smoothed[:, 1], atol=0.03)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"order": -1}, "order must be an integer >= 0"),
        ({"order": 1.5}, "order must be an integer >= 0"),
        ({"order": 1}, r"log_emission must have shape \[..., T, K\^\(order\+1\)\].*K=2.*4 columns"),
        ({"order": 2, "method": "parallel"}, "not available for lagged states"),
    ],
)
def test_bad_arguments(rng, kwargs, match):
    log_emission, init, trans = _random(rng, 2, 2, 5)
    with pytest.raises(ValueError, match=match):
        hmm.log_likelihood(log_emission, init, trans, **kwargs)


def test_tuple_layout_puts_the_current_regime_first():
    """Column ``z_t K^p + ... + z_{t-p}``: a chain that never leaves regime 1 only reaches the
    last tuple, and one that alternates reaches (1, 0, 1) and (0, 1, 0)."""
    stay = np.array([[0.0, 1.0], [0.0, 1.0]])
    flip = np.array([[0.0, 1.0], [1.0, 0.0]])
    start = np.array([0.0, 1.0])
    np.testing.assert_allclose(
        _lagged.tuple_init(start, stay, time_varying=False, log_probs=False, order=2),
        np.eye(8)[7],
    )
    np.testing.assert_allclose(
        _lagged.tuple_init(start, flip, time_varying=False, log_probs=False, order=2),
        np.eye(8)[int("101", 2)],
    )
    expected = np.zeros((8, 8))
    for i, j, k, n in itertools.product(range(2), repeat=4):
        expected[i * 4 + j * 2 + k, n * 4 + i * 2 + j] = flip[i, n]
    np.testing.assert_allclose(_lagged.dense_transitions(jnp.asarray(flip), 2), expected)
