"""The demo: the embedded starter model in the library, then a pull with progress from a local Hub.

Starts the fake Hugging Face Hub of the test fixtures (so it runs without internet), points the
studio at it through the usual environment variables, and drives the `model-studio` CLI.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / ".demo"


def run(*args: str, env: dict[str, str]) -> None:
    print(f"\n$ model-studio {' '.join(args)}", flush=True)
    subprocess.run([sys.executable, "-m", "model_studio", *args], env=env, check=True)


def main() -> int:
    shutil.rmtree(DEMO / "home", ignore_errors=True)
    shutil.rmtree(DEMO / "cache", ignore_errors=True)
    env = dict(os.environ, PYTHONPATH=str(ROOT), HF_HUB_DISABLE_XET="1", HF_HUB_DISABLE_TELEMETRY="1")
    hub = subprocess.Popen(
        [sys.executable, "-m", "tests.fixtures.hub", "--root", str(DEMO / "hub"), "--port", "0", "--populate"],
        env=env, stdout=subprocess.PIPE, text=True, cwd=ROOT,
    )
    try:
        url = hub.stdout.readline().strip()
        print(f"local Hub at {url}")
        env.update(HF_ENDPOINT=url, MODEL_STUDIO_HOME=str(DEMO / "home"), HF_HUB_CACHE=str(DEMO / "cache"))
        run("list", env=env)
        run("info", "local/SmolLM2-135M-Instruct", env=env)
        run("search", "qwen", "--offline", "--limit", "5", env=env)
        run("pull", "tiny-org/tiny-llama-GGUF:Q8_0", env=env)
        run("pull", "tiny-org/tiny-llama", env=env)
        run("verify", "tiny-org/tiny-llama", env=env)
        run("list", env=env)
        run("system", env=env)
        run("backends", env=env)
    finally:
        hub.terminate()
        hub.wait(10)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
