"""The ``jaxbridge`` command line (``jaxbridge demo|simulate|fit|report``, or ``python -m jaxbridge``)."""

from jaxbridge.cli._main import console, main

__all__ = ["console", "main"]
