"""Sphinx configuration of the jaxbridge documentation.

Build (from the repository root): ``python -m sphinx -W --keep-going -b html docs docs/_build/html``.
The example notebooks under ``examples/`` are MyST-NB text notebooks, executed at every build.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import jaxbridge

DOCS = Path(__file__).resolve().parent

project = "jaxbridge"
author = "jaxbridge developers"
copyright = "jaxbridge developers"
release = version = jaxbridge.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    # MathJax served from the site itself, not a CDN: formulas render offline (clusters)
    "sphinx-mathjax-offline",
    "sphinx.ext.viewcode",
    "numpydoc",
    "myst_nb",
]

source_suffix = {".rst": "restructuredtext", ".md": "myst-nb"}
exclude_patterns = ["_build", "**.ipynb_checkpoints", "Thumbs.db", ".DS_Store"]
root_doc = "index"

# -- API reference ----------------------------------------------------------------------
autosummary_generate = True
autosummary_imported_members = True
autodoc_typehints = "none"  # numpydoc renders the types written in the docstrings
autodoc_default_options = {"member-order": "bysource"}
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
# numpydoc's docstring validation is left to review; -W still fails on malformed sections.
numpydoc_validation_checks: set[str] = set()

intersphinx_mapping: dict[str, tuple[str, None]] = {}

# -- Notebooks (MyST-NB) ----------------------------------------------------------------
nb_execution_mode = "force"  # every build runs every example: outputs are this commit's
nb_execution_timeout = 900  # per cell; the sampler comparison compiles four samplers
nb_execution_raise_on_error = True
nb_execution_show_tb = True
nb_merge_streams = True
# Pages run the command line as a user types it (``%%bash`` cells: a non-zero exit fails the
# build): the ``jaxbridge`` found first on PATH is the one installed beside this interpreter.
os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
myst_enable_extensions = ["dollarmath", "colon_fence"]

# -- HTML -------------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"jaxbridge {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
}
html_static_path: list[str] = []


# -- The command line's --help, generated at build time ---------------------------------
def _write_cli_help(app) -> None:
    """Write ``jaxbridge [COMMAND] --help`` into ``api/cli_help/`` for the CLI page.

    The text is the parser's own ``format_help()``, so the page never drifts from the code.
    """
    from jaxbridge.cli._main import build_parser

    os.environ["COLUMNS"] = "100"  # argparse wraps to the terminal width; fix it
    parser = build_parser()
    out = DOCS / "api" / "cli_help"
    out.mkdir(exist_ok=True)
    texts = {"jaxbridge": parser.format_help()}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):  # the sub-commands
            for name, sub in action.choices.items():
                texts[name] = sub.format_help()
    for name, text in texts.items():
        path = out / f"{name}.txt"
        if not path.exists() or path.read_text() != text:
            path.write_text(text)


def _check_math_offline(app, exc) -> None:
    """Fail the build when a page loads MathJax from elsewhere than the site itself (offline,
    every formula would show as raw LaTeX) or the bundled MathJax is missing."""
    if exc is not None or app.builder.format != "html":
        return
    from sphinx.errors import ExtensionError

    out = Path(app.outdir)
    if not (out / "_static" / "mathjax" / "tex-chtml.js").is_file():
        raise ExtensionError("the bundled MathJax is missing from _static/mathjax")
    for page in out.rglob("*.html"):
        for line in page.read_text(encoding="utf-8").splitlines():
            if "mathjax" in line.lower() and "<script" in line and "://" in line:
                raise ExtensionError(f"{page.relative_to(out)} loads MathJax from the network")


#: What example pages must not contain: silenced warnings (a user running the page would see
#: them: fix their cause or let them show) and the command line called through Python (show
#: it as a user types it, in a ``%%bash`` cell).
_NOT_IN_EXAMPLES = ("filterwarnings", "simplefilter", "subprocess", "catch_warnings")


def _check_examples(app) -> None:
    """Fail the build when an example page silences warnings or runs the CLI from Python."""
    from sphinx.errors import ExtensionError

    for page in sorted((DOCS / "examples").glob("*.md")):
        for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), 1):
            found = [word for word in _NOT_IN_EXAMPLES if word in line]
            if found:
                raise ExtensionError(
                    f"{page.relative_to(DOCS)}:{number} uses {found[0]}: example pages show "
                    "what a user sees and types (see _NOT_IN_EXAMPLES in conf.py)"
                )


def setup(app):
    app.connect("builder-inited", _write_cli_help)
    app.connect("builder-inited", _check_examples)
    # after sphinx-mathjax-offline's own build-finished handler has copied MathJax
    app.connect("build-finished", _check_math_offline, priority=900)
    return {"parallel_read_safe": True}
