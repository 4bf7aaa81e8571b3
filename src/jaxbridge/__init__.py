"""jaxbridge: JAX functions as first-class PyMC/PyTensor citizens, and a fast marginal HMM.

Importing jaxbridge changes no global state: no JAX configuration, no environment
variables, no compilation cache. Each layer is imported when first used, so
``import jaxbridge.hmm`` needs only JAX and ``import jaxbridge.wrap`` JAX and PyTensor.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

#: Public name -> module that defines it (imported on first access).
_EXPORTS = {
    "ConvergenceWarning": "jaxbridge.pymc",
    "MarginalHMM": "jaxbridge.pymc",
    "compare_states": "jaxbridge.pymc",
    "decode": "jaxbridge.pymc",
    "forecast": "jaxbridge.pymc",
    "gather_chains": "jaxbridge.pymc",
    "hmm_logp": "jaxbridge.pymc",
    "pseudo_residuals": "jaxbridge.pymc",
    "sample": "jaxbridge.pymc",
    "wrap": "jaxbridge.wrap",
    "shard_sequences": "jaxbridge.hmm",
    "sharded_log_likelihood": "jaxbridge.hmm",
    "enable_compilation_cache": "jaxbridge._config",
    "initialize_processes": "jaxbridge._hosts",
}
_SUBMODULES = ("datasets", "hmm")

__all__ = ["__version__", *_SUBMODULES, *_EXPORTS]

if TYPE_CHECKING:  # for type checkers and IDEs; at run time __getattr__ imports on first use
    from jaxbridge import datasets, hmm  # noqa: F401
    from jaxbridge._config import enable_compilation_cache  # noqa: F401
    from jaxbridge._hosts import initialize_processes  # noqa: F401
    from jaxbridge.hmm import shard_sequences, sharded_log_likelihood  # noqa: F401
    from jaxbridge.pymc import (  # noqa: F401
        ConvergenceWarning,
        MarginalHMM,
        compare_states,
        decode,
        forecast,
        gather_chains,
        hmm_logp,
        pseudo_residuals,
        sample,
    )
    from jaxbridge.wrap import wrap  # noqa: F401


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"jaxbridge.{name}")
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'jaxbridge' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)


class _Package(types.ModuleType):
    """``jaxbridge.wrap`` is the function, also once the subpackage of that name is imported.

    Importing a submodule binds it as an attribute of its package; for ``jaxbridge.wrap``
    the function the subpackage defines is bound instead. The subpackage stays importable
    (``from jaxbridge.wrap import JaxOp``).
    """

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "wrap" and isinstance(value, types.ModuleType):
            value = value.wrap
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
