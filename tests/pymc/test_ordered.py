"""The ordered transform of the builders' state parameters (jaxbridge.pymc._ordered)."""

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest

from jaxbridge.pymc._ordered import StandardOrdered


def _functions(transform):
    y = pt.dvector("y")
    x = transform.backward(y)
    return (
        pytensor.function([y], x),
        pytensor.function([y], transform.log_jac_det(y)),
        pytensor.function([y], transform.forward(x)),
    )


@pytest.mark.parametrize("positive", [False, True])
def test_backward_is_increasing_and_its_log_jacobian_matches_finite_differences(rng, positive):
    transform = StandardOrdered(1000.0, 50.0, positive=positive)
    backward, log_jac_det, roundtrip = _functions(transform)
    for _ in range(5):
        y = rng.normal(size=4)
        x = backward(y)
        assert np.all(np.diff(x) > 0)
        assert not positive or x[0] > 0
        np.testing.assert_allclose(roundtrip(y), y, atol=1e-9)
        eps = 1e-6
        jac = np.stack(
            [(backward(y + eps * e) - backward(y - eps * e)) / (2 * eps) for e in np.eye(4)], 1
        )
        np.testing.assert_allclose(log_jac_det(y), np.linalg.slogdet(jac)[1], rtol=1e-6)


def test_forward_sorts_and_maps_ties_to_one_scale_apart():
    transform = StandardOrdered(10.0, 2.0)
    x = pt.dvector("x")
    forward_then_back = pytensor.function([x], transform.backward(transform.forward(x)))
    np.testing.assert_allclose(forward_then_back([14.0, 9.0, 11.0]), [9.0, 11.0, 14.0])
    np.testing.assert_allclose(forward_then_back([10.0, 10.0, 10.0]), [10.0, 12.0, 14.0])


def test_scale_must_be_positive():
    with pytest.raises(ValueError, match="scale must be positive"):
        StandardOrdered(0.0, 0.0)
