"""After `pip install`, JupyterLab finds the lab extension and the widget bundles with no manual step
(the server extension is checked in tests/server)."""

from __future__ import annotations

import json
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


def test_the_version_is_written_once_and_read_by_the_build_and_the_package():
    # Given pyproject.toml (hatch builds the wheel's metadata from it)
    import tomllib

    root = Path(__file__).resolve().parents[1]
    pyproject = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    # Then the version is not written there, but read from model_studio/_version.py
    assert "version" not in pyproject["project"] and "version" in pyproject["project"]["dynamic"]
    source = root / pyproject["tool"]["hatch"]["version"]["path"]
    assert source == root / "src" / "model_studio" / "_version.py"
    # and that file is the one the package face (and the engine, the server, the Hub's user agent) reads
    from model_studio import _version

    assert Path(_version.__file__).resolve() == source.resolve()
    assert re.search(r'^__version__ = "([^"]+)"$', source.read_text(), re.M).group(1) == model_studio.__version__


def test_the_settings_schema_is_built_into_the_lab_extension_and_shipped():
    # Given the JupyterLab settings schema (Settings Editor -> Model Studio)
    root = Path(__file__).resolve().parents[1]
    source = json.loads((root / "labextension" / "schema" / "plugin.json").read_text(encoding="utf-8"))
    prefs = {"defaultChatModel", "temperature", "topP", "maxTokens", "refreshInterval", "byteUnits"}
    assert source["title"] == "Model Studio" and set(source["properties"]) == prefs
    # Then the lab extension build copies it where JupyterLab looks for it
    built = Path(model_studio.__file__).parent / "labextension" / "schemas" / "jupyter-model-studio" / "plugin.json"
    assert json.loads(built.read_text(encoding="utf-8")) == source
    # and the wheel ships that folder as the lab extension
    import tomllib

    shared = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["hatch"]["build"]["targets"][
        "wheel"]["shared-data"]
    assert shared["src/model_studio/labextension"] == "share/jupyter/labextensions/jupyter-model-studio"
