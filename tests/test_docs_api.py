"""The API reference (docs/api/*.rst) lists every public name, so a new one cannot be missed."""

import importlib
import inspect
import re
from pathlib import Path

import pytest

API = Path(__file__).resolve().parents[1] / "docs" / "api"


def _documented() -> set[str]:
    """``module.name`` for every autosummary entry, under each page's ``currentmodule``."""
    found = set()
    for page in API.glob("*.rst"):
        module = None
        for line in page.read_text().splitlines():
            if match := re.match(r"\.\. (?:currentmodule|automodule):: (\S+)", line):
                module = match.group(1)
            elif (match := re.match(r"   ([A-Za-z_][\w.]*)$", line)) and module:
                found.add(f"{module}.{match.group(1)}")
    return found


@pytest.mark.parametrize("name", ["jaxbridge", "jaxbridge.hmm", "jaxbridge.pymc", "jaxbridge.wrap"])
def test_every_public_name_is_in_the_api_reference(name):
    module = importlib.import_module(name)  # jaxbridge.wrap the module, not the function
    documented = _documented()
    missing = [
        name
        for name in module.__all__
        if not name.startswith("__")
        and not inspect.ismodule(getattr(module, name))
        and f"{module.__name__}.{name}" not in documented
        and not any(d.endswith(f".{name}") and d.startswith("jaxbridge") for d in documented)
    ]
    assert not missing, f"add to docs/api/: {missing}"
