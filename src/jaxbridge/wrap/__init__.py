"""``jaxbridge.wrap``: JAX functions as PyTensor ops, with VJP gradients and value-and-grad fusion.

Modules: :mod:`._spec` (the flat JAX functions, hashable and picklable), :mod:`._signature`
(pytree arguments and output-type inference), :mod:`._op` (the op and its gradient),
:mod:`._rewrite` (value-and-VJP fusion), :mod:`._vectorize` (batching), :mod:`._numba`
(numba mode), :mod:`._wrap` (the :func:`wrap` entry point).
"""

from jaxbridge.wrap import _numba, _rewrite, _vectorize  # noqa: F401  (register rewrites)
from jaxbridge.wrap._op import JaxOp
from jaxbridge.wrap._wrap import Wrapped, wrap

__all__ = ["JaxOp", "Wrapped", "wrap"]
