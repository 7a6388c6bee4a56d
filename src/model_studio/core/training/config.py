"""A training run's settings (``RunConfig``), validated before any process starts, and a rough estimate."""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from ...errors import ValidationError

STRATEGIES = ("ddp", "fsdp", "deepspeed")
MAX_PROCESSES = 256

SCHEDULERS = ("linear", "cosine", "constant", "constant_with_warmup", "cosine_with_restarts", "polynomial")

#: LoRA target modules by ``config.model_type``; anything else: every linear layer.
TARGETS: dict[str, list[str]] = {
    "llama": ["q_proj", "k_proj", "v_proj", "o_proj"],
    "qwen2": ["q_proj", "k_proj", "v_proj", "o_proj"],
    "qwen3": ["q_proj", "k_proj", "v_proj", "o_proj"],
    "mistral": ["q_proj", "k_proj", "v_proj", "o_proj"],
    "gpt2": ["c_attn"],
}

#: Seconds per step assumed when nothing was measured.
DEFAULT_SECONDS_PER_STEP = 0.5


@dataclass
class RunConfig:
    """What one LoRA run trains: ``base`` model name, ``dataset`` (stored name or file) and hyper-parameters."""

    base: str
    dataset: str
    lora_r: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.05
    target_modules: list[str] | None = None
    steps: int | None = None  # default 20 when neither steps nor epochs is given
    epochs: float | None = None
    learning_rate: float = 2e-4
    lr_scheduler: str = "linear"
    warmup_steps: int = 0
    batch_size: int = 1
    grad_accum: int = 1
    max_seq_length: int = 512
    eval_every: int | None = None
    eval_fraction: float = 0.0
    save_every: int = 50
    seed: int = 0
    #: "cpu", a GPU index, a list of GPU indices, "all" GPUs, or None (GPU 0 if there is one, else the CPU)
    devices: str | int | list[int] | None = None
    #: processes (one per GPU on GPUs); more than one runs under torchrun. batch_size is per process.
    num_processes: int | None = None
    #: "ddp" (a full copy per process), "fsdp" (sharded over GPUs), "deepspeed" (ZeRO-3, where installed)
    strategy: str = "ddp"
    extra: dict[str, Any] = field(default_factory=dict)  # filled by the service (paths), not by users

    @classmethod
    def from_kwargs(cls, base: str, dataset: str, **config: Any) -> RunConfig:
        known = {f.name for f in fields(cls)} - {"base", "dataset", "extra"}
        unknown = sorted(set(config) - known)
        if unknown:
            raise ValidationError(f"Unknown training setting(s): {', '.join(unknown)}",
                                  details={"field": unknown[0], "unknown": unknown, "accepted": sorted(known)})
        cfg = cls(base=base, dataset=dataset, **{k: v for k, v in config.items() if v is not None})
        return cfg.validate()

    def validate(self) -> RunConfig:
        def fail(name: str, message: str) -> ValidationError:
            return ValidationError(f"{name}: {message}", details={"field": name, "value": getattr(self, name)})

        def is_int(v: Any) -> bool:
            return isinstance(v, int) and not isinstance(v, bool)

        def is_num(v: Any) -> bool:
            return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)

        for name in ("base", "dataset"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name).strip():
                raise fail(name, "must be a non-empty string")
        for name, low in (("lora_r", 1), ("lora_alpha", 1), ("batch_size", 1), ("grad_accum", 1),
                          ("max_seq_length", 8), ("save_every", 1), ("warmup_steps", 0), ("seed", 0)):
            v = getattr(self, name)
            if not is_int(v) or v < low:
                raise fail(name, f"must be an integer of at least {low}")
        if self.lora_r > 1024:
            raise fail("lora_r", "must be at most 1024")
        if not is_num(self.lora_dropout) or not 0.0 <= self.lora_dropout < 1.0:
            raise fail("lora_dropout", "must be in [0, 1)")
        if not is_num(self.learning_rate) or not 0.0 < self.learning_rate <= 1.0:
            raise fail("learning_rate", "must be in (0, 1]")
        if self.lr_scheduler not in SCHEDULERS:
            raise fail("lr_scheduler", f"must be one of {', '.join(SCHEDULERS)}")
        if self.target_modules is not None and (
                not isinstance(self.target_modules, list) or not self.target_modules
                or not all(isinstance(m, str) and m for m in self.target_modules)):
            raise fail("target_modules", "must be a non-empty list of module names (or None for the default)")
        if self.steps is not None and (not is_int(self.steps) or not 1 <= self.steps <= 10_000_000):
            raise fail("steps", "must be a positive integer")
        if self.epochs is not None and (not is_num(self.epochs) or self.epochs <= 0):
            raise fail("epochs", "must be a positive number")
        if self.steps is not None and self.epochs is not None:
            raise fail("epochs", "give steps or epochs, not both")
        if self.steps is None and self.epochs is None:
            self.steps = 20
        if self.eval_every is not None and (not is_int(self.eval_every) or self.eval_every < 1):
            raise fail("eval_every", "must be a positive integer (or None)")
        if not is_num(self.eval_fraction) or not 0.0 <= self.eval_fraction < 0.9:
            raise fail("eval_fraction", "must be in [0, 0.9)")
        if self.eval_every is not None and self.eval_fraction == 0.0:
            raise fail("eval_fraction", "must be above 0 when eval_every is set")
        self._validate_placement(fail, is_int)
        return self

    def _validate_placement(self, fail: Any, is_int: Any) -> None:
        d = self.devices
        if isinstance(d, str) and re.fullmatch(r"\s*(cuda:)?\d+\s*(,\s*(cuda:)?\d+\s*)*", d):  # "1", "cuda:0,cuda:1"
            d = self.devices = [int(x.strip().removeprefix("cuda:")) for x in d.split(",")]
        elif isinstance(d, str):
            d = self.devices = d.strip().lower()
        if isinstance(d, list) and len(d) == 1:
            d = self.devices = d[0] if is_int(d[0]) else d
        ok = (d is None or d in ("cpu", "all", "auto") or (isinstance(d, int) and is_int(d) and d >= 0) or (
            isinstance(d, list) and d and all(is_int(i) and i >= 0 for i in d) and len(set(d)) == len(d)))
        if not ok:
            raise fail("devices", "must be 'cpu', 'all', a GPU index or a list of distinct GPU indices")
        n = self.num_processes
        if n is not None and (not is_int(n) or not 1 <= n <= MAX_PROCESSES):
            raise fail("num_processes", f"must be an integer from 1 to {MAX_PROCESSES}")
        if self.strategy not in STRATEGIES:
            raise fail("strategy", f"must be one of {', '.join(STRATEGIES)}")
        if self.strategy == "fsdp" and d == "cpu":
            raise fail("strategy", "FSDP shards a model across GPUs; on the CPU use 'ddp'")
        if self.strategy == "deepspeed":
            import importlib.util

            if importlib.util.find_spec("deepspeed") is None:
                raise fail("strategy", "DeepSpeed is not installed here (pip install deepspeed), "
                                       "or use 'fsdp' to shard over GPUs")

    def total_steps(self, rows: int | None = None) -> int | None:
        """Optimizer steps of the run (``steps``, or ``epochs`` over ``rows`` training rows)."""
        if self.steps is not None:
            return int(self.steps)
        if rows is None or self.epochs is None:
            return None
        world = self.num_processes or (len(self.devices) if isinstance(self.devices, list) else 1)
        per_epoch = max(1, math.ceil(rows / (self.batch_size * self.grad_accum * world)))
        return max(1, math.ceil(per_epoch * self.epochs))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def estimate(config: RunConfig, *, parameters: int, hidden_size: int = 0, layers: int = 0,
             rows: int | None = None, seconds_per_step: float | None = None) -> dict[str, Any]:
    """Rough memory and time of a run: float32 weights, LoRA weights + grads + Adam states, activations
    (of one process; ``distributed.memory`` spreads it over devices). The ``_``-keys are its parts."""
    weights = parameters * 4
    hidden = hidden_size or max(64, int(math.sqrt(max(parameters, 1) / 12 / max(layers, 1))))
    n_layers = layers or 12
    targets = len(config.target_modules or ["q", "k", "v", "o"])
    lora_params = n_layers * targets * config.lora_r * hidden * 2
    lora = lora_params * 4 * 4  # weights, grads, two Adam moments
    tokens = config.batch_size * config.max_seq_length
    activations = tokens * hidden * n_layers * 4 * 16
    steps = config.total_steps(rows) or 0
    per_step = seconds_per_step if seconds_per_step is not None else DEFAULT_SECONDS_PER_STEP
    per_step *= config.grad_accum
    return {"memory_bytes": int(weights + lora + activations), "seconds_per_step": per_step,
            "seconds": per_step * steps, "steps": steps, "parameters": int(parameters),
            "trainable_parameters": int(lora_params),
            "_weights": int(weights), "_lora": int(lora), "_activations": int(activations)}
