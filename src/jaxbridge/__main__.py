"""``python -m jaxbridge``: the ``jaxbridge`` command line."""

from jaxbridge.cli import main

raise SystemExit(main())
