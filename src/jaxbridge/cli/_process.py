"""What the ``jaxbridge`` program sets for its own process, and only there.

:func:`jaxbridge.cli.main` run in another program (a test, a notebook) changes none of this;
the console script and ``python -m jaxbridge`` (:func:`jaxbridge.cli.console`) do, as an
application may:

* PyTensor records no Python stack trace on each graph node it creates
  (``traceback__limit=0``): the command builds and rewrites thousands of nodes of its own
  models, whose traces would point into jaxbridge and PyMC, not to a user's code;
* Python's cyclic garbage collector freezes (:func:`gc.freeze`) the objects alive after the
  start-up imports, so that its full collections during the run no longer walk the modules of
  PyMC, PyTensor and JAX, and again before the process exits, which then skips a last
  collection of everything the run built.
"""

from __future__ import annotations

import gc


def after_startup() -> None:
    """Once PyMC, PyTensor and JAX are imported: the settings above, for this process."""
    import pytensor

    pytensor.config.traceback__limit = 0
    gc.freeze()


def before_exit() -> None:
    """At the end of the process: leave what the run built to the exit, uncollected."""
    gc.freeze()
