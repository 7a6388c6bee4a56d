"""Library and job listing latency with thousands of cached models and jobs.

Builds a Hugging Face cache with ``--repos`` fake repos (default 1,000) in the real layout
(``models--org--name/{blobs/<hash>, snapshots/<commit>/<file> -> ../../blobs/<hash>, refs/main}``,
relative symlinks as huggingface_hub makes them; config.json, README.md and a weights file per
repo, GGUF quantizations in every fourth repo), then times, as medians over ``--repeat`` runs:

- cold scan:   ``huggingface_hub.scan_cache_dir(cache)`` (the peer; it keeps no state, so every call
               walks and stats every file)
- ours cold:   ``Engine(...).library.list_local()`` on a new Engine (Engine construction excluded)
- ours warm:   a second ``list_local()`` on the same Engine
- search warm: ``library.search("org-1", hub=False)`` on the warm Engine
- after touch: a file is added to one repo (new blob + snapshot link), then ``list_local()``;
               the bench checks the new file shows in the listing
- jobs.list:   ``eng.jobs.list(limit=200)`` with ``--jobs`` (default 1,000) jobs in the store,
               ``--active-jobs`` (default 20) of them queued, the rest completed
- warm listing with jobs: ``list_local()`` again on that Engine (queued downloads make models
               show as "downloading", so the job store is consulted during a listing)

"Cold" means no in-process cache; the OS page cache is warm for every variant (the tree is
built just before and read by the first run), which favours the cold scan if anything.
Target: ours warm / cold scan < 0.1.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET = 0.1


def _blob(storage: Path, data: bytes, lfs: bool) -> str:
    if lfs:
        name = hashlib.sha256(data).hexdigest()
    else:
        h = hashlib.sha1(b"blob %d\0" % len(data))
        h.update(data)
        name = h.hexdigest()
    path = storage / "blobs" / name
    if not path.exists():
        path.write_bytes(data)
    return name


def _link(storage: Path, commit: str, rel: str, blob_name: str) -> None:
    pointer = storage / "snapshots" / commit / rel
    pointer.parent.mkdir(parents=True, exist_ok=True)
    target = os.path.relpath(storage / "blobs" / blob_name, pointer.parent)
    os.symlink(target, pointer)


def repo_id_for(i: int) -> str:
    return f"org-{i % 50}/model-{i:04d}"


def build_cache(cache: Path, n: int) -> None:
    for i in range(n):
        repo_id = repo_id_for(i)
        storage = cache / ("models--" + repo_id.replace("/", "--"))
        (storage / "blobs").mkdir(parents=True)
        (storage / "refs").mkdir()
        commit = hashlib.sha1(repo_id.encode()).hexdigest()
        (storage / "refs" / "main").write_text(commit)
        files: dict[str, tuple[bytes, bool]] = {
            "README.md": (f"# {repo_id}\n".encode(), False),
            "config.json": (json.dumps({"model_type": "llama", "hidden_size": 64 + i % 7,
                                        "max_position_embeddings": 2048}).encode(), False),
            "tokenizer_config.json": (json.dumps({"model_max_length": 2048}).encode(), False),
        }
        if i % 4 == 0:
            name = repo_id.split("/")[1]
            for q in ("Q4_K_M", "Q8_0"):
                files[f"{name}-{q}.gguf"] = (b"GGUF" + os.urandom(1020), True)
        else:
            files["model.safetensors"] = (os.urandom(2048), True)
        if i % 10 == 0:
            files["onnx/model.onnx"] = (os.urandom(512), True)
        for rel, (data, lfs) in files.items():
            _link(storage, commit, rel, _blob(storage, data, lfs))


def touch_repo(cache: Path, i: int, k: int) -> str:
    """Add one file to repo ``i`` the way a download does; returns its path in the snapshot."""
    repo_id = repo_id_for(i)
    storage = cache / ("models--" + repo_id.replace("/", "--"))
    commit = (storage / "refs" / "main").read_text().strip()
    rel = f"extra-{k}.safetensors"
    _link(storage, commit, rel, _blob(storage, os.urandom(4096), True))
    return rel


def _time(fn, *a, **kw):
    t0 = time.perf_counter()
    out = fn(*a, **kw)
    return time.perf_counter() - t0, out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repos", type=int, default=1000, help="fake repos in the cache (default 1000)")
    ap.add_argument("--jobs", type=int, default=1000, help="jobs in the store (default 1000)")
    ap.add_argument("--active-jobs", type=int, default=20,
                    help="of those, jobs left queued (the rest completed) (default 20)")
    ap.add_argument("--repeat", type=int, default=5, help="runs per measurement; medians reported (default 5)")
    ap.add_argument("--keep", action="store_true", help="keep the temp folder (its path is printed)")
    args = ap.parse_args(argv)

    os.environ["MODEL_STUDIO_NO_STARTER"] = "1"  # no starter-model folder in the listing
    os.environ.pop("MODEL_STUDIO_MODEL_DIRS", None)
    os.environ["HF_HUB_OFFLINE"] = "1"
    sys.path.insert(0, str(ROOT))
    from huggingface_hub import scan_cache_dir

    from model_studio.config import Settings
    from model_studio.core import Engine

    tmp = Path(tempfile.mkdtemp(prefix="bench-library-"))
    cache, home = tmp / "cache", tmp / "home"
    engines: list[Engine] = []
    try:
        t_build, _ = _time(build_cache, cache, args.repos)
        n_files = sum(1 for _ in cache.rglob("*"))
        print(f"built {args.repos} repos ({n_files} paths) under {cache} in {t_build:.1f}s", flush=True)

        def settings() -> Settings:
            return Settings(home=str(home), hf_cache=str(cache), hf_endpoint="http://127.0.0.1:9", offline=True)

        times: dict[str, list[float]] = {k: [] for k in
                                          ("scan", "cold", "warm", "search", "touch", "after", "jobs", "warm_jobs")}
        problems: list[str] = []
        for r in range(args.repeat):
            t, info = _time(scan_cache_dir, cache)
            times["scan"].append(t)
            if len(info.repos) != args.repos:
                problems.append(f"scan_cache_dir saw {len(info.repos)} repos")

            eng = Engine(settings())
            engines.append(eng)
            t, models = _time(eng.library.list_local)
            times["cold"].append(t)
            if len(models) != args.repos:
                problems.append(f"cold list_local saw {len(models)} repos")
            t, models = _time(eng.library.list_local)
            times["warm"].append(t)
            if len(models) != args.repos:
                problems.append(f"warm list_local saw {len(models)} repos")
            t, found = _time(eng.library.search, "org-1", hub=False, limit=1000)
            times["search"].append(t)
            expect = sum(1 for i in range(args.repos) if "org-1" in repo_id_for(i))
            if len(found) != expect:
                problems.append(f"search found {len(found)}, expected {expect}")

            victim = (r * 37 + 11) % args.repos
            rel = touch_repo(cache, victim, r)
            t, models = _time(eng.library.list_local)
            times["touch"].append(t)
            m = next((m for m in models if m.id == repo_id_for(victim)), None)
            if m is None or not m.local_path or not (Path(m.local_path) / rel).exists() \
                    or rel not in (eng.library.local.get(m.id).files if eng.library.local.get(m.id) else []):
                problems.append(f"listing after touch missed {rel} in {repo_id_for(victim)}")
            t, _ = _time(eng.library.list_local)
            times["after"].append(t)
            eng.close()
            engines.remove(eng)

        # Jobs: most finished, a few still queued (queued/running ones count as "downloading").
        eng = Engine(settings())
        engines.append(eng)
        from model_studio.core import JobState

        def make_jobs() -> None:
            for i in range(args.jobs):
                job = eng.jobs.create("download", {"model": f"org/m-{i}", "repo_id": f"org/m-{i}",
                                                   "revision": "main", "files": None}, title=f"org/m-{i}")
                if i >= args.active_jobs:
                    eng.jobs.set_state(job.id, JobState.COMPLETED, result={"repo_id": f"org/m-{i}"})

        t_create, _ = _time(make_jobs)
        for _ in range(args.repeat):
            t, jobs = _time(eng.jobs.list, limit=200)
            times["jobs"].append(t)
            if len(jobs) != min(200, args.jobs):
                problems.append(f"jobs.list returned {len(jobs)}")
        eng.library.list_local()
        for _ in range(args.repeat):
            t, models = _time(eng.library.list_local)
            times["warm_jobs"].append(t)
            if len(models) != args.repos:
                problems.append(f"warm list_local with jobs saw {len(models)} repos")
        eng.close()
        engines.remove(eng)

        med = {k: statistics.median(v) for k, v in times.items()}
        ms = lambda s: f"{s * 1000:10.2f}"  # noqa: E731
        print()
        print(f"Library listing, {args.repos} cached repos, medians of {args.repeat} runs")
        hdr = f"{'measurement':<52} {'median ms':>10} {'min ms':>10} {'vs cold scan':>12}"
        print(hdr)
        print("-" * len(hdr))
        rows = [
            ("scan", "huggingface_hub.scan_cache_dir (cold, peer)"),
            ("cold", "ours list_local, new Engine (cold)"),
            ("warm", "ours list_local, same Engine (warm)"),
            ("search", 'ours search("org-1", hub=False) (warm)'),
            ("touch", "ours list_local after adding a file to one repo"),
            ("after", "ours list_local again (warm)"),
            ("warm_jobs", f"ours list_local (warm), {args.jobs} jobs, {args.active_jobs} queued"),
        ]
        for key, label in rows:
            print(f"{label:<52} {ms(med[key])} {ms(min(times[key]))} {med[key] / med['scan']:12.3f}")
        print(f"{'jobs.list(limit=200), ' + str(args.jobs) + ' jobs in the store':<52} {ms(med['jobs'])} "
              f"{ms(min(times['jobs']))} {'-':>12}")
        print(f"(created {args.jobs} jobs, {args.active_jobs} left queued, in {t_create:.2f}s)")
        print()
        ratio = med["warm"] / med["scan"]
        print(f"warm listing / cold scan = {ratio:.3f}; target < {TARGET} (well under a tenth): "
              f"{'met' if ratio < TARGET else 'MISSED'}")
        ratio_cold = med["cold"] / med["scan"]
        print(f"cold listing / cold scan = {ratio_cold:.3f} (ours does more: reads config.json, groups quants)")
        print(f"correctness checks: {'all passed' if not problems else 'FAILED: ' + '; '.join(sorted(set(problems)))}")
        return 0
    finally:
        for eng in engines:
            try:
                eng.close()
            except Exception:
                pass
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
