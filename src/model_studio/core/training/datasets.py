"""Training datasets: import, validate, preview and split (``engine.training.datasets``).

A dataset is one JSONL, CSV or Parquet file in one of four shapes, each normalised to chat
messages for training:

- ``chat``: ``messages`` = ``[{"role": "system"|"user"|"assistant", "content": str}, ...]``
- ``instruction`` (alpaca): ``instruction``, optional ``input``, ``output`` (or ``response``)
- ``completion``: ``prompt``, ``completion``
- ``text``: raw ``text`` (learned as one assistant message)

or an explicit ``mapping`` of those fields to the file's own columns (``{"prompt": "question",
"completion": "answer"}``). Every row is validated before anything is written; errors name the
row (1-based) in the message and in ``details["row"]``. Datasets live under
``<home>/datasets/<name>/`` (the original file, copied, and ``meta.json``).

This module is the public face; the code lives in one module per idea:

- ``dataset_files``: file formats, reading rows, row-numbered errors;
- ``dataset_shapes``: shape detection and mapping, rows to chat messages;
- ``dataset_store``: ``DatasetStore`` (import, list, get, delete, rows, split) and ``DatasetInfo``;
- ``dataset_preview``: previews and token statistics through a model's chat template.
"""

from __future__ import annotations

from .dataset_shapes import SHAPES, detect_shape
from .dataset_store import MAX_UPLOAD_BYTES, DatasetInfo, DatasetStore, validate_name

__all__ = ["DatasetStore", "DatasetInfo", "detect_shape", "validate_name", "MAX_UPLOAD_BYTES", "SHAPES"]
