"""``python -m jaxbridge``: the ``jaxbridge`` command line."""

from jaxbridge.cli import console

raise SystemExit(console())
