"""``engine.training``'s planning half: the estimate of a run (per device for its strategy) and its
export as a bundle that runs it elsewhere (``export.py``). Mixed into ``TrainingService``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...errors import ValidationError
from ..jobs import JobState
from . import distributed as dist
from .config import RunConfig

if TYPE_CHECKING:
    from ...config import Settings
    from ..chat import ChatService
    from ..jobs import Job, JobStore
    from ..refs import ModelRef


class RunPlanning:
    settings: Settings
    store: JobStore
    chat: ChatService
    runs_dir: Path

    def get(self, job_id: str) -> Job:
        raise NotImplementedError

    def _resolve_base(self, base: str) -> dict[str, Any]:
        raise NotImplementedError

    def _rows(self, dataset: str) -> tuple[list[dict[str, Any]], str]:
        raise NotImplementedError

    def _prepare(self, base: str, dataset: str, config: dict[str, Any]) -> tuple[RunConfig, dict[str, Any],
                                                                                 list[dict[str, Any]]]:
        raise NotImplementedError

    def estimate(self, base: str | ModelRef, dataset: str | None = None, **config: Any) -> dict[str, Any]:
        """Rough memory and time of a run (``memory_bytes`` per process, ``per_device`` for the chosen
        devices and strategy, ``seconds_per_step``, ``seconds``)."""
        cfg = RunConfig.from_kwargs(str(base), dataset or "-", **config)  # a ModelRef too
        info = self._resolve_base(cfg.base)
        rows = None
        if dataset:
            rows = len(self._rows(dataset)[0])
        params, hidden, layers = dist.size_of(Path(info["base_path"]))
        measured = self._measured_step_seconds(info["base_model"])
        placement = dist.place(cfg, len(self.chat.arbiter.gpus()))
        return dist.memory(cfg, placement, parameters=params, hidden_size=hidden, layers=layers, rows=rows,
                           seconds_per_step=measured)

    def _measured_step_seconds(self, base_model: str) -> float | None:
        """Median step time of the latest completed run of the same base, if any."""
        from .service import KIND, _read_jsonl

        for job in self.store.list(KIND, (JobState.COMPLETED,), limit=20):
            if job.params.get("base_model") != base_model:
                continue
            rows = _read_jsonl(self.runs_dir / job.id / "metrics.jsonl") if (
                self.runs_dir / job.id / "metrics.jsonl").exists() else []
            times = [b["elapsed"] - a["elapsed"] for a, b in zip(rows, rows[1:], strict=False)
                     if a.get("elapsed") is not None and b.get("elapsed") is not None and b["step"] == a["step"] + 1]
            if times:
                return sorted(times)[len(times) // 2]
        return None

    def export(self, config: RunConfig | dict[str, Any] | str, *, out_dir: str | Path | None = None,
               write: bool = True, include_zip: bool = False, **cluster: Any) -> dict[str, Any]:
        """A run config (a ``RunConfig``, a dict with ``base`` and ``dataset``, or a run's id) as the
        command and files that run it elsewhere: ``launch.sh`` (torchrun), ``slurm.sbatch``,
        ``config.json``, ``data.jsonl``, requirements and a README. ``cluster``: ``nnodes``,
        ``node_rank``, ``master_addr``, ``master_port``, ``partition``, ``time_limit``. Written (with
        write) as a folder (``out_dir``, default ``<home>/exports/...``) and a zip beside it."""
        from ..._version import __version__
        from . import export as ex

        try:
            where = ex.Cluster(**cluster).validate()
        except TypeError as exc:
            raise ValidationError(f"Unknown export setting: {exc}", details={"field": "cluster"}) from None
        if isinstance(config, str):  # a run: its config and data as they were given to the worker
            job = self.get(config)
            run_dir = self.runs_dir / job.id
            cfg = RunConfig.from_dict(json.loads((run_dir / "config.json").read_text()))
            data, title = (run_dir / "data.jsonl").read_text(), job.title or f"run {job.id}"
        else:
            raw = config.to_dict() if isinstance(config, RunConfig) else dict(config)
            raw.pop("extra", None)
            cfg, info, rows = self._prepare(str(raw.pop("base", "")), str(raw.pop("dataset", "")), raw)
            cfg.extra = {"base_path": info["base_path"], "base_dir": info.get("base_dir")}
            data = "".join(json.dumps(r) + "\n" for r in rows)
            title = f"LoRA {info['base_model']} on {info['dataset_name']}"
        placement = dist.place(cfg, len(self.chat.arbiter.gpus()))
        bundle, command = ex.files(cfg, placement, where, data, title=title, version=__version__)
        folder = archive = None
        if write:
            folder, archive = ex.write(bundle, Path(out_dir).expanduser() if out_dir else
                                       ex.default_folder(self.settings.home_path, title))
        return ex.to_dict(bundle, command, placement, where, folder, archive, include_zip=include_zip,
                          name=folder.name if folder else "bundle")
