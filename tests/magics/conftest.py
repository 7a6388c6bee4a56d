"""Fixtures shared by the magics tests: an IPython shell with the extension loaded, and ``studio``
to run ``%studio LINE`` on the process-wide engine (``studio_engine``, tests/conftest.py)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def shell():
    from IPython.core.interactiveshell import InteractiveShell

    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "model_studio")
    yield ip
    ip.run_line_magic("unload_ext", "model_studio")
    InteractiveShell.clear_instance()


@pytest.fixture
def studio(shell, studio_engine):
    """Run ``%studio LINE`` and return what the magic returned."""
    return lambda line="": shell.run_line_magic("studio", line)
