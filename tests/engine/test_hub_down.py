"""A Hub that is down or stalled: searches answer from catalog and local models, failures are
remembered for a while (no retry storm), and Hub calls stay in their own small pool."""

from __future__ import annotations

import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from model_studio.config import Settings
from model_studio.core import Engine
from model_studio.core.hub import HUB_WORKERS, _Breaker
from model_studio.errors import NetworkError

CATALOG_QWEN = "Qwen/Qwen2.5-0.5B-Instruct-GGUF"


def closed_port_url() -> str:
    """A URL nothing listens on (a port bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


class StalledHub:
    """Accepts connections and never answers; counts them."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.connections: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections.append(conn)

    def close(self) -> None:
        self.sock.close()
        for c in self.connections:
            c.close()


@pytest.fixture
def stalled_hub():
    hub = StalledHub()
    yield hub
    hub.close()


def make_engine(tmp_path, endpoint: str, **overrides) -> Engine:
    settings = Settings(home=str(tmp_path / "studio-home"), hf_cache=str(tmp_path / "hf-home" / "hub"),
                        hf_endpoint=endpoint, **overrides)
    return Engine(settings)


def wait_until(check, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not reached")


def test_unreachable_hub_search_answers_from_catalog_and_remembers_the_failure(tmp_path):
    # Given a Hub endpoint on a closed port
    eng = make_engine(tmp_path, closed_port_url(), hub_retry_after=60.0)
    try:
        # When searching
        first = eng.library.search("qwen", limit=20)
        # Then catalog models answer, and hub_error says the Hub could not be reached
        assert CATALOG_QWEN in {m.id for m in first}
        assert all("hub" not in m.sources for m in first)
        assert first.hub_error["type"] == "NetworkError"
        assert set(first.hub_error) == {"type", "message", "details", "resolution_steps"}
        # When searching something else during the window
        second = eng.library.search("llama", limit=20)
        # Then the Hub is not tried again: the remembered failure answers, saying when it retries
        assert second.hub_error["type"] == "NetworkError"
        assert 0 < second.hub_error["details"]["retry_in"] <= 60
        assert "Connection" in second.hub_error["details"]["cause"] or "Connect" in second.hub_error["details"]["cause"]
        # And a model the Hub alone knows fails fast with the typed error (502), not a hang
        with pytest.raises(NetworkError) as info:
            eng.library.info("someone/hub-only-model")
        assert info.value.http_status == 502 and info.value.details["retry_in"] > 0
        with pytest.raises(NetworkError):
            eng.library.fit("someone/hub-only-model")
        # And a catalog model's info still answers, without the Hub
        assert eng.library.info(CATALOG_QWEN).id == CATALOG_QWEN
    finally:
        eng.close()


def test_the_breaker_lets_the_hub_back_in_after_its_window(tmp_path, fake_hub):
    # Given a Hub that went away (its port now closed) and a search that found out
    url, port = fake_hub.url, fake_hub.port
    fake_hub.stop()
    eng = make_engine(tmp_path, url, hub_retry_after=60.0)
    try:
        assert eng.library.search("tiny", limit=10).hub_error["type"] == "NetworkError"
        # When the Hub comes back during the window
        fake_hub.start(port=port)
        fake_hub.clear_requests()
        during = eng.library.search("tiny", limit=10)
        # Then the studio does not call it yet
        assert during.hub_error["details"]["retry_in"] > 0
        assert not [r for r in fake_hub.requests if r.path.startswith("/api/models")]
        # When the window is over
        eng.settings.hub_retry_after = 0.0
        after = eng.library.search("tiny", limit=10)
        # Then the Hub answers again and the error is gone
        assert after.hub_error is None
        assert "tiny-org/tiny-llama" in {m.id for m in after if "hub" in m.sources}
        assert eng.library.info("tiny-org/tiny-llama").id == "tiny-org/tiny-llama"
    finally:
        eng.close()


def test_stalled_hub_never_holds_searches_and_is_called_at_most_by_its_pool(tmp_path, stalled_hub):
    # Given a Hub that accepts connections and never answers
    eng = make_engine(tmp_path, stalled_hub.url, hub_timeout=1.0, hub_search_wait=0.2, hub_retry_after=60.0)
    try:
        # When eight different searches run at once (as eight REST requests would)
        with ThreadPoolExecutor(8) as pool:
            futures = [pool.submit(eng.library.search, q, limit=20)
                       for q in ("qwen", "llama", "gemma", "phi", "wan", "ltx", "mistral", "smol")]
            results = [f.result(timeout=30) for f in futures]  # the old code waited for ever here
        # Then each answers from the catalog with a hub_error, none with Hub models
        assert all(r.hub_error is not None and r.hub_error["type"] == "NetworkError" for r in results)
        assert CATALOG_QWEN in {m.id for m in results[0]}
        assert all("hub" not in m.sources for r in results for m in r)
        # And the Hub saw no more connections than the studio's small Hub pool has workers
        assert 1 <= len(stalled_hub.connections) <= HUB_WORKERS
        # When the stalled calls time out, the failure is remembered
        remembered = wait_until(lambda: (eng.library.search("later", limit=5).hub_error or {})
                                .get("details", {}).get("retry_in"))
        assert remembered > 0
        seen = len(stalled_hub.connections)
        # Then further searches do not connect again during the window
        for q in ("one", "two", "three"):
            assert eng.library.search(q, limit=5).hub_error["details"]["retry_in"] > 0
        assert len(stalled_hub.connections) == seen
    finally:
        eng.close()


def test_a_late_hub_answer_is_kept_for_the_next_search(tmp_path, fake_hub, monkeypatch):
    # Given a Hub that answers only after the search stopped waiting
    eng = make_engine(tmp_path, fake_hub.url, hub_search_wait=0.1)
    gate = threading.Event()
    real = eng.hub.list_models
    calls = []

    def slow_list_models(**kwargs):
        calls.append(kwargs)
        gate.wait(30)
        return real(**kwargs)

    monkeypatch.setattr(eng.hub, "list_models", slow_list_models)
    try:
        # When searching
        early = eng.library.search("tiny", limit=10)
        # Then catalog and local answer at once, and hub_error says the Hub's answer is pending
        assert early.hub_error["type"] == "NetworkError" and early.hub_error["details"]["pending"] is True
        assert not [m for m in early if "hub" in m.sources]
        # When the Hub answers late
        gate.set()
        wait_until(lambda: not eng.library._hub_pending)
        # Then the next search has the Hub's models from the cache, without a second call
        later = eng.library.search("tiny", limit=10)
        assert later.hub_error is None and "tiny-org/tiny-llama" in {m.id for m in later}
        assert len(calls) == 1
    finally:
        gate.set()
        eng.close()


def test_concurrent_searches_each_get_their_own_hub_error(tmp_path, fake_hub):
    # Given one engine whose Hub search works
    eng = make_engine(tmp_path, fake_hub.url)
    try:
        ok = eng.library.search("tiny", limit=10)
        # When the Hub goes away and another search fails
        eng.settings.hf_endpoint = closed_port_url()
        failed = eng.library.search("qwen", limit=10)
        # Then each result carries its own hub_error (the first is not overwritten)
        assert ok.hub_error is None and failed.hub_error["type"] == "NetworkError"
    finally:
        eng.close()


def test_offline_mode_never_calls_the_hub(tmp_path, stalled_hub):
    eng = make_engine(tmp_path, stalled_hub.url, offline=True)
    try:
        results = eng.library.search("qwen", limit=10)
        assert CATALOG_QWEN in {m.id for m in results} and results.hub_error is None
        assert eng.library.info(CATALOG_QWEN).id == CATALOG_QWEN
        assert stalled_hub.connections == []
    finally:
        eng.close()


def test_after_the_window_one_probe_goes_through_while_the_others_still_fail_fast():
    # Given a breaker opened by a failed connection
    breaker = _Breaker()
    breaker.leave("hub", "ConnectError: refused", probe=False)
    with pytest.raises(NetworkError) as during:
        breaker.enter("hub", retry_after=60.0)
    assert during.value.details["cause"] == "ConnectError: refused" and during.value.details["retry_in"] > 0
    # When the window is over, one call probes and the calls meanwhile still fail fast
    assert breaker.enter("hub", retry_after=0.0) is True
    with pytest.raises(NetworkError):
        breaker.enter("hub", retry_after=0.0)
    # Then a probe that reaches the Hub closes the breaker; another endpoint was never affected
    breaker.leave("hub", None, probe=True)
    assert breaker.enter("hub", retry_after=60.0) is False
    assert breaker.enter("mirror", retry_after=60.0) is False
