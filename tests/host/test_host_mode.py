"""Where models live (``model_host``), the host's files and its typed error, without starting a host."""

from __future__ import annotations

import json
import os
import signal
import stat

import pytest

from model_studio.config import Settings
from model_studio.core.host import HostFiles, HostService, mode
from model_studio.errors import HostCrashedError, error_from_dict


@pytest.fixture
def no_front_door():
    saved = mode._front_door
    mode._front_door = None
    yield
    mode._front_door = saved


@pytest.mark.parametrize(("env", "door", "expected"), [
    ("in_process", "server", False), ("host", None, True), ("auto", None, False), ("auto", "server", True),
    ("auto", "cli", True), ("AUTO", "cli", True), ("bogus", "cli", True), ("bogus", None, False)])
def test_model_host_setting_and_auto_mode(monkeypatch, no_front_door, env, door, expected):
    monkeypatch.setenv("MODEL_STUDIO_MODEL_HOST", env)
    if door:
        mode.set_front_door(door)
    settings = Settings()
    assert settings.model_host in ("auto", "host", "in_process")
    assert mode.uses_host(settings) is expected


def test_the_setting_refuses_other_words():
    from traitlets import TraitError

    with pytest.raises(TraitError):
        Settings(model_host="gpu")


def test_tests_run_in_process():
    # tests/conftest.py keeps the suite in process; only tests/host starts hosts
    assert os.environ["MODEL_STUDIO_MODEL_HOST"] == "in_process"
    assert not HostService(Settings()).enabled


def test_secret_is_created_once_and_0600(tmp_path):
    files = HostFiles(tmp_path)
    secret = files.secret()
    assert len(secret) >= 32 and files.secret() == secret
    assert stat.S_IMODE(files.secret_file.stat().st_mode) == 0o600
    os.chmod(files.secret_file, 0o644)
    assert files.secret() == secret and stat.S_IMODE(files.secret_file.stat().st_mode) == 0o600


def test_a_recorded_crash_is_a_typed_error_with_the_log_tail(tmp_path):
    files = HostFiles(tmp_path)
    files.make_dir()
    files.log.write_text("starting\nFatal Python error: Segmentation fault\n\nCurrent thread ...\n")
    files.write_state({"state": "up", "pid": 4242, "port": 1, "restarts": 0})
    crash = files.record_crash(4242, "the host process was found dead")  # not our child: signal from the log
    assert crash["exit_code"] == -signal.SIGSEGV and crash["signal"] == "SIGSEGV"
    assert files.read_state()["state"] == "crashed" and files.record_crash(4242, "again") == crash
    assert len(files.crashes.read_text().splitlines()) == 1
    err = HostCrashedError.from_crash("The model host crashed", crash)
    assert err.http_status == 503 and "SIGSEGV" in err.message
    assert "Segmentation fault" in err.details["log_tail"]
    again = error_from_dict(json.loads(json.dumps(err.to_dict())))
    assert isinstance(again, HostCrashedError) and again.details == err.details
    status = HostService(Settings(home=str(tmp_path.parent / tmp_path.name))).status()
    assert status["state"] == "crashed" and status["last_crash"]["signal"] == "SIGSEGV"


def test_status_of_a_home_without_a_host(tmp_path):
    svc = HostService(Settings(home=str(tmp_path / "home")))
    status = svc.status()
    assert status["state"] == "down" and status["models"] == [] and status["restarts"] == 0
    assert svc.stop() == {"stopped": False}
    assert svc.logs()["log"] == ""
