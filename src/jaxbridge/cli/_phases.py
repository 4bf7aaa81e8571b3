"""Where a command's wall time goes: its phases, timed back to back.

``fit`` marks the end of each phase (start-up, read, build, mode search, compile, sampling,
decode, forecast, replicated data, writing, figures); the seconds go into ``run.json``
(``"seconds"``) and, without ``--quiet``, into one line at the end. The phases follow each
other without gaps, so they add up to the command's wall time from :func:`~jaxbridge.cli.main`
on (the interpreter's own start, before it, is not counted).
"""

from __future__ import annotations

import time


class Phases:
    """Wall seconds per phase, in the order the phases first ended.

    Parameters
    ----------
    origin
        The ``time.perf_counter()`` at which the first phase began; now when ``None``.
    """

    def __init__(self, origin: float | None = None):
        self.seconds: dict[str, float] = {}
        self._last = time.perf_counter() if origin is None else origin

    def mark(self, name: str, **within: float) -> None:
        """End the phase ``name``: the time since the previous mark. ``within`` names parts of
        it that were timed inside (``mode_search=2.1``): they are recorded under their own
        names, before ``name``, and ``name`` keeps the rest."""
        now = time.perf_counter()
        rest = now - self._last
        self._last = now
        for part, seconds in within.items():
            seconds = min(max(float(seconds), 0.0), rest)
            self._add(part, seconds)
            rest -= seconds
        self._add(name, rest)

    def _add(self, name: str, seconds: float) -> None:
        self.seconds[name] = self.seconds.get(name, 0.0) + seconds

    def rounded(self) -> dict[str, float]:
        """The seconds per phase to 0.01 s, and their ``total``, for ``run.json``."""
        return {name: round(s, 2) for name, s in {**self.seconds, "total": self.total}.items()}

    @property
    def total(self) -> float:
        return sum(self.seconds.values())

    def line(self) -> str:
        """``"time: start-up 4.4 s, read 0.1 s, ... = 21.9 s"``: the phases in order."""
        parts = ", ".join(
            f"{name.replace('_', ' ')} {seconds:.1f} s" for name, seconds in self.seconds.items()
        )
        return f"time: {parts} = {self.total:.1f} s"
