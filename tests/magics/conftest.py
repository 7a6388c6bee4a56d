"""Fixtures shared by the magics tests: an IPython shell with the extension loaded, and the
process-wide engine pointed at the fake Hub."""

from __future__ import annotations

import pytest

import model_studio


@pytest.fixture(scope="module")
def shell():
    from IPython.core.interactiveshell import InteractiveShell

    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "model_studio")
    yield ip
    ip.run_line_magic("unload_ext", "model_studio")
    InteractiveShell.clear_instance()


@pytest.fixture
def studio_engine(fake_hub, monkeypatch):
    """``model_studio.engine()`` pointing at the fake Hub (and the test's isolated home)."""
    monkeypatch.setenv("HF_ENDPOINT", fake_hub.url)
    model_studio._reset_engine()
    yield model_studio.engine()
    model_studio._reset_engine()


@pytest.fixture
def studio(shell, studio_engine):
    """Run ``%studio LINE`` and return what the magic returned."""
    return lambda line="": shell.run_line_magic("studio", line)
