"""What every ``model-studio`` command shares: exit codes and JSON output."""

from __future__ import annotations

import json
from typing import Any

EXIT_OK, EXIT_ERROR, EXIT_INTERRUPTED = 0, 1, 130


def _emit_json(obj: Any) -> int:
    print(json.dumps(obj, indent=2, default=str))
    return EXIT_OK
