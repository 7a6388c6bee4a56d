"""After `pip install`, JupyterLab finds the lab extension and the widget bundles with no manual step
(the server extension is checked in tests/server)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import model_studio

JUPYTER = [sys.executable, "-m", "jupyter"]


def _plain(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


def test_lab_extension_is_installed_and_enabled():
    out = subprocess.run([*JUPYTER, "labextension", "list"], capture_output=True, text=True, timeout=120)
    text = _plain(out.stdout + out.stderr)
    assert re.search(r"jupyter-model-studio v\S+ enabled OK", text), text


def test_widget_bundles_are_built_into_the_package():
    static = Path(model_studio.__file__).parent / "static"
    for name in ("library", "downloads", "system", "studio"):
        bundle = static / f"{name}.js"
        assert bundle.stat().st_size > 10_000 and b"export" in bundle.read_bytes()
