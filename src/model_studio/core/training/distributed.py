"""Where a run trains (``devices``, ``num_processes``, ``strategy``) and how its worker is launched.

One process runs the worker as it is. More than one launches it under ``torchrun`` (``python -m
torch.distributed.run``), so the ``Trainer`` runs DDP (gloo on the CPU, nccl on GPUs), or FSDP /
DeepSpeed ZeRO when ``strategy`` asks for it. torchrun rather than ``accelerate launch``: it ships
with torch (no extra package, no config file to write before a local run), starts and watches
every rank, stops the others when one dies and names the first failure (rank, exit code), and the
``Trainer`` reads its environment (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_*) by itself. The same
command, with multi-node fields, is what ``export`` writes for a cluster.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import re
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...errors import ResourceError, ValidationError
from .config import RunConfig, estimate

if TYPE_CHECKING:
    from ..arbiter import Arbiter, Reservation

WORKER = "model_studio.core.training.worker"


@dataclass
class Placement:
    """The resolved ``devices``: ``gpus`` (indices; empty on the CPU) and the number of processes."""

    gpus: list[int]
    num_processes: int
    strategy: str = "ddp"

    @property
    def cpu(self) -> bool:
        return not self.gpus

    @property
    def devices(self) -> list[str]:
        """The arbiter's device names the run occupies."""
        return ["cpu"] if self.cpu else [f"cuda:{i}" for i in self.gpus]

    @property
    def backend(self) -> str:
        return "gloo" if self.cpu else "nccl"

    def env(self) -> dict[str, str]:
        """What the launched processes see: only the chosen GPUs (none on the CPU)."""
        return {"CUDA_VISIBLE_DEVICES": ",".join(str(i) for i in self.gpus)}

    def to_dict(self) -> dict[str, Any]:
        return {"devices": self.devices, "num_processes": self.num_processes, "strategy": self.strategy,
                "backend": self.backend}


def place(cfg: RunConfig, gpu_count: int) -> Placement:
    """The run's devices on a machine with ``gpu_count`` GPUs; ValidationError names what cannot be."""
    devices, n = cfg.devices, cfg.num_processes

    def fail(message: str, field: str = "devices") -> ValidationError:
        return ValidationError(f"{field}: {message}", details={"field": field, "value": getattr(cfg, field),
                                                               "gpus": gpu_count},
                               resolution_steps=["Use devices='cpu', or GPU indices below the GPU count"])

    if devices in (None, "auto"):
        want = n or 1
        gpus = list(range(want)) if gpu_count >= want else [] if gpu_count == 0 else None
        if gpus is None:
            raise fail(f"{want} processes need {want} GPUs; this machine has {gpu_count}", "num_processes")
    elif devices == "cpu":
        gpus = []
    elif devices == "all":
        if gpu_count == 0:
            raise fail("'all' means every GPU, and this machine has none")
        gpus = list(range(gpu_count))
    else:
        gpus = [devices] if isinstance(devices, int) else list(devices)  # type: ignore[arg-type]
        missing = [i for i in gpus if i >= gpu_count]
        if missing:
            raise fail(f"no GPU {missing[0]} here (this machine has {gpu_count})")
    if gpus and n is not None and n != len(gpus):
        raise fail(f"one process per GPU: {len(gpus)} GPU(s) chosen, {n} processes asked", "num_processes")
    if not gpus and cfg.strategy == "fsdp":
        raise fail("FSDP shards a model across GPUs; on the CPU use strategy='ddp'", "strategy")
    return Placement(gpus=gpus, num_processes=len(gpus) if gpus else (n or 1), strategy=cfg.strategy)


def deepspeed_installed() -> bool:
    return importlib.util.find_spec("deepspeed") is not None


def free_port() -> int:
    """A TCP port nobody listens on now (the rendezvous of one local run)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def torchrun_args(nproc: int, *, nnodes: int = 1, node_rank: int | str = 0, master_addr: str = "127.0.0.1",
                  master_port: int | str = 29500) -> list[str]:
    """``torch.distributed.run``'s options (without the program)."""
    return ["--nnodes", str(nnodes), "--node_rank", str(node_rank), "--nproc_per_node", str(nproc),
            "--master_addr", str(master_addr), "--master_port", str(master_port)]


def command(run_dir: Path, placement: Placement, *, resume: bool, master_port: int | None = None) -> list[str]:
    """The local command of a run: the worker itself, or torchrun over it for more than one process."""
    worker = ["-m", WORKER, str(run_dir)] + (["--resume"] if resume else [])
    if placement.num_processes == 1:
        return [sys.executable, *worker]
    port = master_port or free_port()
    return [sys.executable, "-m", "torch.distributed.run", *torchrun_args(placement.num_processes, master_port=port),
            *worker]


_REPORT = re.compile(r"rank\s*:\s*(\d+)\s*\(local_rank.*?exitcode\s*:\s*(-?\d+)", re.S)


def failed_rank(log_text: str) -> tuple[int, int] | None:
    """(rank, exit code) of the rank that brought a torchrun run down, from torchrun's report in the
    run's log: one killed by a signal other than torchrun's own SIGTERM first (its peers then fail on
    a closed connection, and may be reported first), else torchrun's first observed failure."""
    start = log_text.rfind("Failures:")
    if start < 0:
        start = log_text.rfind("Root Cause")
    if start < 0:
        return None
    found = [(int(r), int(c)) for r, c in _REPORT.findall(log_text[start:])]
    if not found:
        return None
    killed = [f for f in found if f[1] < 0 and f[1] != -signal.SIGTERM]
    root = log_text.rfind("Root Cause")
    first = [(int(r), int(c)) for r, c in _REPORT.findall(log_text[root:])] if root >= 0 else []
    return killed[0] if killed else (first or found)[0]


def rank_log(run_dir: Path, rank: int) -> Path:
    """Where rank ``rank`` logs: rank 0 into the run's ``log.txt``, the others into ``log.rank<N>.txt``."""
    return run_dir / ("log.txt" if rank == 0 else f"log.rank{rank}.txt")


def rank_error(run_dir: Path, rank: int) -> dict[str, Any]:
    """The error a rank wrote before it exited (``error.json`` for rank 0), or {}."""
    try:
        data = json.loads((run_dir / ("error.json" if rank == 0 else f"error.rank{rank}.json")).read_text())
        return data if isinstance(data, dict) and data.get("message") else {}
    except (OSError, ValueError):
        return {}


def tail(path: Path, lines: int = 40) -> str:
    try:
        return "".join(path.read_text(errors="replace").splitlines(keepends=True)[-lines:])
    except OSError:
        return ""


def memory(cfg: RunConfig, placement: Placement, *, parameters: int, hidden_size: int = 0, layers: int = 0,
           rows: int | None = None, seconds_per_step: float | None = None) -> dict[str, Any]:
    """The estimate with its memory per device for the strategy: DDP keeps a full copy of the model,
    LoRA states and activations per process; FSDP / ZeRO-3 shard the weights and LoRA states over the
    processes (activations stay per process)."""
    one = estimate(cfg, parameters=parameters, hidden_size=hidden_size, layers=layers, rows=rows,
                   seconds_per_step=seconds_per_step)
    n = placement.num_processes
    weights, lora, acts = one.pop("_weights"), one.pop("_lora"), one.pop("_activations")
    sharded = placement.strategy in ("fsdp", "deepspeed") and n > 1
    per_process = math.ceil((weights + lora) / n) + acts if sharded else weights + lora + acts
    if placement.cpu:  # every process shares the host's memory
        per_device = {"cpu": per_process * n}
    else:
        per_device = {d: per_process for d in placement.devices}
    return {**one, "memory_bytes": int(per_process), "per_device": per_device,
            "total_memory_bytes": int(per_process * n), **placement.to_dict()}


def reserve(arbiter: Arbiter, job_id: str, per_device: dict[str, int]) -> list[Reservation]:
    """One reservation per device the run trains on; idle chat models there are evicted first when
    they would be in its way (never refused: it is an estimate)."""
    import logging

    try:
        arbiter.admit(per_device, what=f"Training run {job_id}", details={"job_id": job_id})
    except ResourceError as exc:
        logging.getLogger(__name__).warning("training run %s may not fit: %s", job_id, exc.message)
    return [arbiter.reserve(device, need, f"training run {job_id}", kind="training", job_id=job_id)
            for device, need in per_device.items()]


def size_of(path: Path) -> tuple[int, int, int]:
    """(parameters, hidden size, layers) of a GGUF file or a model folder, roughly."""
    if path.is_file():
        from ..fit import gguf_metadata

        meta = gguf_metadata(path)
        params = int(meta.get("parameters") or 0) or path.stat().st_size * 2
        return params, int(meta.get("n_embd") or 0), int(meta.get("n_layers") or 0)
    cfg: dict[str, Any] = {}
    try:
        cfg = json.loads((path / "config.json").read_text())
    except (OSError, ValueError):
        pass
    size = sum(p.stat().st_size for p in path.glob("*.safetensors")) or sum(
        p.stat().st_size for p in path.glob("*.bin"))
    dtype = str(cfg.get("torch_dtype") or cfg.get("dtype") or "float32")
    width = 4 if "32" in dtype else 2
    return max(1, math.ceil(size / width)), int(cfg.get("hidden_size") or 0), int(cfg.get("num_hidden_layers") or 0)


def env_for(placement: Placement) -> dict[str, str]:
    """The launch environment: this one plus the visible GPUs (and one thread per process on a
    shared CPU unless the user set OMP_NUM_THREADS)."""
    env = {**os.environ, **placement.env()}
    if placement.cpu and placement.num_processes > 1 and "OMP_NUM_THREADS" not in os.environ:
        env["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // placement.num_processes))
    return env


def kill(proc: subprocess.Popen[bytes]) -> None:
    """Kill a worker, and every rank of a torchrun run (its own process group)."""
    try:
        if os.getpgid(proc.pid) == proc.pid:
            os.killpg(proc.pid, signal.SIGKILL)
            return
    except OSError:
        pass
    proc.kill()


def worker_alive(pid: int, run_dir: Path) -> bool:
    """True if ``pid`` is a training worker of ``run_dir`` that still runs (an orphan of a dead engine)."""
    import psutil

    try:
        proc = psutil.Process(pid)
        return proc.status() != psutil.STATUS_ZOMBIE and str(run_dir) in " ".join(proc.cmdline())
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False
