"""Which files of a repo a download fetches."""

from __future__ import annotations

import collections
import fnmatch
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ...errors import NotFoundError
from ..hub import RemoteFile, RemoteRepo
from ..quants import default_quant
from ..refs import gguf_quant

# Formats transformers would never load when safetensors weights sit beside them.
_REDUNDANT_WEIGHTS = ("pytorch_model*.bin", "tf_model.h5", "flax_model.msgpack", "*.ckpt", "*.ot",
                      "*.onnx", "*.onnx_data", "*.tflite", "*.mlmodel", "*.msgpack", "*.h5")


@dataclass
class Selection:
    files: list[RemoteFile]
    variant: str | None = None
    skipped: list[str] = field(default_factory=list)
    note: str = ""


def quantizations(files: Iterable[RemoteFile]) -> dict[str, list[RemoteFile]]:
    """GGUF files of a repo grouped by quantization name (split parts together)."""
    groups: dict[str, list[RemoteFile]] = collections.defaultdict(list)
    for f in files:
        quant = gguf_quant(f.path)
        if quant and "mmproj" not in f.path.lower():
            groups[quant].append(f)
    return dict(groups)


def select_files(
    repo: RemoteRepo,
    *,
    variant: str | None = None,
    files: list[str] | None = None,
    include: list[str] | None = None,
) -> Selection:
    """Which files of ``repo`` a download fetches.

    Explicit ``files`` win; then a ``variant`` (a GGUF quantization such as Q4_K_M, or a file name);
    then ``include`` glob patterns. With none of these, a GGUF repo gets its default quantization
    (``quants.default_quant``, the one chat loads; not every quantization, which can be 100+ GB) and
    a safetensors repo skips redundant formats.
    """
    by_path = {f.path: f for f in repo.files}
    if files:
        missing = [p for p in files if p not in by_path]
        if missing:
            raise NotFoundError(
                f"{repo.repo_id} has no file {missing[0]!r}",
                details={"repo_id": repo.repo_id, "missing": missing, "available": sorted(by_path)[:50]},
            )
        return Selection([by_path[p] for p in files])
    quants = quantizations(repo.files)
    if variant:
        chosen = quants.get(variant.upper())
        if chosen is None:
            exact = by_path.get(variant) or next((f for f in repo.files if f.path.endswith("/" + variant)), None)
            if exact is None:
                raise NotFoundError(
                    f"{repo.repo_id} has no quantization or file {variant!r}",
                    details={"repo_id": repo.repo_id, "variant": variant, "quantizations": sorted(quants)},
                    resolution_steps=[f"Pick one of: {', '.join(sorted(quants)) or '(no GGUF files)'}"],
                )
            chosen = [exact]
        return Selection(sorted(chosen, key=lambda f: f.path), variant=variant.upper() if variant.upper() in quants else variant)
    if include:
        chosen = [f for f in repo.files if any(fnmatch.fnmatch(f.path, pat) for pat in include)]
        if not chosen:
            raise NotFoundError(
                f"No file of {repo.repo_id} matches {include}",
                details={"repo_id": repo.repo_id, "include": include},
            )
        return Selection(chosen)
    if quants and not any(f.path.endswith(".safetensors") for f in repo.files):
        default = default_quant({q: sum(f.size for f in group) for q, group in quants.items()})
        assert default is not None
        chosen = sorted(quants[default], key=lambda f: f.path)
        skipped = [f.path for f in repo.files if f.path.endswith(".gguf") and f not in chosen]
        return Selection(chosen, variant=default, skipped=skipped,
                         note=f"chose quantization {default}; pass :QUANT for another")
    if any(f.path.endswith(".safetensors") for f in repo.files):
        skipped = [f.path for f in repo.files
                   if any(fnmatch.fnmatch(Path(f.path).name, pat) for pat in _REDUNDANT_WEIGHTS)]
        chosen = [f for f in repo.files if f.path not in skipped]
        return Selection(chosen, skipped=skipped,
                         note="skipped weights in other formats" if skipped else "")
    return Selection(list(repo.files))


__all__ = ["Selection", "quantizations", "select_files"]
