"""jaxbridge.decode against brute-force enumeration and the page's true hidden states."""

import itertools

import numpy as np
import pymc as pm
import pytensor.tensor as pt
import pytest
import scipy.stats as st

from jaxbridge._compat import from_dict, group_names
from jaxbridge.datasets import seed_page_data
from jaxbridge.pymc import MarginalHMM, decode
from jaxbridge.pymc._draws import draw_chunks

INIT = np.array([0.6, 0.4])
TRANS = np.array([[0.7, 0.3], [0.2, 0.8]])


def _enumerate(log_emission, init, trans):
    """Posterior over all K^T paths of one sequence: (paths [P, T], probabilities [P])."""
    num_steps, num_states = log_emission.shape
    paths = np.array(list(itertools.product(range(num_states), repeat=num_steps)))
    logp = np.log(init[paths[:, 0]]) + log_emission[np.arange(num_steps), paths].sum(axis=1)
    logp += np.log(trans[paths[:, :-1], paths[:, 1:]]).sum(axis=1)
    probs = np.exp(logp - np.logaddexp.reduce(logp))
    return paths, probs


@pytest.fixture(scope="module")
def tiny():
    """Two sequences of 5 Normal observations, K=2; posterior draws of the emission mean shift."""
    y = np.array([[0.1, 1.2, 0.9, -0.2, 1.1], [1.0, 0.4, 0.6, 0.0, 1.3]])
    with pm.Model(coords={"seq": ["a", "b"], "t": range(5)}) as model:
        shift = pm.Normal("shift", 0.0, 1.0)
        emission = pm.Normal.dist(mu=pt.stack([shift, shift + 1.0]), sigma=0.5)
        MarginalHMM("y", INIT, TRANS, emission, observed=y, dims=("seq", "t"))
    shifts = np.array([[-0.1, 0.0, 0.1], [0.05, -0.05, 0.2]])  # 2 chains x 3 draws
    idata = from_dict({"posterior": {"shift": shifts}})
    return model, idata, y, shifts


def _log_emission(y, shift):
    return st.norm.logpdf(y[:, None], [shift, shift + 1.0], 0.5)


def test_state_probs_average_exact_marginals_over_draws(tiny):
    model, idata, y, shifts = tiny
    ds = decode(idata, model)
    assert ds["state_probs"].dims == ("seq", "t", "state")
    assert list(ds["seq"].values) == ["a", "b"]
    for n in range(2):
        expected = 0
        for shift in shifts.ravel():
            paths, probs = _enumerate(_log_emission(y[n], shift), INIT, TRANS)
            expected = expected + np.stack([probs @ (paths == k) for k in range(2)], axis=-1)
        np.testing.assert_allclose(ds["state_probs"].values[n], expected / shifts.size, atol=1e-10)
    np.testing.assert_array_equal(ds["most_probable_state"], ds["state_probs"].argmax("state"))


def test_state_probs_per_draw_are_each_draws_exact_marginals(tiny):
    """The per-draw probabilities behind posterior bands: each draw's marginals by
    enumeration, in (chain, draw) order, their mean the averaged ``state_probs``."""
    model, idata, y, shifts = tiny
    ds = decode(idata, model, state_probs_per_draw=True)
    per_draw = ds["state_probs_per_draw"]
    assert per_draw.dims == ("chain", "draw", "seq", "t", "state")
    for (c, d), n in itertools.product(np.ndindex(shifts.shape), range(2)):
        paths, probs = _enumerate(_log_emission(y[n], shifts[c, d]), INIT, TRANS)
        expected = np.stack([probs @ (paths == k) for k in range(2)], axis=-1)
        np.testing.assert_allclose(per_draw.values[c, d, n], expected, atol=1e-10)
    np.testing.assert_allclose(per_draw.mean(("chain", "draw")), ds["state_probs"], atol=1e-12)
    assert "state_probs_per_draw" not in decode(idata, model)


def test_draws_beyond_one_chunk_decode_each_draw_once(tiny, rng):
    """300 draws: two full chunks of 128 and a last one of 44 padded with copies of its last
    draw (one compiled shape), whose copies are left out of every result."""
    model, _, y, _ = tiny
    shifts = rng.normal(0.0, 0.3, size=(2, 150))
    ds = decode(from_dict({"posterior": {"shift": shifts}}), model, state_probs_per_draw=True)
    per_draw = ds["state_probs_per_draw"].values
    assert per_draw.shape == (2, 150, 2, 5, 2)
    for c, d in [(0, 0), (0, 127), (0, 128), (1, 105), (1, 106), (1, 149)]:  # chunk edges
        for n in range(2):
            paths, probs = _enumerate(_log_emission(y[n], shifts[c, d]), INIT, TRANS)
            expected = np.stack([probs @ (paths == k) for k in range(2)], axis=-1)
            np.testing.assert_allclose(per_draw[c, d, n], expected, atol=1e-10)
    np.testing.assert_allclose(per_draw.mean(axis=(0, 1)), ds["state_probs"], atol=1e-12)


def test_draw_chunks_pad_the_last_chunk_with_its_last_draw():
    values = np.arange(300)[:, None] * np.ones(3)
    chunks = list(draw_chunks([values, np.arange(300)], 300))
    assert [rows for rows, _ in chunks] == [128, 128, 44]
    assert all(len(a) == 128 for _, arrays in chunks for a in arrays)
    np.testing.assert_array_equal(chunks[2][1][1], [*range(256, 300), *[299] * 84])
    np.testing.assert_array_equal(chunks[2][1][0][:, 0], chunks[2][1][1])
    (rows, (few,)), *rest = draw_chunks([np.arange(5)], 5)  # fewer draws than a chunk: no padding
    assert rows == 5 and not rest
    np.testing.assert_array_equal(few, np.arange(5))


def test_viterbi_at_posterior_mean_and_per_draw_match_enumeration(tiny):
    model, idata, y, shifts = tiny
    mean_path = decode(idata, model)["viterbi"].values
    per_draw = decode(idata, model, viterbi="draws")["viterbi"]
    assert per_draw.dims == ("chain", "draw", "seq", "t")
    for n in range(2):
        paths, probs = _enumerate(_log_emission(y[n], shifts.mean()), INIT, TRANS)
        np.testing.assert_array_equal(mean_path[n], paths[np.argmax(probs)])
        for c, d in itertools.product(range(2), range(3)):
            paths, probs = _enumerate(_log_emission(y[n], shifts[c, d]), INIT, TRANS)
            np.testing.assert_array_equal(per_draw.values[c, d, n], paths[np.argmax(probs)])


def test_sampled_paths_follow_the_posterior_and_are_stored_in_idata(tiny):
    model, _, y, _ = tiny
    shifts = np.zeros((2, 400))  # one parameter value, many path draws
    idata = from_dict({"posterior": {"shift": shifts}})
    ds = decode(idata, model, sample_paths=True, random_seed=4, group="hidden_states")
    assert ds["paths"].dims == ("chain", "draw", "seq", "t")
    assert "hidden_states" in group_names(idata)
    for n in range(2):
        paths, probs = _enumerate(_log_emission(y[n], 0.0), INIT, TRANS)
        frequency = (ds["paths"].values[:, :, n] == 1).mean(axis=(0, 1))
        exact = probs @ (paths == 1)
        np.testing.assert_allclose(frequency, exact, atol=0.08)  # 800 draws: sd <= 0.018
    again = decode(idata, model, sample_paths=True, random_seed=4)
    np.testing.assert_array_equal(again["paths"], ds["paths"])


def test_decoding_the_page_data_at_true_parameters_recovers_the_states():
    data = seed_page_data()
    with pm.Model() as model:
        signal = pm.Normal("signal", 0, 1)
        noise = pm.HalfNormal("noise", 1)
        init = pm.Dirichlet("init", np.ones(3))
        trans = pm.Dirichlet("trans", np.ones(3), size=3)
        emission = pm.Normal.dist(mu=(pt.arange(3) + 1) * signal, sigma=noise)
        MarginalHMM("y", init, trans, emission, observed=data.emissions)
    idata = from_dict(
        {
            "posterior": {
                "signal": np.full((1, 2), data.signal),
                "noise": np.full((1, 2), data.noise),
                "init": np.broadcast_to(data.init, (1, 2, 3)),
                "trans": np.broadcast_to(data.trans, (1, 2, 3, 3)),
            }
        }
    )
    ds = decode(idata, model)
    assert ds["viterbi"].dims == ("sequence", "time")  # the builders' names, no y_dim_0
    assert (ds["viterbi"].values == data.states).mean() > 0.95
    assert (ds["most_probable_state"].values == data.states).mean() > 0.95


def test_decode_errors(tiny):
    model, idata, _, _ = tiny
    with pytest.raises(ValueError, match="viterbi must be"):
        decode(idata, model, viterbi="best")
    with pytest.raises(ValueError, match="no observed MarginalHMM named 'z'"):
        decode(idata, model, var_name="z")
    with pytest.raises(ValueError, match="lacks the model's free variables"):
        decode(from_dict({"posterior": {"other": np.zeros((1, 2))}}), model)


def test_unnamed_observations_get_the_builders_dim_names(rng):
    """A MarginalHMM without dims: sequence/time (sequence_0, sequence_1 for several batch
    axes), prefixed where the model already has a coordinate of that name; user dims kept."""
    with pm.Model(coords={"time": np.arange(3), "patient": list("abcd")}) as model:
        mu = pm.Normal("mu", 0.0, 1.0, shape=2)
        emission = pm.Normal.dist(mu=mu, sigma=1.0)
        MarginalHMM("y", np.full(2, 0.5), np.full((2, 2), 0.5), emission,
                    observed=rng.normal(size=(2, 3, 5)))  # fmt: skip
        MarginalHMM("z", np.full(2, 0.5), np.full((2, 2), 0.5), emission,
                    observed=rng.normal(size=(4, 3)), dims=("patient", "time"))  # fmt: skip
    idata = from_dict({"posterior": {"mu": rng.normal(size=(1, 2, 2))}})
    y = decode(idata, model, var_name="y")
    assert y["state_probs"].dims == ("sequence_0", "sequence_1", "y_time", "state")
    z = decode(idata, model, var_name="z")
    assert z["state_probs"].dims == ("patient", "time", "state")
    assert not [d for ds in (y, z) for d in ds.dims if "_dim_" in d]
