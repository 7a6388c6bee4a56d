"""REST latency of a real ``jupyter server`` with 1,000 cached models and 1,000 jobs.

Builds a Hugging Face cache of ``--repos`` fake repos (``bench/library.py``'s layout) and a studio
home with ``--jobs`` jobs (``--active-jobs`` of them left queued, which the server marks
interrupted at start, the rest completed), starts ``jupyter server`` as a subprocess on them
(``HF_HUB_OFFLINE=1``, the extension enabled through a temporary config dir), then times:

- ``GET /model-studio/api/library?hub=false&limit=50``
- ``GET /model-studio/api/jobs?limit=200``
- ``GET /model-studio/api/system``

each ``--requests`` times one after the other (1 client), then with ``--clients`` concurrent
pollers (each polling the same route ``--per-client`` times). Latency is per request, client
side, over keep-alive connections; one warm-up call per route is excluded (the first library
listing scans the cache). Every response must be 200 with the expected number of items; the
``errors`` column counts the others and must be 0.

    PYTHONPATH=. .venv/bin/python bench/api.py          # ~30 s with defaults
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from library import build_cache  # noqa: E402

ROUTES = [
    ("/model-studio/api/library?hub=false&limit=50", lambda body, n: len(body["models"]) == min(50, n["repos"])),
    ("/model-studio/api/jobs?limit=200", lambda body, n: len(body["jobs"]) == min(200, n["jobs"])),
    ("/model-studio/api/system", lambda body, n: body["memory_total"] > 0),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _make_jobs(home: Path, cache: Path, n: int, active: int) -> None:
    from model_studio.config import Settings
    from model_studio.core import Engine, JobState

    with Engine(Settings(home=str(home), hf_cache=str(cache), offline=True)) as eng:
        for i in range(n):
            job = eng.jobs.create("download", {"model": f"org/m-{i}", "repo_id": f"org/m-{i}"},
                                  title=f"org/m-{i}")
            if i >= active:
                eng.jobs.set_state(job.id, JobState.COMPLETED, result={"repo_id": f"org/m-{i}"})


def _start_server(work: Path, port: int, token: str, env: dict[str, str]) -> subprocess.Popen:
    config = work / "jupyter-config"
    config.mkdir()
    (config / "jupyter_server_config.json").write_text(json.dumps(
        {"ServerApp": {"jpserver_extensions": {"model_studio": True}}}))
    root = work / "root"
    root.mkdir()
    env = dict(env, JUPYTER_CONFIG_DIR=str(config), JUPYTER_RUNTIME_DIR=str(work / "runtime"))
    log = open(work / "server.log", "w")  # noqa: SIM115 (closed with the process)
    return subprocess.Popen(
        [sys.executable, "-m", "jupyter_server", "--allow-root", "--no-browser", f"--port={port}",
         "--ip=127.0.0.1", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
         "--ServerApp.port_retries=0"],
        env=env, stdout=log, stderr=subprocess.STDOUT)


def _wait_ready(base: str, token: str, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"jupyter server exited with {proc.returncode}")
        try:
            r = httpx.get(f"{base}/model-studio/api/system", headers={"Authorization": f"token {token}"},
                          timeout=5)
            if r.status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError("jupyter server did not answer in time")


def _sequential(base: str, token: str, path: str, check, counts, n: int) -> tuple[list[float], int]:
    times, errors = [], 0
    with httpx.Client(base_url=base, headers={"Authorization": f"token {token}"}, timeout=30) as client:
        client.get(path)  # warm-up (the first library listing scans the cache)
        for _ in range(n):
            t0 = time.perf_counter()
            r = client.get(path)
            times.append(time.perf_counter() - t0)
            if r.status_code != 200 or not check(r.json(), counts):
                errors += 1
    return times, errors


async def _concurrent(base: str, token: str, path: str, check, counts, clients: int,
                      per_client: int) -> tuple[list[float], int]:
    times: list[float] = []
    errors = 0
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"token {token}"}, timeout=60,
                                 limits=limits) as client:
        await client.get(path)

        async def poller() -> None:
            nonlocal errors
            for _ in range(per_client):
                t0 = time.perf_counter()
                try:
                    r = await client.get(path)
                    ok = r.status_code == 200 and check(r.json(), counts)
                except httpx.HTTPError:
                    ok = False
                times.append(time.perf_counter() - t0)
                errors += not ok

        await asyncio.gather(*(poller() for _ in range(clients)))
    return times, errors


def _p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[98] if len(values) >= 2 else values[0]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repos", type=int, default=1000, help="fake repos in the cache (default 1000)")
    ap.add_argument("--jobs", type=int, default=1000, help="jobs in the store (default 1000)")
    ap.add_argument("--active-jobs", type=int, default=20, help="of those, left queued (default 20)")
    ap.add_argument("--requests", type=int, default=200, help="sequential requests per route (default 200)")
    ap.add_argument("--clients", type=int, default=50, help="concurrent pollers (default 50)")
    ap.add_argument("--per-client", type=int, default=10, help="requests per poller (default 10)")
    ap.add_argument("--keep", action="store_true", help="keep the temp folder (its path is printed)")
    args = ap.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="bench-api-"))
    home, cache = work / "studio-home", work / "hf-home" / "hub"
    cache.mkdir(parents=True)
    counts = {"repos": args.repos, "jobs": args.jobs}
    proc = None
    try:
        t0 = time.perf_counter()
        build_cache(cache, args.repos)
        _make_jobs(home, cache, args.jobs, args.active_jobs)
        print(f"built {args.repos} cached repos and {args.jobs} jobs in {time.perf_counter() - t0:.1f}s")

        env = dict(os.environ, MODEL_STUDIO_HOME=str(home), HF_HOME=str(work / "hf-home"), HF_HUB_CACHE=str(cache),
                   HF_HUB_OFFLINE="1", HF_HUB_DISABLE_TELEMETRY="1", MODEL_STUDIO_NO_STARTER="1",
                   PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")])))
        env.pop("MODEL_STUDIO_MODEL_DIRS", None)
        port, token = _free_port(), secrets.token_hex(16)
        base = f"http://127.0.0.1:{port}"
        t0 = time.perf_counter()
        proc = _start_server(work, port, token, env)
        _wait_ready(base, token, proc)
        print(f"jupyter server ready in {time.perf_counter() - t0:.1f}s (pid {proc.pid}, port {port})")

        rows = []
        for path, check in ROUTES:
            times, errors = _sequential(base, token, path, check, counts, args.requests)
            rows.append((path, 1, times, errors))
            times, errors = asyncio.run(_concurrent(base, token, path, check, counts, args.clients,
                                                    args.per_client))
            rows.append((path, args.clients, times, errors))

        route_w = max(len(r[0]) for r in rows) - len("/model-studio/api")
        print(f"\n{'route':<{route_w}} {'clients':>7} {'requests':>8} {'median ms':>10} {'p99 ms':>8} "
              f"{'errors':>6}")
        for path, clients, times, errors in rows:
            print(f"{path.removeprefix('/model-studio/api'):<{route_w}} {clients:>7} {len(times):>8} "
                  f"{statistics.median(times) * 1e3:>10.1f} {_p99(times) * 1e3:>8.1f} {errors:>6}")
        total_errors = sum(r[3] for r in rows)
        print(f"\nerrors: {total_errors}" + ("" if total_errors == 0 else "  FAILED (must be 0)"))
        return 0 if total_errors == 0 else 1
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            if proc.returncode not in (0, -15) or args.keep:
                print("server log tail:\n" + (work / "server.log").read_text()[-3000:])
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
