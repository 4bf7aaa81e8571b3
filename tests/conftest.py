"""Shared fixtures: seeded NumPy generators and JAX keys."""

import os

# keep the test run from writing into the user's cache directory
os.environ.setdefault("JAXBRIDGE_CACHE_DIR", "off")

import jax
import numpy as np
import pytest

import jaxbridge  # noqa: F401  (enables x64 before any array is created)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20261125)


@pytest.fixture
def key() -> jax.Array:
    return jax.random.key(20261125)
