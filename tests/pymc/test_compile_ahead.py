"""Decoding, pseudo-residuals and forward draws compiled before the posterior exists
(``compile``, as ``jaxbridge fit`` does while the chains run): calling them on the posterior
then traces and compiles nothing, and gives what the one-off functions give."""

import jax
import numpy as np
import pymc as pm
import pytest
import xarray as xr

from jaxbridge._compat import from_dict, get_group
from jaxbridge.pymc import decode, gaussian_hmm, pseudo_residuals
from jaxbridge.pymc._decode import Decoder
from jaxbridge.pymc._draws import ForwardDraws
from jaxbridge.pymc._residuals import PseudoResiduals

#: JAX's event for every function it traces for compilation (a jit cache miss).
TRACED = "/jax/core/compile/jaxpr_trace_duration"


@pytest.fixture(scope="module")
def fitted():
    """A two-state Gaussian HMM and a stand-in posterior of 2 x 150 draws (beyond two chunks)."""
    rng = np.random.default_rng(3)
    states = (rng.random((4, 30)) < 0.5).astype(int)
    model = gaussian_hmm(rng.normal(2.0 * states, 0.5), 2)
    draws = pm.draw(model.free_RVs, draws=300, random_seed=4)
    posterior = {
        rv.name: np.sort(d, axis=-1) if rv.name == "emission_mu" else d
        for rv, d in zip(model.free_RVs, draws, strict=True)
    }
    posterior = {name: d.reshape(2, 150, *d.shape[1:]) for name, d in posterior.items()}
    return model, from_dict({"posterior": posterior})


def traced_while(run):
    """The number of functions JAX traced while ``run()`` ran, and its result."""
    events = []

    def listen(event, duration, **kwargs):
        if event == TRACED:
            events.append(event)

    jax.monitoring.register_event_duration_secs_listener(listen)
    try:
        result = run()
    finally:
        jax.monitoring.unregister_event_duration_listener(listen)
    return len(events), result


def test_nothing_left_to_compile_after_compiling_ahead(fitted):
    model, idata = fitted
    posterior = get_group(idata, "posterior")
    few = posterior.isel(chain=[0], draw=slice(0, 100))
    decoder, residuals = Decoder(model), PseudoResiduals(model)
    replicator = ForwardDraws(model, ["hmm"])
    decoder.compile(300)
    residuals.compile()
    replicator.compile(100)

    count, (decoded, resid, drawn) = traced_while(
        lambda: (decoder(idata), residuals(idata), replicator(few, 5))
    )
    assert count == 0

    xr.testing.assert_allclose(decoded, decode(idata, model), rtol=1e-12)
    xr.testing.assert_allclose(resid, pseudo_residuals(idata, model), rtol=1e-12)
    again = ForwardDraws(model, ["hmm"])(few, 5)
    np.testing.assert_array_equal(drawn["hmm"], again["hmm"])
    assert drawn["hmm"].shape == (1, 100, 4, 30)


def test_without_compiling_ahead_the_first_call_traces(fitted):
    """The control: the listener sees the traces a first call makes."""
    model, idata = fitted
    count, _ = traced_while(lambda: Decoder(model)(idata))
    assert count > 0
