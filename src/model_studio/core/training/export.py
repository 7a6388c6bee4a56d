"""A run config as a bundle that runs it elsewhere: ``launch.sh`` (the torchrun command), ``slurm.sbatch``,
``config.json`` + ``data.jsonl`` (what the worker reads), ``requirements.txt`` and a README.

The bundle folder is the run folder: the worker writes its metrics, checkpoints and ``adapter/``
beside the files (on a cluster: on node 0, the one with rank 0). Multi-node fields (nodes, this
node's rank, the master's address and port) are the answers given to ``export``; each is an
environment variable of ``launch.sh`` with that answer as its default, and ``slurm.sbatch`` fills
them from SLURM's own variables.
"""

from __future__ import annotations

import io
import json
import re
import shlex
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...errors import ValidationError
from .config import RunConfig
from .distributed import WORKER, Placement, torchrun_args

_ADDR = re.compile(r"[A-Za-z0-9._:-]{1,253}")


@dataclass
class Cluster:
    """The user's answers about where the run goes."""

    nnodes: int = 1
    node_rank: int = 0
    master_addr: str = "127.0.0.1"
    master_port: int = 29500
    partition: str | None = None
    time_limit: str | None = None  # SLURM --time, e.g. "04:00:00"
    extra_sbatch: list[str] = field(default_factory=list)

    def validate(self) -> Cluster:
        def fail(name: str, message: str) -> ValidationError:
            return ValidationError(f"{name}: {message}", details={"field": name, "value": getattr(self, name)})

        if not isinstance(self.nnodes, int) or not 1 <= self.nnodes <= 4096:
            raise fail("nnodes", "must be an integer from 1 to 4096")
        if not isinstance(self.node_rank, int) or not 0 <= self.node_rank < self.nnodes:
            raise fail("node_rank", "must be from 0 to nnodes - 1")
        if not isinstance(self.master_addr, str) or not _ADDR.fullmatch(self.master_addr):
            raise fail("master_addr", "must be a host name or an IP address")
        if not isinstance(self.master_port, int) or not 1024 <= self.master_port <= 65535:
            raise fail("master_port", "must be a port from 1024 to 65535")
        for name in ("partition", "time_limit"):
            v = getattr(self, name)
            if v is not None and (not isinstance(v, str) or not re.fullmatch(r"[A-Za-z0-9:_.,-]{1,64}", v)):
                raise fail(name, "must be a plain SLURM value (letters, digits, : _ . , -)")
        return self


def files(cfg: RunConfig, placement: Placement, cluster: Cluster, data: str, *, title: str,
          version: str) -> tuple[dict[str, str], str]:
    """(bundle files by name, the launch command as one line)."""
    cluster.validate()
    nproc = placement.num_processes
    config = cfg.to_dict()
    config["extra"] = {"base_path": cfg.extra["base_path"], "data_path": "data.jsonl",
                       "base_dir": "base" if cfg.extra.get("base_dir") else None}
    args = torchrun_args(nproc, nnodes=cluster.nnodes, node_rank=cluster.node_rank,
                         master_addr=cluster.master_addr, master_port=cluster.master_port)
    command = shlex.join(["python", "-m", "torch.distributed.run", *args, "-m", WORKER, "."])
    gpus = ",".join(str(i) for i in placement.gpus)
    launch = f"""#!/usr/bin/env bash
# {title}: exported by jupyter-model-studio {version}.
# Runs the LoRA run in this folder (config.json, data.jsonl) with torchrun; outputs land here too
# (metrics.jsonl, checkpoint-*/, adapter/ on the node with rank 0). Pass --resume to continue from
# the latest checkpoint. Every multi-node field can be overridden from the environment.
#   {command}
set -euo pipefail
HERE="$(cd "$(dirname "${{BASH_SOURCE[0]}}")" && pwd)"
cd "$HERE"
{'export CUDA_VISIBLE_DEVICES="${CUDA_VISIBLE_DEVICES-' + gpus + '}"' if gpus else '# CPU run (gloo): no GPU needed'}
# the base model: a folder or GGUF file on this machine when exported; point it at the cluster's copy
export MODEL_STUDIO_BASE_PATH="${{MODEL_STUDIO_BASE_PATH:-{cfg.extra["base_path"]}}}"
exec "${{PYTHON:-python}}" -m torch.distributed.run \\
  --nnodes "${{NNODES:-{cluster.nnodes}}}" --node_rank "${{NODE_RANK:-{cluster.node_rank}}}" \\
  --nproc_per_node "${{NPROC_PER_NODE:-{nproc}}}" \\
  --master_addr "${{MASTER_ADDR:-{cluster.master_addr}}}" --master_port "${{MASTER_PORT:-{cluster.master_port}}}" \\
  -m {WORKER} "$HERE" "$@"
"""
    sbatch = [f"#SBATCH --job-name={re.sub(r'[^A-Za-z0-9_.-]+', '-', title)[:60]}",
              f"#SBATCH --nodes={cluster.nnodes}", "#SBATCH --ntasks-per-node=1",
              f"#SBATCH --cpus-per-task={max(2, nproc * 2)}", "#SBATCH --output=slurm-%j.out"]
    if gpus:
        sbatch.append(f"#SBATCH --gpus-per-node={nproc}")
    if cluster.partition:
        sbatch.append(f"#SBATCH --partition={cluster.partition}")
    if cluster.time_limit:
        sbatch.append(f"#SBATCH --time={cluster.time_limit}")
    sbatch += [f"#SBATCH {line}" for line in cluster.extra_sbatch if re.fullmatch(r"--[A-Za-z0-9=:_.,/%-]+", line)]
    slurm = "#!/bin/bash\n" + "\n".join(sbatch) + f"""
# {title}: one task per node; each starts torchrun with {nproc} process(es). Submit from this folder:
#   sbatch slurm.sbatch
set -euo pipefail
cd "${{SLURM_SUBMIT_DIR:-$(pwd)}}"
export MASTER_ADDR="$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)"
export MASTER_PORT="${{MASTER_PORT:-{cluster.master_port}}}"
export NNODES="$SLURM_NNODES"
srun --kill-on-bad-exit=1 bash -c 'NODE_RANK="$SLURM_NODEID" exec bash ./launch.sh "$@"' launch "$@"
"""
    readme = f"""# {title}

Exported by jupyter-model-studio {version}: a LoRA fine-tuning run of `{cfg.base}` on
`{cfg.dataset}` ({nproc} process(es) per node, {cluster.nnodes} node(s), strategy `{cfg.strategy}`,
{'GPUs ' + gpus if gpus else 'CPU (gloo)'}).

- `launch.sh`: the torchrun command; run it on every node (`NODE_RANK=1 bash launch.sh` on the
  second...). Alone on one machine: `bash launch.sh`.
- `slurm.sbatch`: `sbatch slurm.sbatch` starts one launch per node.
- `config.json`: the run's settings (`extra.base_path` is the base model on the machine it was
  exported from; set `MODEL_STUDIO_BASE_PATH` to the cluster's copy). `data.jsonl`: the training rows.
- `requirements.txt`: `pip install -r requirements.txt` (the worker is part of jupyter-model-studio).

The adapter lands in `adapter/` (rank 0's node), with `metrics.jsonl`, `checkpoint-*/` and
`result.json`. Nodes after the first need the folder too (a shared file system, or a copy).

    {command}
"""
    reqs = f"jupyter-model-studio[train]=={version}\n" + "".join(f"{name}\n" for name in _pins())
    out = {"launch.sh": launch, "slurm.sbatch": slurm, "config.json": json.dumps(config, indent=2) + "\n",
           "data.jsonl": data, "requirements.txt": reqs, "README.md": readme}
    return out, command


def _pins() -> list[str]:
    from importlib.metadata import PackageNotFoundError, version

    out = []
    for name in ("torch", "transformers", "peft", "accelerate"):
        try:
            out.append(f"{name}=={version(name).split('+')[0]}")
        except PackageNotFoundError:
            pass
    return out


def write(bundle: dict[str, str], out_dir: Path) -> tuple[Path, Path]:
    """The bundle as a folder (``out_dir``) and a zip beside it; returns (folder, zip)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, text in bundle.items():
        path = out_dir / name
        path.write_text(text)
        if name.endswith(".sh") or name.endswith(".sbatch"):
            path.chmod(0o755)
    archive = out_dir.with_name(out_dir.name + ".zip")
    archive.write_bytes(zip_bytes(bundle, out_dir.name))
    return out_dir, archive


def zip_bytes(bundle: dict[str, str], folder: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, text in bundle.items():
            info = zipfile.ZipInfo(f"{folder}/{name}", date_time=time.localtime()[:6])
            info.external_attr = (0o755 if name.endswith((".sh", ".sbatch")) else 0o644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, text)
    return buf.getvalue()


def default_folder(home: Path, title: str) -> Path:
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", title).strip("-")[:60] or "run"
    return home / "exports" / f"{slug}-{time.strftime('%Y%m%d-%H%M%S')}"


def to_dict(bundle: dict[str, str], command: str, placement: Placement, cluster: Cluster, folder: Path | None,
            archive: Path | None, *, include_files: bool = True, include_zip: bool = False,
            name: str = "bundle") -> dict[str, Any]:
    out: dict[str, Any] = {"command": command, "launch": "bash launch.sh", "slurm": "sbatch slurm.sbatch",
                           "names": sorted(bundle), **placement.to_dict(),
                           "nnodes": cluster.nnodes, "node_rank": cluster.node_rank,
                           "master_addr": cluster.master_addr, "master_port": cluster.master_port,
                           "path": str(folder) if folder else None, "zip": str(archive) if archive else None}
    if include_files:
        out["files"] = bundle
    if include_zip:
        import base64

        out["zip_name"] = f"{name}.zip"
        out["zip_base64"] = base64.b64encode(zip_bytes(bundle, name)).decode()
    return out
