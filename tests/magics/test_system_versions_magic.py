"""``%studio system --versions``: the versions as text, in a plain shell and in a notebook."""

from __future__ import annotations

import platform

from model_studio import magics


def test_system_versions_as_text(studio, monkeypatch):
    from tests.test_versions import expected

    for notebook in (False, True):
        monkeypatch.setattr(magics._base, "in_notebook", lambda shell, nb=notebook: nb)
        text = studio("system --versions")._repr_mimebundle_()["text/plain"]
        assert "Python" in text and platform.python_version() in text
        assert (expected("torch") or "not installed") in text
        assert "llama.cpp" in text and "NVIDIA driver" in text
