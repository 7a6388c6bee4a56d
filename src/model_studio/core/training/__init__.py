"""LoRA fine-tuning: ``engine.training`` (``TrainingService``), run settings (``RunConfig``) and the worker."""

from .config import RunConfig, estimate
from .service import TrainingService

__all__ = ["RunConfig", "TrainingService", "estimate"]
