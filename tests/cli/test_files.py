"""Outputs written all or nothing, never over a file without --force."""

import pytest

from jaxbridge.cli._errors import CLIError
from jaxbridge.cli._files import atomic_outputs


def test_atomic_outputs_all_or_nothing(tmp_path):
    out = tmp_path / "new" / "run"
    with pytest.raises(RuntimeError), atomic_outputs(out, ["a.txt", "b.txt"], force=False) as temp:
        temp("a.txt").write_text("a")
        raise RuntimeError("failure after writing one output")
    assert not (tmp_path / "new").exists()  # directories it created are gone too

    with atomic_outputs(out, ["a.txt", "b.txt"], force=False) as temp:
        temp("a.txt").write_text("a")
        temp("b.txt").write_text("b")
        assert not (out / "a.txt").exists()  # nothing visible before the end
    assert sorted(p.name for p in out.iterdir()) == ["a.txt", "b.txt"]


def test_atomic_outputs_refuses_to_overwrite_without_force(tmp_path):
    (tmp_path / "b.txt").write_text("old")
    with (
        pytest.raises(CLIError, match=r"b.txt already exists; use --force"),
        atomic_outputs(tmp_path, ["a.txt", "b.txt"], force=False),
    ):
        pass
    with pytest.raises(RuntimeError), atomic_outputs(tmp_path, ["b.txt"], force=True) as temp:
        temp("b.txt").write_text("new")
        raise RuntimeError
    assert (tmp_path / "b.txt").read_text() == "old"  # a failed --force run keeps the old file
    with atomic_outputs(tmp_path, ["b.txt"], force=True) as temp:
        temp("b.txt").write_text("new")
    assert (tmp_path / "b.txt").read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["b.txt"]


def test_outputs_not_written_this_time_are_removed_with_force(tmp_path):
    """An earlier run's optional output (a forecast) must not pass for this run's."""
    for name in ("a.txt", "forecast.csv", "mine.txt"):
        (tmp_path / name).write_text("old")
    with (
        pytest.raises(CLIError, match=r"already holds a\.txt, forecast\.csv"),
        atomic_outputs(tmp_path, ["a.txt", "forecast.csv"], force=False),
    ):
        pass
    with atomic_outputs(tmp_path, ["a.txt", "forecast.csv"], force=True) as temp:
        temp("a.txt").write_text("new")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "mine.txt"]
    assert (tmp_path / "mine.txt").read_text() == "old"  # files not among the outputs stay
