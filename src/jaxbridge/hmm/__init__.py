"""Pure-JAX hidden Markov model inference.

Stable scaled-probability forward–backward recursions (Rabiner 1989) with a custom VJP,
parallel-in-time variants (Särkkä & García-Fernández 2021; Hassan, Särkkä &
García-Fernández 2021), Viterbi decoding, posterior path sampling and simulation.

All inference functions take ``log_emission[..., T, K]``, ``init[..., K]`` and
``trans[..., K, K]`` (``[..., T-1, K, K]`` with ``time_varying=True``) as probabilities
(logs with ``log_probs=True``), an optional boolean ``mask[..., T]``, and broadcast the
batch dims ``...``. They are pure JAX functions: jit, vmap and grad apply. With
``order=p`` the emission depends on the current and ``p`` previous regimes (Hamilton 1989):
``log_emission[..., T, K^(p+1)]`` over those tuples, with a structured recursion.
"""

from jaxbridge.hmm._likelihood import filter, log_likelihood, smooth
from jaxbridge.hmm._sampling import sample_paths
from jaxbridge.hmm._sharding import shard_sequences, sharded_log_likelihood
from jaxbridge.hmm._simulate import simulate, simulate_normal
from jaxbridge.hmm._types import FilterResult, SmoothResult, ViterbiResult
from jaxbridge.hmm._viterbi import viterbi

__all__ = [
    "FilterResult",
    "SmoothResult",
    "ViterbiResult",
    "filter",
    "log_likelihood",
    "sample_paths",
    "shard_sequences",
    "sharded_log_likelihood",
    "simulate",
    "simulate_normal",
    "smooth",
    "viterbi",
]
