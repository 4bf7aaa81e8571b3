"""JAX's persistent compilation cache: an application's choice, offered as one call.

XLA compilation is a first-class cost of sampling a PyMC model with JAX, and a persistent
cache makes a second run of the same model compile much faster. Writing every program of
every library in the process to disk is the application's decision, not a library's: the
``jaxbridge`` command line turns it on for its own runs; importing :mod:`jaxbridge` does not.
"""

from __future__ import annotations

import os
from pathlib import Path

_OFF = {"", "0", "off", "none", "false", "no"}

#: Size cap of the cache directory (JAX evicts the least recently used entries beyond it).
MAX_CACHE_BYTES = 2 * 1024**3


def default_cache_dir() -> Path | None:
    """``$JAXBRIDGE_CACHE_DIR``, else ``$XDG_CACHE_HOME/jaxbridge/jax`` (``~/.cache/...``).

    ``None`` when ``JAXBRIDGE_CACHE_DIR`` is ``off`` (or ``0``, ``none``, ``false``, ``no``).
    """
    env = os.environ.get("JAXBRIDGE_CACHE_DIR")
    if env is not None:
        return None if env.strip().lower() in _OFF else Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "jaxbridge" / "jax"


def enable_compilation_cache(
    path: str | os.PathLike | None = None, *, max_size: int = MAX_CACHE_BYTES
) -> Path | None:
    """Turn on JAX's persistent compilation cache for this process (idempotent).

    Parameters
    ----------
    path
        Cache directory. ``None`` uses :func:`default_cache_dir`. A directory the user
        already set through ``jax_compilation_cache_dir`` is left alone.
    max_size
        Size cap of the directory in bytes (``jax_compilation_cache_max_size``).

    Returns
    -------
    The directory in use, or ``None`` when caching is off or the directory cannot be made.

    Notes
    -----
    Every program is cached, whatever its compile time: a sampling run compiles many small
    programs whose compile times add up, and loading one takes milliseconds
    (``benchmarks/compile_cache.py`` measures the effect).
    """
    import jax

    current = jax.config.jax_compilation_cache_dir
    if current and path is None:
        return Path(current)
    target = Path(path) if path is not None else default_cache_dir()
    if target is None:
        return None
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError:  # read-only home etc.: run without a cache rather than fail
        return None
    jax.config.update("jax_compilation_cache_dir", str(target))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    jax.config.update("jax_compilation_cache_max_size", int(max_size))
    return target
