"""Which models make videos: local diffusers video pipelines and the catalog's, with their profiles."""

from __future__ import annotations

import logging
import re
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...errors import NotFoundError, StudioError, ValidationError
from ..local import LocalModel
from ..refs import ModelRef
from .profiles import PipelineProfile

if TYPE_CHECKING:
    from ..library import Library

log = logging.getLogger(__name__)

#: Pipeline classes (model_index.json ``_class_name``) that make videos; anything matching is listed.
VIDEO_PIPELINE = re.compile(r"(Video|^Wan|CogVideoX|^LTX|Mochi|Hunyuan|Allegro|Latte|SkyReels|EasyAnimate)")


class VideoModels:
    """The video models of a library, and their pipeline profiles (read once per folder and revision)."""

    def __init__(self, library: Library) -> None:
        self.library = library
        self._lock = threading.Lock()
        self._profiles: dict[tuple[str, str | None], PipelineProfile] = {}

    def cached_profile(self, path: str, revision: str | None) -> PipelineProfile | None:
        """The profile already read from the folder ``path`` at ``revision``, if any."""
        return self._profiles.get((path, revision))

    def _catalog_entries(self) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.library.catalog().items() if v.get("video")}

    def local(self, model_id: str) -> LocalModel | None:
        local = self.library.local.get(model_id)
        if local is None or local.model_index is None or not local.files:
            return None
        return local

    def profile(self, model: str) -> PipelineProfile:
        """The pipeline profile of ``model``: from its files when local, else from the catalog."""
        repo_id = ModelRef.coerce(model).repo_id
        local = self.local(repo_id)
        entry = self._catalog_entries().get(repo_id)
        if local is not None:
            folder = local.snapshot if local.source == "cache" else local.path
            assert folder is not None
            key = (str(folder), local.commit)
            with self._lock:
                hit = self._profiles.get(key)
            if hit is None:
                hit = PipelineProfile.from_folder(Path(folder), entry)
                with self._lock:
                    self._profiles[key] = hit
            return hit
        if entry is not None:
            return PipelineProfile.from_catalog(entry)
        self.resolve(repo_id)  # not local: NotFoundError that offers the download
        raise NotFoundError(f"{repo_id} is not a diffusers video pipeline", details={"model": repo_id},
                            resolution_steps=["Pick one of engine.video.models()"])

    def models(self) -> list[dict[str, Any]]:
        """Video models: every local diffusers video pipeline, then the catalog's, local first."""
        out: dict[str, dict[str, Any]] = {}
        entries = self._catalog_entries()
        for m in self.library.local.models():
            cls = (m.model_index or {}).get("_class_name") or ""
            if m.model_index is None or not VIDEO_PIPELINE.search(str(cls)):
                continue
            try:
                out[m.id] = self.describe(m.id, self.profile(m.id), local=m, entry=entries.get(m.id))
            except StudioError as exc:
                log.warning("skipping video model %s: %s", m.id, exc)
        for repo_id, entry in entries.items():
            if repo_id not in out:
                out[repo_id] = self.describe(repo_id, PipelineProfile.from_catalog(entry), local=None, entry=entry)
        return sorted(out.values(), key=lambda d: (not d["local"], d["name"].lower()))

    def describe(self, repo_id: str, profile: PipelineProfile, *, local: LocalModel | None,
                  entry: dict[str, Any] | None) -> dict[str, Any]:
        size = local.size_on_disk if local is not None else (entry or {}).get("size")
        if size is None and local is None:
            size = sum(int(n) * 2 for n in profile.params.values()) or None  # bf16 weights
        return {
            "id": repo_id, "name": (entry or {}).get("name") or repo_id.split("/")[-1], "local": local is not None,
            "pipeline": profile.pipeline, "family": profile.family,
            "task": "text-to-video" if profile.text_to_video else "image-to-video",
            "text_to_video": profile.text_to_video, "image_to_video": profile.image_to_video,
            "last_image": profile.last_image, "last_image_required": profile.last_image_required,
            "size": size, "defaults": dict(profile.defaults), "rules": profile.rules(),
            "presets": profile.presets(), "lora": profile.family in ("wan", "ltx", "cogvideox"),
            "revision": local.commit if local is not None else None,
            "description": (entry or {}).get("description") or "",
        }

    def last_image_models(self) -> list[str]:
        """Models that take a last frame (first-last-frame to video), local ones first."""
        return [m["id"] for m in self.models() if m.get("last_image")]

    def resolve(self, model: str) -> tuple[str, LocalModel, Path]:
        ref = ModelRef.coerce(model)
        local = self.local(ref.repo_id)
        other = self.library.local.get(ref.repo_id) if local is None else None
        if other is not None and other.files:
            raise ValidationError(f"{ref.repo_id} is not a diffusers pipeline (no model_index.json)",
                                  details={"model": ref.repo_id, "formats": other.formats},
                                  resolution_steps=["Pick a video model: engine.video.models()"])
        if local is None:
            entry = self._catalog_entries().get(ref.repo_id)
            size = (entry or {}).get("size")
            raise NotFoundError(
                f"{ref.repo_id} is not on this machine", details={
                    "model": ref.repo_id, "download": {"model": ref.repo_id, "size": size, "in_catalog": entry is not None}},
                resolution_steps=[f"Download it first: engine.downloads.start({ref.repo_id!r}).wait()",
                                  f"Or: %studio pull {ref.repo_id}"])
        folder = local.snapshot if local.source == "cache" else local.path
        assert folder is not None
        return ref.repo_id, local, Path(folder)
