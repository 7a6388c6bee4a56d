"""A real JupyterLab (with the studio installed) and headless Chromium driven by Playwright.

Debian's chromium is used (`make setup` installs it); Playwright never downloads a browser here.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Lab:
    def __init__(self, url: str, token: str, root: Path, env: dict[str, str]) -> None:
        self.url, self.token, self.root, self.env = url, token, root, env

    def api(self, method: str, path: str, **kwargs):
        headers = {"Authorization": f"token {self.token}"}
        kwargs.setdefault("timeout", 30)
        return httpx.request(method, f"{self.url}/model-studio/api{path}", headers=headers, **kwargs)


@pytest.fixture(scope="module")
def lab(request, tmp_path_factory, fake_hub_session):
    """JupyterLab on a free port, its studio pointed at the session's fake Hub and a fresh home.

    A test module may set ``LAB_ENV_DROP`` (names to leave out, e.g. ``MODEL_STUDIO_NO_STARTER``
    to see the starter model) and ``LAB_ENV`` (names to set, e.g. ``MODEL_STUDIO_MODEL_HOST``) for its own lab.
    """
    if not Path(CHROMIUM).exists():
        pytest.fail("chromium is not installed: run `make setup` (apt-get install chromium)")
    tmp = tmp_path_factory.mktemp("lab")
    root = tmp / "notebooks"
    shutil.copytree(REPO / "notebooks", root)
    settings_dir = tmp / "user-settings" / "@jupyterlab" / "apputils-extension"
    settings_dir.mkdir(parents=True)
    # No "would you like to be notified about Jupyter news?" toast over the page.
    (settings_dir / "notification.jupyterlab-settings").write_text(json.dumps({"fetchNews": "false"}))
    port, token = _free_port(), "studio-test-token"
    env = dict(os.environ)
    env.update(
        MODEL_STUDIO_HOME=str(tmp / "home"), HF_HOME=str(tmp / "hf"), HF_HUB_CACHE=str(tmp / "hf" / "hub"),
        HF_ENDPOINT=fake_hub_session.url, HF_HUB_DISABLE_XET="1", MODEL_STUDIO_NO_STARTER="1",
        JUPYTER_CONFIG_DIR=str(tmp / "jupyter-config"), JUPYTER_RUNTIME_DIR=str(tmp / "runtime"),
        # The repository first; a PYTHONPATH already set (a worktree's src) is kept after it.
        PYTHONPATH=os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p),
    )
    # Models load in the lab's server and kernels, as tests/conftest.py intends (its monkeypatch is
    # function-scoped: this module-scoped lab starts before it); a module may ask for the host (LAB_ENV).
    env["MODEL_STUDIO_MODEL_HOST"] = "in_process"
    for name in getattr(request.module, "LAB_ENV_DROP", ()):
        env.pop(name, None)
    env.update(getattr(request.module, "LAB_ENV", {}))
    log = open(tmp / "lab.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyter", "lab", "--allow-root", "--no-browser", f"--port={port}",
         "--ServerApp.ip=127.0.0.1", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
         f"--LabApp.user_settings_dir={tmp / 'user-settings'}", f"--LabApp.workspaces_dir={tmp / 'workspaces'}",
         "--ServerApp.open_browser=False", "--LabApp.expose_app_in_browser=True"],
        env=env, stdout=log, stderr=subprocess.STDOUT, cwd=root,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/api/status", headers={"Authorization": f"token {token}"}, timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            break
        time.sleep(0.5)
    else:
        proc.terminate()
        pytest.fail("JupyterLab did not start:\n" + (tmp / "lab.log").read_text()[-3000:])
    if proc.poll() is not None:
        pytest.fail("JupyterLab exited:\n" + (tmp / "lab.log").read_text()[-3000:])
    lab = Lab(url, token, root, env)
    yield lab
    try:  # a model host this lab started (host mode) must not outlive it
        lab.api("POST", "/host/stop")
    except httpx.HTTPError:
        pass
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def page(request, browser, lab):
    """A fresh browser context and page; a module's ``BROWSER_CONTEXT`` adds context options."""
    options = {"viewport": {"width": 1400, "height": 900}, **getattr(request.module, "BROWSER_CONTEXT", {})}
    context = browser.new_context(**options)
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    pg.errors = errors  # type: ignore[attr-defined]
    yield pg
    context.close()


def shot(page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.wait_for_timeout(400)  # let bar transitions (0.3 s) settle
    page.screenshot(path=str(path))
    return path
