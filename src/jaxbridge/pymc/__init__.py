"""PyMC glue: the marginal HMM as a PyMC distribution, ready-made models, decoding, and one
entry point to NUTS, merging chains sampled on several processes, and model checking
(pseudo-residuals)."""

from jaxbridge._hosts import gather_chains
from jaxbridge.pymc._covariates import covariate_transitions
from jaxbridge.pymc._decode import decode
from jaxbridge.pymc._diagnostics import ConvergenceWarning
from jaxbridge.pymc._distribution import MarginalHMM
from jaxbridge.pymc._logp import hmm_logp
from jaxbridge.pymc._models import (
    gaussian_hmm,
    mvnormal_hmm,
    page_hmm,
    parameter_names,
    poisson_hmm,
    studentt_hmm,
)
from jaxbridge.pymc._residuals import pseudo_residuals
from jaxbridge.pymc._sample import sample

__all__ = [
    "ConvergenceWarning",
    "MarginalHMM",
    "covariate_transitions",
    "decode",
    "gather_chains",
    "gaussian_hmm",
    "hmm_logp",
    "mvnormal_hmm",
    "page_hmm",
    "parameter_names",
    "poisson_hmm",
    "pseudo_residuals",
    "sample",
    "studentt_hmm",
]
