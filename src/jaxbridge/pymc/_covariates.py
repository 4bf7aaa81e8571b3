r"""Covariate-driven transitions: the hidden chain's moves as a multinomial logit.

With covariates :math:`x_{n,t} \in \mathbb R^P` per sequence and step,

.. math::

    \text{trans}[n, t-1, i, j] = p(z_t = j \mid z_{t-1} = i, x_{n,t})
    = \operatorname{softmax}_j\bigl(a_{ij} + \textstyle\sum_p x_{n,t,p}\, b_{ipj}\bigr),

the covariate at step :math:`t` driving the move from :math:`t-1` into :math:`t` (so
:math:`x_{n,0}` is not used). Staying is the reference: :math:`a_{ii} = b_{ipi} = 0`, so
:math:`a_{ij}` is the log-odds of moving from :math:`i` to :math:`j` rather than staying when
the covariates are zero, and :math:`b_{ipj}` how one unit of covariate :math:`p` changes it
(the input-driven HMMs of Bengio & Frasconi 1995; dynamax's ``LogisticRegressionHMM``).
"""

from __future__ import annotations

import numpy as np
import pytensor.tensor as pt


def check_covariates(
    covariates, observed_shape: tuple[int, int], name: str = "covariates"
) -> np.ndarray:
    """``covariates`` as float64 ``[N, T, P]`` for observations ``[N, T]`` (``name``: the
    argument's name in messages).

    ``[T, P]`` (one sequence) and ``[N, T]`` (one covariate) are accepted too.

    Raises
    ------
    ValueError
        Naming ``covariates`` and what was expected: the shape, or a finite value at the first
        step that is not.
    """
    n, t = observed_shape
    x = np.asarray(covariates, dtype=np.float64)
    if x.ndim == 2 and x.shape == (n, t):
        x = x[..., None]
    elif x.ndim == 2 and n == 1 and x.shape[0] == t:
        x = x[None]
    if x.ndim != 3 or x.shape[:2] != (n, t) or x.shape[2] < 1:
        raise ValueError(
            f"{name} must be [N, T, P] = [{n}, {t}, P] (or [{n}, {t}] for one covariate), "
            f"like the observations [{n}, {t}]; got shape {x.shape}"
        )
    bad = np.argwhere(~np.isfinite(x))
    if bad.size:
        seq, step, col = (int(i) for i in bad[0])
        raise ValueError(
            f"{name} must be finite at every step; {name}[{seq}, {step}, {col}] is "
            f"{x[seq, step, col]}"
        )
    return x


def covariate_transitions(covariates, intercept, coef) -> pt.TensorVariable:
    r"""Transition matrices ``[N, T-1, K, K]`` from covariates (module docstring's formula).

    Parameters
    ----------
    covariates : tensor ``[N, T, P]``
        The covariates of each sequence and step; step ``t`` drives the move into ``t``.
    intercept : tensor ``[K, K]``
        :math:`a_{ij}`; the diagonal is ignored (staying is the reference, logit zero).
    coef : tensor ``[K, P, K]``
        :math:`b_{ipj}`; ``coef[i, :, i]`` is ignored likewise.

    Returns
    -------
    tensor ``[N, T-1, K, K]``
        Row-stochastic transition matrices, for ``MarginalHMM(..., time_varying=True)``.
    """
    return transition_matrices(pt.as_tensor(covariates)[:, 1:], intercept, coef)


def transition_matrices(covariates, intercept, coef) -> pt.TensorVariable:
    """The transition matrix ``[..., K, K]`` at each covariate vector ``[..., P]``: the softmax
    of :func:`covariate_transitions` at every given step (none dropped)."""
    x = pt.as_tensor(covariates)
    intercept, coef = pt.as_tensor(intercept), pt.as_tensor(coef)
    moves = 1.0 - pt.eye(intercept.shape[0], dtype=intercept.dtype)  # zero on the diagonal
    logits = intercept + pt.tensordot(x, coef.transpose(1, 0, 2), axes=[[-1], [0]])
    return pt.special.softmax(logits * moves, axis=-1)
