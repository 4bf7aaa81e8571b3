"""hmm_logp and MarginalHMM log-densities against the example page and brute-force enumeration."""

import itertools

import numpy as np
import pymc as pm
import pytensor
import pytensor.tensor as pt
import pytest
import scipy.stats as st

from jaxbridge.datasets import seed_page_data, seed_page_vec_hmm_logp
from jaxbridge.pymc import MarginalHMM, hmm_logp
from jaxbridge.wrap import JaxOp, wrap

# ----------------------------------------------------------------------------- the page


def _priors():
    signal = pm.Normal("emission_signal", 0, 1)
    noise = pm.HalfNormal("emission_noise", 1)
    init = pm.Dirichlet("p_initial_state", np.ones(3))
    trans = pm.Dirichlet("p_transition", np.ones(3), size=3)
    return signal, noise, init, trans


@pytest.fixture(scope="module")
def page_models():
    """The page's model (Potential around its JAX forward algorithm) and our two versions."""
    y = seed_page_data().emissions
    with pm.Model() as page:
        signal, noise, init, trans = _priors()
        page_op = wrap(seed_page_vec_hmm_logp)
        pm.Potential("hmm", page_op(y, signal, noise, pt.log(init), pt.log(trans)))
    with pm.Model() as marginal:
        signal, noise, init, trans = _priors()
        emission = pm.Normal.dist(mu=(pt.arange(3) + 1) * signal, sigma=noise)
        MarginalHMM("y", init=init, trans=trans, emission=emission, observed=y)
    with pm.Model() as potential:
        signal, noise, init, trans = _priors()
        log_emission = pm.logp(pm.Normal.dist((pt.arange(3) + 1) * signal, noise), y[..., None])
        pm.Potential("hmm", hmm_logp(log_emission, init, trans).sum())
    return page, marginal, potential


def _random_points(model, n, seed):
    rng = np.random.default_rng(seed)
    base = model.initial_point()
    return [
        {k: v + rng.normal(0, 0.3, size=np.shape(v)) for k, v in base.items()} for _ in range(n)
    ]


def test_model_logp_and_gradient_equal_the_page_formulation(page_models):
    page, marginal, potential = page_models
    points = [*_random_points(page, 3, seed=1), _true_point()]
    page_logp, page_dlogp = page.compile_logp(), page.compile_dlogp()
    for model in (marginal, potential):
        logp, dlogp = model.compile_logp(), model.compile_dlogp()
        for point in points:
            np.testing.assert_allclose(logp(point), page_logp(point), rtol=1e-10)
            np.testing.assert_allclose(dlogp(point), page_dlogp(point), rtol=1e-7, atol=1e-7)


def _true_point():
    from pymc.distributions.transforms import simplex

    data = seed_page_data()
    return {
        "emission_signal": np.array(data.signal),
        "emission_noise_log__": np.log(data.noise),
        "p_initial_state_simplex__": simplex.forward(pt.as_tensor(data.init)).eval(),
        "p_transition_simplex__": simplex.forward(pt.as_tensor(data.trans)).eval(),
    }


def test_logp_dlogp_function_has_one_fused_jax_node(page_models):
    _, marginal, _ = page_models
    fn = marginal.logp_dlogp_function(ravel_inputs=True)._pytensor_function
    jax_nodes = [n for n in fn.maker.fgraph.apply_nodes if isinstance(n.op, JaxOp)]
    assert len(jax_nodes) == 1
    assert type(jax_nodes[0].op.spec).__name__ == "ValueAndVJP"
    # nothing is missing in the page's data: no mask reaches the kernel
    assert not any(inp.dtype == "bool" for inp in jax_nodes[0].inputs)


def test_gradient_matches_finite_differences(page_models):
    _, marginal, _ = page_models
    point = _random_points(marginal, 1, seed=5)[0]
    logp, dlogp = marginal.compile_logp(), marginal.compile_dlogp()
    flat = np.concatenate([np.ravel(v) for v in point.values()])
    shapes = [np.shape(v) for v in point.values()]

    def unflatten(x):
        out, i = {}, 0
        for key, shape in zip(point, shapes, strict=True):
            size = int(np.prod(shape))
            out[key] = x[i : i + size].reshape(shape)
            i += size
        return out

    eps = 1e-6
    numeric = [
        (logp(unflatten(flat + eps * e)) - logp(unflatten(flat - eps * e))) / (2 * eps)
        for e in np.eye(flat.size)
    ]
    np.testing.assert_allclose(dlogp(point), numeric, rtol=1e-5, atol=1e-4)


# ----------------------------------------------------------------------------- brute force


def _brute_force(log_emission, init, trans, present=None):
    """log p(y) by summing over all K^T paths; ``trans`` ``[K, K]`` or ``[T-1, K, K]``."""
    num_steps, num_states = log_emission.shape
    if present is None:
        present = np.ones(num_steps, bool)
    trans_t = trans if trans.ndim == 3 else np.broadcast_to(trans, (num_steps - 1, *trans.shape))
    total = []
    for path in itertools.product(range(num_states), repeat=num_steps):
        lp = np.log(init[path[0]])
        lp += sum(np.log(trans_t[t - 1][path[t - 1], path[t]]) for t in range(1, num_steps))
        lp += sum(log_emission[t, path[t]] for t in range(num_steps) if present[t])
        total.append(lp)
    return np.logaddexp.reduce(total)


POISSON_RATES = np.array([1.0, 6.0])
INIT2 = np.array([0.3, 0.7])
TRANS2 = np.array([[0.8, 0.2], [0.35, 0.65]])


def _poisson_log_emission(counts):
    return st.poisson.logpmf(counts[..., None], POISSON_RATES)


def test_poisson_marginal_logp_matches_enumeration(rng):
    counts = rng.poisson(3.0, size=(3, 5))
    rv = MarginalHMM.dist(INIT2, TRANS2, pm.Poisson.dist(POISSON_RATES), shape=counts.shape)
    logp = pm.logp(rv, counts).eval()
    expected = [_brute_force(le, INIT2, TRANS2) for le in _poisson_log_emission(counts)]
    assert logp.shape == (3,)
    np.testing.assert_allclose(logp, expected, rtol=1e-10)


def test_time_varying_transitions_match_enumeration(rng):
    counts = rng.poisson(3.0, size=(2, 4))
    trans = rng.dirichlet(np.ones(2), size=(3, 2))  # [T-1, K, K]
    rv = MarginalHMM.dist(
        INIT2, trans, pm.Poisson.dist(POISSON_RATES), time_varying=True, shape=counts.shape
    )
    logp = pm.logp(rv, counts).eval()
    expected = [_brute_force(le, INIT2, trans) for le in _poisson_log_emission(counts)]
    np.testing.assert_allclose(logp, expected, rtol=1e-10)


def test_student_t_emissions_per_sequence_parameters_match_enumeration(rng):
    """Emission parameters may vary per sequence and step ([N, T, K])."""
    y = rng.normal(size=(2, 4))
    mu = rng.normal(size=(2, 4, 2))
    rv = MarginalHMM.dist(INIT2, TRANS2, pm.StudentT.dist(nu=4, mu=mu, sigma=0.8))
    logp = pm.logp(rv, y).eval()
    log_emission = st.t.logpdf(y[..., None], 4, mu, 0.8)
    np.testing.assert_allclose(logp, [_brute_force(le, INIT2, TRANS2) for le in log_emission])


def test_missing_steps_by_mask_and_by_nan_match_enumeration(rng):
    y = rng.normal(2.0, 1.0, size=(2, 5))
    present = np.array([[True, False, True, True, False], [False, True, True, True, True]])
    emission = pm.Normal.dist(mu=[0.0, 3.0], sigma=1.0)
    expected = [
        _brute_force(st.norm.logpdf(y[n, :, None], [0.0, 3.0], 1.0), INIT2, TRANS2, present[n])
        for n in range(2)
    ]
    with pm.Model() as by_mask:
        junk = np.where(present, y, -1e6)  # garbage at masked steps must not matter
        MarginalHMM("y", INIT2, TRANS2, emission, mask=present, observed=junk)
    with pm.Model() as by_nan:
        MarginalHMM("y", INIT2, TRANS2, emission, observed=np.where(present, y, np.nan))
    for model in (by_mask, by_nan):
        elemwise = model.compile_fn(model.logp(sum=False), point_fn=False)()
        np.testing.assert_allclose(elemwise[0], expected, rtol=1e-10)
        assert not model.free_RVs  # NaN did not trigger PyMC's imputation


def test_nan_observations_give_finite_gradients(rng):
    y = rng.normal(2.0, 1.0, size=(3, 6))
    y[0, 2] = y[2, 0] = np.nan
    with pm.Model() as model:
        mu = pm.Normal("mu", 0, 3, shape=2)
        sigma = pm.HalfNormal("sigma", 1)
        MarginalHMM("y", INIT2, TRANS2, pm.Normal.dist(mu=mu, sigma=sigma), observed=y)
    point = model.initial_point()
    assert np.isfinite(model.compile_logp()(point))
    assert np.isfinite(model.compile_dlogp()(point)).all()


def test_symbolic_data_with_nan_is_masked_in_the_graph(rng):
    y = rng.normal(2.0, 1.0, size=(2, 5))
    y_nan = y.copy()
    y_nan[1, 3] = np.nan
    emission = pm.Normal.dist(mu=[0.0, 3.0], sigma=1.0)
    with pm.Model() as model:
        # pm.Data refuses NaN; a shared variable keeps them until the log-density
        MarginalHMM("y", INIT2, TRANS2, emission, observed=pytensor.shared(y_nan))
    logp = model.compile_fn(model.logp(sum=False), point_fn=False)()[0]
    present = ~np.isnan(y_nan)
    log_emission = st.norm.logpdf(y[..., None], [0.0, 3.0], 1.0)
    expected = [_brute_force(log_emission[n], INIT2, TRANS2, present[n]) for n in range(2)]
    np.testing.assert_allclose(logp, expected, rtol=1e-10)


def test_hmm_logp_in_python_and_jax_mode_agree(rng):
    log_emission = _poisson_log_emission(rng.poisson(3.0, size=(4, 6)))
    x = pt.tensor3("x")
    out = hmm_logp(x, INIT2, TRANS2)
    c_fn = pytensor.function([x], out)
    jax_fn = pytensor.function([x], out, mode="JAX")
    expected = [_brute_force(le, INIT2, TRANS2) for le in log_emission]
    np.testing.assert_allclose(c_fn(log_emission), expected, rtol=1e-10)
    np.testing.assert_allclose(jax_fn(log_emission), expected, rtol=1e-10)


def test_hmm_logp_gradient_verify_grad(rng):
    log_emission = _poisson_log_emission(rng.poisson(3.0, size=(2, 5)))
    pytensor.gradient.verify_grad(
        lambda le, init, trans: hmm_logp(le, init, trans).sum(),
        [log_emission, INIT2, TRANS2],
        rng=rng,
    )
