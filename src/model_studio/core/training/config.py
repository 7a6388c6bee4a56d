"""A training run's settings (``RunConfig``), validated before any process starts, and a rough estimate."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from ...errors import ValidationError

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
        return self

    def total_steps(self, rows: int | None = None) -> int | None:
        """Optimizer steps of the run (``steps``, or ``epochs`` over ``rows`` training rows)."""
        if self.steps is not None:
            return int(self.steps)
        if rows is None or self.epochs is None:
            return None
        per_epoch = max(1, math.ceil(rows / (self.batch_size * self.grad_accum)))
        return max(1, math.ceil(per_epoch * self.epochs))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def estimate(config: RunConfig, *, parameters: int, hidden_size: int = 0, layers: int = 0,
             rows: int | None = None, seconds_per_step: float | None = None) -> dict[str, Any]:
    """Rough memory and time of a run: float32 weights, LoRA weights + grads + Adam states, activations."""
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
            "trainable_parameters": int(lora_params)}
