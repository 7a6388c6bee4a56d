"""Download throughput: model_studio's engine against ``hf download`` on the same fake Hub.

The fake Hub (tests/fixtures/hub/) runs in its own process and serves the bytes with
``sendfile``. For every workload and repeat both sides download into a fresh cache:

- ours:  a child ``python`` that builds an ``Engine`` and runs ``downloads.start(repo).wait()``
- peer:  ``hf download REPO --cache-dir DIR`` (huggingface_hub's CLI, default 8 workers)
- peer': a child ``python`` calling ``huggingface_hub.snapshot_download`` (what ``hf download``
         runs), timed inside the child so interpreter and import start-up are excluded.

Two ratios are reported:

- ``process``: wall time of the whole child process on both sides (both pay start-up).
- ``transfer``: time measured inside each child from just before the download call to its end
  (start-up, imports and Engine construction excluded on both sides; the ours child imports
  ``huggingface_hub.hf_api`` before its timer, as ``from huggingface_hub import snapshot_download``
  does in the peer child, otherwise the engine's lazy import (~0.13 s) would land in its timer).

The order of ours/peer alternates between repeats, blobs are read once before timing so the
server reads from the page cache, and every file of both caches is sha256-checked against the
published bytes after each run (outside the timing). Our engine verifies sha256 (LFS) or git
sha1 (small files) while downloading; huggingface_hub does not.

Exit code is 0 even when the target is missed: this is a measurement.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
TARGET = 1.0

# Child that downloads with our engine; prints one JSON line.
_OURS_CHILD = r"""
import json, sys, time
t_import = time.perf_counter()
from model_studio.config import Settings
from model_studio.core import Engine
# The engine imports huggingface_hub's HfApi lazily on the first Hub call (~0.13 s); the peer child
# imports it before its timer starts, so do the same here: imports stay outside both timers.
import huggingface_hub.hf_api, huggingface_hub.file_download  # noqa: E401,F401
home, cache, url, repo = sys.argv[1:5]
files = json.loads(sys.argv[5]) if len(sys.argv) > 5 else None
eng = Engine(Settings(home=home, hf_cache=cache, hf_endpoint=url))
t0 = time.perf_counter()
job = eng.downloads.start(repo, files=files)
job = job.wait(600)
t1 = time.perf_counter()
eng.close()
print(json.dumps({"transfer_s": t1 - t0, "result": job.result}))
"""

# Child that downloads with huggingface_hub.snapshot_download (what `hf download REPO` calls).
_PEER_CHILD = r"""
import json, sys, time
from huggingface_hub import snapshot_download
cache, repo = sys.argv[1:3]
t0 = time.perf_counter()
path = snapshot_download(repo, cache_dir=cache)
t1 = time.perf_counter()
print(json.dumps({"transfer_s": t1 - t0, "path": path}))
"""


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(8 << 20):
            h.update(chunk)
    return h.hexdigest()


def _snapshot_hashes(cache: Path, repo_id: str) -> dict[str, str]:
    storage = cache / ("models--" + repo_id.replace("/", "--"))
    snaps = list((storage / "snapshots").iterdir())
    if len(snaps) != 1:
        raise RuntimeError(f"expected one snapshot in {storage}, found {len(snaps)}")
    out = {}
    for p in sorted(snaps[0].rglob("*")):
        if p.is_file():
            out[p.relative_to(snaps[0]).as_posix()] = _sha256(p)
    return out


def _env(url: str, hf_home: Path) -> dict[str, str]:
    env = dict(os.environ)
    for k in ("HF_TOKEN", "HF_HUB_CACHE", "HF_HUB_OFFLINE", "HF_HUB_ENABLE_HF_TRANSFER"):
        env.pop(k, None)
    env.update(
        HF_ENDPOINT=url,
        HF_HOME=str(hf_home),
        HF_HUB_DISABLE_XET="1",
        HF_HUB_DISABLE_TELEMETRY="1",
        PYTHONPATH=str(ROOT) + os.pathsep + env.get("PYTHONPATH", ""),
        MODEL_STUDIO_NO_STARTER="1",
    )
    return env


def _run(cmd: list[str], env: dict[str, str]) -> tuple[float, str]:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd[:3]} failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
    return wall, proc.stdout


def _last_json(stdout: str) -> dict:
    for line in reversed(stdout.strip().splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    raise RuntimeError(f"no JSON result in child output: {stdout[-500:]}")


def _start_hub(root: Path) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.fixtures.hub", "--root", str(root), "--port", "0"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    url = proc.stdout.readline().strip()  # type: ignore[union-attr]
    if not url.startswith("http"):
        proc.kill()
        raise RuntimeError(f"fake hub did not print its URL (got {url!r})")
    return proc, url


def _publish(root: Path, staging: Path, args: argparse.Namespace) -> list[dict]:
    sys.path.insert(0, str(ROOT))
    from tests.fixtures.hub import FakeHub
    from tests.fixtures.models import make_random_file

    hub = FakeHub(root)
    workloads = []

    files: dict[str, bytes | Path] = {}
    for i in range(args.files):
        name = f"model-{i + 1:05d}-of-{args.files:05d}.safetensors"
        files[name] = make_random_file(staging / name, args.file_mb << 20, seed=1000 + i)
    files["config.json"] = json.dumps({"model_type": "llama", "hidden_size": 64}).encode()
    files["generation_config.json"] = json.dumps({"do_sample": False}).encode()
    files["tokenizer_config.json"] = json.dumps({"model_max_length": 2048, "pad": "x" * 500}).encode()
    files["README.md"] = b"---\nlicense: mit\n---\n# bench multi-file repo\n"
    repo = "bench-org/multi-file"
    hub.add_repo(repo, files)
    workloads.append({"name": f"multi {args.files}x{args.file_mb}MB+4 small", "repo": repo, "files": files})

    if args.large_mb > 0:
        large = {"model.safetensors": make_random_file(staging / "large.safetensors", args.large_mb << 20, seed=7)}
        repo = "bench-org/large-file"
        hub.add_repo(repo, large)
        workloads.append({"name": f"large 1x{args.large_mb}MB", "repo": repo, "files": large})

    for w in workloads:
        w["expected"] = {
            name: hashlib.sha256(c).hexdigest() if isinstance(c, bytes) else _sha256(c)
            for name, c in w["files"].items()
        }
        w["bytes"] = sum(len(c) if isinstance(c, bytes) else c.stat().st_size for c in w["files"].values())
    shutil.rmtree(staging, ignore_errors=True)
    # Warm the page cache so the server never waits on the disk in a timed run.
    for blob in (root / "blobs").iterdir():
        with open(blob, "rb") as fh:
            while fh.read(16 << 20):
                pass
    return workloads


def _measure(w: dict, side: str, tmp: Path, url: str, run_idx: int) -> dict:
    work = tmp / f"{side}-{run_idx}"
    cache, home, hf_home = work / "cache", work / "home", work / "hf_home"
    for d in (cache, home, hf_home):
        d.mkdir(parents=True)
    env = _env(url, hf_home)
    py = sys.executable
    try:
        if side == "ours":
            wall, out = _run([py, "-c", _OURS_CHILD, str(home), str(cache), url, w["repo"]], env)
            info = _last_json(out)
            transfer = info["transfer_s"]
        elif side == "hf":
            hf = str(VENV_BIN / "hf")
            wall, _ = _run([hf, "download", w["repo"], "--cache-dir", str(cache)], env)
            transfer = None
        else:  # snapshot_download timed inside the child
            wall, out = _run([py, "-c", _PEER_CHILD, str(cache), w["repo"]], env)
            transfer = _last_json(out)["transfer_s"]
        got = _snapshot_hashes(cache, w["repo"])
        ok = got == w["expected"]
        if not ok:
            bad = sorted(k for k in set(got) | set(w["expected"]) if got.get(k) != w["expected"].get(k))
            print(f"  !! {side} run {run_idx} {w['name']}: sha256 mismatch / missing: {bad[:5]}", flush=True)
        return {"wall": wall, "transfer": transfer, "ok": ok}
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _fmt_rate(nbytes: int, seconds: float | None) -> str:
    return "-" if not seconds else f"{nbytes / seconds / 1e6:9.1f}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--files", type=int, default=16, help="files in the multi-file repo (default 16)")
    ap.add_argument("--file-mb", type=int, default=8, help="MiB per file of the multi-file repo (default 8)")
    ap.add_argument("--large-mb", type=int, default=256, help="MiB of the single-file repo; 0 skips it (default 256)")
    ap.add_argument("--repeat", type=int, default=3, help="runs per side and workload; the median is reported")
    ap.add_argument("--no-snapshot", action="store_true",
                    help="skip the in-process snapshot_download peer (transfer-only ratio)")
    ap.add_argument("--keep", action="store_true", help="keep the temp folder (its path is printed)")
    args = ap.parse_args(argv)

    tmp = Path(tempfile.mkdtemp(prefix="bench-download-"))
    hub_proc = None
    try:
        print(f"publishing repos under {tmp} ...", flush=True)
        workloads = _publish(tmp / "hub", tmp / "staging", args)
        hub_proc, url = _start_hub(tmp / "hub")
        print(f"fake hub (pid {hub_proc.pid}) at {url}", flush=True)
        sides = ["ours", "hf"] + ([] if args.no_snapshot else ["snap"])
        results: dict[tuple[str, str], list[dict]] = {}
        for w in workloads:
            for r in range(args.repeat):
                order = sides if r % 2 == 0 else list(reversed(sides))
                for side in order:
                    m = _measure(w, side, tmp / "runs", url, r)
                    results.setdefault((w["name"], side), []).append(m)
                    extra = f" (transfer {m['transfer']:.3f}s)" if m["transfer"] else ""
                    print(f"  {w['name']:<28} {side:<5} run {r}: {m['wall']:.3f}s wall{extra}"
                          f" {'ok' if m['ok'] else 'HASH MISMATCH'}", flush=True)

        print()
        print("Download throughput, median of", args.repeat, "runs (MB = 10^6 bytes)")
        print("process: whole child process wall time, interpreter + imports included, both sides")
        print("transfer: in-child time of the download call only (ours: start()..wait(); "
              "peer: snapshot_download())")
        hdr = (f"{'workload':<30} {'bytes':>11} {'metric':<9} {'ours MB/s':>9} {'peer MB/s':>9} "
               f"{'ratio':>6}  {'target':<7} verdict")
        print(hdr)
        print("-" * len(hdr))
        all_ok = True
        missed = False
        for w in workloads:
            ours = results[(w["name"], "ours")]
            hf = results[(w["name"], "hf")]
            all_ok &= all(m["ok"] for m in ours + hf)
            o_wall = statistics.median(m["wall"] for m in ours)
            p_wall = statistics.median(m["wall"] for m in hf)
            rows = [("process", o_wall, p_wall, "hf download")]
            if not args.no_snapshot:
                snap = results[(w["name"], "snap")]
                all_ok &= all(m["ok"] for m in snap)
                rows.append(("transfer", statistics.median(m["transfer"] for m in ours),
                             statistics.median(m["transfer"] for m in snap), "snapshot_download"))
            for metric, o, p, _peer in rows:
                ratio = p / o
                verdict = "ok" if ratio >= TARGET else "MISSED"
                missed |= ratio < TARGET
                print(f"{w['name']:<30} {w['bytes']:>11} {metric:<9} {_fmt_rate(w['bytes'], o)} "
                      f"{_fmt_rate(w['bytes'], p)} {ratio:6.2f}  >= {TARGET:<4} {verdict}")
        print()
        print("peer for 'process' = `hf download REPO --cache-dir DIR` (CLI, 8 workers);"
              " peer for 'transfer' = huggingface_hub.snapshot_download in a child")
        print(f"every file of every run sha256-identical to the published bytes (ours and peers): "
              f"{'yes' if all_ok else 'NO'}")
        print("our engine verified checksums while downloading: yes (sha256 for LFS files, git sha1 for "
              "small files; job fails with IntegrityError otherwise); hf download: no checksum check")
        print(f"target ratio ours/peer >= {TARGET}: {'MISSED' if missed else 'met'}")
        return 0
    finally:
        if hub_proc is not None:
            hub_proc.terminate()
            try:
                hub_proc.wait(10)
            except subprocess.TimeoutExpired:
                hub_proc.kill()
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
