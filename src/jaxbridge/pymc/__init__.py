"""PyMC glue: the marginal HMM as a PyMC distribution, ready-made models, decoding and
forecasting, one entry point to NUTS, merging chains sampled on several processes, model
checking (pseudo-residuals), Markov-switching regression, and choosing the number of hidden states (PSIS-LOO)."""

from jaxbridge.pymc._autoregression import switching_autoregression
from jaxbridge.pymc._compare import StateComparison, compare_states
from jaxbridge.pymc._covariates import covariate_transitions
from jaxbridge.pymc._decode import decode
from jaxbridge.pymc._diagnostics import ConvergenceWarning
from jaxbridge.pymc._distribution import MarginalHMM
from jaxbridge.pymc._forecast import forecast
from jaxbridge.pymc._gather import gather_chains
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
from jaxbridge.pymc._stationary import stationary_distribution
from jaxbridge.pymc._switching import switching_regression

__all__ = [
    "ConvergenceWarning",
    "MarginalHMM",
    "StateComparison",
    "compare_states",
    "covariate_transitions",
    "decode",
    "forecast",
    "gather_chains",
    "gaussian_hmm",
    "hmm_logp",
    "mvnormal_hmm",
    "page_hmm",
    "parameter_names",
    "poisson_hmm",
    "pseudo_residuals",
    "sample",
    "stationary_distribution",
    "studentt_hmm",
    "switching_autoregression",
    "switching_regression",
]
