"""The Hugging Face cache layout a download writes: blobs named by etag, snapshot links, refs.

The helpers of huggingface_hub do the linking and the ref files, so every HF tool reads the result.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from ...errors import ValidationError
from ..hub import RemoteFile
from ..refs import ensure_within


def disk_free(path: Path) -> int:
    """Free bytes on the file system holding ``path`` (its nearest existing parent)."""
    probe = Path(path)
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return shutil.disk_usage(probe).free


def repo_folder(cache: Path, repo_id: str) -> Path:
    from huggingface_hub.file_download import repo_folder_name

    return cache / repo_folder_name(repo_id=repo_id, repo_type="model")


def blob_ok(blob: Path, rf: RemoteFile) -> bool:
    """True if ``blob`` is a whole file of ``rf``'s size (blobs are only moved in once verified)."""
    try:
        return blob.is_file() and not blob.is_symlink() and blob.stat().st_size == rf.size
    except OSError:
        return False


def pointer_ok(pointer: Path, blob: Path, rf: RemoteFile, storage: Path) -> bool:
    """True if the snapshot entry ``pointer`` links to the whole ``blob`` inside ``storage``."""
    if not pointer.is_symlink() and not pointer.is_file():
        return False
    try:
        target = ensure_within(storage, pointer)
    except ValidationError:
        pointer.unlink(missing_ok=True)  # a link out of the cache is never trusted
        return False
    return target == blob.resolve() and blob_ok(blob, rf)


def link(blob: Path, pointer: Path) -> None:
    from huggingface_hub.file_download import _create_symlink

    if pointer.is_symlink() or pointer.exists():
        pointer.unlink()
    _create_symlink(str(blob), str(pointer), new_blob=False)


def write_ref(storage: Path, revision: str, commit: str) -> None:
    from huggingface_hub.file_download import _cache_commit_hash_for_specific_revision

    _cache_commit_hash_for_specific_revision(str(storage), revision, commit)


def fmt_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1000
    return f"{n} B"
