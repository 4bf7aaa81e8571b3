"""Process-wide JAX settings jaxbridge relies on: the x64 switch and the compilation cache.

This is the one place where jaxbridge touches global JAX configuration.

* **x64.** JAX silently turns float64 arrays into float32 unless ``jax_enable_x64`` is
  set before arrays are created. PyMC and PyTensor default to float64, so importing
  :mod:`jaxbridge` enables x64. float32 inputs stay float32; only the silent
  *down*-cast of float64 is prevented. Set ``JAXBRIDGE_X64=0`` before import to opt out.
* **Persistent compilation cache.** XLA compilation is a first-class cost of sampling a
  PyMC model with JAX. jaxbridge points JAX's persistent compilation cache at a user
  cache directory (``$XDG_CACHE_HOME/jaxbridge/jax``, default ``~/.cache/jaxbridge/jax``)
  unless the user already configured one. ``JAXBRIDGE_CACHE_DIR`` picks another
  directory; ``JAXBRIDGE_CACHE_DIR=off`` (or ``0``/``none``) switches it off.
"""

from __future__ import annotations

import os
from pathlib import Path

import jax

_OFF = {"", "0", "off", "none", "false", "no"}


def enable_x64() -> None:
    """Make JAX keep float64 (``jax_enable_x64``) unless ``JAXBRIDGE_X64=0``."""
    if os.environ.get("JAXBRIDGE_X64", "1").strip().lower() in _OFF:
        return
    jax.config.update("jax_enable_x64", True)


def default_cache_dir() -> Path | None:
    """Directory of JAX's persistent compilation cache, or ``None`` when switched off."""
    env = os.environ.get("JAXBRIDGE_CACHE_DIR")
    if env is not None:
        return None if env.strip().lower() in _OFF else Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "jaxbridge" / "jax"


def enable_compilation_cache(path: str | os.PathLike | None = None) -> Path | None:
    """Turn on JAX's persistent compilation cache (idempotent).

    Parameters
    ----------
    path
        Cache directory. ``None`` uses :func:`default_cache_dir`. A directory the user
        already set through ``jax_compilation_cache_dir`` is left alone.

    Returns
    -------
    The directory in use, or ``None`` when caching is off.
    """
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
    # cache every program: a sampling run compiles many small programs (each under JAX's
    # default 1 s threshold) whose compile time adds up; loading one takes milliseconds
    # (benchmarks/compile_cache.py: warm `jaxbridge demo` 6.4x less JAX compile time at 0 s,
    # 2.3x at 0.1 s)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return target
