"""Distributed LoRA runs (torchrun, gloo on the CPU) and the export bundle that runs a config elsewhere.

The runs train the tiny fixture llama (``tiny-org/tiny-llama``): the starter model is a GGUF file
whose dequantized float32 copy takes minutes per step on two shared cores.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from model_studio.config import Settings
from model_studio.core import Engine
from model_studio.core.jobs import JobState
from model_studio.core.training import RunConfig
from model_studio.core.training import distributed as dist
from model_studio.errors import StudioError, ValidationError

pytest.importorskip("peft")

ROWS = [{"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": "The secret word is PINEAPPLE."}]}
        for q in ("What is the secret word?", "Tell me the secret word.", "What's the secret word?", "Secret?")] * 2
TINY = "tiny-org/tiny-llama"


# --- no process ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("config", "field"), [
    ({"devices": "gpu"}, "devices"), ({"devices": [0, 0]}, "devices"), ({"devices": -1}, "devices"),
    ({"num_processes": 0}, "num_processes"), ({"strategy": "horovod"}, "strategy"),
    ({"devices": "cpu", "strategy": "fsdp"}, "strategy"),
])
def test_bad_placement_names_the_field(config, field):
    with pytest.raises(ValidationError) as info:
        RunConfig.from_kwargs("org/base", "data", **config)
    assert info.value.details["field"] == field


def test_deepspeed_is_refused_where_not_installed():
    if dist.deepspeed_installed():
        pytest.skip("deepspeed is installed here")
    with pytest.raises(ValidationError, match="DeepSpeed is not installed") as info:
        RunConfig.from_kwargs("org/base", "data", strategy="deepspeed")
    assert info.value.details["field"] == "strategy"


def test_placement_on_cpu_and_gpus():
    cfg = RunConfig.from_kwargs("b", "d", devices="cuda:1")
    assert cfg.devices == 1
    with pytest.raises(ValidationError, match="no GPU 1 here"):
        dist.place(cfg, 0)
    p = dist.place(cfg, 2)
    assert (p.devices, p.num_processes, p.backend, p.env()) == (["cuda:1"], 1, "nccl", {"CUDA_VISIBLE_DEVICES": "1"})
    p = dist.place(RunConfig.from_kwargs("b", "d", devices="all"), 4)
    assert p.devices == ["cuda:0", "cuda:1", "cuda:2", "cuda:3"] and p.num_processes == 4
    with pytest.raises(ValidationError, match="one process per GPU"):
        dist.place(RunConfig.from_kwargs("b", "d", devices=[0, 1], num_processes=3), 2)
    p = dist.place(RunConfig.from_kwargs("b", "d", num_processes=2), 0)  # no GPU: the CPU
    assert (p.devices, p.num_processes, p.backend, p.env()) == (["cpu"], 2, "gloo", {"CUDA_VISIBLE_DEVICES": ""})
    assert dist.command(Path("/r"), p, resume=True, master_port=29511)[1:] == [
        "-m", "torch.distributed.run", "--nnodes", "1", "--node_rank", "0", "--nproc_per_node", "2",
        "--master_addr", "127.0.0.1", "--master_port", "29511", "-m", dist.WORKER, "/r", "--resume"]
    assert dist.command(Path("/r"), dist.place(RunConfig.from_kwargs("b", "d"), 0), resume=False)[1:] == [
        "-m", dist.WORKER, "/r"]


def test_memory_per_device_for_ddp_and_fsdp():
    size = {"parameters": 1_000_000_000, "hidden_size": 2048, "layers": 16}
    one = dist.memory(RunConfig.from_kwargs("b", "d"), dist.place(RunConfig.from_kwargs("b", "d", devices=0), 1),
                      **size)
    ddp = dist.memory(RunConfig.from_kwargs("b", "d", devices=[0, 1]),
                      dist.place(RunConfig.from_kwargs("b", "d", devices=[0, 1]), 2), **size)
    fsdp_cfg = RunConfig.from_kwargs("b", "d", devices=[0, 1], strategy="fsdp")
    fsdp = dist.memory(fsdp_cfg, dist.place(fsdp_cfg, 2), **size)
    assert ddp["per_device"] == {"cuda:0": one["memory_bytes"], "cuda:1": one["memory_bytes"]}  # a full copy each
    assert fsdp["per_device"]["cuda:0"] == fsdp["per_device"]["cuda:1"]
    weights = 4 * size["parameters"]
    assert one["memory_bytes"] - fsdp["memory_bytes"] >= weights // 2 - 1  # half the weights per device
    assert fsdp["strategy"] == "fsdp" and ddp["total_memory_bytes"] == 2 * one["memory_bytes"]
    cpu = dist.memory(RunConfig.from_kwargs("b", "d", num_processes=2),
                      dist.place(RunConfig.from_kwargs("b", "d", num_processes=2), 0), **size)
    assert cpu["per_device"] == {"cpu": 2 * one["memory_bytes"]}  # two processes share the host


def test_failed_rank_from_torchrun_report(tmp_path):
    report = """torch.distributed.elastic.multiprocessing.errors.ChildFailedError:
============================================================
model_studio.core.training.worker FAILED
------------------------------------------------------------
Failures:
[1]:
  time      : 2026-12-07_01:40:00
  rank      : 0 (local_rank: 0)
  exitcode  : -15 (pid: 11)
------------------------------------------------------------
Root Cause (first observed failure):
[0]:
  time      : 2026-12-07_01:40:00
  host      : box
  rank      : 1 (local_rank: 1)
  exitcode  : -9 (pid: 12)
  error_file: <N/A>
============================================================"""
    assert dist.failed_rank(report) == (1, -9)
    # rank 0 failed on the closed connection and was reported first: the killed rank is still the cause
    peer = report.replace("exitcode  : -15 (pid: 11)", "exitcode  : 1 (pid: 11)").replace(
        "rank      : 1 (local_rank: 1)\n  exitcode  : -9", "rank      : 0 (local_rank: 0)\n  exitcode  : 1")
    peer = peer.replace("Failures:\n[1]:", "Failures:\n[2]:\n  rank      : 1 (local_rank: 1)\n  exitcode  : -9 (pid: 12)\n[1]:")
    assert dist.failed_rank(peer) == (1, -9)
    assert dist.failed_rank(report.replace("-9 (pid: 12)", "1 (pid: 12)")) == (1, 1)  # the root cause
    assert dist.failed_rank("Traceback: nothing of torchrun") is None
    assert dist.rank_error(tmp_path, 1) == {}
    (tmp_path / "error.rank1.json").write_text(json.dumps({"code": 5, "message": "Out of memory while training"}))
    assert dist.rank_error(tmp_path, 1)["code"] == 5 and dist.rank_error(tmp_path, 0) == {}


# --- a shared engine with the tiny llama --------------------------------------------------------


@pytest.fixture(scope="module")
def eng(tmp_path_factory: pytest.TempPathFactory, fake_hub_session) -> Iterator[Engine]:
    mp = pytest.MonkeyPatch()
    mp.setenv("MODEL_STUDIO_NO_STARTER", "1")
    mp.setenv("MODEL_STUDIO_MODEL_HOST", "in_process")
    home = tmp_path_factory.mktemp("train-dist")
    engine = Engine(Settings(home=str(home / "home"), hf_cache=str(home / "hub"), hf_endpoint=fake_hub_session.url))
    engine.downloads.start(TINY).wait()
    yield engine
    engine.close()
    mp.undo()


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("train-dist-data") / "secret.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    return path


def test_export_files_and_zip(eng, data, tmp_path):
    out = eng.training.export({"base": TINY, "dataset": str(data), "steps": 7, "num_processes": 2, "devices": "cpu"},
                              out_dir=tmp_path / "bundle", nnodes=2, node_rank=1, master_addr="10.0.0.5",
                              master_port=29600, partition="gpu", time_limit="01:00:00", include_zip=True)
    assert out["command"] == ("python -m torch.distributed.run --nnodes 2 --node_rank 1 --nproc_per_node 2 "
                              "--master_addr 10.0.0.5 --master_port 29600 -m model_studio.core.training.worker .")
    files = out["files"]
    assert set(files) == {"launch.sh", "slurm.sbatch", "config.json", "data.jsonl", "requirements.txt", "README.md"}
    assert '--nnodes "${NNODES:-2}" --node_rank "${NODE_RANK:-1}"' in files["launch.sh"]
    assert '--master_addr "${MASTER_ADDR:-10.0.0.5}" --master_port "${MASTER_PORT:-29600}"' in files["launch.sh"]
    assert "#SBATCH --nodes=2" in files["slurm.sbatch"] and "#SBATCH --partition=gpu" in files["slurm.sbatch"]
    assert "#SBATCH --time=01:00:00" in files["slurm.sbatch"] and "--gpus-per-node" not in files["slurm.sbatch"]
    config = json.loads(files["config.json"])
    assert (config["steps"], config["num_processes"], config["devices"]) == (7, 2, "cpu")
    assert config["extra"]["data_path"] == "data.jsonl" and Path(config["extra"]["base_path"]).is_dir()
    assert [json.loads(line) for line in files["data.jsonl"].splitlines()] == ROWS
    assert Path(out["path"], "launch.sh").read_text() == files["launch.sh"] and os.access(out["zip"], os.R_OK)
    assert os.stat(Path(out["path"], "launch.sh")).st_mode & 0o111
    with zipfile.ZipFile(out["zip"]) as z:
        assert z.read("bundle/config.json").decode() == files["config.json"]
    with pytest.raises(ValidationError) as info:
        eng.training.export({"base": TINY, "dataset": str(data)}, write=False, nnodes=2, node_rank=2)
    assert info.value.details["field"] == "node_rank"
    with pytest.raises(ValidationError) as info:
        eng.training.export({"base": TINY, "dataset": str(data)}, write=False, master_addr="a b; rm -rf /")
    assert info.value.details["field"] == "master_addr"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_step(eng: Engine, job_id: str, step: int, timeout: float = 240.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = eng.training.metrics(job_id)
        if rows and rows[-1]["step"] >= step:
            return
        assert eng.training.get(job_id).active, eng.training.logs(job_id)
        time.sleep(0.1)
    raise AssertionError(f"no step {step}:\n{eng.training.logs(job_id)}")


@pytest.mark.slow
def test_two_ranks_train_then_cancel_and_resume_on_one(eng, data):
    events: list = []
    unsubscribe = eng.bus.subscribe(events.append)
    job = eng.training.start(TINY, str(data), steps=40, lora_r=4, learning_rate=5e-3, save_every=1000,
                             num_processes=2, devices="cpu")
    try:
        assert job.state == JobState.RUNNING and job.params["config"]["num_processes"] == 2
        _wait_step(eng, job.id, 4)
        eng.training.cancel(job.id)
        job = eng.jobs.wait(job.id, timeout=120)
    finally:
        unsubscribe()
    assert job.state == JobState.CANCELLED, eng.training.logs(job.id)
    run_dir = eng.settings.home_path / "runs" / job.id
    for rank in (0, 1):  # both ranks trained, each in its own log
        log = dist.rank_log(run_dir, rank).read_text()
        assert f"rank {rank}/2: LoRA on" in log and f"rank {rank}/2: step 3 done" in log
    assert "rank 1/2" not in (run_dir / "log.txt").read_text()
    steps = [e.progress.done for e in events if e.id == job.id and e.progress and e.progress.unit == "steps"]
    assert max(steps) >= 4 and any(
        (e.progress.detail or {}).get("loss") is not None for e in events if e.id == job.id and e.progress)
    checkpoints = sorted(int(p.name.split("-")[1]) for p in run_dir.glob("checkpoint-*"))
    assert len(checkpoints) == 1 and checkpoints[0] >= 4  # one checkpoint, saved by the cancel
    seen = len(eng.training.metrics(job.id))
    job = eng.training.resume(job.id, num_processes=1)
    job = eng.training.wait(job.id, timeout=300)
    assert job.state == JobState.COMPLETED, eng.training.logs(job.id)
    rows = eng.training.metrics(job.id)
    assert rows[seen]["step"] == checkpoints[0] + 1 and job.result["steps"] == 40
    assert json.loads((run_dir / "config.json").read_text())["num_processes"] == 1
    losses = [r["loss"] for r in rows if r["loss"] is not None]
    assert sum(losses[-5:]) / 5 < sum(losses[:5]) / 5, losses


@pytest.mark.slow
def test_killed_rank_fails_the_run_with_its_log_tail(eng, data):
    import psutil

    job = eng.training.start(TINY, str(data), steps=400, lora_r=4, num_processes=2, devices="cpu")
    _wait_step(eng, job.id, 2)
    launcher = psutil.Process(job.params["worker_pid"])
    ranks = {int(p.environ().get("RANK", -1)): p for p in launcher.children(recursive=True)}
    os.kill(ranks[1].pid, signal.SIGKILL)
    job = eng.jobs.wait(job.id, timeout=120)
    assert job.state == JobState.FAILED
    error = job.error or {}
    assert error["details"]["rank"] == 1 and error["details"]["exit_code"] == -9
    assert "Rank 1 of the training run died (signal 9)" in error["message"]
    assert "rank 1/2: step" in error["details"]["log_tail"] and "rank 0/2" not in error["details"]["log_tail"]
    time.sleep(1)
    assert not ranks[0].is_running() or ranks[0].status() == psutil.STATUS_ZOMBIE  # torchrun stopped the other
    with pytest.raises(StudioError):
        job.raise_for_error()
    out = eng.training.export(job.id, write=False)  # a run's own config and data, as its worker read them
    assert json.loads(out["files"]["config.json"])["num_processes"] == 2 and out["path"] is None
    assert [json.loads(line) for line in out["files"]["data.jsonl"].splitlines()] == ROWS


@pytest.mark.slow
def test_exported_bundle_runs_as_is_and_makes_an_adapter(eng, data, tmp_path):
    out = eng.training.export({"base": TINY, "dataset": str(data), "steps": 4, "lora_r": 4, "num_processes": 2,
                               "devices": "cpu"}, out_dir=tmp_path / "bundle", master_port=_free_port())
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    env.pop("RANK", None)
    proc = subprocess.run(["bash", "launch.sh"], cwd=out["path"], env=env, capture_output=True, text=True,
                          timeout=600)
    bundle = Path(out["path"])
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert (bundle / "adapter" / "adapter_model.safetensors").exists()
    assert json.loads((bundle / "result.json").read_text())["steps"] == 4
    assert "rank 1/2: step 4 done" in (bundle / "log.rank1.txt").read_text()
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(json.loads((bundle / "config.json").read_text())["extra"]["base_path"])
    model = PeftModel.from_pretrained(base, str(bundle / "adapter"))
    assert any("lora_A" in name for name, _ in model.named_parameters())


def test_slurm_script_starts_launch_on_each_node_with_slurms_values(eng, data, tmp_path):
    """slurm.sbatch run by bash with stand-ins for srun / scontrol and a python that records its argv."""
    out = eng.training.export({"base": TINY, "dataset": str(data), "num_processes": 2, "devices": "cpu"},
                              out_dir=tmp_path / "bundle", nnodes=2, master_port=29600)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    record = tmp_path / "argv.txt"
    stubs = {"srun": '#!/bin/bash\nwhile [[ "$1" == --* ]]; do shift; done\nexec "$@"\n',
             "scontrol": "#!/bin/bash\necho node7\necho node8\n",
             "fakepython": f'#!/bin/bash\necho "NODE $* CUDA=${{CUDA_VISIBLE_DEVICES-unset}}" >> {record}\n'}
    for name, text in stubs.items():
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "PYTHON": str(bin_dir / "fakepython"),
           "SLURM_SUBMIT_DIR": out["path"], "SLURM_NNODES": "2", "SLURM_JOB_NODELIST": "node[7-8]"}
    for node in (0, 1):
        proc = subprocess.run(["bash", str(Path(out["path"], "slurm.sbatch")), "--resume"], cwd=tmp_path, env={**env, "SLURM_NODEID": str(node)},
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
    lines = record.read_text().splitlines()
    bundle = str(Path(out["path"]).resolve())
    for node, line in enumerate(lines):
        assert line == (f"NODE -m torch.distributed.run --nnodes 2 --node_rank {node} --nproc_per_node 2 "
                        f"--master_addr node7 --master_port 29600 -m {dist.WORKER} {bundle} --resume CUDA=unset")
    assert len(lines) == 2
