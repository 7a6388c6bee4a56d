"""Shared fixtures: every test gets its own studio home and Hugging Face cache (never the user's)."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["tests.fixtures.pytest_plugin"]


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "studio-home"
    monkeypatch.setenv("MODEL_STUDIO_HOME", str(home))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-home" / "hub"))
    monkeypatch.setenv("HF_HUB_DISABLE_XET", "1")
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    monkeypatch.setenv("MODEL_STUDIO_NO_STARTER", "1")
    # Models load in this process (and in the servers and kernels the tests start, which inherit the
    # environment); only tests/host starts model hosts, each in its own temporary home.
    monkeypatch.setenv("MODEL_STUDIO_MODEL_HOST", "in_process")
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("MODEL_STUDIO_MODEL_DIRS", raising=False)
    monkeypatch.delenv("MODEL_STUDIO_SHARED_MODEL_DIRS", raising=False)
    return home


@pytest.fixture
def settings(tmp_path: Path, fake_hub):
    """Settings pointing at a temporary home and cache and at the fake Hub; fast retries."""
    from model_studio.config import Settings

    return Settings(
        home=str(tmp_path / "studio-home"),
        hf_cache=str(tmp_path / "hf-home" / "hub"),
        hf_endpoint=fake_hub.url,
        retry_backoff=0.02,
        stall_timeout=3.0,
    )


@pytest.fixture
def engine(settings):
    from model_studio.core import Engine

    eng = Engine(settings)
    yield eng
    eng.close()


@pytest.fixture
def studio_engine(fake_hub, monkeypatch):
    """``model_studio.engine()`` (the process-wide engine the widgets and magics use) pointing at the
    fake Hub and the test's isolated home."""
    import model_studio

    monkeypatch.setenv("HF_ENDPOINT", fake_hub.url)
    model_studio._reset_engine()
    yield model_studio.engine()
    model_studio._reset_engine()


@pytest.fixture
def fake_training(studio_engine, monkeypatch):
    """The process-wide engine with a FakeTraining (tests/widgets/test_training_widget.py) in place of
    its training service: runs that step through as jobs without a worker process."""
    from tests.widgets.test_training_widget import FakeTraining

    fake = FakeTraining(studio_engine.jobs)
    monkeypatch.setattr(studio_engine, "training", fake)
    yield fake
    fake.close()


@pytest.fixture(autouse=True)
def _front_door_kept():
    """A test that runs the CLI in this process (``cli.main``) makes it a ``cli`` process for good
    (``set_front_door``): put back what it was, so later tests see their own front door."""
    from model_studio.core.host import mode

    saved = mode._front_door
    yield
    mode._front_door = saved
