"""Downloads that resume and verify, written in the Hugging Face cache layout.

huggingface_hub gives the metadata (sizes, sha256, commit), URLs, auth headers and the cache
layout; the byte transfer is ours because ``hf_hub_download`` (2.x) restarts an interrupted file
from zero and never checks sha256. ``select``: which files a download fetches (a GGUF repo's
default quantization is the one chat loads, ``quants.default_quant``). ``transfer``: one file's
bytes into ``blobs/<etag>.incomplete``, resumed with HTTP Range after a cancel, a crash or a
restart, verified (sha256 for LFS files, git sha1 for the rest) and only then moved into place.
``cache``: the snapshot links and refs. ``manager``: the jobs, on the engine's job runner.
"""

from .cache import disk_free, repo_folder
from .manager import KIND, DownloadManager
from .select import Selection, quantizations, select_files

__all__ = ["KIND", "DownloadManager", "Selection", "disk_free", "quantizations", "repo_folder", "select_files"]
