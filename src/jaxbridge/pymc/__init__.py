"""PyMC glue: the marginal HMM as a PyMC distribution, decoding, and one entry point to NUTS."""

from jaxbridge.pymc._sample import sample

__all__ = ["sample"]
