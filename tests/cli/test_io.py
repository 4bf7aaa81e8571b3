"""Input readers and validation of the command line."""

import numpy as np
import pytest

from jaxbridge.cli._data import describe, make_dataset, truth_of
from jaxbridge.cli._errors import CLIError
from jaxbridge.cli._io import read_data, write_data
from jaxbridge.cli._params import Truth

TRUTH = Truth(np.array([0.7, 0.3]), np.array([[0.9, 0.1], [0.2, 0.8]]), 1.5, 0.25)


def test_csv_long_form_ragged_missing_and_shuffled(tmp_path):
    # sequence "b" starts at time 3 (so its row 0 is time 3), has an empty field at time 5 and
    # a gap at time 6; sequence "a" has a NaN; rows are out of order; an extra column is ignored;
    # the file starts with a byte-order mark
    path = tmp_path / "d.csv"
    path.write_text(
        "\ufeffextra,Value,sequence,time\n"  # with a byte-order mark, as Excel writes
        "x,4.0,b,4\n"
        "x,1.0,a,0\n"
        "x,3.5,b,3\n"
        "x,,b,5\n"
        "x,NaN,a,1\n"
        "x,7.0,b,7\n"
        "\n"
        "x,2.0,a,2\n"
    )
    data = read_data(path)
    nan = np.nan
    expected = np.array([[3.5, 4.0, nan, nan, 7.0], [1.0, nan, 2.0, nan, nan]])
    np.testing.assert_array_equal(data["emissions"].values, expected)
    assert list(data["sequence"].values) == ["b", "a"]
    # "b" runs from time 3 to 7, "a" from 0 to 2: the NaN after "a" is padding, not data
    np.testing.assert_array_equal(data["lengths"].values, [5, 3])
    assert describe(data) == "2 sequences of 3 to 5 steps (median 4), 3 missing values"
    assert "states" not in data
    assert truth_of(data) is None


@pytest.mark.parametrize("suffix", [".nc", ".csv", ".npz", ".npy"])
def test_write_read_round_trip(tmp_path, rng, suffix):
    states = rng.integers(0, 2, size=(3, 6))
    emissions = rng.normal(size=(3, 6))
    emissions[1, 2] = np.nan
    lengths = np.array([6, 4, 5])  # ragged: padding past 4 and 5 steps
    data = make_dataset(emissions, states, TRUTH, lengths=lengths)
    path = tmp_path / f"d{suffix}"
    write_data(data, path)
    back = read_data(path)
    expected = np.where(np.arange(6) < lengths[:, None], emissions, np.nan)
    np.testing.assert_array_equal(back["emissions"].values, expected)
    # .npy holds emissions only: its NaNs are all missing values, no sequence ends early
    kept = lengths if suffix != ".npy" else [6, 6, 6]
    np.testing.assert_array_equal(back["lengths"].values, kept)
    if suffix in (".nc", ".npz"):  # the lossless formats keep states and truth
        np.testing.assert_array_equal(back["states"].values, states)
    if suffix != ".npy":  # CSV carries the truth on its first line, a comment
        for got, want in zip(truth_of(back), TRUTH, strict=True):
            np.testing.assert_array_equal(got, want)
    if suffix == ".csv":
        assert path.read_text().startswith("# jaxbridge-truth: {")


def test_csv_comment_lines_are_skipped_and_a_bad_truth_line_is_named(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text("# my notes\nsequence,time,value\n# more\na,0,1.5\na,1,2.5\n")
    np.testing.assert_array_equal(read_data(path)["emissions"].values, [[1.5, 2.5]])
    path.write_text('# jaxbridge-truth: {"init": [1.0]}\nsequence,time,value\na,0,1\na,1,2\n')
    with pytest.raises(CLIError, match=r"c.csv line 1: unreadable jaxbridge-truth line"):
        read_data(path)


def test_netcdf_dims_in_any_order(tmp_path):
    data = make_dataset(np.arange(6.0).reshape(2, 3), np.zeros((2, 3), dtype=int))
    data.transpose("time", "sequence").to_netcdf(tmp_path / "d.nc")
    back = read_data(tmp_path / "d.nc")
    np.testing.assert_array_equal(back["emissions"].values, data["emissions"].values)
    np.testing.assert_array_equal(back["states"].values, data["states"].values)


def test_npz_lengths_mark_padding_and_are_checked(tmp_path):
    path = tmp_path / "d.npz"
    emissions = np.arange(8.0).reshape(2, 4)
    np.savez(path, emissions=emissions, lengths=np.array([4, 2]))
    data = read_data(path)
    np.testing.assert_array_equal(data["emissions"].values[1], [4.0, 5.0, np.nan, np.nan])
    assert describe(data) == "2 sequences of 2 to 4 steps (median 3), 0 missing values"
    for bad, message in [
        (np.array([4, 5]), "lengths must lie in 1..4"),
        (np.array([4.0, 2.0]), "lengths must be 2 integers"),
        (np.array([4]), "lengths must be 2 integers"),
    ]:
        np.savez(path, emissions=emissions, lengths=bad)
        with pytest.raises(CLIError, match=message):
            read_data(path)


def test_npy_one_sequence(tmp_path):
    np.save(tmp_path / "one.npy", np.arange(5))
    data = read_data(tmp_path / "one.npy")
    np.testing.assert_array_equal(data["emissions"].values, [np.arange(5.0)])


def _write(tmp_path, name, content):
    path = tmp_path / name
    if callable(content):
        content(path)
    elif isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    return path


BAD_INPUTS = {
    "wrong suffix": ("d.txt", "1,2,3\n", "unsupported file type '.txt'"),
    "wrong columns": ("d.csv", "seq,t,y\na,0,1\n", "missing column(s) sequence, time, value"),
    "empty csv": ("d.csv", "", "empty file"),
    "header only": ("d.csv", "sequence,time,value\n", "no data rows"),
    "non-numeric value": ("d.csv", "sequence,time,value\na,0,1\na,1,abc\n", "line 3: value 'abc'"),
    "non-integer time": ("d.csv", "sequence,time,value\na,0.5,1\na,1,2\n", "time '0.5'"),
    "duplicate time": ("d.csv", "sequence,time,value\na,0,1\na,0,2\n", "time 0 twice"),
    "short row": ("d.csv", "sequence,time,value\na,0\n", "expected 3 fields, found 2"),
    "infinite value": ("d.csv", "sequence,time,value\na,0,inf\na,1,2\n", "not finite"),
    "one step": ("d.csv", "sequence,time,value\na,0,1\nb,0,2\n", "at least 2 steps, found 1"),
    "all missing": (
        "d.csv",
        "sequence,time,value\na,0,\na,1,nan\n",
        "every observation is missing",
    ),
    "timestamps for time": (
        "d.csv",
        "sequence,time,value\na,0,1\na,1700000000,2\n",
        "2 rows span 1700000001 time steps",
    ),
    "not utf-8": ("d.csv", b"sequence,time,value\n\xff\xfe,0,1\n", "cannot read csv file"),
    "garbage netcdf": ("d.nc", b"\x00\x01 not a netcdf file", "cannot read nc file"),
    "netcdf without emissions": (
        "d.nc",
        lambda p: make_dataset(np.ones((2, 3))).rename(emissions="y").to_netcdf(p),
        "no variable 'emissions' (found: y, lengths)",
    ),
    "garbage npz": ("d.npz", b"PK\x03\x04 broken zip", "cannot read npz file"),
    "pickled npy": (
        "d.npy",
        lambda p: np.save(p, np.array([{"a": 1}], dtype=object), allow_pickle=True),
        "cannot read npy file",
    ),
    "string npy": ("d.npy", lambda p: np.save(p, np.array([["a", "b"]])), "must be numbers"),
    "3-d npy": ("d.npy", lambda p: np.save(p, np.ones((2, 3, 4))), "shape [T] or [N, T]"),
    "npz without emissions": (
        "d.npz",
        lambda p: np.savez(p, a=np.ones(3), b=np.ones(3)),
        "expected an array named 'emissions' (found: a, b)",
    ),
    "npz bad truth": (
        "d.npz",
        lambda p: np.savez(
            p, emissions=np.ones((1, 3)), init=[0.5, 0.6], trans=np.eye(2), signal=1.0, noise=1.0
        ),
        "init must sum to one",
    ),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_is_a_one_line_error_naming_the_file(tmp_path, case):
    name, content, message = BAD_INPUTS[case]
    path = _write(tmp_path, name, content)
    with pytest.raises(CLIError) as info:
        read_data(path)
    text = str(info.value)
    assert message in text
    assert str(path) in text
    assert "\n" not in text


def test_missing_file(tmp_path):
    with pytest.raises(CLIError, match="no such file"):
        read_data(tmp_path / "absent.csv")
