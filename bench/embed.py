"""Embedding throughput of the studio against llama-cpp-python itself, on the same model and inputs.

Same model (the starter SmolLM2-135M-Instruct Q4_1 GGUF, opened with ``embedding=True``; it
declares no pooling, so both sides pool by the mean, then L2-normalize), same ``--texts`` (256)
generated sentences sent in batches of ``--batch`` (32), 2 threads, a 2048-token context:

- raw:    ``llama_cpp.Llama(path, embedding=True, pooling_type=MEAN, n_threads=2, n_ctx=n_batch=2048)
          .embed(batch, normalize=True)`` in this process;
- engine: ``Engine().chat.embed(batch, model, load_options={threads: 2, context_length: 2048})``
          in this process (in-process mode);
- /v1:    the official ``openai`` client's ``embeddings.create(input=batch)`` (base64, the SDK's
          default) against ``/model-studio/v1`` of a ``jupyter server`` subprocess (in-process
          mode, the same load options through the ``model_studio`` extension).

Each side runs ``--runs`` (3) passes over all the texts after one warm-up pass, alternating with
raw; the table shows the median texts/s and the ratio side/raw. Target: >= 0.97 for both rows.
The vectors are checked equal (max abs difference < 1e-4) before anything is timed.

Then the remote half, ``bench/embed_remote.py`` in its own process (``--skip-remote`` leaves it
out): batch throughput through a remote OpenAI-compatible endpoint (``llama_cpp.server``) at
concurrency 1 and 4 against the same client calls made directly to it.

    PYTHONPATH=. .venv/bin/python bench/embed.py     # ~1 min with defaults on an idle 2-core machine
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.chat import (  # noqa: E402  (the repository root first, as the other benches run)
    MODEL_ID,
    PEER_AMX_PATCH,
    _starter_gguf,
    _stop,
    cpu_has_amx,
    start_jupyter,
)

THREADS = 2
CONTEXT = 2048
LOAD = {"threads": THREADS, "context_length": CONTEXT}
_SUBJECTS = ["The river", "A small robot", "My neighbour", "The old library", "Every notebook", "The training run"]
_VERBS = ["carries", "remembers", "paints", "downloads", "explains", "measures"]
_OBJECTS = ["the evening light", "a forgotten song", "three large files", "the shape of the data",
            "a question about Paris", "the weights of a tiny model"]


def texts(n: int) -> list[str]:
    """``n`` different sentences of 8 to 20 tokens."""
    out = []
    for i in range(n):
        s, v, o = _SUBJECTS[i % 6], _VERBS[(i // 6) % 6], _OBJECTS[(i // 36) % 6]
        out.append(f"{s} {v} {o}, number {i}.")
    return out


def batches(items: list[str], size: int) -> list[list[str]]:
    return [items[i:i + size] for i in range(0, len(items), size)]


def timed(fn, parts: list[list[str]]) -> float:
    """Texts per second of ``fn`` over every batch."""
    t0 = time.perf_counter()
    for part in parts:
        fn(part)
    return sum(len(p) for p in parts) / (time.perf_counter() - t0)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--texts", type=int, default=256, help="sentences per pass (default 256)")
    ap.add_argument("--batch", type=int, default=32, help="inputs per call (default 32)")
    ap.add_argument("--runs", type=int, default=3, help="timed passes per side, median (default 3)")
    ap.add_argument("--skip-http", action="store_true", help="only the in-process rows")
    ap.add_argument("--skip-remote", action="store_true", help="leave out the remote-endpoint half")
    ap.add_argument("--keep", action="store_true", help="keep the temp folder (its path is printed)")
    args = ap.parse_args(argv)

    import llama_cpp
    import openai

    from model_studio.config import Settings
    from model_studio.core import Engine

    path = _starter_gguf()
    parts = batches(texts(args.texts), args.batch)
    work = Path(tempfile.mkdtemp(prefix="bench-embed-"))
    if cpu_has_amx():  # the engine loads without AMX weight buffers there; the peer does the same work
        exec(PEER_AMX_PATCH, {})
    os.environ["MODEL_STUDIO_MODEL_HOST"] = "in_process"
    os.environ.pop("MODEL_STUDIO_NO_STARTER", None)
    raw = llama_cpp.Llama(model_path=str(path), embedding=True, pooling_type=llama_cpp.LLAMA_POOLING_TYPE_MEAN,
                          n_threads=THREADS, n_ctx=CONTEXT, n_batch=CONTEXT, n_ubatch=CONTEXT, verbose=False)
    engine = Engine(Settings(home=str(work / "home-a"), hf_cache=str(work / "hf-a"), offline=True,
                             model_host="in_process"))
    proc = None
    rows: list[tuple[str, str, float, float]] = []  # (side, peer, ours texts/s, peer texts/s)
    try:
        def raw_embed(part: list[str]) -> list:
            return raw.embed(part, normalize=True)

        def engine_embed(part: list[str]) -> np.ndarray:
            return engine.chat.embed(part, model=MODEL_ID, load_options=LOAD)

        sides = {"engine (in process)": engine_embed}
        client = None
        if not args.skip_http:
            proc, url, token = start_jupyter(work)
            client = openai.OpenAI(base_url=url, api_key=token, max_retries=0, timeout=600)

            def v1_embed(part: list[str]) -> list:
                answer = client.embeddings.create(model=MODEL_ID, input=part,  # type: ignore[union-attr]
                                                  extra_body={"model_studio": {"load_options": LOAD}})
                return [d.embedding for d in answer.data]

            sides["/v1/embeddings (openai client)"] = v1_embed
        expected = np.array(raw_embed(parts[0]), dtype=np.float32)
        for name, fn in sides.items():  # the same vectors first (this also warms every side up)
            got = np.array(fn(parts[0]), dtype=np.float32)
            diff = float(np.abs(got - expected).max())
            if diff > 1e-4:
                print(f"{name}: vectors differ from raw llama-cpp-python by {diff:.2e}")
                return 1
        for name, fn in sides.items():
            ours, peer = [], []
            for _ in range(args.runs):
                peer.append(timed(raw_embed, parts))
                ours.append(timed(fn, parts))
            rows.append((name, "llama-cpp-python embed()", statistics.median(ours), statistics.median(peer)))
        if client is not None:
            client.close()
    finally:
        _stop(proc)
        engine.close()
        raw.close()
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    print(f"\nEmbeddings: {MODEL_ID} ({path.name}), {args.texts} texts in batches of {args.batch}, "
          f"{THREADS} threads, median of {args.runs}\n")
    print(f"| {'side':32} | {'peer':26} | {'ours texts/s':>12} | {'peer texts/s':>12} | {'ratio':>6} | target |")
    print(f"|{'-' * 34}|{'-' * 28}|{'-' * 14}|{'-' * 14}|{'-' * 8}|--------|")
    for side, peer_name, ours_rate, peer_rate in rows:
        ratio = ours_rate / peer_rate
        verdict = "ok" if ratio >= 0.97 else "MISSED"
        print(f"| {side:32} | {peer_name:26} | {ours_rate:12.1f} | {peer_rate:12.1f} | {ratio:6.3f} | >=0.97 {verdict} |")
    if not args.skip_remote:  # batch through a remote endpoint vs the same calls made directly
        import subprocess

        return subprocess.run([sys.executable, str(Path(__file__).with_name("embed_remote.py"))]).returncode
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
