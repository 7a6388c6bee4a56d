"""``%studio endpoints`` (list with health, add, update, test, rm) and ``%%chat`` with a remote model;
``model-studio endpoints`` on the command line. The key comes from the environment or a prompt, never
the command line, and is never printed."""

from __future__ import annotations

import json

import pytest

from model_studio.cli import main
from tests.fixtures.pytest_plugin import REMOTE_KEY
from tests.fixtures.remote import SERVED_MODEL, free_port

SECRET = "sk-magic-secret-0123456789"


def test_endpoints_add_list_update_rm_with_the_key_from_the_environment(studio, studio_engine, monkeypatch, capsys):
    monkeypatch.setenv("GPU_KEY", SECRET)
    url = f"http://127.0.0.1:{free_port()}/v1"
    added = studio(f"endpoints add gpu {url} --key-env GPU_KEY --timeout 2 --concurrency 3")
    assert "endpoint gpu saved; down: " in str(added)
    assert studio_engine.endpoints.client("gpu").headers["Authorization"] == f"Bearer {SECRET}"

    table = studio("endpoints")
    assert table.column("name") == ["gpu"] and table.column("concurrency") == [3]
    assert table.column("health")[0].startswith("down: ")
    assert SECRET not in json.dumps(table.rows)

    studio("endpoints update gpu --concurrency 5")
    assert studio_engine.endpoints.get("gpu")["concurrency"] == 5
    assert "removed endpoint gpu" in str(studio("endpoints rm gpu"))
    assert studio_engine.endpoints.list() == []
    assert SECRET not in capsys.readouterr().out


def test_endpoints_errors_are_one_line(studio, capsys):
    assert studio("endpoints test nowhere") is None
    assert capsys.readouterr().err.startswith("NotFoundError: No remote endpoint named 'nowhere'")
    assert studio("endpoints add gpu") is None
    assert "needs NAME and URL" in capsys.readouterr().err


def test_cli_endpoints(settings, monkeypatch, capsys):
    monkeypatch.setenv("MODEL_STUDIO_HOME", settings.home)
    monkeypatch.setenv("GPU_KEY", SECRET)
    url = f"http://127.0.0.1:{free_port()}/v1"
    assert main(["endpoints", "add", "gpu", url, "--key-env", "GPU_KEY", "--header", "X-Team: nlp",
                 "--timeout", "2"]) == 1  # saved, but down: the exit code says so
    out = capsys.readouterr().out
    assert out.startswith("gpu: down") and SECRET not in out
    assert main(["endpoints", "--json", "--no-check"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(e["name"], e["headers"], e["has_key"]) for e in listed] == [("gpu", {"X-Team": "nlp"}, True)]
    assert SECRET not in json.dumps(listed)
    assert main(["endpoints", "rm", "gpu"]) == 0


@pytest.mark.slow
def test_chat_cell_streams_from_a_remote_model(shell, studio_engine, llama_server, capsys):
    studio_engine.endpoints.add("box", llama_server.proxy.url + "/v1", api_key=REMOTE_KEY, timeout=300)
    answer = shell.run_cell_magic("chat", f"remote/box/{SERVED_MODEL} --temperature 0 --max-tokens 6", "Say hi.")
    out = capsys.readouterr()
    assert isinstance(answer, str) and answer.strip() and answer.strip() in out.out
    assert answer.stats["completion_tokens"] >= 1 and out.err == ""
