"""An engine builds chat, video, training, the model host and the job center on first use: a process
that only downloads never imports them, and a job of a kind whose service is not built yet still
gets that service's rules when it is paused or resumed."""

from __future__ import annotations

import json
import subprocess
import sys

from model_studio.core.jobs import JobState

_CHILD = r"""
import json, sys
from model_studio.config import Settings
from model_studio.core import Engine
eng = Engine(Settings(home=sys.argv[1], hf_cache=sys.argv[2], offline=True))
eng.downloads.list()
before = sorted(m for m in sys.modules if m.startswith("model_studio.core."))
eng.chat  # noqa: B018
after = sorted(m for m in sys.modules if m.startswith("model_studio.core."))
eng.close()
print(json.dumps({"before": before, "after": after}))
"""

_LAZY = ("model_studio.core.chat", "model_studio.core.video", "model_studio.core.training",
         "model_studio.core.host", "model_studio.core.job_center", "model_studio.core.arbiter")


def test_a_downloading_engine_does_not_import_chat_video_training_or_the_host(tmp_path):
    out = subprocess.run([sys.executable, "-c", _CHILD, str(tmp_path / "home"), str(tmp_path / "hub")],
                         capture_output=True, text=True, timeout=120, check=True)
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert not [m for m in seen["before"] if m.startswith(_LAZY)], seen["before"]
    # the first use builds the service (and what it needs)
    assert "model_studio.core.chat" in seen["after"] and "model_studio.core.arbiter" in seen["after"]


def test_a_job_of_a_kind_not_built_yet_follows_its_services_rules(engine):
    assert "video" not in engine.__dict__
    engine.jobs.create("video", {"model": "x"}, title="queued elsewhere")
    # video generations cannot pause: the runner asks the video service, which it builds for that
    assert engine.runner.state_for("video", "pause") == JobState.CANCELLED
    assert "video" in engine.__dict__
    assert engine.runner.state_for("download", "pause") == JobState.PAUSED
