"""The draws engine's conversion of a model's random graph to JAX (:class:`ForwardDraws`):
clean for one series, the case that gives the hidden chain's loop a batch of one."""

import logging

import numpy as np
import pymc as pm
import pytest
import xarray as xr

from jaxbridge.pymc import gaussian_hmm, switching_autoregression, switching_regression
from jaxbridge.pymc._draws import ForwardDraws

T = 40


def _one_series(rng, kind):
    y = rng.normal(size=T)
    x = rng.normal(size=(T, 2))
    return {
        "gaussian": lambda: gaussian_hmm(y[None], 2),
        "regression stationary": lambda: switching_regression(y, 2, exog=x),
        "regression free": lambda: switching_regression(y, 2, exog=x, init="free"),
        "regression tvtp": lambda: switching_regression(y, 2, exog=x, exog_tvtp=x[:, :1]),
        "autoregression": lambda: switching_autoregression(y, 2, order=2),
    }[kind]()


class _Errors(logging.Handler):
    """Records of PyTensor's log at ERROR (a rewrite that failed and was skipped)."""

    def __init__(self):
        super().__init__(logging.ERROR)
        self.records = []

    def emit(self, record):
        self.records.append(record.getMessage())


@pytest.mark.parametrize(
    "kind",
    ["gaussian", "regression stationary", "regression free", "regression tvtp", "autoregression"],
)
def test_one_series_converts_without_a_failed_rewrite_and_draws(rng, kind):
    model = _one_series(rng, kind)
    errors, logger = _Errors(), logging.getLogger("pytensor")
    logger.addHandler(errors)
    try:
        names = [rv.name for rv in model.observed_RVs]
        draws = ForwardDraws(model, names)
    finally:
        logger.removeHandler(errors)
    assert errors.records == []  # PyTensor printed these to the user's terminal
    point = pm.draw(model.free_RVs, draws=6, random_seed=1)
    posterior = xr.Dataset(
        {
            rv.name: (("chain", "draw", *(f"{rv.name}_{i}" for i in range(d.ndim - 1))),
                      d.reshape(2, 3, *d.shape[1:]))
            for rv, d in zip(model.free_RVs, point, strict=True)
        }
    )  # fmt: skip
    out = draws(posterior, seed=0)
    assert out is not None, "the random graph did not convert"
    (replicated,) = out.values()
    assert replicated.shape[:2] == (2, 3)
    assert np.isfinite(replicated).sum() >= 0.9 * replicated.size  # an AR's first lags: NaN
