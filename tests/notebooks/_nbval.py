"""Run a notebook top to bottom under nbval, in a subprocess, against the fake Hub."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_nbval(notebook: Path, hub_url: str, tmp_path: Path, *, cell_timeout: int, timeout: int,
              **extra_env: str) -> None:
    """``pytest --nbval-lax NOTEBOOK`` with a fresh studio home and HF cache in ``tmp_path`` and the
    Hub at ``hub_url``; the studio's and the Hub's own variables of this process are left out.
    Fails the calling test with the output's tail when a cell fails."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "MODEL_STUDIO_", "PYTEST_", "STUDIO_"))}
    env.update(
        HF_ENDPOINT=hub_url,
        HF_HOME=str(tmp_path / "hf-home"),
        HF_HUB_CACHE=str(tmp_path / "hf-home" / "hub"),
        HF_HUB_DISABLE_XET="1",
        HF_HUB_DISABLE_TELEMETRY="1",
        MODEL_STUDIO_HOME=str(tmp_path / "studio-home"),
        MODEL_STUDIO_MODEL_HOST="in_process",
        PYTHONPATH=os.pathsep.join((str(ROOT / "src"), str(ROOT))),
        **extra_env,
    )
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "--nbval-lax", str(notebook.relative_to(ROOT)), "-p", "no:cacheprovider",
         "-q", "--nbval-cell-timeout", str(cell_timeout)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
