"""The Hub, as the engine sees it: huggingface_hub for metadata, URLs and headers; typed errors.

huggingface_hub reads ``HF_ENDPOINT`` at import time; the engine passes its own endpoint explicitly
so a test (or a user switching mirrors) can point one engine at another hub without re-importing.

A Hub that is down must not freeze the studio. huggingface_hub's own calls have no timeout (a
stalled Hub blocks for ever) and its listings retry connection errors for ~23 s. Metadata calls
here therefore carry a short connect timeout and no retries, a failed connection is remembered for
``hub_retry_after`` seconds (a circuit breaker: calls in that window fail at once, one probe goes
through when it ends), and callers that must not wait (search) run Hub calls in the client's own
small thread pool, never in the threads other routes need.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from itertools import islice
from typing import Any, TypeVar
from urllib.parse import quote

from .._version import __version__
from ..config import Settings
from ..errors import GatedError, NetworkError, NotFoundError, StudioError, ValidationError, gated_error
from .refs import HEX40, HEX64, safe_filename

T = TypeVar("T")
HUB_WORKERS = 4  # Hub calls in flight at once for callers that do not wait (search)
MAX_REFS = 100  # branches (and tags) listed on a model page


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
        self._breaker = _Breaker()
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()

    @property
    def endpoint(self) -> str:
        return self.settings.hf_endpoint

    def token(self) -> str | bool:
        """The Hub token calls send: ``HF_TOKEN`` (Settings.hf_token), else the saved login
        (``core.auth``), else False (none: not huggingface_hub's import-time idea of the token file)."""
        from .auth import saved_token

        return self.settings.hf_token or saved_token() or False

    def api(self):
        from huggingface_hub import HfApi

        return HfApi(endpoint=self.endpoint, token=self.token(), library_name="model-studio",
                     library_version=__version__)

    def headers(self) -> dict[str, str]:
        from huggingface_hub.utils import build_hf_headers

        return build_hf_headers(token=self.token(), library_name="model-studio",
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

    @property
    def timeout(self) -> tuple[float, float, float, float]:
        """httpx timeouts (connect, read, write, pool) in seconds for metadata calls; a tuple works
        with whichever httpx flavour huggingface_hub uses."""
        connect, read = self.settings.hub_connect_timeout, self.settings.hub_timeout
        return (connect, read, read, connect)

    @contextlib.contextmanager
    def metadata_call(self, what: str, **context: Any) -> Iterator[None]:
        """Guard one Hub metadata call: offline and breaker checks, typed errors, and a failed
        connection remembered so the calls after it fail fast instead of each waiting."""
        self.require_online(what)
        endpoint = self.endpoint
        probe = self._breaker.enter(endpoint, self.settings.hub_retry_after)
        failure: str | None = None
        try:
            with hub_errors(**context):
                yield
        except NetworkError as exc:
            cause = exc.__cause__
            if cause is not None and _is_network_exception(cause):  # no answer, not an HTTP error status
                failure = f"{type(cause).__name__}: {cause}" if str(cause) else type(cause).__name__
            raise
        finally:
            self._breaker.leave(endpoint, failure, probe)

    def submit(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> Future[T]:
        """Run a Hub call in the client's own small pool (callers then wait as long as they choose)."""
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(HUB_WORKERS, thread_name_prefix="model-studio-hub")
            return self._pool.submit(fn, *args, **kwargs)

    def close(self) -> None:
        """Drop queued Hub calls; running ones end within their timeouts."""
        with self._pool_lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

    def repo(self, repo_id: str, revision: str | None = None) -> RemoteRepo:
        """A repo revision with every file's size and checksums."""
        info = self.model_info(repo_id, revision)
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

    def model_info(self, repo_id: str, revision: str | None = None, *, files_metadata: bool = True) -> Any:
        timeout: Any = self.timeout  # huggingface_hub annotates a float; httpx takes the tuple
        with self.metadata_call(f"fetch metadata for {repo_id}", repo_id=repo_id, revision=revision):
            return self.api().model_info(repo_id, revision=revision, files_metadata=files_metadata, timeout=timeout)

    def list_models(self, *, search: str | None = None, pipeline_tag: str | None = None,
                    sort: str | None = None, limit: int = 50, full: bool = False) -> list[Any]:
        """``HfApi.list_models``, as one timed request per page without its ~23 s of retries."""
        from huggingface_hub import ModelInfo, get_session
        from huggingface_hub.utils import hf_raise_for_status

        params: dict[str, Any] = {"limit": limit}
        for key, value in (("search", search), ("pipeline_tag", pipeline_tag), ("sort", sort)):
            if value:
                params[key] = value
        if full:
            params["full"] = True
        url: str | None = f"{self.endpoint}/api/models"
        items: list[dict[str, Any]] = []
        with self.metadata_call("search the Hub"):
            while url is not None and len(items) < limit:
                r = get_session().get(url, params=params, headers=self.headers(), timeout=self.timeout)
                hf_raise_for_status(r)
                items.extend(r.json())
                url, params = r.links.get("next", {}).get("url"), {}  # the next link carries the query
        return [ModelInfo(**{"siblings": None, **item}) for item in islice(items, limit)]

    # The model page: refs, commits, access and the card, each one timed request.

    def _get(self, path: str, what: str, params: dict[str, Any] | None = None, **context: Any) -> Any:
        """One timed GET of ``path`` on the Hub (through the breaker); the raw response."""
        from huggingface_hub import get_session
        from huggingface_hub.utils import hf_raise_for_status

        with self.metadata_call(what, **context):
            r = get_session().get(f"{self.endpoint}{path}", params=params, headers=self.headers(),
                                  timeout=self.timeout)
            hf_raise_for_status(r)
            return r

    def refs(self, repo_id: str) -> dict[str, list[dict[str, str]]]:
        """Branches and tags: ``{"branches": [{name, commit}], "tags": [...]}``."""
        data = self._get(f"/api/models/{repo_id}/refs", f"list the revisions of {repo_id}", repo_id=repo_id).json()
        return {kind: [{"name": str(r.get("name")), "commit": str(r.get("targetCommit"))}
                       for r in (data.get(kind) or [])[:MAX_REFS]]
                for kind in ("branches", "tags")}

    def commits(self, repo_id: str, revision: str = "main", limit: int = 20) -> list[dict[str, Any]]:
        """The newest ``limit`` commits of ``revision`` (the first page only: long histories stay unread)."""
        rev = quote(revision, safe="")
        data = self._get(f"/api/models/{repo_id}/commits/{rev}", f"list the commits of {repo_id}",
                         repo_id=repo_id, revision=revision).json()
        return [{"id": str(c.get("id")), "title": str(c.get("title") or ""), "date": c.get("date"),
                 "authors": [str(a.get("user")) for a in (c.get("authors") or []) if isinstance(a, dict)]}
                for c in (data if isinstance(data, list) else [])[:limit]]

    def has_access(self, repo_id: str) -> bool:
        """Whether this token (or none) may download a gated repo's files."""
        try:
            self._get(f"/api/models/{repo_id}/auth-check", f"check access to {repo_id}", repo_id=repo_id)
        except GatedError:
            return False
        return True

    def file_text(self, repo_id: str, commit: str, path: str, max_bytes: int) -> str:
        """A small text file of a repo (a README) through the file route, cut at ``max_bytes``."""
        url = self.file_url(repo_id, commit, path)
        r = self._get(url[len(self.endpoint):], f"read {path} of {repo_id}", repo_id=repo_id, revision=commit)
        return r.content[:max_bytes].decode("utf-8", errors="replace")

    def repo_files(self, repo_id: str, commit: str) -> dict[str, Any]:
        """Every file of a repo at ``commit`` (``RepoFile``: size, blob id, LFS sha256), behind a short,
        timed probe: ``list_repo_tree`` has no timeout and retries for ~23 s, so an unreachable Hub is
        found out first."""
        from huggingface_hub.hf_api import RepoFile

        self.model_info(repo_id, commit, files_metadata=False)
        with self.metadata_call(f"list the files of {repo_id}", repo_id=repo_id, revision=commit):
            return {e.path: e for e in self.api().list_repo_tree(repo_id, recursive=True, revision=commit)
                    if isinstance(e, RepoFile)}


class _Breaker:
    """Per endpoint: after a failed connection, calls fail fast until ``retry_after`` seconds pass;
    then one probe goes through while the others still fail fast."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: dict[str, tuple[float, str]] = {}  # endpoint -> (monotonic time it opened, cause)
        self._probing: set[str] = set()

    def enter(self, endpoint: str, retry_after: float) -> bool:
        """Let a call through (True when it is the probe after a window), or raise NetworkError."""
        with self._lock:
            state = self._open.get(endpoint)
            if state is None:
                return False
            opened, cause = state
            wait = opened + retry_after - time.monotonic()
            if wait <= 0 and endpoint not in self._probing:
                self._probing.add(endpoint)
                return True
        retry_in = round(max(wait, 0.0), 1)
        when = f"in {retry_in:g} s" if retry_in > 0 else "now"
        raise NetworkError(
            f"The Hub is unreachable ({cause}); the studio tries it again {when}",
            details={"cause": cause, "retry_in": retry_in, "unreachable_for": round(time.monotonic() - opened, 1)},
            resolution_steps=["Check your network connection or HF_ENDPOINT",
                              "Catalog and local models still work; retry in a moment"],
        )

    def leave(self, endpoint: str, failure: str | None, probe: bool) -> None:
        """Record how a call that went through ended: ``failure`` says why the Hub gave no answer."""
        with self._lock:
            if probe:
                self._probing.discard(endpoint)
            if failure is None:
                self._open.pop(endpoint, None)
            else:
                self._open[endpoint] = (time.monotonic(), failure)


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
        response = getattr(exc, "response", None)
        request = getattr(response, "request", None)
        sent = bool(request is not None and request.headers.get("authorization"))
        error = gated_error(str(ctx.get("repo_id", "")), token_sent=sent,
                            status=getattr(response, "status_code", None))
        error.details.update({k: v for k, v in ctx.items() if k not in error.details})
        raise error from exc
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
