"""``%studio train`` and ``%studio runs`` in a plain IPython shell, over a fake training service."""

from __future__ import annotations

import pytest

from model_studio._views import Table
from tests.widgets.test_training_widget import BASE, data_file


def test_train_imports_the_data_starts_and_follows_to_the_end(shell, fake_training, tmp_path, capsys):
    path = data_file(tmp_path)
    job = shell.run_line_magic("studio", f"train --model {BASE} --data {path} --steps 4 --lr 1e-4 --rank 4")
    out = capsys.readouterr()
    assert job is not None and job.kind == "train" and job.state.value == "completed", out.err
    assert fake_training.datasets.items["secret"]["rows"] == 4
    assert fake_training.calls[-1] == ("start", {"base": BASE, "dataset": "secret", "steps": 4,
                                                 "learning_rate": 1e-4, "lora_r": 4})
    assert f"run/{job.id}" in out.out
    assert "4/4" in out.err  # the tqdm bar of steps


def test_train_defaults_leave_the_engine_defaults(shell, fake_training, tmp_path):
    shell.run_line_magic("studio", f"train --model {BASE} --data {data_file(tmp_path)}")
    assert fake_training.calls[-1] == ("start", {"base": BASE, "dataset": "secret"})


def test_train_on_two_processes_and_export_for_a_cluster(shell, fake_training, tmp_path, capsys):
    path = data_file(tmp_path)
    job = shell.run_line_magic("studio", f"train --model {BASE} --data {path} --steps 2 --num-processes 2 --devices cpu")
    assert job.state.value == "completed"
    assert fake_training.calls[-1] == ("start", {"base": BASE, "dataset": "secret", "steps": 2, "num_processes": 2,
                                                 "devices": "cpu"})
    out = shell.run_line_magic("studio", f"train --model {BASE} --data {path} --num-processes 2 --strategy ddp "
                                         f"--export {tmp_path / 'bundle'} --nnodes 2 --node-rank 1 "
                                         "--master-addr node0 --master-port 29600")
    assert fake_training.calls[-1] == ("export", {
        "base": BASE, "dataset": "secret", "num_processes": 2, "strategy": "ddp", "out_dir": str(tmp_path / "bundle"),
        "nnodes": 2, "node_rank": 1, "master_addr": "node0", "master_port": 29600})
    assert out["path"] == str(tmp_path / "bundle") and len(fake_training.calls) == 2  # nothing started
    printed = capsys.readouterr().out
    assert "sbatch slurm.sbatch" in printed and "torch.distributed.run" in printed


def test_runs_table(shell, fake_training, tmp_path):
    job = shell.run_line_magic("studio", f"train --model {BASE} --data {data_file(tmp_path)} --steps 2")
    table = shell.run_line_magic("studio", "runs")
    assert isinstance(table, Table) and len(table) == 1
    assert table.column("id") == [job.id] and table.column("state") == ["completed"]
    assert table.column("base") == [BASE] and table.column("steps") == ["2/2"]
    assert table.column("chat model") == [f"run/{job.id}"]
    assert table.column("loss") == ["1.5000"]
    assert "run/" in table.to_html() and job.id in table.to_text()


def test_runs_empty(shell, fake_training):
    table = shell.run_line_magic("studio", "runs")
    assert len(table) == 0 and "no training runs" in table.to_text()


@pytest.mark.parametrize("line, needle", [
    (f"train --model {BASE} --data /nowhere/data.jsonl", "/nowhere/data.jsonl"),
    ("train --model nobody/nothing --data {data}", "nobody/nothing"),
])
def test_errors_are_one_line(shell, fake_training, tmp_path, capsys, line, needle):
    assert shell.run_line_magic("studio", line.format(data=data_file(tmp_path))) is None
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle in err[0] and "Traceback" not in err[0]


@pytest.mark.parametrize("line", ["train --data x.jsonl", "train --model m --data x --steps 0",
                                  "train --model m --data x --lr -1", "runs --limit none"])
def test_bad_arguments_show_usage(shell, fake_training, capsys, line):
    assert shell.run_line_magic("studio", line) is None
    err = capsys.readouterr().err
    assert "UsageError" in err and "usage: %studio" in err
    assert fake_training.calls == []


def test_train_in_a_notebook_shows_the_monitor(shell, fake_training, tmp_path, monkeypatch):
    from model_studio import magics
    from model_studio.widgets import TrainingMonitor

    shown = []
    monkeypatch.setattr(magics._base, "in_notebook", lambda _shell: True)
    monkeypatch.setattr(magics._base, "display", shown.append)
    job = shell.run_line_magic("studio", f"train --model {BASE} --data {data_file(tmp_path)} --steps 2")
    try:
        assert job is not None and job.kind == "train"
        assert len(shown) == 1 and isinstance(shown[0], TrainingMonitor) and shown[0].run_id == job.id
    finally:
        for w in shown:
            w.close()
        fake_training.wait(job.id, 20)
