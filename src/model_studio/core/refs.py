"""Naming a model: ``org/name[@revision][:variant]``, ``local/<name>``, and the models of other
tools' stores, ``lmstudio/<name>`` and ``ollama/<name>[:<tag>]`` (the tag is part of the name, as in
Ollama; ``latest`` when left out), and ``remote/<endpoint>/<model id>`` (a model a remote serving
engine serves, ``core.remote.refs``).

``ModelRef.parse`` is the one place that reads and validates a model name; ``safe_filename`` is
the one place that validates a file path inside a repository.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ..errors import ValidationError

_NAME = r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9_])?"
_REPO_RE = re.compile(rf"^{_NAME}/{_NAME}$")
_REVISION_RE = re.compile(r"^[A-Za-z0-9._/-]{1,200}$")
_VARIANT_RE = re.compile(r"^[A-Za-z0-9._-]{1,100}$")
HEX40 = re.compile(r"^[0-9a-f]{40}$")
HEX64 = re.compile(r"^[0-9a-f]{64}$")

LOCAL_ORG = "local"
LMSTUDIO_ORG = "lmstudio"
OLLAMA_ORG = "ollama"
#: Organisations that name models on this machine, never on the Hub.
LOCAL_ORGS = (LOCAL_ORG, LMSTUDIO_ORG, OLLAMA_ORG)
#: Other tools' stores: their models are read, never changed.
STORE_ORGS = (LMSTUDIO_ORG, OLLAMA_ORG)
# An Ollama tag (``3b``, ``latest``, ``7b-instruct-q4_K_M``), as Ollama's own name rules allow.
_OLLAMA_TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$")
REMOTE_ORG = "remote"


def validate_repo_id(repo_id: str) -> str:
    """Return ``repo_id`` if it is a valid Hub model id (``org/name``), else raise ValidationError."""
    if not isinstance(repo_id, str) or not _REPO_RE.match(repo_id) or ".." in repo_id or "--" in repo_id:
        raise ValidationError(
            f"Invalid model id {repo_id!r}: expected 'org/name' (letters, digits, '.', '_', '-')",
            details={"model": repo_id},
            resolution_steps=["Use a Hub id such as 'Qwen/Qwen2.5-0.5B-Instruct-GGUF'."],
        )
    return repo_id


def validate_revision(revision: str) -> str:
    if (
        not _REVISION_RE.match(revision)
        or ".." in revision
        or revision.startswith("/")
        or revision.endswith("/")
        or "//" in revision
    ):
        raise ValidationError(f"Invalid revision {revision!r}", details={"revision": revision})
    return revision


def safe_filename(name: str) -> str:
    """Validate a repo-relative file path: no absolute path, no ``..``, no backslash, no NUL."""
    if (
        not isinstance(name, str)
        or not name
        or len(name) > 1000
        or "\x00" in name
        or "\\" in name
        or name.startswith("/")
        or re.match(r"^[A-Za-z]:", name)
    ):
        raise ValidationError(f"Invalid file name {name!r}", details={"file": name})
    if any(p in ("..", ".", "") for p in name.split("/")):
        raise ValidationError(f"Invalid file name {name!r}: no '..' or '.' segments", details={"file": name})
    return name


def ensure_within(root: Path, path: Path) -> Path:
    """Resolve ``path`` (following symlinks) and require it to stay inside ``root``."""
    root_resolved = root.resolve()
    resolved = path.resolve()
    if resolved != root_resolved and root_resolved not in resolved.parents:
        raise ValidationError(
            "Path escapes the model store",
            details={"path": str(path), "root": str(root)},
            resolution_steps=["Remove the stray symlink from the cache, or re-download the model."],
        )
    return resolved


@dataclass(frozen=True)
class ModelRef:
    """A parsed model name."""

    repo_id: str
    revision: str | None = None
    variant: str | None = None

    @property
    def is_local(self) -> bool:
        """A model named on this machine only: ``local/``, ``lmstudio/`` or ``ollama/``."""
        return self.repo_id.split("/", 1)[0] in LOCAL_ORGS

    @property
    def store(self) -> str | None:
        """``lmstudio`` or ``ollama`` for a model of another tool's store (read-only), else None."""
        org = self.repo_id.split("/", 1)[0]
        return org if org in STORE_ORGS else None

    @property
    def is_remote(self) -> bool:
        """``remote/<endpoint>/<model id>``: a model served by a remote endpoint (``core.remote``)."""
        return self.repo_id.startswith(REMOTE_ORG + "/")

    @property
    def name(self) -> str:
        return self.repo_id.split("/", 1)[1]

    @classmethod
    def parse(cls, text: str | ModelRef, *, revision: str | None = None, variant: str | None = None) -> ModelRef:
        """Parse ``org/name[@revision][:variant]``; explicit keyword values win over the text's."""
        if isinstance(text, ModelRef):
            ref = text
        else:
            if not isinstance(text, str) or not text.strip():
                raise ValidationError("A model name is required", details={"model": text})
            text = text.strip()
            if text.startswith(REMOTE_ORG + "/"):  # the endpoint's own model id, verbatim
                from .remote.refs import parse_remote

                parse_remote(text)
                if revision or variant:
                    raise ValidationError("A remote model takes no revision or variant", details={"model": text})
                return cls(text)
            if text.startswith(OLLAMA_ORG + "/"):
                ref = cls._parse_ollama(text)
            else:
                var = None
                rev = None
                if ":" in text:
                    text, var = text.rsplit(":", 1)
                if "@" in text:
                    text, rev = text.split("@", 1)
                ref = cls(validate_repo_id(text), rev, var)
        rev = revision if revision is not None else ref.revision
        var = variant if variant is not None else ref.variant
        if rev is not None:
            validate_revision(rev)
        if var is not None and not _VARIANT_RE.match(var):
            raise ValidationError(f"Invalid variant {var!r}", details={"variant": var})
        return cls(ref.repo_id, rev or None, var or None)

    @classmethod
    def _parse_ollama(cls, text: str) -> ModelRef:
        """``ollama/<name>[:<tag>][:<variant>]``: the tag belongs to the name (``latest`` by default);
        a third part is a quantization, as for any GGUF model (``ollama/x:latest:Q4_0``)."""
        parts = text.split(":")
        if len(parts) > 3:
            raise ValidationError(f"Invalid Ollama model name {text!r}: expected 'ollama/<name>[:<tag>]'",
                                  details={"model": text})
        name = validate_repo_id(parts[0]).split("/", 1)[1]
        tag = parts[1] if len(parts) > 1 else "latest"
        if not _OLLAMA_TAG_RE.match(tag):
            raise ValidationError(f"Invalid Ollama tag {tag!r}", details={"model": text, "tag": tag},
                                  resolution_steps=["Use a name such as 'ollama/llama3.2:3b'"])
        return cls(f"{OLLAMA_ORG}/{name}:{tag}", None, parts[2] if len(parts) > 2 else None)

    @classmethod
    def coerce(cls, value: str | ModelRef) -> ModelRef:
        """A service's ``model`` argument as a ModelRef: the REST and widget doors pass one already
        parsed (returned as is); a Python caller's text is parsed here."""
        return value if isinstance(value, ModelRef) else cls.parse(value)

    def with_(self, *, revision: str | None = None, variant: str | None = None) -> ModelRef:
        """This ref with a separately given revision or variant (quantization) folded in; ``None``
        keeps the ref's own. Only the new parts are validated: the name was parsed already."""
        return ModelRef.parse(self, revision=revision, variant=variant)

    def __str__(self) -> str:
        out = self.repo_id
        if self.revision:
            out += f"@{self.revision}"
        if self.variant:
            out += f":{self.variant}"
        return out


# --- GGUF quantization names --------------------------------------------------------------------

_QUANT_RE = re.compile(
    r"(?:^|[._\-])("
    r"I?Q[1-8](?:_[0-9])?(?:_K)?(?:_(?:XXS|XS|S|M|L|XL|NL))?"
    r"|F16|F32|BF16|FP16|FP32|MXFP4(?:_MOE)?|TQ[12]_0"
    r")(?=[._\-]|$)",
    re.IGNORECASE,
)
_SPLIT_RE = re.compile(r"-(\d{5})-of-(\d{5})\.gguf$", re.IGNORECASE)


def gguf_quant(filename: str) -> str | None:
    """The quantization a GGUF file name carries (``Q4_K_M``), or None."""
    base = PurePosixPath(filename).name
    if not base.lower().endswith(".gguf"):
        return None
    stem = _SPLIT_RE.sub("", base)
    stem = re.sub(r"\.gguf$", "", stem, flags=re.IGNORECASE)
    found = _QUANT_RE.findall(stem)
    if not found:
        return None
    return found[-1].upper().replace("FP16", "F16").replace("FP32", "F32")


def is_gguf_split_part(filename: str) -> bool:
    return bool(_SPLIT_RE.search(filename))
