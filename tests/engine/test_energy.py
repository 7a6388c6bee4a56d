"""Energy and carbon: RAPL counters (with a wraparound) and a stand-in NVML read around a real training
run, the estimate where neither is readable, chat answers per model per day, and the CSV export."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from model_studio.config import GRID_INTENSITY_SOURCE, Settings
from model_studio.core import Engine
from model_studio.core.carbon import COLUMNS, parse_csv
from model_studio.core.energy import UJ_PER_WH, EnergyMeter
from model_studio.core.jobs import JobState
from model_studio.errors import ValidationError
from tests.fixtures import nvml_energy
from tests.fixtures.powercap import CounterWriter, make_zone, write

MAX_UJ = 1_000_000_000  # a 1 kJ range, so the test wraps it quickly
NVML = "tests.fixtures.nvml_energy"


@pytest.fixture(autouse=True)
def _no_gpus():
    nvml_energy.reset()
    yield
    nvml_energy.reset()


def _engine(tmp_path: Path, fake_hub, **extra) -> Engine:
    return Engine(Settings(home=str(tmp_path / "studio-home"), hf_cache=str(tmp_path / "hf-home" / "hub"),
                           hf_endpoint=fake_hub.url, energy_interval=0.02, **extra))


def test_rapl_wraparound_and_nvml_counters_give_the_arithmetic(tmp_path):
    # Given a package zone near the end of its range, a subzone (not counted twice) and one GPU
    root = tmp_path / "powercap"
    zone = make_zone(root, "intel-rapl:0", MAX_UJ - 250_000_000, MAX_UJ)
    make_zone(root, "intel-rapl:0:0", 5, MAX_UJ)
    nvml_energy.reset(10_000.0)
    meter = EnergyMeter(powercap_root=root, nvml_module=NVML, interval=0.01).start()
    # When the counter advances 4 × 100 000 000 µJ through its wrap and the GPU's by 7 200 mJ
    for value in (MAX_UJ - 150_000_000, MAX_UJ - 50_000_000, 50_000_000, 150_000_000):
        write(zone, value)
        time.sleep(0.05)
    nvml_energy.energy_mj[0] += 7_200.0
    reading = meter.stop()
    # Then CPU Wh = 4e8 µJ / 3.6e9 and GPU Wh = 7 200 mJ / 3.6e6, each wrap counted once
    assert reading.cpu_wh == pytest.approx(400_000_000 / UJ_PER_WH, rel=1e-12)
    assert reading.gpu_wh == pytest.approx(0.002, rel=1e-12)
    assert reading.wh == pytest.approx(reading.cpu_wh + 0.002, rel=1e-12)
    assert reading.method == "nvml+rapl" and not reading.estimated
    assert reading.counters["rapl"]["intel-rapl:0"]["wraps"] == 1
    assert list(reading.counters["rapl"]) == ["intel-rapl:0"]


def test_without_counters_the_estimate_says_so(tmp_path):
    meter = EnergyMeter(powercap_root=tmp_path / "none", nvml_module="tests.fixtures.no_such_nvml",
                        cpu_tdp=100.0).start()
    end = time.process_time() + 0.3
    while time.process_time() < end:  # burn some CPU
        sum(i * i for i in range(1000))
    reading = meter.stop()
    est = reading.counters["estimate"]
    assert reading.method == "estimate" and reading.estimated and reading.gpu_wh is None
    assert est["cpu_seconds"] >= 0.25
    assert reading.cpu_wh == pytest.approx(100.0 * est["cpu_seconds"] / est["logical_cores"] / 3600, rel=0.01)


@pytest.mark.slow
def test_training_run_reports_wh_and_gco2e_from_the_counters(tmp_path, fake_hub):
    pytest.importorskip("peft")
    root = tmp_path / "powercap"
    zone = make_zone(root, "intel-rapl:0", MAX_UJ - 250_000_000, MAX_UJ)
    nvml_energy.reset(1_000_000.0)
    eng = _engine(tmp_path, fake_hub, powercap_root=str(root), nvml_module=NVML, grid_intensity=300.0)
    try:
        eng.downloads.start("tiny-org/tiny-llama").wait()
        data = tmp_path / "d.jsonl"
        data.write_text('{"text": "hello energy"}\n' * 4)
        # Given a run whose worker has started (the meter read its first counters)
        job = eng.training.start("tiny-org/tiny-llama", str(data), steps=3, lora_r=2)
        assert job.state == JobState.RUNNING

        def gpu_step() -> None:
            nvml_energy.energy_mj[0] += 9_000.0

        # When the package counter advances 5 × 1e8 µJ (wrapping once) and the GPU's 5 × 9 000 mJ
        writer = CounterWriter(zone, MAX_UJ - 250_000_000, 100_000_000, 5, MAX_UJ, pause=0.05, also=gpu_step)
        writer.start()
        writer.join(30)
        done = eng.training.wait(job.id, timeout=300)
        assert done.state == JobState.COMPLETED, eng.training.logs(job.id)
        assert writer.done_at is not None and writer.wraps == 1
        assert done.finished_at is not None and done.finished_at > writer.done_at
        # Then the run's energy is the counters' arithmetic, and its carbon the intensity's
        energy = done.result["energy"]
        cpu_wh = 5 * 100_000_000 / 3.6e9
        gpu_wh = 5 * 9_000.0 / 3.6e6
        assert energy["cpu_wh"] == pytest.approx(cpu_wh, rel=1e-12)
        assert energy["gpu_wh"] == pytest.approx(gpu_wh, rel=1e-12)
        assert energy["wh"] == pytest.approx(cpu_wh + gpu_wh, rel=1e-12) == done.result["energy_wh"]
        assert energy["gco2e"] == pytest.approx((cpu_wh + gpu_wh) / 1000 * 300.0, rel=1e-12)
        assert energy["method"] == "nvml+rapl" and energy["estimated"] is False
        assert energy["kind"] == "train" and energy["model"] == "tiny-org/tiny-llama"
        assert eng.energy.job(job.id) == energy
        # And the summary and the CSV export say the same
        summary = eng.energy.summary()
        assert summary["by_kind"][0]["kind"] == "train"
        assert summary["total"]["gco2e"] == pytest.approx(energy["gco2e"], rel=1e-12)
        assert summary["grid_intensity_source"].startswith("set by you")
        rows = parse_csv(eng.energy.export_csv()["content"])
        assert rows == [energy]
    finally:
        eng.close()


@pytest.mark.slow
def test_training_run_without_counters_is_an_estimate(tmp_path, fake_hub):
    pytest.importorskip("peft")
    eng = _engine(tmp_path, fake_hub, powercap_root=str(tmp_path / "no-powercap"), nvml_module="tests.no_nvml")
    try:
        eng.downloads.start("tiny-org/tiny-llama").wait()
        data = tmp_path / "d.jsonl"
        data.write_text('{"text": "hello"}\n' * 4)
        done = eng.training.wait(eng.training.start("tiny-org/tiny-llama", str(data), steps=2, lora_r=2).id,
                                 timeout=300)
        assert done.state == JobState.COMPLETED, eng.training.logs(done.id)
        energy = done.result["energy"]
        assert energy["method"] == "estimate" and energy["estimated"] is True and energy["gpu_wh"] is None
        assert energy["wh"] > 0  # the worker's CPU time, counted once it exited
        assert energy["gco2e"] == pytest.approx(energy["wh"] / 1000 * 475.0, rel=1e-12)
        assert eng.energy.summary()["grid_intensity_source"] == GRID_INTENSITY_SOURCE
    finally:
        eng.close()


def test_chat_answers_add_up_per_model_per_day_and_csv_round_trips(engine):
    from model_studio.core.energy import EnergyReading

    def reading(wh: float) -> EnergyReading:
        return EnergyReading(wh=wh, gpu_wh=None, cpu_wh=wh, method="estimate", cpu_method="estimate",
                             gpu_method=None, estimated=True, seconds=1.5)

    day1, day2 = 1_750_000_000.0, 1_750_000_000.0 + 86_400
    engine.energy.add_chat("local/a", reading(0.25), started=day1)
    engine.energy.add_chat("local/a", reading(0.5), started=day1 + 60)
    engine.energy.add_chat("local/a", reading(1.0), started=day2)
    engine.energy.add_chat("local/b", reading(2.0), started=day2)
    rows = engine.energy.rows()
    a1 = next(r for r in rows if r["model"] == "local/a" and r["count"] == 2)
    assert a1["wh"] == pytest.approx(0.75) and a1["seconds"] == pytest.approx(3.0)
    assert a1["gco2e"] == pytest.approx(0.75 / 1000 * 475.0)
    summary = engine.energy.summary(since="2025-06-16")
    assert [d["day"] for d in summary["by_day"]] == ["2025-06-16"]
    assert summary["by_model"][0] == {"model": "local/b", "wh": 2.0, "gco2e": pytest.approx(0.95), "count": 1,
                                      "estimated": True}
    export = engine.energy.export_csv()
    assert export["media_type"] == "text/csv" and export["content"].splitlines()[0] == ",".join(COLUMNS)
    assert parse_csv(export["content"]) == rows
    with pytest.raises(ValidationError):
        engine.energy.summary(since="yesterday")
