"""The one exception type the command line reports as a one-line error (exit code 2)."""


class CLIError(ValueError):
    """A user mistake: bad input file, bad argument, or an output that would be overwritten.

    The message names the problem and the file or argument; :func:`jaxbridge.cli.main` prints it
    as ``jaxbridge: error: <message>`` and returns exit code 2.
    """
