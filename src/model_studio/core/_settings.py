"""Reading settings.json key by key, and comparing settings: the engine's start-up load,
``reload_settings`` and ``update_settings(dry_run=True)`` share these.

A bad file or value never stops the studio: each problem becomes an entry of ``file_errors``
(``{"setting", "message", "value"}``) and that key keeps its value from the defaults, the
environment or the Jupyter config.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from traitlets import TraitError

from ..config import Settings, json_safe
from ..errors import ValidationError

log = logging.getLogger(__name__)


@dataclass
class SavedSettings:
    """What settings.json holds: the valid values (``values``), and the problems found (``errors``)."""

    values: dict[str, Any] = field(default_factory=dict)
    errors: list[dict[str, Any]] = field(default_factory=list)

    def error(self, path: Path, key: str | None, message: str, value: Any = None) -> None:
        log.warning("model_studio: %s: %s", path, message)
        entry: dict[str, Any] = {"setting": key, "message": message}
        if key is not None:
            entry["value"] = json_safe(value)
        self.errors.append(entry)


def read_saved(path: Path, mutable: Iterable[str], base: Mapping[str, Any]) -> SavedSettings:
    """Validate settings.json key by key against a trial ``Settings`` built from ``base``."""
    out = SavedSettings()
    mutable = tuple(mutable)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return out
    except (OSError, UnicodeDecodeError) as exc:
        out.error(path, None, f"{path.name} could not be read ({exc}); using the defaults")
        return out
    try:
        saved = json.loads(text)  # NaN/Infinity (written by older versions) parse; the traits refuse them
    except (ValueError, RecursionError) as exc:
        out.error(path, None, f"{path.name} is not valid JSON ({exc}); using the defaults")
        return out
    if not isinstance(saved, dict):
        out.error(path, None, f"{path.name} must hold a JSON object, not {type(saved).__name__}; using the defaults")
        return out
    trial = Settings(**{k: base[k] for k in mutable if k in base})
    for key, value in saved.items():
        if key not in mutable:
            out.error(path, key, f"{key!r} is not a setting that can be saved; ignored")
            continue
        try:
            setattr(trial, key, value)
        except (ValidationError, TraitError) as exc:
            message = exc.message if isinstance(exc, ValidationError) else str(exc)
            out.error(path, key, f"{message}; the default is used", value)
            continue
        out.values[key] = getattr(trial, key)
    return out


def changes_between(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """``{name: {"from": old, "to": new}}`` for every name of ``after`` whose value differs."""
    return {k: {"from": json_safe_value(before.get(k)), "to": json_safe_value(v)}
            for k, v in after.items() if before.get(k) != v}


def json_safe_value(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return json_safe(value)
