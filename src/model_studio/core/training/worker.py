"""The training worker: ``python -m model_studio.core.training.worker RUN_DIR [--resume]``.

RUN_DIR holds ``config.json`` (a ``RunConfig`` plus ``extra``: ``base_path`` (a model folder or a GGUF
file), ``base_dir`` (where a dequantized GGUF base is saved once) and ``data_path`` (JSONL of
``{"messages": [...]}`` or ``{"text": ...}`` rows). It trains a PEFT LoRA with the transformers
``Trainer`` and writes ``metrics.jsonl``, ``log.txt`` (through stderr), checkpoints, ``adapter/``
and ``result.json``.

Exit codes: 0 done, 3 cancelled (a checkpoint was saved), 4 NaN loss, 5 out of memory, 1 other
error (``error.json`` holds the reason).

Under torchrun (RANK / WORLD_SIZE set) every rank runs this: rank 0 writes the metrics, the log
(stderr), checkpoints and the adapter; rank N logs into ``log.rankN.txt`` (and ``error.rankN.json``).
Rank 0 reads the control file and tells every rank (one all-reduce per step), so all stop at the
same step and save one checkpoint. torchrun only tells ok from failed, so a rank that ends as
cancelled or NaN exits 0 and rank 0 writes the code to ``outcome.json``. Relative paths in
``extra`` are read from RUN_DIR; ``MODEL_STUDIO_BASE_PATH`` overrides ``base_path`` (an exported
bundle on another machine).
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from ..energy import GpuEnergy

EXIT_OK, EXIT_ERROR, EXIT_CANCELLED, EXIT_NAN, EXIT_OOM = 0, 1, 3, 4, 5

log = logging.getLogger("model_studio.training.worker")


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2))
    tmp.replace(path)


def latest_checkpoint(run_dir: Path) -> Path | None:
    found = []
    for p in run_dir.glob("checkpoint-*"):
        m = re.fullmatch(r"checkpoint-(\d+)", p.name)
        if m and p.is_dir() and (p / "trainer_state.json").exists():
            found.append((int(m.group(1)), p))
    return max(found)[1] if found else None


def load_base(base_path: str, base_dir: str | None, dtype: Any = None) -> tuple[Any, Any, str]:
    """(model, tokenizer, folder): a GGUF base is dequantized once and saved under ``base_dir``."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    dtype = dtype or torch.float32
    path = Path(base_path)
    if path.is_file():  # GGUF
        folder = Path(base_dir) if base_dir else path.parent / (path.stem + "-dequantized")
        if not (folder / "config.json").exists():
            log.info("dequantizing %s once into %s", path, folder)
            tok = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
            if not tok.chat_template:
                from ..fit import gguf_metadata

                tok.chat_template = gguf_metadata(path).get("chat_template")
            model = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name, dtype=torch.float32)
            tmp = folder.with_name(folder.name + f".tmp-{os.getpid()}")
            shutil.rmtree(tmp, ignore_errors=True)
            # The weights are plain float32 now: drop the GGUF "quantizer" so save_pretrained accepts them.
            setattr(model, "hf_quantizer", None)  # noqa: B010 (typed as a module attribute)
            setattr(model, "is_quantized", False)  # noqa: B010
            if hasattr(model.config, "quantization_config"):
                del model.config.quantization_config
            model.save_pretrained(str(tmp))
            tok.save_pretrained(str(tmp))
            try:
                tmp.replace(folder)
            except OSError:  # another run saved it first
                shutil.rmtree(tmp, ignore_errors=True)
            del model
        path = folder
    tokenizer = AutoTokenizer.from_pretrained(str(path))
    model = AutoModelForCausalLM.from_pretrained(str(path), dtype=dtype)
    return model, tokenizer, str(path)


def default_targets(model: Any) -> list[str] | str:
    from .config import TARGETS

    model_type = getattr(model.config, "model_type", "")
    if model_type in TARGETS:
        names = {n.rsplit(".", 1)[-1] for n, _ in model.named_modules()}
        wanted = [t for t in TARGETS[model_type] if t in names]
        if wanted:
            return wanted
    return "all-linear"


def build_examples(rows: list[dict[str, Any]], tokenizer: Any, max_len: int) -> list[dict[str, list[int]]]:
    """Token ids of each row: chat rows through the chat template, text rows as they are."""
    out = []
    for row in rows:
        if "messages" in row:
            text = tokenizer.apply_chat_template(row["messages"], tokenize=False)
            ids = tokenizer(text, add_special_tokens=False, truncation=True, max_length=max_len)["input_ids"]
        else:
            ids = tokenizer(str(row.get("text", "")), truncation=True, max_length=max_len)["input_ids"]
            if tokenizer.eos_token_id is not None and len(ids) < max_len:
                ids = ids + [tokenizer.eos_token_id]
        if ids:
            out.append({"input_ids": list(ids)})
    return out


class Collator:
    """Right-pads a batch; labels are the ids with padding masked out (-100)."""

    def __init__(self, pad_id: int) -> None:
        self.pad_id = pad_id

    def __call__(self, batch: list[dict[str, list[int]]]) -> dict[str, Any]:
        import torch

        width = max(len(b["input_ids"]) for b in batch)
        ids = torch.full((len(batch), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for i, b in enumerate(batch):
            n = len(b["input_ids"])
            ids[i, :n] = torch.tensor(b["input_ids"])
            mask[i, :n] = 1
        labels = ids.masked_fill(mask == 0, -100)
        return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def _rank() -> tuple[int, int]:
    return int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))


def _agree(flag: bool, device: Any) -> bool:
    """True on every rank when rank 0 says so (the same decision at the same step everywhere)."""
    import torch
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return flag
    t = torch.tensor([1 if flag else 0], device=device)
    dist.broadcast(t, src=0)
    return bool(t.item())


def make_callback(run_dir: Path, tokens_per_step: float, run_state: dict[str, Any], nvml_module: str = "") -> Any:
    from transformers import TrainerCallback

    metrics_path = run_dir / "metrics.jsonl"
    control_path = run_dir / "control"
    energy = GpuEnergy(nvml_module)  # GPU Wh per logged step; the job's total comes from the runner

    class MetricsCallback(TrainerCallback):
        def __init__(self) -> None:
            self.t0 = time.monotonic()
            self.step_start = time.monotonic()
            self.step_seconds: float | None = None
            self.elapsed_before = float(run_state.get("elapsed_before", 0.0))

        def on_step_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            self.step_start = time.monotonic()

        def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> Any:
            self.step_seconds = time.monotonic() - self.step_start
            rank, world = _rank()
            wanted = ""
            if rank == 0:
                try:
                    wanted = control_path.read_text().strip()
                except OSError:
                    pass
            if world > 1:
                log.info("rank %d/%d: step %d done in %.2f s", rank, world, state.global_step, self.step_seconds)
                wanted = "cancel" if _agree(wanted == "cancel", args.device) else ""
            if wanted == "cancel":
                run_state["cancelled"] = True
                control.should_save = True
                control.should_training_stop = True
            return control

        def on_log(self, args: Any, state: Any, control: Any, **kw: Any) -> Any:
            st = state
            logs = kw.get("logs") or {}
            if "loss" not in logs and "eval_loss" not in logs:
                return control
            loss = logs.get("loss")
            record = {
                "step": int(st.global_step), "epoch": logs.get("epoch", st.epoch),
                "loss": loss, "eval_loss": logs.get("eval_loss"),
                "learning_rate": logs.get("learning_rate"), "grad_norm": logs.get("grad_norm"),
                "tokens_per_second": (tokens_per_step / self.step_seconds) if self.step_seconds else None,
                "elapsed": self.elapsed_before + time.monotonic() - self.t0,
                "energy_wh": energy.wh(),
            }
            record = {k: (None if isinstance(v, float) and not math.isfinite(v) and k != "loss" else v)
                      for k, v in record.items()}
            if loss is not None and not math.isfinite(float(loss)):
                record["loss"] = None
                run_state["nan_step"] = int(st.global_step)
                control.should_training_stop = True
            if world_rank_zero(state):
                with metrics_path.open("a") as f:
                    f.write(json.dumps(record) + "\n")
            return control

    return MetricsCallback()


def world_rank_zero(state: Any) -> bool:
    return bool(getattr(state, "is_world_process_zero", True))


def _paths(run_dir: Path, extra: dict[str, Any]) -> dict[str, Any]:
    """``extra`` with relative paths read from the run folder and the base overridable by environment."""
    out = dict(extra)
    if os.environ.get("MODEL_STUDIO_BASE_PATH"):
        out["base_path"] = os.environ["MODEL_STUDIO_BASE_PATH"]
    for key in ("base_path", "base_dir", "data_path"):
        if out.get(key) and not Path(out[key]).is_absolute():
            out[key] = str(run_dir / out[key])
    return out


def _strategy_args(cfg: Any, use_cpu: bool) -> dict[str, Any]:
    """TrainingArguments for the run's strategy: DDP's backend, FSDP's sharding or DeepSpeed ZeRO-3."""
    if _rank()[1] == 1:
        return {}
    out: dict[str, Any] = {"ddp_backend": "gloo" if use_cpu else "nccl", "ddp_find_unused_parameters": False}
    if cfg.strategy == "fsdp":
        out["fsdp"] = "full_shard auto_wrap"
        out["fsdp_config"] = {"use_orig_params": True}  # LoRA: frozen and trained weights in one unit
    elif cfg.strategy == "deepspeed":
        out["deepspeed"] = {"zero_optimization": {"stage": 3}, "train_micro_batch_size_per_gpu": "auto",
                            "gradient_accumulation_steps": "auto", "train_batch_size": "auto"}
    return out


def train(run_dir: Path, resume: bool = False) -> int:
    cfg_data = json.loads((run_dir / "config.json").read_text())
    extra = _paths(run_dir, cfg_data.get("extra") or {})
    from .config import RunConfig

    cfg = RunConfig.from_dict(cfg_data)
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import Trainer, TrainingArguments, set_seed

    set_seed(cfg.seed)
    model, tokenizer, folder = load_base(extra["base_path"], extra.get("base_dir"))
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    rows = [json.loads(line) for line in Path(extra["data_path"]).read_text().splitlines() if line.strip()]
    examples = build_examples(rows, tokenizer, cfg.max_seq_length)
    if not examples:
        raise ValueError("The dataset has no usable rows")
    eval_set = None
    if cfg.eval_fraction > 0 and len(examples) >= 2:
        n_eval = max(1, int(round(len(examples) * cfg.eval_fraction)))
        examples, eval_set = examples[:-n_eval], examples[-n_eval:]
    targets = cfg.target_modules or default_targets(model)
    lora = LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                      target_modules=targets, task_type="CAUSAL_LM")
    model = get_peft_model(model, lora)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    rank, world = _rank()
    log.info("rank %d/%d: LoRA on %s: %d trainable parameters; %d training rows", rank, world, targets, trainable,
             len(examples))
    avg_tokens = sum(len(e["input_ids"]) for e in examples) / len(examples)
    state: dict[str, Any] = {}
    checkpoint = latest_checkpoint(run_dir) if resume else None
    if checkpoint is not None:
        try:
            lines = (run_dir / "metrics.jsonl").read_text().splitlines()
            state["elapsed_before"] = json.loads(lines[-1]).get("elapsed") or 0.0 if lines else 0.0
        except (OSError, ValueError):
            pass
        log.info("resuming from %s", checkpoint)
    use_cpu = cfg.devices == "cpu" or not torch.cuda.is_available()
    args = TrainingArguments(
        output_dir=str(run_dir), max_steps=cfg.steps if cfg.steps is not None else -1,
        num_train_epochs=cfg.epochs or 1.0, learning_rate=cfg.learning_rate, lr_scheduler_type=cfg.lr_scheduler,
        warmup_steps=cfg.warmup_steps, per_device_train_batch_size=cfg.batch_size,
        per_device_eval_batch_size=cfg.batch_size, gradient_accumulation_steps=cfg.grad_accum,
        logging_steps=1, save_strategy="steps", save_steps=cfg.save_every, save_total_limit=2,
        eval_strategy="steps" if (eval_set and cfg.eval_every) else "no", eval_steps=cfg.eval_every,
        report_to=[], seed=cfg.seed, data_seed=cfg.seed, disable_tqdm=True, remove_unused_columns=False,
        dataloader_num_workers=0, use_cpu=use_cpu, **_strategy_args(cfg, use_cpu),
    )
    callback = make_callback(run_dir, avg_tokens * cfg.batch_size * cfg.grad_accum, state,
                             str(extra.get("nvml_module") or ""))
    trainer = Trainer(model=model, args=args, train_dataset=examples, eval_dataset=eval_set,
                      data_collator=Collator(int(tokenizer.pad_token_id)), callbacks=[callback])
    output = trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    if "nan_step" in state:
        if rank > 0:
            return EXIT_NAN
        _write_json(run_dir / "error.json", {"type": "TrainingError", "code": EXIT_NAN,
                                             "message": f"The loss became NaN at step {state['nan_step']}",
                                             "step": state["nan_step"]})
        return EXIT_NAN
    if state.get("cancelled"):
        if latest_checkpoint(run_dir) is None or trainer.state.global_step > int(
                latest_checkpoint(run_dir).name.split("-")[1]):  # type: ignore[union-attr]
            trainer._save_checkpoint(model, trial=None)
        log.info("cancelled at step %d; checkpoint saved", trainer.state.global_step)
        return EXIT_CANCELLED
    adapter = run_dir / "adapter"
    if world > 1:
        trainer.save_model(str(adapter))  # every rank takes part (FSDP gathers); rank 0 writes
        if not trainer.is_world_process_zero():
            return EXIT_OK
    else:
        model.save_pretrained(str(adapter))
    tokenizer.save_pretrained(str(adapter))
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    _write_json(run_dir / "result.json", {
        "final_loss": losses[-1] if losses else None, "first_loss": losses[0] if losses else None,
        "train_loss": output.training_loss, "steps": int(trainer.state.global_step),
        "adapter": str(adapter), "base_dir": folder, "trainable_parameters": int(trainable)})
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    resume = "--resume" in argv
    args = [a for a in argv if a != "--resume"]
    if len(args) != 1:
        print("usage: python -m model_studio.core.training.worker RUN_DIR [--resume]", file=sys.stderr)
        return 2
    run_dir = Path(args[0]).resolve()
    rank, world = _rank()
    if rank > 0:  # rank 0 logs where the launcher said (the run's log.txt); the others beside it
        fd = os.open(run_dir / f"log.rank{rank}.txt", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.close(fd)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    error_file = run_dir / ("error.json" if rank == 0 else f"error.rank{rank}.json")
    error_file.unlink(missing_ok=True)
    try:
        code = train(run_dir, resume=resume)
        if world > 1 and code in (EXIT_OK, EXIT_CANCELLED, EXIT_NAN):
            if rank == 0:
                _write_json(run_dir / "outcome.json", {"code": code})
            return EXIT_OK
        return code
    except Exception as exc:
        import traceback

        oom = type(exc).__name__ in ("OutOfMemoryError",) or "out of memory" in str(exc).lower()
        traceback.print_exc()
        code = EXIT_OOM if oom else EXIT_ERROR
        _write_json(error_file, {
            "type": "ResourceError" if oom else "TrainingError", "code": code, "rank": rank,
            "message": ("Out of memory while training: " if oom else "Training failed: ") + f"{exc}"[:2000]})
        return code


if __name__ == "__main__":
    sys.exit(main())
