r"""The stationary distribution of a transition matrix, as a differentiable PyTensor graph.

For a row-stochastic :math:`A` (``A[i, j] = p(z_t = j \mid z_{t-1} = i)``) of an irreducible
chain, the stationary distribution is the unique :math:`\pi` with :math:`\pi A = \pi` and
:math:`\pi \mathbf 1 = 1`. Adding the second condition to the first as a rank-one term gives one
non-singular linear system,

.. math::

    \pi\,(I - A + \mathbf 1 \mathbf 1^\top) = \mathbf 1^\top,

solved directly (not by power iteration, which converges slowly for the sticky chains regime
models have): the result is exact to round-off and its gradient is that of the solve
(Paige 1975; statsmodels' "steady-state" initialisation solves the same equations by least
squares).
"""

from __future__ import annotations

from typing import Any

import pytensor.tensor as pt


def stationary_distribution(trans: Any) -> pt.TensorVariable:
    """Stationary distribution ``[..., K]`` of row-stochastic transition matrices ``[..., K, K]``.

    Parameters
    ----------
    trans : tensor ``[..., K, K]``
        ``trans[..., i, j] = p(z_t = j | z_{t-1} = i)``; the chain must be irreducible (every
        state reachable from every other), else the stationary distribution is not unique.

    Returns
    -------
    tensor ``[..., K]``
        :math:`\\pi` with :math:`\\pi A = \\pi`, summing to one (module docstring).
    """
    trans = pt.as_tensor_variable(trans)
    num = trans.shape[-1]
    system = pt.eye(num) - trans + pt.ones((num, num))
    # pi M = 1^T  <=>  M^T pi^T = 1
    ones = pt.ones((*tuple(trans.shape)[:-2], num))
    return pt.linalg.solve(pt.swapaxes(system, -1, -2), ones, b_ndim=1)
