"""jaxbridge: JAX functions as first-class PyMC/PyTensor citizens, and a fast marginal HMM.

Importing jaxbridge enables JAX float64 (x64) and JAX's persistent compilation cache;
see :mod:`jaxbridge._config` for how to opt out.
"""

from jaxbridge._config import enable_compilation_cache, enable_x64

enable_x64()
enable_compilation_cache()

from jaxbridge import datasets, hmm  # noqa: E402
from jaxbridge._sharding import shard_sequences, sharded_log_likelihood  # noqa: E402
from jaxbridge.pymc import MarginalHMM, decode, hmm_logp, sample  # noqa: E402
from jaxbridge.wrap import wrap  # noqa: E402  (after enable_x64)

__version__ = "0.1.0"

__all__ = [
    "MarginalHMM",
    "__version__",
    "datasets",
    "decode",
    "enable_compilation_cache",
    "hmm",
    "hmm_logp",
    "sample",
    "shard_sequences",
    "sharded_log_likelihood",
    "wrap",
]
