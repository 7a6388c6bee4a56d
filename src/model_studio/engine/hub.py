"""The Hub, as the engine sees it: huggingface_hub for metadata, URLs and headers; typed errors.

huggingface_hub reads ``HF_ENDPOINT`` at import time; the engine passes its own endpoint explicitly
so a test (or a user switching mirrors) can point one engine at another hub without re-importing.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from .. import __version__
from ..config import Settings
from ..errors import GatedRepoError, NetworkError, NotFoundError, StudioError, ValidationError
from .refs import HEX40, HEX64, safe_filename


@dataclass(frozen=True)
class RemoteFile:
    """One file of a repo revision as the Hub describes it."""

    path: str
    size: int
    blob_id: str  # git blob sha1 (of the LFS pointer for LFS files)
    sha256: str | None = None  # LFS files only

    @property
    def is_lfs(self) -> bool:
        return self.sha256 is not None

    @property
    def etag(self) -> str:
        """The blob name in the cache: sha256 for LFS files, git sha1 otherwise (as huggingface_hub does)."""
        return self.sha256 or self.blob_id


@dataclass
class RemoteRepo:
    repo_id: str
    commit: str
    files: list[RemoteFile]
    info: Any  # huggingface_hub ModelInfo

    def file(self, path: str) -> RemoteFile | None:
        return next((f for f in self.files if f.path == path), None)


class HubClient:
    """Metadata from the Hub through huggingface_hub, with errors mapped to studio errors."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @property
    def endpoint(self) -> str:
        return self.settings.hf_endpoint

    def api(self):
        from huggingface_hub import HfApi

        return HfApi(endpoint=self.endpoint, token=self.settings.hf_token, library_name="model-studio",
                     library_version=__version__)

    def headers(self) -> dict[str, str]:
        from huggingface_hub.utils import build_hf_headers

        return build_hf_headers(token=self.settings.hf_token, library_name="model-studio",
                                library_version=__version__)

    def file_url(self, repo_id: str, commit: str, path: str) -> str:
        from huggingface_hub import hf_hub_url

        return hf_hub_url(repo_id, path, revision=commit, endpoint=self.endpoint)

    def require_online(self, what: str) -> None:
        if self.settings.offline:
            raise NetworkError(
                f"Offline mode is on: cannot {what}",
                details={"offline": True},
                resolution_steps=["Unset HF_HUB_OFFLINE (or Settings.offline) to reach the Hub."],
            )

    def repo(self, repo_id: str, revision: str | None = None) -> RemoteRepo:
        """A repo revision with every file's size and checksums."""
        self.require_online(f"fetch metadata for {repo_id}")
        with hub_errors(repo_id=repo_id, revision=revision):
            info = self.api().model_info(repo_id, revision=revision, files_metadata=True)
        commit = info.sha or ""
        if not HEX40.match(commit):
            raise NetworkError(f"The Hub gave no commit for {repo_id}", details={"repo_id": repo_id})
        files = []
        for s in info.siblings or []:
            path = safe_filename(s.rfilename)
            lfs = s.lfs
            sha256 = None
            if lfs is not None:
                sha256 = (lfs.sha256 if hasattr(lfs, "sha256") else lfs.get("sha256")) or None
            blob_id = s.blob_id or ""
            size = s.size if s.size is not None else (lfs.size if lfs is not None else 0)
            if sha256 is not None and not HEX64.match(sha256):
                raise ValidationError(f"The Hub gave a malformed sha256 for {path}", details={"file": path})
            if sha256 is None and not HEX40.match(blob_id):
                raise ValidationError(f"The Hub gave a malformed blob id for {path}", details={"file": path})
            files.append(RemoteFile(path=path, size=int(size or 0), blob_id=blob_id, sha256=sha256))
        return RemoteRepo(repo_id=repo_id, commit=commit, files=files, info=info)

    def model_info(self, repo_id: str, revision: str | None = None) -> Any:
        self.require_online(f"fetch metadata for {repo_id}")
        with hub_errors(repo_id=repo_id, revision=revision):
            return self.api().model_info(repo_id, revision=revision, files_metadata=True)

    def list_models(self, **kwargs: Any) -> list[Any]:
        self.require_online("search the Hub")
        with hub_errors():
            return list(self.api().list_models(**kwargs))


def _is_network_exception(exc: BaseException) -> bool:
    module = type(exc).__module__ or ""
    return isinstance(exc, (ConnectionError, TimeoutError)) or module.startswith(("httpx", "httpcore", "httpx2"))


@contextlib.contextmanager
def hub_errors(**context: Any) -> Iterator[None]:
    """Translate huggingface_hub and transport exceptions into typed studio errors."""
    from huggingface_hub import errors as hf_errors

    ctx = {k: v for k, v in context.items() if v is not None}
    try:
        yield
    except StudioError:
        raise
    except hf_errors.GatedRepoError as exc:
        raise GatedRepoError(
            f"{ctx.get('repo_id', 'This repository')} is gated: accept its licence on the Hub and log in",
            details=ctx,
            resolution_steps=["Accept the licence on the model page", "Run `hf auth login` or set HF_TOKEN"],
        ) from exc
    except hf_errors.RepositoryNotFoundError as exc:
        raise NotFoundError(
            f"Model {ctx.get('repo_id', '')!r} was not found on the Hub (or is private)",
            details=ctx,
            resolution_steps=["Check the spelling of the model id", "Log in if the repository is private"],
        ) from exc
    except hf_errors.RevisionNotFoundError as exc:
        raise NotFoundError(
            f"Revision {ctx.get('revision')!r} of {ctx.get('repo_id', '')} was not found",
            details=ctx,
            resolution_steps=["Use a branch, tag or commit that exists, or omit the revision"],
        ) from exc
    except hf_errors.EntryNotFoundError as exc:
        raise NotFoundError(f"File not found: {exc}", details=ctx) from exc
    except hf_errors.OfflineModeIsEnabled as exc:
        raise NetworkError("Offline mode is on (HF_HUB_OFFLINE)", details=ctx) from exc
    except hf_errors.HfHubHTTPError as exc:
        status = getattr(getattr(exc, "response", None), "status_code", None)
        ctx["status"] = status
        if status == 401:
            raise NotFoundError("The Hub refused access (401)", details=ctx) from exc
        raise NetworkError(
            f"The Hub answered HTTP {status}",
            details=ctx,
            resolution_steps=["Try again in a moment"],
        ) from exc
    except Exception as exc:
        if _is_network_exception(exc):
            raise NetworkError(
                f"Could not reach the Hub: {exc}",
                details={**ctx, "cause": type(exc).__name__},
                resolution_steps=["Check your network connection or HF_ENDPOINT", "Retry; downloads resume"],
            ) from exc
        raise
