"""``%studio train`` (import the data, start, follow) and ``%studio runs``."""

from __future__ import annotations

import sys
from typing import Any

from .._views import Table
from ..core.jobs import JobState
from ..errors import error_from_dict
from ._base import Handlers, follow_steps
from ._commands import RunsArgs, TrainArgs


class TrainingHandlers(Handlers):
    def handle_train(self, args: TrainArgs) -> Any:
        from pathlib import Path

        from ..errors import NotFoundError

        eng = self._engine()
        path = Path(args.data).expanduser()
        if not path.is_file():
            raise NotFoundError(f"No data file at {args.data}", details={"path": str(path)},
                                resolution_steps=["Give the path of a JSONL, CSV or Parquet file"])
        info = eng.training.datasets.import_file(str(path), overwrite=True)
        name = info["name"] if isinstance(info, dict) else info.name
        config = {k: v for k, v in (("steps", args.steps), ("learning_rate", args.lr), ("lora_r", args.rank),
                                    ("num_processes", args.num_processes), ("devices", args.devices),
                                    ("strategy", args.strategy)) if v is not None}
        if args.export is not None:
            return self._export(eng, args, {"base": args.model, "dataset": name, **config})
        job = eng.training.start(args.model, name, **config)
        if self.notebook:
            from ..widgets import TrainingMonitor

            self.show(TrainingMonitor(run_id=job.id))
            return job
        return self._follow_training(eng, job)

    def _export(self, eng: Any, args: TrainArgs, config: dict[str, Any]) -> dict[str, Any]:
        """``--export DIR``: the bundle (launch.sh, slurm.sbatch, config.json, data.jsonl) in DIR."""
        out = eng.training.export(config, out_dir=args.export, nnodes=args.nnodes, node_rank=args.node_rank,
                                  master_addr=args.master_addr, master_port=args.master_port)
        print(f"bundle written to {out['path']} (and {out['zip']})\n"
              f"  on this machine: cd {out['path']} && {out['launch']}\n"
              f"  on SLURM:        cd {out['path']} && {out['slurm']}\n"
              f"  the command:     {out['command']}")
        return dict(out)

    def _follow_training(self, eng: Any, job: Any) -> Any:
        """A tqdm bar of steps (with the loss) until the run stops; Ctrl-C cancels it (resumable)."""

        def loss(p: Any) -> str:
            value = (p.detail or {}).get("loss")
            return f"loss={value:.4f}" if value is not None else ""

        try:
            job = follow_steps(job, loss)
        except KeyboardInterrupt:
            job = eng.training.cancel(job.id)
            print(f"cancelling run {job.id}; resume it with ms.engine().training.resume({job.id!r})",
                  file=sys.stderr)
            return job
        if job.state == JobState.FAILED:
            raise error_from_dict(job.error or {"message": f"Training run {job.id} failed"})
        if job.state == JobState.COMPLETED:
            print(f"run {job.id} completed: chat with it as model 'run/{job.id}'")
        else:
            print(f"run {job.id} is {job.state.value}", file=sys.stderr)
        return job

    def handle_runs(self, args: RunsArgs) -> Table:
        eng = self._engine()
        rows = []
        for run in eng.training.runs()[: args.limit]:
            data = run if isinstance(run, dict) else run.to_dict()
            params = data.get("params") or {}
            progress = data.get("progress") or {}
            final = data.get("final_metrics") or {}
            result = data.get("result") or {}
            loss = final.get("loss") if isinstance(final, dict) else None
            if loss is None and isinstance(result, dict):
                loss = result.get("final_loss", result.get("loss"))
            if loss is None:
                loss = (progress.get("detail") or {}).get("loss")
            total = params.get("total_steps") or (params.get("config") or {}).get("steps") or progress.get("total")
            rows.append((data.get("id"), data.get("state"), params.get("base_model") or params.get("base"),
                         params.get("dataset_name") or params.get("dataset"),
                         f"{int(progress.get('done') or 0)}/{int(total) if total else '?'}",
                         f"{loss:.4f}" if isinstance(loss, (int, float)) else "",
                         f"run/{data.get('id')}" if data.get("state") == JobState.COMPLETED else ""))
        return Table(("id", "state", "base", "dataset", "steps", "loss", "chat model"), rows,
                     empty="no training runs yet; start one with %studio train --model M --data FILE")
