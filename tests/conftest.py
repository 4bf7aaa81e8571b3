"""Shared fixtures: seeded NumPy generators and JAX keys."""

import os

# keep the test run from writing into the user's cache directory
os.environ.setdefault("JAXBRIDGE_CACHE_DIR", "off")

import jax
import numpy as np
import pytest

# The test process computes its references in float64. jaxbridge itself never sets this flag
# (tests/test_import_hygiene.py checks that in fresh processes).
jax.config.update("jax_enable_x64", True)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20261125)


@pytest.fixture
def key() -> jax.Array:
    return jax.random.key(20261125)
