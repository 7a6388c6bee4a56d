"""``%studio`` in a plain IPython shell (text and tqdm), and its notebook branch (widgets)."""

from __future__ import annotations

from pathlib import Path

import pytest

from model_studio import magics

GGUF = "tiny-org/tiny-llama-GGUF"


@pytest.fixture
def notebook(monkeypatch):
    """Pretend the shell is a notebook kernel; collect what the magic displays."""
    shown = []
    monkeypatch.setattr(magics._base, "in_notebook", lambda shell: True)
    monkeypatch.setattr(magics._base, "display", shown.append)
    yield shown
    for obj in shown:
        if hasattr(obj, "close"):
            obj.close()


def bundle(obj) -> dict:
    return obj._repr_mimebundle_()


def test_load_ext_registers_the_line_magic(shell):
    assert "studio" in shell.magics_manager.magics["line"]


def test_models_search_returns_an_html_and_text_table(studio):
    result = studio("models --search tiny --limit 5")
    assert GGUF in result.column("id")
    data = bundle(result)
    assert GGUF in data["text/plain"] and data["text/plain"].startswith("ID")
    assert "<table>" in data["text/html"] and GGUF in data["text/html"]
    assert len(result) <= 5


def test_pull_in_a_terminal_completes_and_lists_as_local(studio, studio_engine, capsys):
    assert studio("models --local").rows == []

    job = studio(f"pull {GGUF} --quant Q8_0")
    assert job.state.value == "completed"
    gguf = Path(job.result["path"]) / "tiny-llama.Q8_0.gguf"
    assert gguf.is_file() and str(studio_engine.settings.cache_path) in str(gguf.resolve())
    out = capsys.readouterr()
    assert job.result["path"] in out.out and "verified" in out.out

    local = studio("models --local")
    assert local.column("id") == [GGUF]
    assert "Q8_0" in bundle(local)["text/plain"]


def test_info_shows_quantizations_files_and_fit(studio):
    view = studio(f"info {GGUF}")
    text = bundle(view)["text/plain"]
    for expected in ("Q8_0", "F16", "tiny-llama.Q8_0.gguf", "fit:"):
        assert expected in text
    assert "<h4>" in bundle(view)["text/html"]


def test_rm_asks_for_yes_then_frees_the_bytes(studio, studio_engine, capsys):
    job = studio_engine.downloads.start(GGUF, variant="Q8_0").wait(timeout=60)
    capsys.readouterr()

    assert studio(f"rm {GGUF}") is None
    out = capsys.readouterr().out
    assert "would be freed" in out and "--yes" in out
    assert Path(job.result["path"]).exists()

    studio(f"rm {GGUF} --yes")
    assert "freed" in capsys.readouterr().out
    assert not Path(job.result["path"]).exists()
    assert studio("models --local").rows == []


def test_jobs_lists_downloads(studio, studio_engine):
    job = studio_engine.downloads.start(GGUF, variant="Q8_0").wait(timeout=60)
    table = studio("jobs")
    assert table.column("id") == [job.id]
    assert "completed" in bundle(table)["text/plain"]
    assert studio("jobs --active").rows == []


def test_system_and_dashboard_fall_back_to_text(studio):
    text = bundle(studio("system"))["text/plain"]
    assert text.startswith("CPU") and "RAM" in text
    assert "local model(s)" in bundle(studio())["text/plain"]


def test_notebook_front_end_gets_widgets(studio, notebook, studio_engine):
    from model_studio.widgets import Downloads, Studio, SystemMonitor

    dashboard = studio()
    monitor = studio("system")
    try:
        assert isinstance(dashboard, Studio) and isinstance(monitor, SystemMonitor)
    finally:
        dashboard.close()
        monitor.close()

    job = studio(f"pull {GGUF} --quant Q8_0")
    assert len(notebook) == 1 and isinstance(notebook[0], Downloads)
    assert notebook[0].job_ids == [job.id]
    assert job.wait(timeout=60).state.value == "completed"


def test_notebook_rm_without_yes_only_reports(studio, notebook, studio_engine, capsys):
    job = studio_engine.downloads.start(GGUF, variant="Q8_0").wait(timeout=60)
    capsys.readouterr()
    studio(f"rm {GGUF}")
    assert "re-run with --yes" in capsys.readouterr().out
    assert Path(job.result["path"]).exists()


@pytest.mark.parametrize("line, message", [
    ("models --limit many", "UsageError: argument --limit: expected a whole number"),
    ("models --task painting", "UsageError: argument --task: invalid choice"),
    ("fly", "UsageError: argument COMMAND: invalid choice"),
    ("pull", "UsageError: the following arguments are required: REPO"),
    ("models --search 'unclosed", "UsageError: No closing quotation"),
])
def test_bad_arguments_print_one_line_and_the_usage(studio, capsys, line, message):
    assert studio(line) is None
    out = capsys.readouterr()
    lines = out.err.strip().splitlines()
    assert len(lines) == 2, out.err
    assert lines[0].startswith(message)
    assert lines[1].startswith("usage: %studio")
    assert "Traceback" not in out.err + out.out


@pytest.mark.parametrize("line, message", [
    ("pull ../x", "ValidationError: "),
    ("info tiny-org/no-such-model", "NotFoundError: "),
    ("rm tiny-org/tiny-llama --yes", "NotFoundError: "),
])
def test_studio_errors_print_one_readable_line(studio, capsys, line, message):
    assert studio(line) is None
    out = capsys.readouterr()
    lines = out.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(message), out.err
    assert "Traceback" not in out.err + out.out


def test_run_cell_shows_no_traceback(shell, studio_engine, capsys):
    shell.run_cell("%studio pull ../x")
    out = capsys.readouterr()
    assert "ValidationError" in out.err and "Traceback" not in out.err + out.out


def test_help_prints_and_returns_none(studio, capsys):
    assert studio("pull --help") is None
    assert "--quant" in capsys.readouterr().out


def test_a_line_parses_into_its_commands_typed_arguments():
    # Given lines for three commands, When parsed, Then each is its command's model, tagged by name
    assert magics.parse("pull org/m --quant Q4_K_M") == magics.PullArgs(model="org/m", quant="Q4_K_M")
    assert magics.parse("rm org/m -y").yes is True
    video = magics.parse('video "a fox" --model w --lora-scale 0.5 --offload cpu')
    assert (video.type, video.prompt, video.lora_scale, video.offload, video.frames) == ("video", "a fox", 0.5,
                                                                                          "cpu", None)
    assert magics.parse("").type == "dashboard"


@pytest.mark.parametrize("command", [magics.DashboardArgs, *magics.COMMANDS])
def test_every_command_is_dispatched_to_its_handler(shell, monkeypatch, command):
    # Given a magic whose handler for this command only records that it ran
    studio = shell.magics_manager.registry["StudioMagics"]
    name = command.model_fields["type"].default
    monkeypatch.setattr(studio, f"handle_{name}", lambda args: ("handled", args.type), raising=True)
    # When the command's arguments are dispatched, Then that handler ran on them
    args = command.model_construct()
    assert studio.dispatch(args) == ("handled", name)


def test_studio_host_prints_the_model_host(studio, capsys):
    # No host runs in this test's home: the status says so, stop finds nothing, logs are empty
    assert "model host: down" in bundle(studio("host"))["text/plain"]
    assert bundle(studio("host stop"))["text/plain"] == "no model host was running"
    assert "no log yet" in bundle(studio("host logs --lines 5"))["text/plain"]
    assert studio("host restart") is None
    assert "invalid choice" in capsys.readouterr().err


def test_models_local_lists_finished_training_runs(studio, studio_engine):
    from tests.fixtures.runs import write_finished_run

    # Given a finished run in the studio home
    run_dir = write_finished_run(studio_engine.settings.home_path, "tunedrun1", adapter_bytes=4096)
    # When local models are listed
    table = studio("models --local")
    # Then the run is a row named as it chats, with its adapter's size and folder
    assert "run/tunedrun1" in table.column("id")
    row = dict(zip(table.column("id"), table.column("path"), strict=True))
    assert row["run/tunedrun1"] == str(run_dir / "adapter")
    assert "lora on tiny-base" in table.column("formats")
    # And a search or a task filter narrows it like any model
    assert "run/tunedrun1" not in studio("models --local --search nomatch").column("id")
    assert "run/tunedrun1" not in studio("models --local --task text-to-video").column("id")
