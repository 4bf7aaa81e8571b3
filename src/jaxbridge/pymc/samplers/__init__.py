"""The NUTS samplers :func:`jaxbridge.sample` drives, one adapter module per library.

Each module exposes an :class:`~jaxbridge.pymc.samplers._base.Adapter`: its name, the library
it needs, what it can take, and ``run(request)``. A fifth sampler is one more module and one
more entry in :data:`ADAPTERS`.
"""

from jaxbridge.pymc.samplers import _blackjax, _numpyro, _nutpie, _pymc
from jaxbridge.pymc.samplers._base import Adapter, Request, Sampled

#: Every adapter by name, in the order ``sampler="auto"`` tries them: fastest first in
#: effective samples per second (compilation included) on the example page's workload, like
#: for like (``benchmarks/seed_workload.py``; ``benchmarks/RESULTS.md``, run of 2026-11-25
#: 14:29 UTC: nutpie 217, PyMC 84, NumPyro 29, BlackJAX 22 ESS/s).
ADAPTERS: dict[str, Adapter] = {
    adapter.name: adapter
    for adapter in (_nutpie.ADAPTER, _pymc.ADAPTER, _numpyro.ADAPTER, _blackjax.ADAPTER)
}

__all__ = ["ADAPTERS", "Adapter", "Request", "Sampled"]
