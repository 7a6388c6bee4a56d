"""Naming a remote model: ``remote/<endpoint>/<model id>``.

The model id is the endpoint's own, taken verbatim after the second ``/`` (it may hold ``/`` and
``:``, as vLLM's ``org/name`` and Ollama's ``llama3:8b`` do), so no revision or variant is read
from it.
"""

from __future__ import annotations

import re

from ...errors import ValidationError

REMOTE_PREFIX = "remote/"
_ENDPOINT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
_MODEL = re.compile(r"^[^\s\x00-\x1f\x7f]{1,500}$")


def is_remote(model: object) -> bool:
    """True for a ``remote/...`` name (a string or a parsed ``ModelRef``)."""
    return str(getattr(model, "repo_id", model)).startswith(REMOTE_PREFIX)


def parse_remote(model: object) -> tuple[str, str]:
    """``(endpoint, model id)`` of ``remote/<endpoint>/<model id>``; ValidationError otherwise."""
    text = str(getattr(model, "repo_id", model)).strip()
    endpoint, _, model_id = text[len(REMOTE_PREFIX):].partition("/")
    if not text.startswith(REMOTE_PREFIX) or not _ENDPOINT.match(endpoint) or not _MODEL.match(model_id):
        raise ValidationError(f"Invalid remote model {text!r}: expected remote/<endpoint>/<model id>",
                              details={"model": text},
                              resolution_steps=["List remote models with engine.endpoints.models()"])
    return endpoint, model_id


def remote_id(endpoint: str, model_id: str) -> str:
    return f"{REMOTE_PREFIX}{endpoint}/{model_id}"
