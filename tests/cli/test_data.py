"""The in-memory data set: lengths, padding and its description."""

import numpy as np

from jaxbridge.cli._data import describe, make_dataset


def test_describe_counts_padding_apart_from_missing_values():
    emissions = np.ones((5, 60))
    lengths = np.array([20, 30, 40, 50, 60])
    emissions[0, 3] = emissions[4, 59] = np.nan  # two missing values within the sequences
    data = make_dataset(emissions, lengths=lengths)
    assert describe(data) == "5 sequences of 20 to 60 steps (median 40), 2 missing values"
    assert np.isnan(data["emissions"].values[0, 20:]).all()  # values past a length: dropped
    assert describe(make_dataset(np.ones((1, 7)))) == "1 sequence of 7 steps, 0 missing values"
