"""The painter: figures drawn in a worker process are the ones drawn in this process, each path
once, and a figure's error reaches the caller."""

import multiprocessing
import os

import matplotlib.image
import numpy as np
import pytest

from jaxbridge.cli._data import make_dataset
from jaxbridge.cli._figures import data_figure
from jaxbridge.cli._painter import Painter


@pytest.fixture
def data(rng):
    return make_dataset(rng.normal(size=(3, 20)), rng.integers(0, 2, size=(3, 20)))


def test_worker_draws_what_this_process_draws_and_reports_a_figures_error(data, tmp_path):
    here, there, broken = tmp_path / "here.png", tmp_path / "there.png", tmp_path / "broken.png"
    with Painter(parallel=False) as painter:
        painter.save(here, data_figure, data)
    with Painter(parallel=True) as painter:
        painter.save(there, data_figure, data)
        painter.wait()
        np.testing.assert_array_equal(matplotlib.image.imread(there), matplotlib.image.imread(here))
        painter.save(broken, data_figure, data.drop_vars("emissions"))  # no data to draw
        with pytest.raises(KeyError, match="emissions"):
            painter.wait()
    assert not broken.exists()


def _dies_in_a_worker(data):
    if multiprocessing.parent_process() is not None:
        os._exit(1)  # as a worker killed by the system
    return data_figure(data)


def test_figures_are_drawn_here_when_the_worker_dies(data, tmp_path):
    first, second = tmp_path / "first.png", tmp_path / "second.png"
    with Painter(parallel=True) as painter:
        painter.save(first, _dies_in_a_worker, data)
        painter.wait()
        painter.save(second, data_figure, data)  # the pool is broken: drawn here at once
        assert second.exists()
    assert matplotlib.image.imread(first).shape == matplotlib.image.imread(second).shape


def test_each_path_is_saved_once(data, tmp_path):
    path = tmp_path / "data.png"
    with Painter(parallel=False) as painter:
        painter.save(path, data_figure, data)
        first = path.stat().st_mtime_ns
        path.write_bytes(b"")  # a second drawing would write a PNG again
        painter.save(path, data_figure, data)
        painter.wait()
    assert path.read_bytes() == b"" and first > 0


def _drawn_by(data, record):
    """``data_figure``, slowly, writing the drawing process's id to ``record``."""
    import time

    time.sleep(1.0)
    record.write_text(str(os.getpid()))
    return data_figure(data)


def test_figures_pending_together_are_drawn_by_different_workers(data, tmp_path):
    with Painter(parallel=True) as painter:
        for name in ("a", "b"):
            painter.save(tmp_path / f"{name}.png", _drawn_by, data, tmp_path / f"{name}.pid")
        painter.wait()
    pids = {int((tmp_path / f"{name}.pid").read_text()) for name in ("a", "b")}
    assert len(pids) == 2 and os.getpid() not in pids
    assert (tmp_path / "a.png").exists() and (tmp_path / "b.png").exists()
