"""A pydantic ``ValidationError`` as the studio's typed ``ValidationError``: one parameter named, its limit.

Parameters are declared as pydantic fields (``api.Operation.model``, ``engine.chat.SamplingParams``);
this turns pydantic's first error into ``{"parameter", "value", <limit>}`` details and a message
such as "Parameter 'temperature' must be at most 5", the shape REST clients and tests read.
"""

from __future__ import annotations

from typing import Any

import pydantic

from .errors import StudioError, ValidationError

# pydantic's error type -> (details key, ctx key, message); numbers are shown with :g
_LIMITS = {
    "greater_than_equal": ("minimum", "ge", "must be at least {:g}"),
    "less_than_equal": ("maximum", "le", "must be at most {:g}"),
    "greater_than": ("exclusive_minimum", "gt", "must be above {:g}"),
    "less_than": ("exclusive_maximum", "lt", "must be below {:g}"),
    "string_too_long": ("max_length", "max_length", "must be at most {} characters long"),
    "string_too_short": ("min_length", "min_length", "must be at least {} characters long"),
    "too_long": ("max_items", "max_length", "takes at most {} items"),
    "too_short": ("min_items", "min_length", "takes at least {} items"),
}
_EXTRA = ("extra_forbidden", "unexpected_keyword_argument")  # a model's, a dataclass's
_TYPES = {"int": "an integer", "float": "a number", "bool": "true or false", "string": "a string",
          "list": "a list", "dict": "an object", "model": "an object", "finite": "a finite number"}


def shown(value: Any) -> Any:
    """A value for an error's details: a long string or list is summarised, not echoed back."""
    return value if not isinstance(value, str | list) or len(value) <= 100 else f"<{len(value)} long>"


def studio_error(exc: pydantic.ValidationError, *, kinds: dict[str, str] | None = None) -> StudioError:
    """The first error of ``exc`` as a typed error naming the parameter (``loc[0]``).

    A ``StudioError`` raised inside a validator (``ModelRef.parse``) is passed on with the parameter
    added to its details. ``kinds`` names what each parameter must be ("an integer", "a list of
    strings") for type errors.
    """
    errors = exc.errors(include_url=False)
    extra = sorted(str(e["loc"][0]) for e in errors if e["type"] in _EXTRA)
    if extra:
        return ValidationError(f"Unknown parameter(s): {', '.join(extra)}", details={"unknown": extra})
    err = errors[0]
    name = str(err["loc"][0]) if err["loc"] else ""
    ctx = err.get("ctx") or {}
    value = err.get("input")
    cause = ctx.get("error")
    if isinstance(cause, StudioError):
        cause.details.setdefault("parameter", name)
        return cause
    details: dict[str, Any] = {"parameter": name}
    kind = err["type"]
    if kind == "missing":
        return ValidationError(f"Parameter '{name}' is required", details=details)
    details["value"] = shown(value)
    if kind in _LIMITS:
        key, ctx_key, message = _LIMITS[kind]
        limit = ctx[ctx_key]
        return ValidationError(f"Parameter '{name}' {message.format(limit)}", details={**details, key: limit})
    if kind == "literal_error":
        choices = [c.strip().strip("'") for c in str(ctx.get("expected", "")).replace(" or ", ", ").split(", ")]
        return ValidationError(f"Parameter '{name}' must be one of {', '.join(choices)}",
                               details={**details, "choices": choices})
    if kind == "value_error" and cause is not None:
        return ValidationError(f"Parameter '{name}' {cause}", details=details)
    if kind == "finite_number":
        expected = "a finite number"
    else:
        expected = (kinds or {}).get(name) or _TYPES.get(kind.split("_")[0], "valid")
    return ValidationError(f"Parameter '{name}' must be {expected}, got {shown(value)!r}", details=details)
