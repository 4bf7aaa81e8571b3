"""PyMC glue: the marginal HMM as a PyMC distribution, decoding, and one entry point to NUTS."""

from jaxbridge.pymc._decode import decode
from jaxbridge.pymc._distribution import MarginalHMM
from jaxbridge.pymc._logp import hmm_logp
from jaxbridge.pymc._sample import sample

__all__ = ["MarginalHMM", "decode", "hmm_logp", "sample"]
