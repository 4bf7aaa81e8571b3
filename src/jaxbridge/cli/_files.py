"""Outputs written all or nothing, never over a user's file without ``--force``."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from jaxbridge.cli._errors import CLIError


def refuse_overwrite(directory: Path, names: Iterable[str], *, force: bool) -> None:
    """Raise :class:`CLIError` when one of the files ``names`` exists in ``directory`` and not ``force``."""
    existing = [name for name in names if (directory / name).exists()]
    if existing and not force:
        what = (
            f"{directory / existing[0]} already exists"
            if len(existing) == 1
            else f"{directory}/ already holds {', '.join(existing)}"
        )
        raise CLIError(f"{what}; use --force to overwrite")


@contextmanager
def atomic_outputs(
    directory: Path, names: Iterable[str], *, force: bool
) -> Iterator[Callable[[str], Path]]:
    """Write the files ``names`` in ``directory`` all or nothing.

    Refuses (:class:`CLIError`) when one of them exists and ``force`` is false. Yields
    ``temp(name)``, the temporary path (same directory, same suffix) to write ``name`` to; on
    success every written temporary file is renamed into place (:func:`os.replace`) and the files
    of ``names`` that were not written are removed (an earlier run's optional outputs must not
    pass for this run's), on any error the temporary files, and the directories this call
    created, are removed.
    """
    names = list(names)
    refuse_overwrite(directory, names, force=force)
    created = _make_dirs(directory)
    temps: dict[str, Path] = {}

    def temp(name: str) -> Path:
        if name not in names:
            raise KeyError(f"{name!r} is not one of this command's outputs {names}")
        return temps.setdefault(name, directory / f".tmp-{os.getpid()}-{name}")

    try:
        yield temp
        for name, path in temps.items():
            os.replace(path, directory / name)
        for name in set(names) - set(temps):
            (directory / name).unlink(missing_ok=True)
    except BaseException:
        for path in temps.values():
            path.unlink(missing_ok=True)
        for folder in reversed(created):
            _remove_if_empty(folder)
        raise


def _make_dirs(directory: Path) -> list[Path]:
    """Create ``directory`` and missing parents; return the ones created, outermost first."""
    missing = [p for p in (directory, *directory.parents) if not p.exists()][::-1]
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise CLIError(f"{directory}: not a directory") from None
    except OSError as err:
        raise CLIError(f"{directory}: cannot create directory ({err.strerror})") from None
    return missing


def _remove_if_empty(folder: Path) -> None:
    with suppress(OSError):
        folder.rmdir()
