"""Named remote endpoints: OpenAI-compatible serving engines (vLLM, TGI, Ollama, LM Studio,
``llama_cpp.server``, another studio) the studio drives like its own model host.

Internal logic:
- an endpoint is a name, a base URL (what the ``openai`` SDK calls ``base_url``: the routes
  ``/models``, ``/chat/completions`` and ``/embeddings`` are below it, e.g. ``http://gpu:8000/v1``),
  an optional API key, extra headers, a timeout (seconds) and a batch concurrency;
- the settings live in the studio home: ``endpoints.json`` holds everything but the keys, which sit
  in ``endpoint_keys.json`` written 0600, so the settings file can be shown, copied or committed
  without leaking a key;
- a key is never returned (``has_key`` and a masked form instead) and never logged: it travels only
  in the ``Authorization`` header of requests to its own endpoint;
- ``test`` asks the endpoint for its model list: ``ok`` with the models, ``down`` (a typed
  ``NetworkError``: refused, unreachable or no answer within the timeout) or ``unauthorized`` (a
  typed ``EndpointAuthError``);
- the remote models are listed (cached briefly, so the Chat picker and ``/v1/models`` do not wait on
  an endpoint that is down every time) as ``remote/<endpoint>/<model id>``.
"""

from __future__ import annotations

import builtins
import json
import re
import threading
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ...errors import ConflictError, NotFoundError, StudioError, ValidationError
from ...validation import studio_error
from ..auth import mask
from ..private_file import write_private
from .client import RemoteClient, RemoteModel
from .refs import REMOTE_PREFIX, parse_remote, remote_id

_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$"
_HEADER = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$")  # an HTTP token (RFC 9110)
MODELS_TTL = 30.0  # seconds a model list (or a down endpoint's error) is reused
MAX_ENDPOINTS = 100


class Endpoint(BaseModel):
    """One remote serving engine (everything but its key)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=_NAME, description="letters, digits, '.', '_', '-'")
    base_url: str = Field(min_length=8, max_length=2000, description="the OpenAI base URL, e.g. http://gpu:8000/v1")
    headers: dict[str, str] = Field(default_factory=dict, max_length=32, description="extra request headers")
    timeout: float = Field(60.0, ge=0.1, le=3600, description="seconds without an answer before NetworkError")
    concurrency: int = Field(4, ge=1, le=64, description="requests a batch sends at once")

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str) -> str:
        import httpx

        value = value.strip().rstrip("/")
        try:
            url = httpx.URL(value)
        except Exception:
            raise ValueError("must be an http:// or https:// URL") from None
        if url.scheme not in ("http", "https") or not url.host or url.query or url.fragment:
            raise ValueError("must be an http:// or https:// URL without a query")
        return value

    @field_validator("headers")
    @classmethod
    def _headers(cls, value: dict[str, str]) -> dict[str, str]:
        for name, text in value.items():
            if not _HEADER.match(name):
                raise ValueError(f"{name!r} is not a header name")
            if name.lower() == "authorization":
                raise ValueError("give the key as api_key, not as an Authorization header (it is kept secret)")
            if len(text) > 4000 or any(c in text for c in "\r\n\x00"):
                raise ValueError(f"the value of {name} must be one line of at most 4000 characters")
        return value


def _checked(values: dict[str, Any]) -> Endpoint:
    import pydantic

    try:
        return Endpoint(**values)
    except pydantic.ValidationError as exc:
        raise studio_error(exc) from None


def _write_private(path: Path, data: Any, mode: int) -> None:
    write_private(path, json.dumps(data, indent=2), mode)


class EndpointService:
    """``engine.endpoints``: add, list, test, update and remove remote endpoints; their models."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self._lock = threading.RLock()
        self._clients: dict[str, RemoteClient] = {}
        # its own ``list`` method shadows the builtin in the class body: builtins.list in annotations
        self._models: dict[str, tuple[float, builtins.list[str], StudioError | None]] = {}

    # Storage -----------------------------------------------------------------------------------

    @property
    def settings_file(self) -> Path:
        return self.home / "endpoints.json"

    @property
    def keys_file(self) -> Path:
        return self.home / "endpoint_keys.json"

    def _read(self, path: Path) -> dict[str, Any]:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise ValidationError(f"{path.name} cannot be read: {exc}", details={"path": str(path)},
                                  resolution_steps=[f"Fix or delete {path}"]) from None
        return data if isinstance(data, dict) else {}

    def _endpoints(self) -> dict[str, Endpoint]:
        raw = self._read(self.settings_file)
        out = {}
        for name, values in raw.items():
            try:
                out[name] = Endpoint(**{**values, "name": name})
            except Exception:  # a hand-edited entry that no longer validates is skipped, not fatal
                continue
        return out

    def _keys(self) -> dict[str, str]:
        return {k: v for k, v in self._read(self.keys_file).items() if isinstance(v, str)}

    def _save(self, endpoints: dict[str, Endpoint], keys: dict[str, str]) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        _write_private(self.keys_file, {k: v for k, v in keys.items() if k in endpoints}, 0o600)
        _write_private(self.settings_file,
                       {n: e.model_dump(exclude={"name"}) for n, e in sorted(endpoints.items())}, 0o644)
        for name in list(self._clients):  # settings changed: the next request builds a new client
            self._clients.pop(name).close()
        self._models.clear()

    # Listing -----------------------------------------------------------------------------------

    def _view(self, endpoint: Endpoint, key: str | None) -> dict[str, Any]:
        return {**endpoint.model_dump(), "has_key": bool(key), "key_masked": mask(key)}

    def list(self, check: bool = False) -> builtins.list[dict[str, Any]]:
        """Every endpoint (the key only as ``has_key`` and ``key_masked``); ``check`` adds ``health``."""
        with self._lock:
            endpoints, keys = self._endpoints(), self._keys()
        out = [self._view(e, keys.get(n)) for n, e in sorted(endpoints.items())]
        if check:
            for view in out:
                view["health"] = self.test(view["name"])
        return out

    def get(self, name: str) -> dict[str, Any]:
        """One endpoint, as ``list`` shows it; ``NotFoundError`` for an unknown name."""
        endpoint = self._endpoint(name)
        return self._view(endpoint, self._keys().get(name))

    def _endpoint(self, name: str) -> Endpoint:
        endpoint = self._endpoints().get(name) if isinstance(name, str) else None
        if endpoint is None:
            raise NotFoundError(f"No remote endpoint named {name!r}", details={"endpoint": name},
                                resolution_steps=["List them with engine.endpoints.list()",
                                                  "Add one: engine.endpoints.add(NAME, 'http://HOST:PORT/v1', api_key=...)"])
        return endpoint

    # Changing ----------------------------------------------------------------------------------

    def add(self, name: str, base_url: str, *, api_key: str | None = None, headers: dict[str, str] | None = None,
            timeout: float = 60.0, concurrency: int = 4) -> dict[str, Any]:
        """Register an endpoint (``ConflictError`` if the name is taken); returns its view."""
        endpoint = _checked({"name": name, "base_url": base_url, "headers": headers or {}, "timeout": timeout,
                             "concurrency": concurrency})
        key = _key(api_key)
        with self._lock:
            endpoints, keys = self._endpoints(), self._keys()
            if name in endpoints:
                raise ConflictError(f"An endpoint named {name!r} exists", details={"endpoint": name},
                                    resolution_steps=[f"Change it with engine.endpoints.update({name!r}, ...)",
                                                      "Or pick another name"])
            if len(endpoints) >= MAX_ENDPOINTS:
                raise ValidationError(f"At most {MAX_ENDPOINTS} endpoints", details={"count": len(endpoints)})
            endpoints[name] = endpoint
            if key:
                keys[name] = key
            self._save(endpoints, keys)
        return self._view(endpoint, key)

    def update(self, name: str, *, base_url: str | None = None, api_key: str | None = None,
               headers: dict[str, str] | None = None, timeout: float | None = None,
               concurrency: int | None = None) -> dict[str, Any]:
        """Change an endpoint: ``None`` keeps a value; ``api_key=""`` removes the key."""
        with self._lock:
            endpoints, keys = self._endpoints(), self._keys()
            current = self._endpoint(name)
            changes = {k: v for k, v in {"base_url": base_url, "headers": headers, "timeout": timeout,
                                          "concurrency": concurrency}.items() if v is not None}
            endpoint = _checked({**current.model_dump(), **changes})
            endpoints[name] = endpoint
            if api_key is not None:
                key = _key(api_key)
                if key:
                    keys[name] = key
                else:
                    keys.pop(name, None)
            self._save(endpoints, keys)
            return self._view(endpoint, keys.get(name))

    def remove(self, name: str) -> dict[str, Any]:
        """Forget an endpoint and its key; returns ``{"removed": name}``."""
        with self._lock:
            endpoints, keys = self._endpoints(), self._keys()
            self._endpoint(name)
            endpoints.pop(name)
            keys.pop(name, None)
            self._save(endpoints, keys)
        return {"removed": name}

    # Talking to them ---------------------------------------------------------------------------

    def client(self, name: str) -> RemoteClient:
        """The HTTP client of endpoint ``name`` (one connection pool per endpoint)."""
        with self._lock:
            client = self._clients.get(name)
            if client is None:
                client = self._clients[name] = RemoteClient(self._endpoint(name), self._keys().get(name))
            return client

    def test(self, name: str) -> dict[str, Any]:
        """Health: ``{"name", "status": ok|down|unauthorized|error, "models", "latency", "error"}``
        (``latency`` in seconds; ``error`` the typed error's body when not ok)."""
        client = self.client(name)
        started = time.perf_counter()
        try:
            models = client.model_ids()
        except StudioError as exc:
            with self._lock:
                self._models[name] = (time.monotonic(), [], exc)
            status = {"NetworkError": "down", "EndpointAuthError": "unauthorized"}.get(exc.type, "error")
            return {"name": name, "status": status, "models": [], "latency": None, "error": exc.to_dict()["error"]}
        with self._lock:
            self._models[name] = (time.monotonic(), models, None)
        return {"name": name, "status": "ok", "models": [remote_id(name, m) for m in models],
                "latency": round(time.perf_counter() - started, 4), "error": None}

    def models(self, refresh: bool = False) -> builtins.list[dict[str, Any]]:
        """Every endpoint's models: ``{"id": "remote/<endpoint>/<model>", "name", "endpoint", "status":
        "remote"}``; an endpoint that is down lists none (``test`` says why)."""
        out: builtins.list[dict[str, Any]] = []
        for name in sorted(self._endpoints()):
            cached = self._models.get(name)
            if refresh or cached is None or time.monotonic() - cached[0] > MODELS_TTL:
                self.test(name)
                cached = self._models[name]
            out.extend({"id": remote_id(name, m), "name": m, "endpoint": name, "status": "remote"}
                       for m in cached[1])
        return out

    def model(self, model: str) -> RemoteModel:
        """``remote/<endpoint>/<model id>`` as a ``LoadedModel`` that streams from the endpoint."""
        endpoint, model_id = parse_remote(model)
        return RemoteModel(self.client(endpoint), model_id)

    def embed(self, texts: str | builtins.list[str], *, model: str) -> Any:
        """Embeddings of ``texts`` from a remote model, as a numpy array (one row per text)."""
        return self.model(model).embed(texts)

    def close(self) -> None:
        with self._lock:
            for client in self._clients.values():
                client.close()
            self._clients.clear()


def _key(api_key: Any) -> str | None:
    if api_key is None:
        return None
    if not isinstance(api_key, str) or len(api_key) > 4000 or any(c in api_key for c in "\r\n\x00"):
        raise ValidationError("api_key must be one line of at most 4000 characters", details={"parameter": "api_key"})
    return api_key.strip() or None


__all__ = ["Endpoint", "EndpointService", "REMOTE_PREFIX"]
