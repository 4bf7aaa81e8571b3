"""Dates in the ``time`` column: regular steps from ISO dates, months or quarters.

A long-form CSV's ``time`` is either an integer step (0, 1, 2, ...) or, in every row, a date in
one of three forms: ``YYYY-MM-DD`` (daily, weekly, monthly, quarterly or yearly data: the
frequency is the smallest gap between two dates), ``YYYY-MM`` (monthly) or ``YYYYQn``
(quarterly). Each date becomes its period's number at that frequency, so a step is one period,
a period with no row is a missing step (a gap, not a shift), and each step is labelled with its
period (``2001-03-31`` daily, ``2001-03`` monthly, ``2001Q1``, ``2001``; weekly by the week's
first day).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import NamedTuple

import numpy as np

from jaxbridge.cli._errors import CLIError

#: The accepted forms, by name, and the pandas frequency each implies (None: inferred).
FORMS = {
    "YYYY-MM-DD": (re.compile(r"\d{4}-\d{2}-\d{2}"), None),
    "YYYY-MM": (re.compile(r"\d{4}-\d{2}"), "M"),
    "YYYYQn": (re.compile(r"\d{4}[Qq][1-4]"), "Q"),
}
#: Frequencies of ISO dates by the smallest gap between two of them, in days.
GAPS = (((1, 1), "D"), ((7, 7), "W"), ((28, 31), "M"), ((89, 92), "Q"), ((365, 366), "Y"))
NAMES = {"D": "daily", "W": "weekly", "M": "monthly", "Q": "quarterly", "Y": "yearly"}


class Calendar(NamedTuple):
    """The dates' frequency (pandas' ``D``, ``W``, ``M``, ``Q`` or ``Y``)."""

    freq: str

    @property
    def name(self) -> str:
        return NAMES[self.freq]

    def labels(self, steps: np.ndarray) -> np.ndarray:
        """The label of each period number (:func:`to_steps`'s steps) as a string."""
        import pandas as pd

        periods = pd.PeriodIndex.from_ordinals(np.asarray(steps, dtype=np.int64), freq=self.freq)
        if self.freq == "W":
            return np.asarray(periods.start_time.strftime("%Y-%m-%d"), dtype=str)
        return np.asarray(periods.astype(str), dtype=str)


def step_labels(labels: np.ndarray, frequency: str, total: int) -> np.ndarray:
    """Labels of a sequence's steps ``0 .. total - 1`` (past its data too: a forecast's), from
    its own labels ``labels`` (``""`` past its end) and the data's ``frequency`` (a name of
    :data:`NAMES`)."""
    import pandas as pd

    freq = {name: code for code, name in NAMES.items()}[frequency]
    first = pd.Period(str(labels[0]), freq=freq).ordinal
    return Calendar(freq).labels(np.arange(first, first + total))


def form_of(text: str) -> str | None:
    """The date form ``text`` is written in (a key of :data:`FORMS`), or None."""
    for name, (pattern, _) in FORMS.items():
        if pattern.fullmatch(text):
            return name
    return None


def to_steps(texts: Iterable[str], where: str) -> tuple[dict[str, int], Calendar]:
    """Each date's step (its period's number) and the calendar, for dates all in one form.

    Raises
    ------
    CLIError
        Naming ``where``: dates in several forms, an invalid date, or ISO dates with no regular
        frequency (their smallest gap is not a day, a week, a month, a quarter or a year).
    """
    import pandas as pd

    texts = sorted(set(texts))
    forms = sorted({form_of(text) for text in texts})
    if len(forms) != 1:
        raise CLIError(f"{where}: 'time' mixes date forms ({', '.join(forms)}); use one")
    freq = FORMS[forms[0]][1]
    try:
        if freq == "Q":
            periods = pd.PeriodIndex([text.upper() for text in texts], freq="Q")
        else:
            stamps = pd.DatetimeIndex(texts)
    except (ValueError, TypeError) as err:
        raise CLIError(f"{where}: 'time' has a date that is not valid: {err}") from None
    if freq != "Q":
        freq = freq or _frequency(stamps, where)
        periods = stamps.to_period(freq)
    return dict(zip(texts, periods.asi8.tolist(), strict=True)), Calendar(freq)


def _frequency(stamps, where: str) -> str:
    """The frequency of ISO dates: the smallest gap between two distinct ones."""
    if len(stamps) < 2:
        return "D"
    days = np.asarray(stamps.values.astype("datetime64[D]").astype(np.int64))
    smallest = int(np.diff(days).min())
    for (low, high), freq in GAPS:
        if low <= smallest <= high:
            return freq
    raise CLIError(
        f"{where}: dates are not regular: their smallest gap is {smallest} days, not a day, a "
        "week, a month, a quarter or a year"
    )
