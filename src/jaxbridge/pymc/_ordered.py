r"""Ordered state parameters on a standardised unconstrained scale.

A transform of PyMC (:class:`pymc.distributions.transforms.Transform`) from increasing values
:math:`x_1 < \dots < x_K` in data units to :math:`\mathbb R^K`, with a location :math:`c` and a
scale :math:`s` factored out:

.. math::

    x_1 = c + s\,y_1 \ \ (\text{or } s\,e^{y_1} \text{ when } x > 0), \qquad
    x_k = x_{k-1} + s\,e^{y_k} \quad (k > 1),

so NUTS sees unit-scale coordinates whatever the data's location and scale (PyMC's
``ordered`` transform with an affine change of units; Stan's ``ordered``/``positive_ordered``
types). The log Jacobian determinant is :math:`K \log s + \sum_{k>1} y_k` (plus :math:`y_1`
when positive).

Prior draws of a univariate distribution under an order constraint are order statistics:
:meth:`StandardOrdered.forward` sorts them first, so the prior draws PyMC turns into start
points are valid (the density of the sorted draws is the constrained prior's, up to the
constant :math:`K!`). Ties have probability zero under a continuous prior, but PyMC's default
start point of iid states is one: :meth:`~StandardOrdered.forward` maps a tie to a gap of one
``scale``, so that start is :math:`c + s\,(0, 1, \dots, K-1)` and the model needs no
``initval`` (which :func:`pymc.do` and PyMC's JAX conversion refuse). Predictive draws from
the prior (:func:`pymc.draw`, :func:`pymc.sample_prior_predictive`) ignore transforms: they
are unordered; sort them to see the constrained prior.
"""

from __future__ import annotations

import numpy as np
import pytensor.tensor as pt
from pymc.distributions.transforms import Transform


class StandardOrdered(Transform):
    """Increasing values in data units ``[..., K]`` from unit-scale unconstrained ones.

    Parameters
    ----------
    center, scale
        The data's location :math:`c` and scale :math:`s > 0` (floats).
    positive
        Values above zero: the lowest is :math:`s\\,e^{y_1}` (``center`` is ignored).
    from_top
        Anchor the highest value instead, :math:`x_K = c + s\\,y_K`,
        :math:`x_k = x_{k+1} - s\\,e^{y_k}` (:math:`k < K`): for parameters whose highest state
        is the best determined, which the coordinates then separate from the gaps below it.
    """

    name = "ordered"
    ndim_supp = 1

    def __init__(
        self, center: float, scale: float, *, positive: bool = False, from_top: bool = False
    ) -> None:
        if not (np.isfinite(scale) and scale > 0):
            raise ValueError(f"scale must be positive and finite; got {scale}")
        if positive and from_top:
            raise ValueError("positive values are anchored at the lowest: from_top must be False")
        self.center = 0.0 if positive else float(center)
        self.scale = float(scale)
        self.positive = positive
        self.from_top = from_top

    def backward(self, value, *inputs):
        if self.from_top:
            below = pt.cumsum(pt.exp(value[..., -2::-1]), axis=-1)[..., ::-1]  # x_K - x_k, k < K
            offsets = pt.concatenate([-below, pt.zeros_like(value[..., :1])], axis=-1)
            return self.center + self.scale * (value[..., -1:] + offsets)
        first = pt.exp(value[..., :1]) if self.positive else value[..., :1]
        steps = pt.concatenate([first, pt.exp(value[..., 1:])], axis=-1)
        return self.center + self.scale * pt.cumsum(steps, axis=-1)

    def forward(self, value, *inputs):
        z = (pt.sort(value, axis=-1) - self.center) / self.scale
        first = pt.log(z[..., :1]) if self.positive else z[..., :1]
        gaps = pt.diff(z, axis=-1)
        ties_as_one = pt.log(pt.switch(gaps > 0, gaps, 1.0))
        if self.from_top:
            return pt.concatenate([ties_as_one, z[..., -1:]], axis=-1)
        return pt.concatenate([first, ties_as_one], axis=-1)

    def log_jac_det(self, value, *inputs):
        free = value if self.positive else value[..., :-1] if self.from_top else value[..., 1:]
        return value.shape[-1] * np.log(self.scale) + pt.sum(free, axis=-1)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, StandardOrdered) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash((type(self), *self._key()))

    def _key(self) -> tuple:
        return (self.center, self.scale, self.positive, self.from_top)
